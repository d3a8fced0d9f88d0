//! Table streams: every insert, update and delete of a table, in commit order, each once,
//! resumable by cursor, under the list field's access rules; idle streams run no SQL.
use crate::cache::metric;
use crate::common::*;
use quantgraph::auth::Role;
use rand::{Rng, SeedableRng};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

const STREAM: &str = "subscription($after: String, $where: StrategyWhere, $n: Int) { strategiesStream(after: $after, where: $where, batchSize: $n) { cursor changes { op cursor row { rowId name description } } } }";

async fn admin_ws(app: &TestApp, legacy: bool) -> Ws {
    Ws::connect(app, Some(&token(app, Role::Admin)), legacy).await
}

/// The next batch of a stream: its changes and cursor.
async fn batch(ws: &mut Ws) -> (Vec<Value>, String) {
    batch_within(ws, T).await
}

async fn batch_within(ws: &mut Ws, t: Duration) -> (Vec<Value>, String) {
    let d = ws.next_data(t).await.expect("a stream event");
    assert!(d.get("errors").is_none(), "{d}");
    let b = &d["data"]["strategiesStream"];
    assert!(b.is_object(), "{d}");
    (b["changes"].as_array().unwrap().clone(), b["cursor"].as_str().unwrap().to_string())
}

async fn run(app: &TestApp, token: &str, q: &str, vars: Value) -> Value {
    let r = as_role(app, token, q, vars).await;
    assert!(r.get("errors").is_none(), "{r}");
    r["data"].clone()
}

#[tokio::test]
async fn a_stream_sends_each_change_with_its_row_and_resumes_from_a_cursor() {
    for backend in backends() {
        let app = spawn(backend).await;
        let admin = token(&app, Role::Admin);
        let mut ws = admin_ws(&app, false).await;
        ws.subscribe("1", STREAM, json!({ "where": { "name": { "like": "st-%" } } })).await;
        let (first, start) = batch(&mut ws).await;
        assert!(first.is_empty(), "{backend:?}: the first event only says where the stream starts");
        let statements = app.statements().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let other =
            run(&app, &admin, "mutation { createStrategy(input: { name: \"other\" }) { rowId } }", json!({})).await;
        assert!(other["createStrategy"]["rowId"].is_i64());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(ws.next_data(Duration::from_millis(300)).await, None, "{backend:?}: a filtered-out row was sent");
        let id = run(&app, &admin, "mutation { createStrategy(input: { name: \"st-a\" }) { rowId } }", json!({})).await
            ["createStrategy"]["rowId"]
            .clone();
        let (changes, after_insert) = batch(&mut ws).await;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0]["op"], "INSERT");
        assert_eq!(changes[0]["row"], json!({ "rowId": id, "name": "st-a", "description": null }));
        assert_eq!(changes[0]["cursor"], after_insert.as_str());
        let patch = "mutation($id: Int!) { updateStrategy(rowId: $id, patch: { description: \"d\" }) { rowId } }";
        run(&app, &admin, patch, json!({ "id": id })).await;
        let (changes, _) = batch(&mut ws).await;
        assert_eq!((changes.len(), &changes[0]["op"]), (1, &json!("UPDATE")));
        assert_eq!(changes[0]["row"]["description"], "d");
        run(&app, &admin, "mutation($id: Int!) { deleteStrategy(rowId: $id) }", json!({ "id": id })).await;
        let (changes, _) = batch(&mut ws).await;
        assert_eq!((changes.len(), &changes[0]["op"]), (1, &json!("DELETE")));
        assert_eq!(changes[0]["row"]["name"], "st-a", "a delete carries the row as it was");
        drop(ws);
        // Resuming from the first cursor replays the same three changes; from the insert's, two.
        for (cursor, want) in [(&start, vec!["INSERT", "UPDATE", "DELETE"]), (&after_insert, vec!["UPDATE", "DELETE"])]
        {
            let mut ws = admin_ws(&app, true).await;
            ws.subscribe("1", STREAM, json!({ "after": cursor, "where": { "name": { "like": "st-%" } } })).await;
            let mut ops = Vec::new();
            while ops.len() < want.len() {
                let (changes, _) = batch(&mut ws).await;
                ops.extend(changes.iter().map(|c| c["op"].as_str().unwrap().to_string()));
            }
            assert_eq!(ops, want, "{backend:?}");
            assert_eq!(ws.next_data(Duration::from_millis(300)).await, None);
        }
        // The stream read only when its table changed: 3 mutations, each read once.
        assert!(app.statements().await > statements);
        let mut idle = admin_ws(&app, false).await;
        idle.subscribe("1", STREAM, json!({})).await;
        batch(&mut idle).await;
        // (On SQLite any commit seen through `data_version` wakes every stream for one read.)
        if backend == Backend::Postgres {
            // The last mutation's trigger event may still be on its way.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = metric(&app, "quantgraph_stream_reads_total").await;
            assert!(before > 0.0);
            tokio::time::sleep(Duration::from_secs(1)).await;
            sql_elsewhere(&app).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(metric(&app, "quantgraph_stream_reads_total").await, before, "an idle stream read");
        }
        // Twenty subscribers of one table and filter share the reads: one per change, not twenty;
        // with one selection and caller, they share its rendering too.
        if backend == Backend::Postgres {
            let mut many = Vec::new();
            for i in 0..20 {
                let mut ws = Ws::connect(&app, Some(&admin), i % 2 == 1).await;
                ws.subscribe("1", STREAM, json!({ "where": { "name": { "like": "st-%" } } })).await;
                batch(&mut ws).await;
                many.push(ws);
            }
            let reads = metric(&app, "quantgraph_stream_reads_total").await;
            let renders = metric(&app, "quantgraph_stream_renders_total").await;
            run(&app, &admin, "mutation { createStrategy(input: { name: \"st-shared\" }) { rowId } }", json!({})).await;
            for ws in &mut many {
                let (changes, _) = batch(ws).await;
                assert_eq!(changes.len(), 1);
                assert_eq!(changes[0]["row"]["name"], "st-shared");
            }
            let (changes, _) = batch(&mut idle).await;
            assert_eq!(changes[0]["row"]["name"], "st-shared", "the unfiltered stream has it too");
            let reads = metric(&app, "quantgraph_stream_reads_total").await - reads;
            // Two tails (this filter's and the idle stream's), each woken by the gateway's own
            // event and by the trigger's: at most four reads, however many subscribers.
            assert!((1.0..=4.0).contains(&reads), "20 subscribers read {reads} times for one change");
            let renders = metric(&app, "quantgraph_stream_renders_total").await - renders;
            // One for the twenty, one for the idle stream above (the same document, other variables).
            assert_eq!(renders, 2.0, "20 subscribers of one selection: one rendering of the change");
        }
        // The list field's access rules: anonymous callers may not read strategies.
        let mut anon = Ws::connect(&app, None, false).await;
        anon.subscribe("1", STREAM, json!({})).await;
        let refused = anon.next_data(T).await.expect("a refusal");
        assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
        assert_eq!(refused["data"], Value::Null);
        // A cursor that is not one.
        let mut bad = admin_ws(&app, false).await;
        bad.subscribe("1", STREAM, json!({ "after": "bm9wZQ" })).await;
        let refused = bad.next_data(T).await.expect("a refusal");
        assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    }
}

