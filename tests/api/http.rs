//! GraphQL over HTTP: the `graphql-http` audit suite against the real server, media types and
//! status codes, and the methods and content types that may carry a mutation.
use crate::common::*;
use serde_json::{json, Value};
use std::process::Command;

#[tokio::test]
async fn the_graphql_http_audit_suite_passes_every_audit() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http-audit");
    if !std::path::Path::new(dir).join("node_modules/graphql-http").exists() {
        let ci = std::env::var("CI").is_ok_and(|c| c == "true");
        assert!(!ci, "CI=true but {dir}/node_modules is missing: run `npm ci` there (tests/run.sh does)");
        eprintln!("graphql-http audit skipped: run `npm ci --prefix tests/http-audit` (tests/run.sh does)");
        return;
    }
    let app = spawn_with(Backend::Sqlite, true, |_| {}).await;
    let url = app.url.clone();
    let out =
        tokio::task::spawn_blocking(move || Command::new("node").arg("audit.mjs").arg(url).current_dir(dir).output())
            .await
            .unwrap()
            .expect("node runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "audits not ok:\n{report}{}", String::from_utf8_lossy(&out.stderr));
    assert!(report.contains(" 0 not ok"), "{report}");
    // Every audit of the suite ran (graphql-http 1.22, pinned: 61), not an empty list.
    let words: Vec<&str> = report.split_whitespace().collect();
    let count = |w: &str| words.windows(2).find(|p| p[1] == w).and_then(|p| p[0].parse::<usize>().ok()).unwrap_or(0);
    let (ran, ok) = (count("audits,"), count("ok,"));
    assert_eq!(ran, ok, "{report}");
    assert!(ok >= 61, "only {ok} audits passed:\n{report}");
}

async fn post(app: &TestApp, content_type: Option<&str>, accept: Option<&str>, body: String) -> (u16, String, Value) {
    let mut req = app.http.post(&app.url).body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, resp.json().await.unwrap_or(Value::Null))
}

async fn login_works(app: &TestApp, email: &str) -> bool {
    let r = app
        .gql(
            r#"mutation($e: String!) { login(email: $e, password: "correct horse") { token } }"#,
            json!({ "e": email }),
        )
        .await;
    r["data"]["login"]["token"].is_string()
}

