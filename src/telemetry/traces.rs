//! Logs and traces. Logs go to stderr as text, or as one JSON object per line with
//! `QUANTGRAPH_LOG_FORMAT=json`. With `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, `tracing` spans are exported over OTLP
//! (HTTP/protobuf) by the OpenTelemetry SDK: one span per request, continuing the caller's W3C
//! `traceparent`, with spans for preparing (parse, validate, collect) and planning the document,
//! each SQL statement and each event publish beneath it.
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans leave the process (an OTLP endpoint is configured).
pub fn exporting() -> bool {
    PROVIDER.get().is_some()
}

/// Installs the process's logger and, when configured, the trace exporter.
pub fn init() -> anyhow::Result<()> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let json = std::env::var("QUANTGRAPH_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter())
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()).boxed()
    };
    let endpoint = ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()));
    let spans = if endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
        let resource = opentelemetry_sdk::Resource::builder().with_service_name("quantgraph").build();
        let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
        opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(provider.clone());
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("quantgraph"));
        let _ = PROVIDER.set(provider);
        // Spans of this crate only: the drivers' own would double every statement.
        // (The spans are at debug level: nothing costs a thing while nothing exports them.)
        Some(layer.with_filter(EnvFilter::new("quantgraph=debug,quantgraph::sql=off")))
    } else {
        None
    };
    tracing_subscriber::registry().with(logs).with(spans).try_init()?;
    Ok(())
}

/// Sends the spans still buffered (at shutdown).
pub fn flush() {
    if let Some(p) = PROVIDER.get() {
        let _ = p.force_flush();
    }
}

/// The span of one GraphQL request over HTTP, child of the caller's `traceparent` if any.
pub fn request_span(headers: &axum::http::HeaderMap, operation: &str) -> tracing::Span {
    let span = tracing::debug_span!(
        "graphql.request",
        graphql.operation = operation,
        otel.kind = "server",
        outcome = tracing::field::Empty
    );
    if exporting() {
        let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    span
}

/// The trace id of `span` (hex), for the request's log line; `None` when nothing is exported.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    if !exporting() {
        return None;
    }
    let id = span.context().span().span_context().trace_id();
    (id != opentelemetry::trace::TraceId::INVALID).then(|| id.to_string())
}

/// A finished SQL statement as a span under the current one: the driver reports statements
/// once they are done, so the span is written with its measured start and end.
pub fn sql_statement(sql: &str, elapsed: Duration) {
    if !exporting() {
        return;
    }
    let parent = tracing::Span::current().context();
    if !parent.span().span_context().is_valid() {
        return;
    }
    let end = SystemTime::now();
    let tracer = opentelemetry::global::tracer("quantgraph");
    let mut span = tracer
        .span_builder("sql.statement")
        .with_kind(opentelemetry::trace::SpanKind::Client)
        .with_start_time(end - elapsed)
        .with_attributes([KeyValue::new("db.query.text", sql.to_string())])
        .start_with_context(&tracer, &parent);
    span.end_with_timestamp(end);
}

struct Headers<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}
