//! GraphQL's own rules on every path: validation before anything runs, field collection
//! (aliases, fragments, merged repeats), limits that no spelling gets past, bounded recursion,
//! no second run of a failed read, and the plan cache.
use crate::common::*;
use serde_json::{json, Value};

async fn metric(app: &TestApp, name: &str) -> u64 {
    let body = app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// Posts `q` and returns (status, body); the connection must answer at all.
async fn post(app: &TestApp, q: &str) -> (u16, Value) {
    let resp = app.http.post(&app.url).json(&json!({ "query": q })).send().await.expect("the gateway answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn aliases_and_fragments_read_what_each_selection_asks() {
    for backend in backends() {
        let app = spawn(backend).await;
        // Two aliases of one relation with different selections: both filled.
        let d = app
            .data(
                r#"{ tickers(first: 2, where: { region: { eq: "VN" } }) { nodes { ticker
                     o1: ohlcv(first: 2) { nodes { close } } o2: ohlcv(first: 2) { nodes { date } } } } }"#,
                json!({}),
            )
            .await;
        let nodes = d["tickers"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 2, "{backend:?}: {d}");
        for n in nodes {
            let o1 = n["o1"]["nodes"].as_array().unwrap();
            let o2 = n["o2"]["nodes"].as_array().unwrap();
            assert_eq!(o1.len(), 2, "{backend:?}: {n}");
            assert_eq!(o2.len(), 2, "{backend:?}: {n}");
            assert!(o1.iter().all(|b| b["close"].is_string() && b.get("date").is_none()), "{backend:?}: {n}");
            assert!(o2.iter().all(|b| b["date"].is_string() && b.get("close").is_none()), "{backend:?}: {n}");
        }
        // Relay-style colocation: a fragment's selection merged with the field beside it.
        let q = r#"query { ticker(ticker: "HPG", region: "VN") { ...F ohlcv(first: 1) { nodes { close } } } }
                   fragment F on Ticker { ticker ohlcv(first: 1) { nodes { date } } }"#;
        let text = app.http.post(&app.url).json(&json!({ "query": q })).send().await.unwrap().text().await.unwrap();
        assert_eq!(text.matches("\"ohlcv\"").count(), 1, "{backend:?}: one key per response name: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let bar = &v["data"]["ticker"]["ohlcv"]["nodes"][0];
        assert!(bar["date"].is_string() && bar["close"].is_string(), "{backend:?}: merged selection: {text}");
        assert_eq!(v["data"]["ticker"]["ticker"], "HPG");
        // One root key for a field repeated with other selections.
        let q = r#"{ tickers(first: 1) { nodes { ticker } } tickers(first: 1) { totalCount } }"#;
        let text = app.http.post(&app.url).json(&json!({ "query": q })).send().await.unwrap().text().await.unwrap();
        assert_eq!(text.matches("\"tickers\"").count(), 1, "{backend:?}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["data"]["tickers"]["nodes"].as_array().unwrap().len(), 1);
        assert!(v["data"]["tickers"]["totalCount"].as_str().unwrap().parse::<u64>().unwrap() > 1);
        // Inline fragments, type conditions and @skip/@include with variables and defaults.
        let q = r#"query($skip: Boolean = true, $with: Boolean!) { ticker(ticker: "HPG", region: "VN") {
                     ... on Ticker { name } ... @skip(if: $skip) { region } ...G @include(if: $with) } }
                   fragment G on Ticker { assetType }"#;
        let d = app.data(q, json!({ "with": true })).await;
        assert_eq!(d["ticker"].as_object().unwrap().keys().collect::<Vec<_>>(), ["name", "assetType"], "{d}");
        let d = app.data(q, json!({ "skip": false, "with": false })).await;
        assert_eq!(d["ticker"].as_object().unwrap().keys().collect::<Vec<_>>(), ["name", "region"], "{d}");
    }
}

