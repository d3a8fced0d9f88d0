//! Documents sent by hash: Apollo's automatic persisted queries, and trusted documents from a
//! graphql-codegen client (tests/codegen: the client preset on schema.graphql and the README's
//! operations, type-checked by tsc, run by hash only).
use crate::common::*;
use quantgraph::auth::Role;
use quantgraph::graphql::documents::sha256_hex;
use serde_json::{json, Value};
use std::path::Path;

const CHART: &str = "query Chart($t: String!) { ohlcvData(where: { ticker: { eq: $t }, timeframe: { eq: \"D\" } }, orderBy: [{ date: ASC }], first: 3) { nodes { date close } } }";

/// POSTs `body`, with `auth` as the whole `Authorization` value.
async fn post(app: &TestApp, body: Value, auth: Option<&str>) -> Value {
    let mut req = app.http.post(&app.url).json(&body);
    if let Some(t) = auth {
        req = req.header("Authorization", t);
    }
    req.send().await.unwrap().json().await.unwrap()
}

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn automatic_persisted_queries_register_once_then_run_by_hash_over_post_and_get() {
    let app = spawn(Backend::Sqlite).await;
    let hash = sha256_hex(CHART);
    let vars = json!({ "t": "005930" });

    // Unknown hash: the code Apollo Client waits for, and no data.
    let miss = post(&app, json!({ "variables": vars, "extensions": apq(&hash) }), None).await;
    assert_eq!(code(&miss), Some("PERSISTED_QUERY_NOT_FOUND"), "{miss}");
    assert_eq!(miss["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(miss.get("data").is_none_or(Value::is_null), "{miss}");

    // Text with its hash: answered and remembered.
    let full = post(&app, json!({ "query": CHART, "variables": vars, "extensions": apq(&hash) }), None).await;
    let bars = full["data"]["ohlcvData"]["nodes"].as_array().expect("bars").clone();
    assert_eq!(bars.len(), 3, "{full}");
    assert_eq!(full, app.gql(CHART, vars.clone()).await);

    // The hash alone, over POST and over GET (what a CDN can cache), gives the same answer.
    assert_eq!(post(&app, json!({ "variables": vars, "extensions": apq(&hash) }), None).await, full);
    let get = app
        .http
        .get(&app.url)
        .query(&[("variables", vars.to_string()), ("extensions", apq(&hash).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.json::<Value>().await.unwrap(), full);

    // A hash that is not the text's is refused, and remembers nothing.
    let other = "{ tickers(first: 1) { nodes { ticker } } }";
    let wrong = sha256_hex("something else");
    let r = post(&app, json!({ "query": other, "extensions": apq(&wrong) }), None).await;
    assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{r}");
    assert!(r.get("data").is_none_or(Value::is_null), "{r}");
    let r = post(&app, json!({ "extensions": apq(&wrong) }), None).await;
    assert_eq!(code(&r), Some("PERSISTED_QUERY_NOT_FOUND"), "{r}");

    // An invalid document is answered with its validation error and not remembered either.
    let invalid = "{ tickers { nope } }";
    let r = post(&app, json!({ "query": invalid, "extensions": apq(&sha256_hex(invalid)) }), None).await;
    assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{r}");
    let r = post(&app, json!({ "extensions": apq(&sha256_hex(invalid)) }), None).await;
    assert_eq!(code(&r), Some("PERSISTED_QUERY_NOT_FOUND"), "{r}");

    // Malformed extensions get a clear error; a body with neither text nor hash is a 400.
    let r = post(&app, json!({ "extensions": { "persistedQuery": { "version": 2, "sha256Hash": hash } } }), None).await;
    assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{r}");
    let r = app.http.post(&app.url).json(&json!({ "variables": {} })).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn persisted_queries_can_be_switched_off() {
    let app = spawn_with(Backend::Sqlite, true, |c| c.persisted_queries = 0).await;
    let hash = sha256_hex(CHART);
    let vars = json!({ "t": "005930" });
    let full = post(&app, json!({ "query": CHART, "variables": vars, "extensions": apq(&hash) }), None).await;
    assert_eq!(full["data"]["ohlcvData"]["nodes"].as_array().map(Vec::len), Some(3), "{full}");
    let r = post(&app, json!({ "variables": vars, "extensions": apq(&hash) }), None).await;
    assert_eq!(code(&r), Some("PERSISTED_QUERY_NOT_FOUND"), "{r}");
}

const CODEGEN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/codegen");

/// Runs `npm run build` there: the README's operations extracted, graphql-codegen's client
/// preset on schema.graphql, `tsc` over the generated types and the client. `false` (a failure
/// under `CI=true`) when its packages are not installed.
fn build_codegen_client() -> bool {
    if !Path::new(CODEGEN_DIR).join("node_modules/.bin/graphql-codegen").exists() {
        let ci = std::env::var("CI").is_ok_and(|c| c == "true");
        assert!(!ci, "CI=true but {CODEGEN_DIR}/node_modules is missing (tests/run.sh runs npm ci there)");
        eprintln!("codegen test skipped: run `npm ci --prefix tests/codegen`");
        return false;
    }
    let out =
        std::process::Command::new("npm").args(["run", "build"]).current_dir(CODEGEN_DIR).output().expect("npm runs");
    assert!(
        out.status.success(),
        "codegen or tsc failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[tokio::test]
async fn a_codegen_client_runs_the_readme_operations_by_hash_against_trusted_documents() {
    let built = tokio::task::spawn_blocking(build_codegen_client).await.unwrap();
    if !built {
        return;
    }
    let manifest = Path::new(CODEGEN_DIR).join("src/gql/persisted-documents.json");
    let documents: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(
        documents.len(),
        7,
        "the README's Screen, Chart, Login, Refetch, SectorMonths, LiveScreen and BarChanges: {documents:?}"
    );
    let app = spawn_with(Backend::Sqlite, true, |c| c.trusted_documents = Some(manifest.clone())).await;

    let report = node_report(CODEGEN_DIR, &["dist/run.js", &app.url]).await;

    // Each answer by hash is the gateway's answer to the same trusted text sent in full.
    let text = |hash: &Value| documents[hash.as_str().unwrap()].clone();
    let screen = app.gql(&text(&report["hashes"]["screen"]), json!({ "region": "KR" })).await;
    assert!(screen["data"]["tickers"]["totalCount"].as_str().is_some_and(|n| n != "0"), "{screen}");
    assert_eq!(report["screen"], screen);
    let chart = app.gql(&text(&report["hashes"]["chart"]), json!({ "ticker": "005930", "region": "KR" })).await;
    assert!(!chart["data"]["ohlcvData"]["nodes"].as_array().unwrap().is_empty(), "{chart}");
    assert_eq!(report["chart"], chart);
    assert_eq!(report["closes"], chart["data"]["ohlcvData"]["nodes"].as_array().unwrap().len());
    assert_eq!(report["login"], json!({ "role": "analyst", "token": "string" }));

    // Any other document is refused, in full or registered by hash, over HTTP and WebSocket…
    let other = "{ tickers(first: 1) { nodes { ticker } } }";
    let r = post(&app, json!({ "query": other }), None).await;
    assert_eq!(code(&r), Some("FORBIDDEN"), "{r}");
    assert!(r.get("data").is_none_or(Value::is_null), "{r}");
    let r = post(&app, json!({ "query": other, "extensions": apq(&sha256_hex(other)) }), None).await;
    assert_eq!(code(&r), Some("FORBIDDEN"), "{r}");
    let analyst = token(&app, Role::Analyst);
    assert_eq!(code(&post(&app, json!({ "query": other }), Some(&analyst)).await), Some("FORBIDDEN"));
    let mut ws = Ws::connect(&app, None, false).await;
    ws.subscribe("1", "subscription { candles(symbols: [\"X\"]) { close } }", json!({})).await;
    let refused = ws.recv(std::time::Duration::from_secs(5)).await.expect("an answer to the subscription");
    assert_eq!(message_code(&refused), Some("FORBIDDEN"), "{refused}");
    assert!(refused["payload"]["data"].is_null(), "{refused}");

    // …unless the caller is an admin.
    let admin = token(&app, Role::Admin);
    let r = post(&app, json!({ "query": other }), Some(&admin)).await;
    assert_eq!(r["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(1), "{r}");
}

#[tokio::test]
async fn a_manifest_with_a_wrong_hash_stops_the_start() {
    let path = std::env::temp_dir().join(format!("manifest-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, json!({ sha256_hex("{ a }"): "{ b }" }).to_string()).unwrap();
    let database_url = fresh_database(Backend::Sqlite).await;
    let mut c = config(&database_url);
    c.trusted_documents = Some(path.clone());
    let started =
        quantgraph::App::build(&c, quantgraph::startup::Startup { migrate: true, seed_if_empty: false }).await;
    let err = started.err().expect("the start is refused").to_string();
    assert!(err.contains("is not the SHA-256 of its document"), "{err}");
    std::fs::remove_file(path).ok();
}