#[tokio::test]
async fn mutations_run_only_from_json_posts() {
    let app = spawn(Backend::Sqlite).await;
    let register = |email: &str| {
        json!({ "query": format!(r#"mutation {{ register(email: "{email}", password: "correct horse") {{ token }} }}"#) })
            .to_string()
    };
    // The allowed side: a JSON POST registers.
    let (status, _, r) = post(&app, Some("application/json"), None, register("ok@example.com")).await;
    assert_eq!(status, 200, "{r}");
    assert!(r["data"]["register"]["token"].is_string(), "{r}");
    assert!(login_works(&app, "ok@example.com").await);

    // A browser form or a `text/plain` fetch can be sent cross-site with no preflight: refused
    // before anything runs, as is a POST that names no content type.
    for ct in
        [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data; boundary=x"), None]
    {
        let email = format!("csrf-{}@example.com", ct.map_or("none".into(), |c| c.len().to_string()));
        let (status, _, r) = post(&app, ct, None, register(&email)).await;
        assert_eq!(status, 415, "{ct:?}: {r}");
        assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{r}");
        assert!(r.get("data").is_none(), "{r}");
        assert!(!login_works(&app, &email).await, "{ct:?}: the mutation ran");
    }

    // GET carries queries; a mutation there is 405 with `Allow: POST`, and does not run.
    let q = r#"mutation { register(email: "get@example.com", password: "correct horse") { token } }"#;
    let resp = app.http.get(&app.url).query(&[("query", q)]).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers().get("allow").unwrap(), "POST");
    assert!(!login_works(&app, "get@example.com").await, "the GET mutation ran");
    let resp = app.http.get(&app.url).query(&[("query", "{ tickers(first: 1) { totalCount } }")]).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    assert!(r["data"]["tickers"]["totalCount"].is_string(), "{r}");
}

#[tokio::test]
async fn graphql_response_json_is_negotiated_with_its_status_codes() {
    let app = spawn_with(Backend::Sqlite, true, |_| {}).await;
    let good = json!({ "query": "{ tickers(first: 2) { nodes { ticker } } }" }).to_string();
    let invalid = json!({ "query": "{ tickers { nope } }" }).to_string();
    let unparsable = json!({ "query": "{ tickers(" }).to_string();
    let bad_variable =
        json!({ "query": "query($n: Int) { tickers(first: $n) { totalCount } }", "variables": { "n": "x" } })
            .to_string();
    const GRJ: &str = "application/graphql-response+json";

    let (status, ct, r) = post(&app, Some("application/json"), Some(GRJ), good.clone()).await;
    assert_eq!((status, ct.starts_with(GRJ)), (200, true), "{ct}: {r}");
    assert_eq!(r["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(2), "{r}");

    for body in [&invalid, &unparsable, &bad_variable] {
        // Under the new media type a request refused before execution is 400 with no `data`…
        let (status, ct, r) = post(&app, Some("application/json"), Some(GRJ), body.clone()).await;
        assert_eq!(status, 400, "{body}: {r}");
        assert!(ct.starts_with(GRJ), "{ct}");
        assert!(r.get("data").is_none(), "{body}: {r}");
        assert!(r["errors"][0]["extensions"]["code"].is_string(), "{r}");
        // …and under application/json it is 200, still without `data`.
        let (status, ct, r) = post(&app, Some("application/json"), Some("application/json"), body.clone()).await;
        assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}: {r}");
        assert!(r.get("data").is_none() && r["errors"].as_array().is_some_and(|e| !e.is_empty()), "{r}");
    }

    // The first acceptable type listed wins; one the server cannot write is 406.
    let (_, ct, _) =
        post(&app, Some("application/json"), Some(&format!("application/json, {GRJ}")), good.clone()).await;
    assert_eq!(ct, "application/json");
    let (status, _, _) = post(&app, Some("application/json"), Some("text/csv"), good).await;
    assert_eq!(status, 406);
}

/// The value of the sample `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome() {
    let app = spawn_with(Backend::Sqlite, true, |_| {}).await;
    let ok =
        json!({ "query": "query MetricsProbe { tickers(first: 1) { totalCount } }", "operationName": "MetricsProbe" });
    let bad = json!({ "query": "query MetricsProbe { tickers { nope } }", "operationName": "MetricsProbe" });
    for body in [&ok, &ok, &bad] {
        let (status, _, _) = post(&app, Some("application/json"), None, body.to_string()).await;
        assert_eq!(status, 200);
    }
    let text = app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap();
    let count = |outcome: &str| {
        sample(
            &text,
            &format!("quantgraph_request_duration_seconds_count{{operation=\"MetricsProbe\",outcome=\"{outcome}\"}}"),
        )
    };
    assert_eq!(count("ok"), Some(2.0), "{text}");
    assert_eq!(count("rejected"), Some(1.0), "{text}");
    assert!(sample(&text, "quantgraph_sql_statement_duration_seconds_count").is_some_and(|n| n >= 1.0), "{text}");
    // The gauges and counters move with what they count (process-wide: other tests add to
    // them, so the checks are lower bounds taken while this test holds its own).
    let metrics =
        || async { app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap() };
    let mut ws = Ws::connect(&app, None, false).await;
    ws.subscribe("1", "subscription { candles(symbols: [\"MET\"]) { close } }", json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let open = metrics().await;
    assert!(sample(&open, "quantgraph_websockets").is_some_and(|n| n >= 1.0), "{open}");
    assert!(sample(&open, "quantgraph_subscriptions").is_some_and(|n| n >= 1.0), "{open}");
    assert!(sample(&open, "quantgraph_connections").is_some_and(|n| n >= 1.0), "{open}");
    let published = |t: &str| sample(t, "quantgraph_events_total{stage=\"published\"}").unwrap_or(0.0);
    let before = published(&open);
    let svc = token(&app, quantgraph::auth::Role::Service);
    let c = json!({ "time": "2026-01-05T02:00:00Z", "symbol": "MET", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": "1" });
    ingest_candles(&app, svc.trim_start_matches("Bearer "), vec![c]).await;
    assert!(ws.next_data(std::time::Duration::from_secs(5)).await.is_some(), "the candle reached the subscriber");
    assert!(published(&metrics().await) > before, "an ingested candle is counted as published");
}

/// A bad token is refused before execution: 401 with no `data` under
/// `application/graphql-response+json`, 200 under `application/json`; the health endpoints answer.
#[tokio::test]
async fn a_bad_token_is_refused_before_execution_and_health_answers() {
    let app = spawn_with(Backend::Sqlite, false, |_| {}).await;
    let q = json!({ "query": "{ tickers(first: 1) { totalCount } }" });
    for (accept, want) in [("application/graphql-response+json", 401), ("application/json", 200)] {
        let r = app
            .http
            .post(&app.url)
            .header("Authorization", "Bearer not.a.token")
            .header("Accept", accept)
            .json(&q)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), want, "{accept}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(accept), "{accept}: answered as {ct}");
        let body: Value = r.json().await.unwrap();
        assert!(body.get("data").is_none(), "{accept}: {body}");
        assert_eq!(code(&body), Some("UNAUTHENTICATED"), "{accept}: {body}");
    }
    // The same request without the token is served.
    assert!(app.gql("{ tickers(first: 1) { totalCount } }", json!({})).await.get("errors").is_none());
    for path in ["/healthz", "/readyz"] {
        let r = app.http.get(app.url.replace("/graphql", path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
}