#[tokio::test]
async fn invalid_documents_get_validation_errors_and_run_nothing() {
    for backend in backends() {
        let app = spawn(backend).await;
        app.data("{ tickers(first: 1) { nodes { ticker } } }", json!({})).await;
        let cases = [
            "{ tickers }",
            "{ tickers(first: 1) { nodes { ticker { x } } } }",
            r#"{ tickers(orderBy: "ticker") { nodes { ticker } } }"#,
            "{ tickers(first: 1) { nodes { nope } } }",
            "{ tickers(first: \"two\") { nodes { ticker } } }",
            "query($n: Int) { tickers(first: $m) { nodes { ticker } } }",
            "{ tickers(first: 1) { nodes { a: ticker a: name } } }",
            "{ ...A } fragment A on Query { __typename ...A }",
            "{ ...Missing }",
            // One response key, two shapes (SameResponseShape): `String` and `String!`, `Int!`
            // and `BigInt`, an object and a connection.
            r#"{ node(id: "WyJUaWNrZXIiLDJd") { ... on Ticker { name } ... on Strategy { name } } }"#,
            "{ nodes(ids: []) { ... on Ticker { x: rowId } ...B } } fragment B on OhlcvBar { x: rowId }",
            r#"{ node(id: "x") { ... on Ticker { s: stockDetails { sector } } ... on Strategy { s: backtestResults { totalCount } } } }"#,
        ];
        for q in cases {
            let before = app.statements().await;
            let r = app.gql(q, json!({})).await;
            assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{backend:?}: {q}: {r}");
            assert!(r.get("data").is_none_or(Value::is_null), "{backend:?}: {q}: data beside errors: {r}");
            assert_eq!(app.statements().await, before, "{backend:?}: SQL ran for an invalid document: {q}");
        }
        // Fields of one shape under one key are fine, whatever types they are selected on.
        let r = app
            .data(
                r#"{ node(id: "WyJUaWNrZXIiLDJd") { ... on Ticker { t: name } ... on Strategy { t: description } } }"#,
                json!({}),
            )
            .await;
        assert!(r["node"]["t"].is_string(), "{backend:?}: {r}");
    }
}

#[tokio::test]
async fn limits_hold_whatever_the_spelling() {
    for backend in backends() {
        let app = spawn_with(backend, true, |c| {
            c.max_complexity = 5_000;
        })
        .await;
        let aliases = format!(
            "{{ {} }}",
            (0..200).map(|i| format!("a{i}: tickers {{ totalCount }}")).collect::<Vec<_>>().join(" ")
        );
        let cases = [
            // Page size hidden behind an inline fragment and a named fragment.
            (
                r#"{ tickers(first: 100) { ... on TickerConnection { nodes { ohlcv(first: 100) { ...Bars } } } } }
                fragment Bars on OhlcvBarConnection { nodes { date close } }"#,
                json!({}),
            ),
            // A variable's default applies to the check as to the read.
            (
                "query($n: Int = 1000) { tickers(first: 10) { nodes { ohlcv(first: $n) { nodes { close } } } } }",
                json!({}),
            ),
            ("query($n: Int = 10) { tickers(first: $n) { nodes { ticker } } }", json!({ "n": 5000 })),
            // Aliases multiply the cost.
            (aliases.as_str(), json!({})),
        ];
        for (q, vars) in cases {
            let before = app.statements().await;
            let r = app.gql(q, vars).await;
            assert_eq!(code(&r), Some("QUERY_TOO_COMPLEX"), "{backend:?}: {q}: {r}");
            assert_eq!(app.statements().await, before, "{backend:?}: SQL ran for a refused query");
        }
        // Ninety levels: too deep for the parser, and said so as too complex.
        let deep = format!("{}{}", "{ a ".repeat(90), "}".repeat(90));
        assert_eq!(app.error_code(&deep, json!({})).await, "QUERY_TOO_COMPLEX", "{backend:?}");
        // Within the limits the same shapes answer.
        app.data(
            "query($n: Int = 10) { tickers(first: 5) { nodes { ohlcv(first: $n) { nodes { close } } } } }",
            json!({}),
        )
        .await;
    }
}

