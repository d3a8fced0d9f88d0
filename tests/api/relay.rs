//! Relay object identity: every table type is a `Node` with a global `id` (its type and primary
//! key), `node(id:)` and `nodes(ids:)` fetch objects by it in one statement per type under the
//! list fields' access rules, and the real clients normalise by it: relay-compiler compiles a
//! client with `@refetchable` and `@connection` against schema.graphql and relay-runtime runs it,
//! and Apollo Client's `InMemoryCache` keeps one entry per object with no type policies.
use crate::common::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use quantgraph::auth::Role;
use serde_json::{json, Value};
use std::path::Path;

const RELAY_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/relay");
const APOLLO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apollo");

/// The documented encoding: unpadded base64url of the JSON array `[type, key…]`.
fn global_id(key: Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key).unwrap())
}

const NODES: &str = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Ticker { ticker } ... on Strategy { rowId strategy: name } } }";

#[tokio::test]
async fn node_and_nodes_fetch_by_global_id_in_one_statement_per_type_under_the_access_rules() {
    for backend in backends() {
        let app = spawn(backend).await;
        let admin = token(&app, Role::Admin);
        let tickers =
            app.data("{ tickers(first: 3, orderBy: [{ rowId: ASC }]) { nodes { id rowId ticker } } }", json!({})).await;
        let t = tickers["tickers"]["nodes"].as_array().unwrap().clone();
        assert_eq!(t.len(), 3, "{backend:?}: {tickers}");
        // The id is the documented encoding of the type and key: nothing else goes into it.
        for row in &t {
            assert_eq!(row["id"], global_id(json!(["Ticker", row["rowId"]])), "{backend:?}: {row}");
        }
        let strategies = as_role(&app, &admin, "{ strategies(first: 1) { nodes { id rowId name } } }", json!({})).await;
        let s = strategies["data"]["strategies"]["nodes"][0].clone();
        assert_eq!(s["id"], global_id(json!(["Strategy", s["rowId"]])), "{backend:?}: {strategies}");

        // node(id:) answers the object the list showed.
        let one = app
            .data(
                "query($id: ID!) { node(id: $id) { id ... on Ticker { rowId ticker } } }",
                json!({ "id": t[1]["id"] }),
            )
            .await;
        assert_eq!(one["node"], t[1], "{backend:?}");

        // nodes(ids:) in the ids' order, null for a missing row, one statement per type.
        let missing = global_id(json!(["Ticker", 987654]));
        let ids = json!([t[2]["id"], s["id"], missing, t[0]["id"]]);
        let before = app.statements().await;
        let r = as_role(&app, &admin, NODES, json!({ "ids": ids })).await;
        assert_eq!(app.statements().await - before, 2, "{backend:?}: one statement per type: {r}");
        assert!(r.get("errors").is_none(), "{backend:?}: {r}");
        assert_eq!(
            r["data"]["nodes"],
            json!([
                { "__typename": "Ticker", "id": t[2]["id"], "ticker": t[2]["ticker"] },
                { "__typename": "Strategy", "id": s["id"], "rowId": s["rowId"], "strategy": s["name"] },
                null,
                { "__typename": "Ticker", "id": t[0]["id"], "ticker": t[0]["ticker"] },
            ]),
            "{backend:?}"
        );

        // An anonymous caller may not read strategies: the one it names is null, as a missing
        // row is, with no error telling it exists; the tickers are still answered.
        let anon = app.gql(NODES, json!({ "ids": ids })).await;
        assert!(anon.get("errors").is_none(), "{backend:?}: {anon}");
        assert_eq!(anon["data"]["nodes"][0]["ticker"], t[2]["ticker"], "{backend:?}: {anon}");
        assert_eq!(anon["data"]["nodes"][1], Value::Null, "{backend:?}: {anon}");
        assert_eq!(anon["data"]["nodes"][2], Value::Null, "{backend:?}: {anon}");
        let hidden = app.gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": s["id"] })).await;
        assert_eq!(hidden, json!({ "data": { "node": null } }), "{backend:?}");

        // Two lists of nodes in one request each get their own nulls.
        let two = app
            .data(
                "query($a: [ID!]!, $b: [ID!]!) { a: nodes(ids: $a) { id } b: nodes(ids: $b) { id } }",
                json!({ "a": [missing], "b": [t[0]["id"], missing] }),
            )
            .await;
        assert_eq!(two, json!({ "a": [null], "b": [{ "id": t[0]["id"] }, null] }), "{backend:?}");

        // What is not an id of this API is refused with a code, naming no SQL.
        for bad in [
            "garbage",
            &global_id(json!(["Planet", 1])),
            &global_id(json!(["Ticker", "x"])),
            &global_id(json!(["Ticker"])),
        ] {
            let r = app.gql("query($id: ID!) { node(id: $id) { id } }", json!({ "id": bad })).await;
            assert_eq!(r["data"], json!({ "node": null }), "{backend:?}: {bad}: {r}");
            assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{backend:?}: {bad}: {r}");
            assert_eq!(r["errors"][0]["path"], json!(["node"]), "{backend:?}: {r}");
        }
    }
}

