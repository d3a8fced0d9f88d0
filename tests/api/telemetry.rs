//! Traces and logs of the real binary: spans over OTLP (HTTP/protobuf) to a receiver in this
//! test, continuing the caller's `traceparent`, and JSON log lines carrying the trace id.
use crate::common::Binary;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use prost::Message as _;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
struct Span {
    name: String,
    trace: String,
    parent: String,
    attributes: Vec<(String, String)>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An OTLP/HTTP trace receiver on a random port; the spans it received.
async fn receiver() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans: Arc<Mutex<Vec<Span>>> = Default::default();
    let store = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let req = ExportTraceServiceRequest::decode(body).expect("an OTLP trace export");
                for s in req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                    let attributes = s
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), format!("{:?}", kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                        .collect();
                    store.lock().unwrap().push(Span {
                        name: s.name.clone(),
                        trace: hex(&s.trace_id),
                        parent: hex(&s.parent_span_id),
                        attributes,
                    });
                }
                ([("content-type", "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), spans)
}

/// The binary, traced to `otlp`, logging JSON lines.
async fn gateway(otlp: &str) -> Binary {
    Binary::start(&[
        ("QUANTGRAPH_LOG_FORMAT", "json"),
        ("RUST_LOG", "info"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ])
    .await
}

/// The spans of `trace` once `enough` holds for them (the exporter sends in batches).
async fn spans_of(spans: &Mutex<Vec<Span>>, trace: &str, enough: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    for _ in 0..100 {
        let got: Vec<Span> = spans.lock().unwrap().iter().filter(|s| s.trace == trace).cloned().collect();
        if enough(&got) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = spans.lock().unwrap().clone();
    panic!("spans of {trace} never arrived; received: {all:?}");
}

#[tokio::test]
async fn requests_are_traced_over_otlp_under_the_callers_trace_and_logged_as_json() {
    let (otlp, spans) = receiver().await;
    let gw = gateway(&otlp).await;
    let http = reqwest::Client::new();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let q = "query Screen { tickers(first: 3) { nodes { ticker ohlcv(last: 2) { nodes { close } } } } }";
    let send = |headers: Vec<(&'static str, String)>, body: Value| {
        let mut req = http.post(&gw.url).json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = send(
        vec![("traceparent", format!("00-{trace}-{caller}-01"))],
        json!({ "query": q, "operationName": "Screen" }),
    )
    .await;
    assert_eq!(r["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(3), "{r}");

    let got = spans_of(&spans, trace, |s| {
        s.iter().any(|s| s.name == "graphql.request") && s.iter().filter(|s| s.name == "sql.statement").count() >= 2
    })
    .await;
    let request = got.iter().find(|s| s.name == "graphql.request").unwrap();
    assert_eq!(request.parent, caller, "the request continues the caller's span");
    assert!(request.attributes.iter().any(|(k, v)| k == "graphql.operation" && v.contains("Screen")), "{request:?}");
    for name in ["graphql.prepare", "graphql.plan"] {
        assert!(got.iter().any(|s| s.name == name), "no {name} span: {got:?}");
    }
    // The nested relation is one statement per level: two, each with its SQL.
    let sql: Vec<&Span> = got.iter().filter(|s| s.name == "sql.statement").collect();
    assert_eq!(sql.len(), 2, "{sql:?}");
    assert!(sql.iter().all(|s| s.attributes.iter().any(|(k, v)| k == "db.query.text" && v.contains("SELECT"))));

    // A write's event publish is a span of its request too.
    let login = send(
        vec![],
        json!({ "query": "mutation { login(email: \"service@quantgraph.dev\", password: \"quantgraph\") { token } }" }),
    )
    .await;
    let token = login["data"]["login"]["token"].as_str().expect("a service token").to_string();
    let write_trace = "0af7651916cd43dd8448eb211c80319c";
    let candle = json!([{ "time": "2026-01-05T02:00:00Z", "symbol": "OTEL", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": "3" }]);
    let w = send(
        vec![("traceparent", format!("00-{write_trace}-b7ad6b7169203331-01")), ("authorization", format!("Bearer {token}"))],
        json!({ "query": "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }", "variables": { "c": candle } }),
    )
    .await;
    assert_eq!(w["data"]["ingestCandles"]["inserted"], 1, "{w}");
    let got = spans_of(&spans, write_trace, |s| s.iter().any(|s| s.name == "events.publish")).await;
    assert!(got.iter().any(|s| s.name == "sql.statement"), "{got:?}");

    // Every log line is JSON; each request has one, with its trace id.
    let logs = gw.logs.lock().unwrap().clone();
    let lines: Vec<Value> =
        logs.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let requests: Vec<&Value> = lines.iter().filter(|l| l["target"] == "quantgraph::request").collect();
    assert_eq!(requests.len(), 3, "{requests:?}");
    let screen = requests.iter().find(|l| l["trace_id"] == trace).expect("the request's line carries its trace id");

    // Open client connections are a gauge: three more while three sockets are open, then back.
    let metrics_url = gw.url.replace("/graphql", "/metrics");
    let gauge = || {
        let (http, url) = (http.clone(), metrics_url.clone());
        async move {
            let text = http.get(url).send().await.unwrap().text().await.unwrap();
            text.lines().find_map(|l| l.strip_prefix("quantgraph_connections ")).map(|v| v.parse::<i64>().unwrap())
        }
    };
    let settle = |want: i64| async move {
        let mut got = None;
        for _ in 0..50 {
            got = gauge().await;
            if got == Some(want) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("quantgraph_connections is {got:?}, not {want}");
    };
    let base = gauge().await.expect("a connection gauge");
    let addr = gw.url.trim_start_matches("http://").trim_end_matches("/graphql").to_string();
    let sockets: Vec<_> =
        futures_util::future::join_all((0..3).map(|_| tokio::net::TcpStream::connect(addr.clone()))).await;
    settle(base + 3).await;
    drop(sockets);
    settle(base).await;
    assert_eq!(
        (screen["operation"].as_str(), screen["outcome"].as_str(), screen["status"].as_u64()),
        (Some("Screen"), Some("ok"), Some(200))
    );
}
