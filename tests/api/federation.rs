//! QuantGraph as an Apollo Federation v2 subgraph: `@key`s on the table types in
//! `_service { sdl }`, `_entities` resolving many representations with one statement per type
//! under the list fields' access rules, and a composition with a second subgraph through
//! @apollo/gateway answering a query that joins both.
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::{json, Value};

const ENTITIES: &str = "query($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Ticker { ticker name } ... on Strategy { strategy: name } } }";

#[tokio::test]
async fn entities_resolve_in_one_statement_per_type_under_the_access_rules() {
    for backend in backends() {
        let app = spawn(backend).await;
        let sdl = app.gql("{ _service { sdl } }", json!({})).await;
        let sdl = sdl["data"]["_service"]["sdl"].as_str().unwrap_or_else(|| panic!("{backend:?}: {sdl}"));
        assert!(sdl.contains("url: \"https://specs.apollo.dev/federation/v2"), "{backend:?}: federation v2");
        assert!(
            sdl.contains("type Ticker implements Node @key(fields: \"rowId\") @key(fields: \"ticker region\")"),
            "{backend:?}"
        );
        let admin = token(&app, Role::Admin);
        let strategies = as_role(&app, &admin, "{ strategies(first: 2) { nodes { rowId name } } }", json!({})).await;
        let s = &strategies["data"]["strategies"]["nodes"];
        let reps = json!([
            { "__typename": "Ticker", "ticker": "005930", "region": "KR" },
            { "__typename": "Strategy", "rowId": s[0]["rowId"] },
            { "__typename": "Ticker", "ticker": "NOPE", "region": "KR" },
            { "__typename": "Ticker", "ticker": "000660", "region": "KR" },
            { "__typename": "Strategy", "rowId": s[1]["rowId"] },
        ]);
        let before = app.statements().await;
        let r = as_role(&app, &admin, ENTITIES, json!({ "r": reps })).await;
        assert_eq!(app.statements().await - before, 2, "{backend:?}: one statement per type: {r}");
        assert_eq!(
            r["data"]["_entities"],
            json!([
                { "__typename": "Ticker", "ticker": "005930", "name": "Samsung Electronics" },
                { "__typename": "Strategy", "strategy": s[0]["name"] },
                null,
                { "__typename": "Ticker", "ticker": "000660", "name": "SK hynix" },
                { "__typename": "Strategy", "strategy": s[1]["name"] },
            ]),
            "{backend:?}: in the representations' order, null where nothing matches"
        );
        assert!(r.get("errors").is_none(), "{backend:?}: {r}");
        // An anonymous caller gets the tickers but not the strategies (research rows): null, as
        // for a row that does not exist, so the answer does not tell which exist.
        let r = app.gql(ENTITIES, json!({ "r": reps })).await;
        assert_eq!(r["data"]["_entities"][0]["name"], "Samsung Electronics", "{backend:?}: {r}");
        assert_eq!(r["data"]["_entities"][1], Value::Null, "{backend:?}: {r}");
        assert_eq!(r["data"]["_entities"][4], Value::Null, "{backend:?}: {r}");
        // A representation of a type this subgraph does not have is refused with a code.
        let r = app.gql(ENTITIES, json!({ "r": [{ "__typename": "Planet", "id": 1 }] })).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{backend:?}: {r}");
        // `_entities` is non-null: its failure nulls `data`, as the specification says.
        assert_eq!(r["data"], Value::Null, "{backend:?}: {r}");
        assert_eq!(r["errors"][0]["path"], json!(["_entities"]), "{backend:?}: {r}");
    }
}

/// @apollo/gateway composes QuantGraph with a second subgraph from their `_service { sdl }` and
/// answers a query needing both: the other subgraph's watchlist, QuantGraph's names and bars.
#[tokio::test]
async fn a_gateway_composes_quantgraph_with_another_subgraph() {
    let app = spawn(Backend::Sqlite).await;
    let q = "{ watchlist { ticker region rating name ohlcv(last: 1) { nodes { date } } } }";
    let out = tokio::process::Command::new("node")
        .args(["federation.mjs", &app.url, q])
        .current_dir("tests/apollo")
        .output()
        .await
        .expect("node runs");
    // The report is the last line (Apollo Server logs to stdout before it).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| {
        panic!("{e} ({}): {}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    let list = report["data"]["watchlist"].as_array().unwrap_or_else(|| panic!("{report}"));
    assert_eq!(list.len(), 2, "{report}");
    assert_eq!((&list[0]["rating"], &list[0]["name"]), (&json!("BUY"), &json!("Samsung Electronics")), "{report}");
    assert_eq!((&list[1]["rating"], &list[1]["name"]), (&json!("HOLD"), &json!("SK hynix")), "{report}");
    assert!(list.iter().all(|t| t["ohlcv"]["nodes"][0]["date"].is_string()), "{report}");
}
