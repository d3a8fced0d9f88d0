//! Live queries: `subscription { live { …any query… } }` answers as the query does, then again
//! each time a change touches what it read — by the gateway or by plain SQL — and never for
//! unrelated changes; identical live queries share their runs; lost events end in a fresh answer.
use crate::cache::metric;
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
/// Long enough for an event that should not come to have come.
const QUIET: Duration = Duration::from_millis(700);

const BARS: &str = "query($t: String!) { ohlcvData(where: { ticker: { eq: $t } }, orderBy: [{ date: ASC }]) { totalCount nodes { date close } } }";
const LIVE_BARS: &str = "subscription($t: String!) { live { ...Bars } } fragment Bars on Query { ohlcvData(where: { ticker: { eq: $t } }, orderBy: [{ date: ASC }]) { totalCount nodes { date close } } }";

pub(crate) async fn ingest(app: &TestApp, ticker: &str, date: &str, close: &str) {
    let bar = json!({ "ticker": ticker, "region": "US", "date": date, "timeframe": "D", "close": close });
    let r = as_role(
        app,
        &token(app, Role::Service),
        "mutation($b: [OhlcvInput!]!) { ingestOhlcv(bars: $b) { inserted updated } }",
        json!({ "b": [bar] }),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
}

async fn sql(app: &TestApp, statement: &str) {
    app.sql().await.execute_unprepared(statement).await.unwrap();
}

#[tokio::test]
async fn a_live_query_answers_as_the_query_then_on_each_change_that_touches_it() {
    for backend in backends() {
        let app = spawn(backend).await;
        ingest(&app, "LQA", "2030-01-02", "10.5").await;
        ingest(&app, "LQB", "2030-01-02", "20.5").await;
        for legacy in [false, true] {
            let mut ws = Ws::connect(&app, None, legacy).await;
            ws.subscribe("1", LIVE_BARS, json!({ "t": "LQA" })).await;
            let first = ws.next_data(T).await.expect("the first answer");
            let query = app.gql(BARS, json!({ "t": "LQA" })).await;
            assert_eq!(first["data"]["live"], query["data"], "{backend:?}: the first event is the query's answer");
            assert_eq!(first["data"]["live"]["ohlcvData"]["totalCount"], if legacy { "2" } else { "1" });
            // Another ticker's bars, and another table, change nothing it read: no event.
            ingest(&app, "LQB", "2030-01-03", "21").await;
            let create = "mutation($n: String!) { createStrategy(input: { name: $n }) { rowId } }";
            let r = as_role(&app, &token(&app, Role::Admin), create, json!({ "n": format!("lq{legacy}") })).await;
            assert!(r.get("errors").is_none(), "{r}");
            assert_eq!(ws.next_data(QUIET).await, None, "{backend:?}: an unrelated change sent an event");
            // A write of its ticker through the gateway: the new answer.
            let date = if legacy { "2030-01-05" } else { "2030-01-04" };
            ingest(&app, "LQA", date, "11.25").await;
            let next = ws.next_data(T).await.expect("an update after the write");
            let query = app.gql(BARS, json!({ "t": "LQA" })).await;
            assert_eq!(next["data"]["live"], query["data"], "{backend:?}");
            let nodes = next["data"]["live"]["ohlcvData"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.last().unwrap()["close"], "11.2500", "{next}");
            assert_eq!(ws.next_data(QUIET).await, None, "{backend:?}: one write, one event");
        }
        // Plain SQL by another program (PostgreSQL: the change triggers tell the gateway).
        if backend == Backend::Postgres {
            let mut ws = Ws::connect(&app, None, false).await;
            ws.subscribe("1", LIVE_BARS, json!({ "t": "LQA" })).await;
            ws.next_data(T).await.expect("the first answer");
            sql(&app, "UPDATE ohlcv_data SET close = 99.5 WHERE ticker = 'LQA' AND date = '2030-01-02'").await;
            let next = ws.next_data(T).await.expect("an update after plain SQL");
            assert_eq!(next["data"]["live"]["ohlcvData"]["nodes"][0]["close"], "99.5000", "{next}");
        }
    }
}

#[tokio::test]
async fn aliases_skip_and_field_errors_behave_as_in_the_query() {
    for backend in backends() {
        let app = spawn(backend).await;
        let mut ws = Ws::connect(&app, None, false).await;
        let doc = "subscription($no: Boolean!) { feed: live { n: tickers(first: 2) { totalCount } hidden: strategies @skip(if: $no) { totalCount } bad: tickers(first: -1) { totalCount } } }";
        ws.subscribe("1", doc, json!({ "no": true })).await;
        let first = ws.next_data(T).await.expect("the first answer");
        let query = app
            .gql(
                "query($no: Boolean!) { n: tickers(first: 2) { totalCount } hidden: strategies @skip(if: $no) { totalCount } bad: tickers(first: -1) { totalCount } }",
                json!({ "no": true }),
            )
            .await;
        assert_eq!(first["data"]["feed"], query["data"], "{backend:?}: {first}");
        assert!(first["data"]["feed"].get("hidden").is_none());
        assert_eq!(first["data"]["feed"]["bad"], Value::Null);
        assert_ne!(first["data"]["feed"]["n"]["totalCount"], "0");
        let errors = first["errors"].as_array().expect("the field error");
        assert_eq!(errors.len(), 1, "{first}");
        assert_eq!(errors[0]["path"], json!(["feed", "bad"]));
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT");
        // A live query is the only field of its subscription.
        ws.subscribe(
            "2",
            "subscription { live { tickers { totalCount } } marketSnapshot(marketType: \"VN\") { marketType } }",
            json!({}),
        )
        .await;
        let refused = ws.recv(T).await.expect("a refusal");
        assert_eq!(refused["type"], "error", "{refused}");
    }
}

#[tokio::test]
async fn identical_live_queries_share_runs_and_a_burst_costs_few() {
    let app = spawn(Backend::Postgres).await;
    ingest(&app, "LQS", "2030-01-02", "1").await;
    let mut subscribers = Vec::new();
    for i in 0..20 {
        let mut ws = Ws::connect(&app, None, i % 2 == 1).await;
        ws.subscribe("1", LIVE_BARS, json!({ "t": "LQS" })).await;
        ws.next_data(T).await.expect("the first answer");
        subscribers.push(ws);
    }
    assert_eq!(metric(&app, "quantgraph_live_query_groups").await, 1.0, "20 identical live queries are one group");
    assert_eq!(metric(&app, "quantgraph_live_query_subscribers").await, 20.0);
    let runs = metric(&app, "quantgraph_live_query_runs_total").await;
    // A burst: 200 plain-SQL increments from 10 connections at once.
    let mut writers = Vec::new();
    for _ in 0..10 {
        let db = app.sql().await;
        writers.push(tokio::spawn(async move {
            for _ in 0..20 {
                db.execute_unprepared("UPDATE ohlcv_data SET close = close + 1 WHERE ticker = 'LQS'").await.unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Every subscriber ends at the last state.
    for ws in &mut subscribers {
        loop {
            let d = ws.next_data(T).await.expect("updates until the last write");
            if d["data"]["live"]["ohlcvData"]["nodes"][0]["close"] == "201.0000" {
                break;
            }
        }
    }
    let reruns = metric(&app, "quantgraph_live_query_runs_total").await - runs;
    println!("200 updates, 20 subscribers: {reruns} runs");
    assert!((1.0..150.0).contains(&reruns), "re-runs were not conflated: {reruns} for 200 updates");
    assert_eq!(metric(&app, "quantgraph_live_query_groups").await, 1.0);
    drop(subscribers);
    let start = std::time::Instant::now();
    while metric(&app, "quantgraph_live_query_groups").await != 0.0 {
        assert!(start.elapsed() < T, "the group outlived its subscribers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn lost_change_events_end_in_a_fresh_answer() {
    let app = spawn(Backend::Postgres).await;
    ingest(&app, "LQL", "2030-01-02", "1").await;
    let mut ws = Ws::connect(&app, None, false).await;
    ws.subscribe("1", LIVE_BARS, json!({ "t": "LQL" })).await;
    ws.next_data(T).await.expect("the first answer");
    let sql = app.sql().await;
    cut_listener(&sql).await;
    // Written while the gateway hears nothing: its change event is lost.
    sql.execute_unprepared("UPDATE ohlcv_data SET close = 7 WHERE ticker = 'LQL'").await.unwrap();
    let next = ws.next_data(T).await.expect("a fresh answer once the listener is back");
    assert_eq!(next["data"]["live"]["ohlcvData"]["nodes"][0]["close"], "7.0000", "{next}");
}

/// Apollo Client (`subscribe` over GraphQLWsLink) and urql (`subscriptionExchange`), both on
/// graphql-ws from npm, take a live query as it is: the first answer, then the next after a write.
#[tokio::test]
async fn apollo_and_urql_subscribe_to_a_live_query_unchanged() {
    let app = spawn(Backend::Sqlite).await;
    let ws_url = app.url.replace("http://", "ws://").replace("/graphql", "/graphql/ws");
    clients_follow_a_live_query(&app, "LQC", &["live.mjs", &ws_url, "LQC"], &["apollo", "urql"]).await;
}

/// Runs a script of `tests/apollo` (`args`) whose `clients` each subscribe to a live query of
/// `ticker`'s last bar: once all hold their first answer (the script says "ready" on stderr), a
/// write; each must report both answers.
pub(crate) async fn clients_follow_a_live_query(app: &TestApp, ticker: &str, args: &[&str], clients: &[&str]) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    ingest(app, ticker, "2030-01-02", "5.5").await;
    let mut child = tokio::process::Command::new("node")
        .args(args)
        .current_dir("tests/apollo")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(T, stderr.next_line()).await.expect("the clients answered").unwrap();
        match line {
            Some(l) if l.trim() == "ready" => break,
            Some(l) => eprintln!("{l}"),
            None => panic!("the clients ended before their first answers"),
        }
    }
    ingest(app, ticker, "2030-01-03", "6.25").await;
    let out = tokio::time::timeout(T, child.wait_with_output()).await.expect("the clients finished").unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    for client in clients {
        assert_eq!(
            report[client],
            json!([{ "date": "2030-01-02", "close": "5.5000" }, { "date": "2030-01-03", "close": "6.2500" }]),
            "{client}: {report}"
        );
    }
}
