//! Prometheus metrics of the process (the `prometheus` crate's registry, exported by
//! `/metrics`): request durations by operation and outcome, SQL statement durations, open
//! WebSockets and live subscriptions, subscription events, rate-limit refusals. One registry per process: every app
//! in it (tests start several) adds to the same series.
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

pub struct Metrics {
    pub registry: Registry,
    pub requests: HistogramVec,
    pub sql: Histogram,
    pub websockets: IntGauge,
    pub event_streams: IntGauge,
    /// Open client connections (HTTP keep-alive and WebSocket alike).
    pub connections: IntGauge,
    pub subscriptions: IntGauge,
    pub rate_limited: IntCounter,
    /// Subscription events by stage: `published` (sent to the bus), `delivered` (to a local
    /// subscriber's queue; one event to three subscribers counts three), `dropped` (lost by a
    /// subscriber that fell behind its buffer; candle feeds then catch up from the database).
    pub events: IntCounterVec,
    /// Operation names seen so far: names are the client's to choose, so at most
    /// `MAX_OPERATION_NAMES` get series of their own and the rest count as `other`.
    names: Mutex<HashSet<String>>,
}

const MAX_OPERATION_NAMES: usize = 200;

/// Seconds, from 0.5 ms to 10 s.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0];

pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let requests = HistogramVec::new(
        HistogramOpts::new(
            "quantgraph_request_duration_seconds",
            "GraphQL requests over HTTP, by operation and outcome.",
        )
        .buckets(BUCKETS.to_vec()),
        &["operation", "outcome"],
    )
    .expect("valid metric");
    let sql = Histogram::with_opts(
        HistogramOpts::new("quantgraph_sql_statement_duration_seconds", "SQL statements, as the driver timed them.")
            .buckets(BUCKETS.to_vec()),
    )
    .expect("valid metric");
    let websockets =
        IntGauge::with_opts(Opts::new("quantgraph_websockets", "Open WebSocket connections.")).expect("valid metric");
    let event_streams = IntGauge::with_opts(Opts::new(
        "quantgraph_event_streams",
        "Open HTTP event streams (Server-Sent Events, multipart subscriptions).",
    ))
    .expect("valid metric");
    let connections =
        IntGauge::with_opts(Opts::new("quantgraph_connections", "Open client TCP connections.")).expect("valid metric");
    let subscriptions = IntGauge::with_opts(Opts::new("quantgraph_subscriptions", "Live subscriptions of every kind."))
        .expect("valid metric");
    let rate_limited =
        IntCounter::with_opts(Opts::new("quantgraph_rate_limited_total", "Requests refused for their rate."))
            .expect("valid metric");
    let events = IntCounterVec::new(Opts::new("quantgraph_events_total", "Subscription events by stage."), &["stage"])
        .expect("valid metric");
    for m in [
        Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
        Box::new(sql.clone()),
        Box::new(websockets.clone()),
        Box::new(event_streams.clone()),
        Box::new(connections.clone()),
        Box::new(subscriptions.clone()),
        Box::new(rate_limited.clone()),
        Box::new(events.clone()),
    ] {
        registry.register(m).expect("registered once");
    }
    Metrics {
        registry,
        requests,
        sql,
        websockets,
        event_streams,
        connections,
        subscriptions,
        rate_limited,
        events,
        names: Default::default(),
    }
});

impl Metrics {
    /// The label of an operation name: itself while few names have been seen, else `other`.
    pub fn operation_label(&self, name: Option<&str>) -> String {
        let Some(name) = name else { return "anonymous".into() };
        let mut names = self.names.lock().expect("operation names");
        if names.contains(name) || names.len() < MAX_OPERATION_NAMES && names.insert(name.to_string()) {
            name.to_string()
        } else {
            "other".into()
        }
    }

    /// The registry in Prometheus' text format.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).unwrap_or_default()
    }
}