#[tokio::test]
async fn hostile_documents_get_errors_and_the_gateway_keeps_serving() {
    let app = spawn(Backend::Sqlite).await;
    let cycle = "query { ...A } fragment A on Query { __typename ...A }".to_string();
    let mutual =
        "{ ...A } fragment A on Query { ...B } fragment B on Query { tickers { totalCount } ...A }".to_string();
    let nested = format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000));
    let brackets = format!("{{ tickers(where: {}) {{ totalCount }} }}", "{ and: [".repeat(5_000));
    let aliases = format!("{{ {} }}", (0..100_000).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "));
    let huge = format!("{{ tickers {{ totalCount }} }} # {}", "x".repeat(2 * 1024 * 1024));
    for q in [cycle, mutual, nested, brackets, aliases, huge] {
        let (status, body) = post(&app, &q).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        let refused = status == 413 || matches!(code, Some("BAD_USER_INPUT" | "QUERY_TOO_COMPLEX"));
        assert!(refused, "expected a refusal for a {}-byte document, got {status}: {body}", q.len());
        assert!(body.get("data").is_none_or(|d| d.is_null()), "no data for a hostile document");
        // Still serving.
        let d = app.data("{ tickers(first: 1) { totalCount } }", json!({})).await;
        assert!(d["tickers"]["totalCount"].is_string(), "{d}");
    }
}

#[tokio::test]
async fn a_failed_read_is_answered_once_not_run_again() {
    for backend in backends() {
        let app = spawn(backend).await;
        let q = "{ valueChainEdges(first: 5) { nodes { relationship } } }";
        assert_eq!(app.data(q, json!({})).await["valueChainEdges"]["nodes"].as_array().unwrap().len(), 5);
        use sea_orm::ConnectionTrait;
        app.sql().await.execute_unprepared("DROP TABLE value_chain_edges").await.unwrap();
        let before = app.statements().await;
        let r = app.gql(q, json!({})).await;
        assert_eq!(code(&r), Some("INTERNAL"), "{backend:?}: {r}");
        assert!(!r.to_string().to_lowercase().contains("value_chain_edges"), "{backend:?}: SQL leaked: {r}");
        assert_eq!(app.statements().await - before, 1, "{backend:?}: the failed read ran again");
    }
}

#[tokio::test]
async fn the_plan_cache_prepares_each_document_once() {
    let app = spawn(Backend::Sqlite).await;
    let q = "query($n: Int!) { tickers(first: $n) { nodes { ticker } } }";
    let (h0, m0) = (
        metric(&app, "quantgraph_plan_cache_hits_total").await,
        metric(&app, "quantgraph_plan_cache_misses_total").await,
    );
    for n in [1, 2, 3] {
        let d = app.data(q, json!({ "n": n })).await;
        assert_eq!(d["tickers"]["nodes"].as_array().unwrap().len(), n, "variables are bound per request");
    }
    assert_eq!(metric(&app, "quantgraph_plan_cache_misses_total").await - m0, 1);
    assert_eq!(metric(&app, "quantgraph_plan_cache_hits_total").await - h0, 2);
    // A caller's rights are not cached with the plan: the same document, another role.
    let sq = "{ strategies(first: 1) { nodes { name } } }";
    let analyst = token(&app, quantgraph::auth::Role::Analyst);
    let ok = as_role(&app, &analyst, sq, json!({})).await;
    assert_eq!(ok["data"]["strategies"]["nodes"].as_array().unwrap().len(), 1, "{ok}");
    let refused = app.gql(sq, json!({})).await;
    assert_eq!(code(&refused), Some("UNAUTHENTICATED"), "{refused}");
    assert!(refused["data"].is_null() || refused["data"]["strategies"].is_null(), "{refused}");
    // Bounded: a small cache keeps at most its entries.
    let small = spawn_with(Backend::Sqlite, true, |c| c.plan_cache_entries = 3).await;
    for i in 0..10 {
        small.data(&format!("{{ tickers(first: {i}) {{ totalCount }} }}"), json!({})).await;
    }
    assert_eq!(metric(&small, "quantgraph_plan_cache_entries").await, 3);
}
