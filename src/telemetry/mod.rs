//! What an operator sees: Prometheus metrics (`metrics`), and logs and OpenTelemetry traces
//! (`traces`).
pub mod metrics;
pub mod traces;

pub use metrics::METRICS;
