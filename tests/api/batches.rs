//! Batched requests: a JSON array of operations in one POST answers an array of results in
//! order, each as if sent alone (its own errors, its own place in the rate limit).
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::{json, Value};

async fn post(app: &TestApp, body: &Value, auth: Option<&str>) -> (u16, Value) {
    let mut req = app.http.post(&app.url).json(body);
    if let Some(auth) = auth {
        req = req.header("Authorization", auth);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn a_batch_answers_each_operation_as_if_sent_alone_in_order() {
    let app = spawn(Backend::Sqlite).await;
    let admin = token(&app, Role::Admin);
    let ops = [
        json!({ "query": "{ tickers(first: 2) { totalCount nodes { ticker } } }" }),
        json!({ "query": "query Bad { tickers(first: -1) { nodes { ticker } } }", "operationName": "Bad" }),
        json!({ "query": "query($n: String!) { tickers(first: 1, where: { ticker: { eq: $n } }) { nodes { ticker name } } }", "variables": { "n": "AAPL" } }),
        json!({ "query": "{ nope }" }),
    ];
    let mut alone = Vec::new();
    for op in &ops {
        let (status, body) = post(&app, op, Some(&admin)).await;
        assert_eq!(status, 200);
        alone.push(body);
    }
    assert!(alone[0]["data"]["tickers"]["nodes"].as_array().unwrap().len() == 2, "{}", alone[0]);
    assert_eq!(alone[1]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{}", alone[1]);
    let (status, batch) = post(&app, &Value::Array(ops.to_vec()), Some(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(batch, Value::Array(alone), "each result as if its operation were sent alone");

    // Reads after a write in the same batch see it: operations run in order.
    let (_, batch) = post(
        &app,
        &json!([
            { "query": "mutation { createStrategy(input: { name: \"batched\" }) { name } }" },
            { "query": "{ strategies(where: { name: { eq: \"batched\" } }) { nodes { name } } }" },
        ]),
        Some(&admin),
    )
    .await;
    assert_eq!(batch[0]["data"]["createStrategy"]["name"], "batched", "{batch}");
    assert_eq!(batch[1]["data"]["strategies"]["nodes"], json!([{ "name": "batched" }]), "{batch}");

    // Empty and oversized batches are refused whole, running nothing.
    let (status, body) = post(&app, &json!([]), Some(&admin)).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["code"]), (400, &json!("BAD_USER_INPUT")), "{body}");
    let many: Vec<Value> = (0..21)
        .map(|i| json!({ "query": format!("mutation {{ createStrategy(input: {{ name: \"over-{i}\" }}) {{ name }} }}") }))
        .collect();
    let (status, body) = post(&app, &Value::Array(many), Some(&admin)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("1 to 20"), "{body}");
    let (_, names) = post(
        &app,
        &json!({ "query": "{ strategies(where: { name: { like: \"over-%\" } }) { totalCount } }" }),
        Some(&admin),
    )
    .await;
    assert_eq!(names["data"]["strategies"]["totalCount"], "0", "{names}");
}

/// Each operation of a batch counts against the caller's allowance on its own.
#[tokio::test]
async fn each_operation_of_a_batch_counts_in_the_rate_limit() {
    let app = spawn_with(Backend::Sqlite, true, |c| c.rate_limit = 3).await;
    let op = json!({ "query": "{ tickers(first: 1) { totalCount } }" });
    let (status, batch) = post(&app, &json!([op, op, op, op, op]), None).await;
    assert_eq!(status, 200);
    let codes: Vec<Value> =
        batch.as_array().unwrap().iter().map(|r| r["errors"][0]["extensions"]["code"].clone()).collect();
    assert_eq!(codes[..3], [Value::Null, Value::Null, Value::Null], "{batch}");
    assert!(batch[0]["data"]["tickers"]["totalCount"].is_string(), "{batch}");
    assert_eq!(codes[3..], [json!("RATE_LIMITED"), json!("RATE_LIMITED")], "{batch}");
    assert!(batch[4].get("data").is_none(), "{batch}");
}

/// Apollo Client's BatchHttpLink sends three queries in one POST and gets each result.
#[tokio::test]
async fn apollo_batch_http_link_gets_each_result_from_one_post() {
    let app = spawn(Backend::Sqlite).await;
    let out = tokio::process::Command::new("node")
        .args(["batch.mjs", &app.url])
        .current_dir("tests/apollo")
        .output()
        .await
        .expect("node runs");
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["posts"], 1, "one POST for three queries: {report}");
    let r = &report["results"];
    assert_eq!(r[0]["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(2), "{report}");
    assert_eq!(r[0]["codes"], json!([]), "{report}");
    assert_eq!(r[1]["codes"], json!(["BAD_USER_INPUT"]), "{report}");
    assert_eq!(r[2]["data"]["tickers"]["nodes"][0]["region"], "KR", "{report}");
}

/// A batch of reads is answered from one snapshot: its answers agree with each other while a
/// writer commits between them. A batch holding a write runs each operation as if alone, and
/// with the same writer its reads disagree: the writer is fast enough to show it.
#[tokio::test]
async fn a_batch_of_reads_agrees_while_a_writer_commits() {
    use sea_orm::ConnectionTrait;
    for backend in backends() {
        let app = spawn(backend).await;
        let admin = token(&app, Role::Admin);
        let db = app.sql().await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut day = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let date = chrono::NaiveDate::from_ymd_opt(2031, 1, 1).unwrap() + chrono::Days::new(day);
                    let insert = format!(
                        "INSERT INTO ohlcv_data (ticker, region, date, timeframe, open, high, low, close, volume) \
                         VALUES ('SNAP', 'US', '{date}', 'D', 1, 1, 1, 1, 1)"
                    );
                    db.execute_unprepared(&insert).await.unwrap();
                    day += 1;
                }
                day
            })
        };
        let count = |alias: &str| json!({ "query": format!("{{ {alias}: ohlcvData(where: {{ ticker: {{ eq: \"SNAP\" }} }}) {{ totalCount }} }}") });
        let counts = |batch: &Value, keys: &[usize]| -> Vec<String> {
            keys.iter()
                .map(|&i| {
                    let d = &batch[i]["data"];
                    let (_, v) = d.as_object().unwrap_or_else(|| panic!("{backend:?}: {batch}")).iter().next().unwrap();
                    v["totalCount"].as_str().unwrap().to_string()
                })
                .collect()
        };
        let (mut seen, mut disagreed) = (std::collections::BTreeSet::new(), 0);
        for _ in 0..40 {
            let reads = json!([count("a"), count("b"), count("c"), count("d")]);
            let (_, batch) = post(&app, &reads, Some(&admin)).await;
            let c = counts(&batch, &[0, 1, 2, 3]);
            assert!(c.iter().all(|x| *x == c[0]), "{backend:?}: one batch of reads, several moments: {c:?}");
            seen.insert(c[0].clone());
            let mixed = json!([count("a"), count("b"), { "query": "mutation { deleteStrategy(rowId: -1) }" }, count("c"), count("d")]);
            let (_, batch) = post(&app, &mixed, Some(&admin)).await;
            let c = counts(&batch, &[0, 1, 3, 4]);
            disagreed += usize::from(c.iter().any(|x| *x != c[0]));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.await.unwrap();
        assert!(written > 40 && seen.len() > 10, "{backend:?}: the writer kept committing ({written} rows, {seen:?})");
        assert!(disagreed > 0, "{backend:?}: batches with a write never saw the writer between their reads");
    }
}