/// Composite keys hold every key column; a time in one is UTC whatever the request's zone, so the
/// id of a row is the same for every caller; and a fragment on `Node` applies in any list.
#[tokio::test]
async fn composite_keys_and_zoned_requests_give_the_same_ids() {
    let app = spawn(Backend::Postgres).await;
    let q = "{ marketCandles(first: 2) { nodes { id time symbol ...N } } stockDetails(first: 1) { nodes { id ticker region } } } fragment N on Node { again: id }";
    let utc = app.data(q, json!({})).await;
    let seoul = app.gql_with(q, json!({}), &[("Time-Zone", "Asia/Seoul")]).await;
    let c = &utc["marketCandles"]["nodes"][0];
    let zoned = &seoul["data"]["marketCandles"]["nodes"][0];
    assert_ne!(c["time"], zoned["time"], "the zone shows in the time: {utc} {seoul}");
    assert_eq!(c["id"], zoned["id"], "but not in the id");
    assert_eq!(c["again"], c["id"], "a fragment on Node applies to a MarketCandle: {utc}");
    let time = chrono::DateTime::parse_from_rfc3339(c["time"].as_str().unwrap()).unwrap().with_timezone(&chrono::Utc);
    assert_eq!(c["id"], global_id(json!(["MarketCandle", time.to_rfc3339(), c["symbol"]])), "{utc}");
    let d = &utc["stockDetails"]["nodes"][0];
    let key: Vec<Value> = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(d["id"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!(key[0], "StockDetails", "{utc}");
    assert!(key.contains(&d["ticker"]) && key.contains(&d["region"]), "{key:?}");
    // Fetched back by id, in either zone, it is the same row.
    let back = app
        .data("query($id: ID!) { node(id: $id) { id ... on MarketCandle { symbol } } }", json!({ "id": c["id"] }))
        .await;
    assert_eq!(back["node"]["symbol"], c["symbol"], "{back}");
}

/// Whether the npm packages of `dir` are installed (a failure under `CI=true` when not).
fn installed(dir: &str, bin: &str) -> bool {
    if Path::new(dir).join("node_modules").join(bin).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").map_or(true, |c| c != "true"),
        "CI=true but {dir}/node_modules is missing (tests/run.sh installs it)"
    );
    eprintln!("skipped: run `npm ci --prefix {dir}`");
    false
}

#[tokio::test]
async fn relay_compiles_a_refetchable_paginated_client_and_runs_it() {
    if !installed(RELAY_DIR, ".bin/relay-compiler") {
        return;
    }
    // relay-compiler against the committed schema.graphql: it refuses `@refetchable` on a type
    // that is not a Node, and a `@connection` it cannot paginate.
    // Its artifacts go to a directory of their own, which a clean checkout does not have.
    std::fs::create_dir_all(Path::new(RELAY_DIR).join("src/__generated__")).unwrap();
    let out = tokio::process::Command::new("node_modules/.bin/relay-compiler")
        .current_dir(RELAY_DIR)
        .output()
        .await
        .expect("relay-compiler runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let app = spawn(Backend::Sqlite).await;
    let report = node_report(RELAY_DIR, &["run.mjs", &app.url]).await;

    let want = app
        .data(
            "{ tickers(first: 4, where: { region: { eq: \"KR\" } }, orderBy: [{ ticker: ASC }]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let want: Vec<Value> = want["tickers"]["nodes"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
    assert_eq!(want.len(), 4, "{want:?}");
    assert_eq!(report["first"], json!(want[..2]), "the first page: {report}");
    // The pagination query's page is appended to the connection, as usePaginationFragment shows it.
    assert_eq!(report["next"], json!(want), "the next page after endCursor: {report}");
    assert_eq!(report["hasNextPage"], true, "{report}");
    // The refetch query (node(id:)) reads the same row again, its details included.
    assert_eq!(report["row"]["id"], want[0], "{report}");
    assert!(report["row"]["stockDetails"]["sector"].is_string(), "{report}");
    assert_eq!(report["again"], report["row"], "{report}");
    // Relay's store holds each ticker once, under its id.
    assert_eq!(report["tickerRecords"], json!(want), "{report}");
}

#[tokio::test]
async fn apollo_keeps_one_cache_entry_per_object_without_type_policies() {
    if !installed(APOLLO_DIR, "@apollo/client") {
        return;
    }
    let app = spawn(Backend::Sqlite).await;
    let report = node_report(APOLLO_DIR, &["identity.mjs", &app.url]).await;
    let want = app
        .data("{ tickers(first: 3, where: { region: { eq: \"KR\" } }, orderBy: [{ ticker: ASC }]) { nodes { id stockDetails { id } } } }", json!({}))
        .await;
    let nodes = want["tickers"]["nodes"].as_array().unwrap();
    let mut keys: Vec<String> = nodes.iter().map(|n| format!("Ticker:{}", n["id"].as_str().unwrap())).collect();
    keys.extend(nodes.iter().map(|n| format!("StockDetails:{}", n["stockDetails"]["id"].as_str().unwrap())));
    keys.push("ROOT_QUERY".into());
    keys.sort();
    // Three tickers and their three details, each once, though two queries read the first.
    assert_eq!(report["keys"], json!(keys), "{report}");
    assert_eq!(report["listRefs"][0], report["oneRef"], "both queries point at one entry: {report}");
    // That entry holds the fields of both queries, and a change to it shows through the list.
    assert!(report["entry"]["rowId"].is_i64() && report["entry"]["ticker"].is_string(), "{report}");
    assert_eq!(report["listNameAfter"], "renamed in the cache", "{report}");
}