/// A plain-SQL change of another table than the streams'.
async fn sql_elsewhere(app: &TestApp) {
    app.sql().await.execute_unprepared("UPDATE tickers SET name = name WHERE id = 1").await.unwrap();
}

/// One writer transaction: the names it inserted, and when its COMMIT was sent and returned.
struct Txn {
    names: Vec<String>,
    commit_sent: Instant,
    committed: Instant,
}

#[tokio::test]
async fn overlapping_transactions_reach_a_resuming_subscriber_once_each_in_commit_order() {
    const WRITERS: usize = 16;
    const ROWS: usize = 100_000;
    let app = spawn(Backend::Postgres).await;
    let mut ws = admin_ws(&app, false).await;
    let resume = |after: Option<String>| json!({ "after": after, "where": { "name": { "like": "w%" } }, "n": 1000 });
    ws.subscribe("1", STREAM, resume(None)).await;
    batch(&mut ws).await;
    // A consumer that follows the table by its serial id, as a cursor on a serial or a
    // timestamp column does.
    let serial_reader = {
        let db = app.sql().await;
        tokio::spawn(async move {
            let (mut last, mut seen) = (0i64, HashSet::new());
            let deadline = Instant::now() + Duration::from_secs(300);
            while seen.len() < ROWS && Instant::now() < deadline {
                let rows = db
                    .query_all_raw(sea_orm::Statement::from_string(
                        sea_orm::DbBackend::Postgres,
                        format!("SELECT id, name FROM strategies WHERE id > {last} AND name LIKE 'w%' ORDER BY id"),
                    ))
                    .await
                    .unwrap();
                for r in rows {
                    last = r.try_get::<i32>("", "id").unwrap() as i64;
                    seen.insert(r.try_get::<String>("", "name").unwrap());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                if !seen.is_empty() && rows_done_marker(&db).await {
                    break;
                }
            }
            seen
        })
    };
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = app.sql().await;
        writers.push(tokio::spawn(async move {
            let mut txns = Vec::new();
            let mut written = 0;
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            while written < ROWS / WRITERS {
                let n = rng.gen_range(1..=100).min(ROWS / WRITERS - written);
                // Most transactions are short; one in forty stays open for one to three seconds.
                let hold = if rng.gen_range(0..40) == 0 {
                    Duration::from_millis(rng.gen_range(1000..3000))
                } else {
                    Duration::from_millis(rng.gen_range(0..20))
                };
                let names: Vec<String> = (0..n).map(|i| format!("w{w}-{}", written + i)).collect();
                let values: Vec<String> = names.iter().map(|n| format!("('{n}', now())")).collect();
                let txn = db.begin().await.unwrap();
                let half = values.len() / 2;
                txn.execute_unprepared(&format!(
                    "INSERT INTO strategies (name, created_at) VALUES {}",
                    values[..half.max(1)].join(",")
                ))
                .await
                .unwrap();
                tokio::time::sleep(hold).await;
                if half > 0 && values.len() > 1 {
                    txn.execute_unprepared(&format!(
                        "INSERT INTO strategies (name, created_at) VALUES {}",
                        values[half.max(1)..].join(",")
                    ))
                    .await
                    .unwrap();
                }
                let commit_sent = Instant::now();
                txn.commit().await.unwrap();
                txns.push(Txn { names, commit_sent, committed: Instant::now() });
                written += n;
            }
            txns
        }));
    }
    // Read everything, leaving and resuming from the last cursor at random moments.
    let mut got: Vec<String> = Vec::new();
    let mut resumes = 0;
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let start = Instant::now();
    while got.len() < ROWS {
        assert!(start.elapsed() < Duration::from_secs(240), "stream stalled at {} of {ROWS} rows", got.len());
        // Writers hold transactions open for seconds, and the suite runs beside: a minute's grace.
        let Some(d) = ws.next_data(Duration::from_secs(60)).await else {
            panic!("no stream event for a minute: {} rows, {resumes} resumes, after {:?}", got.len(), start.elapsed());
        };
        assert!(d.get("errors").is_none(), "{d}");
        let b = &d["data"]["strategiesStream"];
        let (changes, c) = (b["changes"].as_array().unwrap().clone(), b["cursor"].as_str().unwrap().to_string());
        if got.len() / 10_000 != (got.len() + changes.len()) / 10_000 {
            println!("{} rows after {:?}", got.len() + changes.len(), start.elapsed());
        }
        got.extend(changes.iter().map(|c| c["row"]["name"].as_str().unwrap().to_string()));
        if rng.gen_range(0..8) == 0 {
            drop(ws);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
            ws = admin_ws(&app, resumes % 2 == 1).await;
            ws.subscribe("1", STREAM, resume(Some(c))).await;
            resumes += 1;
        }
    }
    let mut txns = Vec::new();
    for w in writers {
        txns.extend(w.await.unwrap());
    }
    app.sql().await.execute_unprepared("INSERT INTO strategies (name) VALUES ('zz-done')").await.unwrap();
    let serial_seen = serial_reader.await.unwrap();
    assert_eq!(ws.next_data(Duration::from_millis(500)).await, None, "more changes than rows written");
    // Every committed row exactly once.
    assert_eq!(got.len(), ROWS);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), ROWS, "a row came twice");
    let written: HashSet<&String> = txns.iter().flat_map(|t| t.names.iter()).collect();
    assert_eq!(unique, written, "the stream's rows are not the committed rows");
    // In commit order: each transaction's rows together, and a transaction whose COMMIT
    // returned before another's was sent comes first.
    let pos: HashMap<&String, usize> = got.iter().enumerate().map(|(i, n)| (n, i)).collect();
    let span = |t: &Txn| {
        let p: Vec<usize> = t.names.iter().map(|n| pos[n]).collect();
        (*p.iter().min().unwrap(), *p.iter().max().unwrap())
    };
    let spans: Vec<(usize, usize)> = txns.iter().map(span).collect();
    for (t, (lo, hi)) in txns.iter().zip(&spans) {
        assert_eq!(hi - lo + 1, t.names.len(), "a transaction's rows were split");
    }
    let mut violations = 0;
    for (a, ta) in txns.iter().enumerate() {
        for (b, tb) in txns.iter().enumerate() {
            if ta.committed < tb.commit_sent && spans[a].0 > spans[b].0 {
                violations += 1;
            }
        }
    }
    assert_eq!(violations, 0, "transactions out of commit order");
    let lost = written.len() - serial_seen.intersection(&written.iter().map(|s| (*s).clone()).collect()).count();
    println!(
        "{ROWS} rows in {} transactions by {WRITERS} writers; {resumes} resumes; a serial-id cursor lost {lost} rows",
        txns.len()
    );
    assert!(lost > 0, "transactions committing out of order should have made the serial cursor lose rows");
}

async fn rows_done_marker(db: &sea_orm::DatabaseConnection) -> bool {
    db.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT 1 AS x FROM strategies WHERE name = 'zz-done'",
    ))
    .await
    .unwrap()
    .is_some()
}
