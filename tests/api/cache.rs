//! The response cache and HTTP revalidation: answers are served from the cache until a change
//! can affect them — a write through the gateway, by plain SQL, on another replica — and never
//! after; answers to different callers are not shared; lost events empty the cache.
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BARS: &str = "query($t: String!) { ohlcvData(where: { ticker: { eq: $t } }, first: 5) { nodes { date close } } }";
/// How long a change event may take to arrive before a test gives up on it.
const EVENT: Duration = Duration::from_secs(10);

pub async fn cached(backend: Backend) -> TestApp {
    spawn_with(backend, false, |c| c.response_cache_bytes = 64 << 20).await
}

/// A figure of `/metrics` (0 when absent).
pub async fn metric(app: &TestApp, name: &str) -> f64 {
    let body = app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn bar_sql(app: &TestApp, ticker: &str, close: &str) {
    app.sql()
        .await
        .execute_unprepared(&format!(
            "INSERT INTO ohlcv_data (ticker, region, date, timeframe, close) VALUES ('{ticker}', 'US', '2030-01-02', 'D', '{close}')"
        ))
        .await
        .unwrap();
}

async fn close_of(app: &TestApp, ticker: &str) -> Value {
    close_in(app, BARS, ticker).await
}

async fn close_in(app: &TestApp, query: &str, ticker: &str) -> Value {
    app.data(query, json!({ "t": ticker })).await["ohlcvData"]["nodes"][0]["close"].clone()
}

/// Reads until `ticker`'s close is `want`, or panics after `EVENT`; how long it took.
async fn until_close(app: &TestApp, ticker: &str, want: &str) -> Duration {
    until_close_in(app, BARS, ticker, want).await
}

async fn until_close_in(app: &TestApp, query: &str, ticker: &str, want: &str) -> Duration {
    let start = Instant::now();
    loop {
        if close_in(app, query, ticker).await == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < EVENT, "{:?}: {ticker}'s close never became {want}", app.backend);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn repeated_reads_are_served_from_the_cache_until_plain_sql_changes_them() {
    for backend in backends() {
        let app = cached(backend).await;
        bar_sql(&app, "CQA", "10.5").await;
        bar_sql(&app, "CQB", "20.5").await;
        until_close(&app, "CQA", "10.5000").await;
        until_close(&app, "CQB", "20.5000").await;
        let hits = metric(&app, "quantgraph_response_cache_hits_total").await;
        for _ in 0..5 {
            assert_eq!(close_of(&app, "CQA").await, "10.5000");
        }
        let statements = app.statements().await;
        assert_eq!(close_of(&app, "CQB").await, "20.5000");
        assert_eq!(app.statements().await, statements, "{backend:?}: a cached answer read the database");
        assert_eq!(metric(&app, "quantgraph_response_cache_hits_total").await - hits, 6.0, "{backend:?}");
        // A query over a WebSocket (both protocols) is answered from the same cache.
        for legacy in [false, true] {
            let mut ws = Ws::connect(&app, None, legacy).await;
            ws.subscribe("q", BARS, json!({ "t": "CQB" })).await;
            let got = ws.next_data(EVENT).await.expect("an answer");
            assert_eq!(got["data"]["ohlcvData"]["nodes"][0]["close"], "20.5000", "{got}");
        }
        assert_eq!(app.statements().await, statements, "{backend:?}: a WebSocket query read the database");
        assert_eq!(metric(&app, "quantgraph_response_cache_hits_total").await - hits, 8.0, "{backend:?}");

        // Another program's write: seen once its event arrives. (SQLite notices other
        // processes only, not this test's own connection: `sqlite_writes_by_another_process…`.)
        if backend == Backend::Postgres {
            app.sql()
                .await
                .execute_unprepared("UPDATE ohlcv_data SET close = '11.25' WHERE ticker = 'CQA'")
                .await
                .unwrap();
            until_close(&app, "CQA", "11.2500").await;
            // The change named its ticker: the other ticker's answer stayed.
            let statements = app.statements().await;
            assert_eq!(close_of(&app, "CQB").await, "20.5000");
            assert_eq!(app.statements().await, statements, "CQB's answer was evicted by CQA's change");
            assert!(metric(&app, "quantgraph_response_cache_evictions_total{cause=\"change\"}").await >= 1.0);
        }
    }
}

#[tokio::test]
async fn a_write_acknowledged_by_a_replica_is_seen_by_its_next_read() {
    for backend in backends() {
        let app = cached(backend).await;
        let admin = token(&app, Role::Admin);
        const TICKERS: &str = "{ tickers(where: { region: { eq: \"JP\" } }) { nodes { ticker name } } }";
        assert_eq!(as_role(&app, &admin, TICKERS, json!({})).await["data"]["tickers"]["nodes"], json!([]));
        for i in 0..20 {
            let r = as_role(
                &app,
                &admin,
                "mutation($t: String!) { createTicker(input: { ticker: $t, region: \"JP\", name: \"n\" }) { ticker } }",
                json!({ "t": format!("W{i:02}") }),
            )
            .await;
            assert!(r.get("errors").is_none(), "{r}");
            // No waiting: the answer of the mutation left after the eviction.
            let nodes = as_role(&app, &admin, TICKERS, json!({})).await["data"]["tickers"]["nodes"].clone();
            assert_eq!(nodes.as_array().map(Vec::len), Some(i + 1), "{backend:?}: write {i} not seen: {nodes}");
        }
        // Deleting a strategy takes its results along: a cached read of them is evicted too.
        let analyst = token(&app, Role::Analyst);
        let s = as_role(&app, &admin, "mutation { createStrategy(input: { name: \"s\" }) { rowId } }", json!({})).await;
        let id = s["data"]["createStrategy"]["rowId"].clone();
        let r = as_role(
            &app,
            &admin,
            "mutation($s: Int!) { recordBacktestResult(input: { strategyId: $s, startDate: \"2024-01-01\", endDate: \"2024-12-31\" }) { rowId } }",
            json!({ "s": id }),
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
        const RESULTS: &str = "{ backtestResults { totalCount } }";
        assert_eq!(as_role(&app, &analyst, RESULTS, json!({})).await["data"]["backtestResults"]["totalCount"], "1");
        let r = as_role(&app, &admin, "mutation($s: Int!) { deleteStrategy(rowId: $s) }", json!({ "s": id })).await;
        assert_eq!(r["data"]["deleteStrategy"], true, "{r}");
        assert_eq!(as_role(&app, &analyst, RESULTS, json!({})).await["data"]["backtestResults"]["totalCount"], "0");
    }
}

#[tokio::test]
async fn answers_are_not_shared_where_access_differs() {
    for backend in backends() {
        let app = cached(backend).await;
        let (alice, _) = register(&app, "alice@example.com").await;
        let (bob, _) = register(&app, "bob@example.com").await;
        let r = as_role(
            &app,
            &alice,
            "mutation { createWorkflow(input: { name: \"mine\", jsonGraph: { nodes: [], edges: [] } }) { name } }",
            json!({}),
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
        const MINE: &str = "{ workflows { nodes { name } } }";
        for _ in 0..2 {
            let a = as_role(&app, &alice, MINE, json!({})).await;
            assert_eq!(a["data"]["workflows"]["nodes"], json!([{ "name": "mine" }]), "{backend:?}: {a}");
            let b = as_role(&app, &bob, MINE, json!({})).await;
            assert_eq!(b["data"]["workflows"]["nodes"], json!([]), "{backend:?}: bob saw alice's answer: {b}");
        }
        // Research tables: an analyst's answer is not an anonymous caller's.
        let admin = token(&app, Role::Admin);
        as_role(&app, &admin, "mutation { createStrategy(input: { name: \"secret\" }) { rowId } }", json!({})).await;
        const STRATEGIES: &str = "{ strategies { nodes { name } } }";
        let analyst = token(&app, Role::Analyst);
        for _ in 0..2 {
            let a = as_role(&app, &analyst, STRATEGIES, json!({})).await;
            assert_eq!(a["data"]["strategies"]["nodes"], json!([{ "name": "secret" }]), "{a}");
            let anon = app.gql(STRATEGIES, json!({})).await;
            assert!(!anon.to_string().contains("secret"), "{backend:?}: an anonymous caller got {anon}");
        }
        // Time zones render times differently: not one answer either.
        const RUNS: &str = "{ users { nodes { email createdAt } } }";
        let utc = as_role(&app, &admin, RUNS, json!({})).await;
        let tokyo = app.gql_with(RUNS, json!({}), &[("Authorization", &admin), ("Time-Zone", "Asia/Tokyo")]).await;
        assert!(utc.to_string().contains("Z\"") || utc.to_string().contains("+00:00"), "{utc}");
        assert!(tokyo.to_string().contains("+09:00"), "{backend:?}: {tokyo}");
    }
}

#[tokio::test]
async fn lost_change_events_empty_the_cache() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let app = cached(Backend::Postgres).await;
    let sql = app.sql().await;
    bar_sql(&app, "CQL", "1.5").await;
    until_close(&app, "CQL", "1.5000").await;
    assert_eq!(close_of(&app, "CQL").await, "1.5000");
    assert!(metric(&app, "quantgraph_response_cache_entries").await >= 1.0);
    let flushed = metric(&app, "quantgraph_response_cache_evictions_total{cause=\"flush\"}").await;
    // Cut the listener and write while it is away: that change's event is lost.
    cut_listener(&sql).await;
    sql.execute_unprepared("UPDATE ohlcv_data SET close = '2.5' WHERE ticker = 'CQL'").await.unwrap();
    // The listener's return flushes the cache, so the write is seen without its event.
    until_close(&app, "CQL", "2.5000").await;
    assert!(metric(&app, "quantgraph_response_cache_evictions_total{cause=\"flush\"}").await > flushed);
}

/// Another process writing to the SQLite file (`quantgraph seed`) is noticed too.
#[tokio::test]
async fn sqlite_writes_by_another_process_are_noticed() {
    let app = cached(Backend::Sqlite).await;
    const COUNT: &str = "{ tickers { totalCount } }";
    for _ in 0..2 {
        assert_eq!(app.data(COUNT, json!({})).await["tickers"]["totalCount"], "0");
    }
    assert!(metric(&app, "quantgraph_response_cache_hits_total").await >= 1.0);
    let url = app.database_url.clone();
    tokio::task::spawn_blocking(move || Binary::seed(&url)).await.unwrap();
    let start = Instant::now();
    while app.data(COUNT, json!({})).await["tickers"]["totalCount"] == "0" {
        assert!(start.elapsed() < Duration::from_secs(2), "the other process's write was not noticed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn query_answers_revalidate_with_etags() {
    for backend in backends() {
        let app = cached(backend).await;
        bar_sql(&app, "CQE", "5").await;
        let get = |headers: Vec<(&'static str, String)>| {
            let mut req = app.http.get(&app.url).query(&[("query", BARS), ("variables", "{\"t\":\"CQE\"}")]);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send()
        };
        let first = get(vec![]).await.unwrap();
        assert_eq!(first.status(), 200);
        let etag = first.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(first.headers()["cache-control"], "public, no-cache");
        assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
        let body = first.text().await.unwrap();
        assert!(body.contains("2030-01-02"), "{body}");
        let again = get(vec![("If-None-Match", etag.clone())]).await.unwrap();
        assert_eq!(again.status(), 304, "{backend:?}");
        // curl, as an operator checks it.
        let mut url = reqwest::Url::parse(&app.url).unwrap();
        url.query_pairs_mut().append_pair("query", BARS).append_pair("variables", "{\"t\":\"CQE\"}");
        // (A process of its own, awaited: the gateway answers on this test's runtime.)
        let curl = |extra: Vec<String>| {
            let mut args = vec!["-s".to_string(), "-o".into(), "/dev/null".into(), "-w".into(), "%{http_code}".into()];
            args.extend(extra);
            args.push(url.to_string());
            tokio::process::Command::new("curl").args(args).output()
        };
        assert_eq!(String::from_utf8_lossy(&curl(vec![]).await.expect("curl runs").stdout), "200");
        let revalidated = curl(vec!["-H".into(), format!("If-None-Match: {etag}")]).await.expect("curl runs");
        assert_eq!(String::from_utf8_lossy(&revalidated.stdout), "304", "{backend:?}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        // A caller with a token: private to them.
        let admin = token(&app, Role::Admin);
        let private = get(vec![("Authorization", admin.clone())]).await.unwrap();
        assert_eq!(private.headers()["cache-control"], "private, no-cache");
        // A change makes a new tag, and the old one no longer matches.
        let bar = json!({ "ticker": "CQE", "region": "US", "date": "2030-01-03", "timeframe": "D", "close": "6" });
        let r = as_role(
            &app,
            &token(&app, Role::Service),
            "mutation($b: [OhlcvInput!]!) { ingestOhlcv(bars: $b) { inserted } }",
            json!({ "b": [bar] }),
        )
        .await;
        assert_eq!(r["data"]["ingestOhlcv"]["inserted"], 1, "{r}");
        let changed = get(vec![("If-None-Match", etag.clone())]).await.unwrap();
        assert_eq!(changed.status(), 200, "{backend:?}");
        assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
        assert!(changed.text().await.unwrap().contains("2030-01-03"));
        // Mutations and errors are never stored.
        let m = app
            .http
            .post(&app.url)
            .header("Authorization", &admin)
            .json(&json!({ "query": "mutation { createStrategy(input: { name: \"e\" }) { rowId } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(m.headers()["cache-control"], "no-store");
        assert!(m.headers().get("etag").is_none());
        let bad = app.http.get(&app.url).query(&[("query", "{ nope }")]).send().await.unwrap();
        assert_eq!(bad.headers()["cache-control"], "no-store");
    }
}

/// Automatic persisted queries over GET: the hash alone, then revalidated by its tag.
#[tokio::test]
async fn persisted_queries_over_get_revalidate() {
    let app = cached(Backend::Sqlite).await;
    bar_sql(&app, "CQP", "7").await;
    use sha2::Digest;
    let hash = format!("{:x}", sha2::Sha256::digest(BARS.as_bytes()));
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } }).to_string();
    let vars = "{\"t\":\"CQP\"}";
    let by_hash = || app.http.get(&app.url).query(&[("extensions", ext.as_str()), ("variables", vars)]);
    let unknown: Value = by_hash().send().await.unwrap().json().await.unwrap();
    assert_eq!(code(&unknown), Some("PERSISTED_QUERY_NOT_FOUND"), "{unknown}");
    let registered = app
        .http
        .get(&app.url)
        .query(&[("query", BARS), ("extensions", ext.as_str()), ("variables", vars)])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 200);
    let etag = registered.headers()["etag"].to_str().unwrap().to_string();
    let hit = by_hash().send().await.unwrap();
    assert_eq!(hit.headers()["etag"].to_str().unwrap(), etag);
    assert!(hit.text().await.unwrap().contains("\"close\":\"7.0000\""));
    let revalidated = by_hash().header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(revalidated.status(), 304);
}

/// Percentile `p` (0–100) of sorted `xs`.
fn percentile(xs: &[Duration], p: usize) -> Duration {
    xs[(xs.len() * p / 100).min(xs.len() - 1)]
}

/// Two replicas over Redis, `QG_CACHE_RACE_PAIRS` (10,000) plain-SQL writes, each followed by
/// reads on both replicas until the write shows, while other readers keep filling the cache
/// with the same queries. Each write comes 0–14 ms after another of the same row, when fills
/// of that one are under way. A fill overlapping a write and stored after its eviction would
/// keep the older answer: the write would never show (the wait fails), or show and then go
/// (counted as stale; must be 0).
#[tokio::test]
async fn plain_sql_writes_race_reads_on_two_replicas() {
    let Some(redis) = redis_url() else { return };
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let pairs: usize = std::env::var("QG_CACHE_RACE_PAIRS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let prefix = format!("race-{}:", uuid::Uuid::new_v4().simple());
    // The database, migrated by a first replica (which may forward its events to Redis).
    let first = spawn_with(Backend::Postgres, false, |c| {
        c.response_cache_bytes = 64 << 20;
        c.redis_url = Some(redis.clone());
        c.redis_prefix = prefix.clone();
    })
    .await;
    // The two replicas under test read as a role whose every row read sleeps 10 ms after the
    // statement took its snapshot (a row-security policy): a read that began before a write
    // is still running when the write's event arrives, which is the race a cache can lose.
    let sql = first.sql().await;
    for stmt in [
        "DO $$ BEGIN CREATE ROLE qg_slow_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO qg_slow_reader",
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO qg_slow_reader",
        "CREATE FUNCTION slow_row() RETURNS boolean LANGUAGE plpgsql VOLATILE AS 'BEGIN PERFORM pg_sleep(0.01); RETURN true; END'",
        "ALTER TABLE ohlcv_data ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY slow_reads ON ohlcv_data FOR SELECT TO qg_slow_reader USING (slow_row())",
    ] {
        sql.execute_unprepared(stmt).await.unwrap();
    }
    let slow_url = first.database_url.replacen("postgres://postgres@", "postgres://qg_slow_reader@", 1);
    assert_ne!(slow_url, first.database_url);
    let mut replica = config(&slow_url);
    replica.response_cache_bytes = 64 << 20;
    replica.redis_url = Some(redis.clone());
    replica.redis_prefix = prefix.clone();
    let a = std::sync::Arc::new(TestApp::start(&replica, Backend::Postgres).await);
    let mut replica = config(&slow_url);
    replica.response_cache_bytes = 64 << 20;
    replica.redis_url = Some(redis.clone());
    replica.redis_prefix = prefix.clone();
    let b = std::sync::Arc::new(TestApp::start(&replica, Backend::Postgres).await);
    const KEYS: usize = 10;
    for k in 0..KEYS {
        bar_sql(&first, &format!("RK{k}"), "0").await;
    }
    // Both replicas hear changes (one forwards the database's, both subscribe to Redis).
    const RACE: &str = BARS;
    for app in [&a, &b] {
        until_close_in(app, RACE, "RK0", "0.0000").await;
    }
    // A write through one replica is seen on the others once its event arrives.
    const HK: &str = "{ tickers(where: { region: { eq: \"HK\" } }) { totalCount } }";
    let admin = token(&first, Role::Admin);
    for app in [&a, &b] {
        assert_eq!(as_role(app, &admin, HK, json!({})).await["data"]["tickers"]["totalCount"], "0");
    }
    let r = as_role(
        &first,
        &admin,
        "mutation { createTicker(input: { ticker: \"RKHK\", region: \"HK\" }) { ticker } }",
        json!({}),
    )
    .await;
    assert!(r.get("errors").is_none(), "{r}");
    for app in [&a, &b] {
        let start = Instant::now();
        while as_role(app, &admin, HK, json!({})).await["data"]["tickers"]["totalCount"] != "1" {
            assert!(start.elapsed() < EVENT, "a write through another replica was never seen");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut hammers = Vec::new();
    for app in [&a, &b] {
        for h in 0..2 {
            let (app, stop) = (app.clone(), stop.clone());
            hammers.push(tokio::spawn(async move {
                let mut n = h;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    close_in(&app, RACE, &format!("RK{}", n % KEYS)).await;
                    n += 1;
                }
            }));
        }
    }
    let mut writers = Vec::new();
    let first_url = first.database_url.clone();
    for k in 0..KEYS {
        let first_url = first_url.clone();
        let (a, b) = (a.clone(), b.clone());
        let n = pairs / KEYS;
        writers.push(tokio::spawn(async move {
            let sql = sea_orm::Database::connect(&first_url).await.unwrap();
            let ticker = format!("RK{k}");
            let (mut windows, mut stale) = (Vec::with_capacity(n * 2), 0usize);
            let write = |v: usize| {
                let q = format!("UPDATE ohlcv_data SET close = {v} WHERE ticker = '{ticker}'");
                let sql = &sql;
                async move { sql.execute_unprepared(&q).await.unwrap() }
            };
            for i in 1..=n {
                // A write, and another once fills after the first one's eviction may be under
                // way: such a fill must not keep the first value.
                write(2 * i - 1).await;
                tokio::time::sleep(Duration::from_millis((i % 8) as u64 * 2)).await;
                write(2 * i).await;
                let want = format!("{}.0000", 2 * i);
                for app in [&a, &b] {
                    windows.push(until_close_in(app, RACE, &ticker, &want).await);
                    if close_in(app, RACE, &ticker).await != want.as_str() {
                        stale += 1;
                    }
                }
            }
            (windows, stale)
        }));
    }
    let (mut windows, mut stale) = (Vec::new(), 0);
    for w in writers {
        let (ws, s) = w.await.unwrap();
        windows.extend(ws);
        stale += s;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in hammers {
        h.await.unwrap();
    }
    windows.sort();
    let hits = metric(&a, "quantgraph_response_cache_hits_total").await
        + metric(&b, "quantgraph_response_cache_hits_total").await;
    let raced = metric(&a, "quantgraph_response_cache_raced_total").await
        + metric(&b, "quantgraph_response_cache_raced_total").await;
    eprintln!(
        "cache race: {} writes, {} reads waited for; window p50 {:?}, p99 {:?}, max {:?}; stale after the window: {stale}; \
         hits {hits}, fills refused as raced {raced}",
        pairs,
        windows.len(),
        percentile(&windows, 50),
        percentile(&windows, 99),
        windows.last().unwrap()
    );
    assert_eq!(windows.len(), pairs / KEYS * KEYS * 2);
    assert_eq!(stale, 0, "answers older than a write were read after the write had shown");
    assert!(hits > 0.0, "the readers were never served from the cache");
}

const APOLLO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apollo");

/// Apollo Client (npm, `tests/apollo`) sending a query as an automatic persisted query over
/// GET, from three fresh clients, with a fetch that keeps ETags as a browser's HTTP cache does:
/// the hash alone is refused once, registered, then answered; the third time with `304`.
#[tokio::test]
async fn apollo_client_revalidates_persisted_queries_over_get() {
    if !std::path::Path::new(APOLLO_DIR).join("node_modules/@apollo/client").exists() {
        let ci = std::env::var("CI").is_ok_and(|c| c == "true");
        assert!(!ci, "CI=true but {APOLLO_DIR}/node_modules is missing (tests/run.sh runs npm ci there)");
        eprintln!("Apollo Client test skipped: run `npm ci --prefix tests/apollo`");
        return;
    }
    let app = cached(Backend::Sqlite).await;
    bar_sql(&app, "CQAPOLLO", "8.5").await;
    let report = node_report(APOLLO_DIR, &["apq.mjs", &app.url, "CQAPOLLO"]).await;
    let ex = report["exchanges"].as_array().unwrap();
    let seen: Vec<(String, bool, u64)> = ex
        .iter()
        .map(|e| (e["method"].as_str().unwrap().to_string(), e["hashOnly"] == true, e["status"].as_u64().unwrap()))
        .collect();
    let get = |status| ("GET".to_string(), true, status);
    assert_eq!(seen, [get(200), ("POST".to_string(), true, 200), get(200), get(304)], "{report}");
    // Refused (unknown hash) is not stored; the answers are, and the tag holds across clients.
    assert_eq!(ex[0]["cacheControl"], "no-store");
    assert!(ex[0]["etag"].is_null());
    let etag = ex[1]["etag"].as_str().expect("an ETag");
    assert!(ex[2..].iter().all(|e| e["etag"] == etag && e["cacheControl"] == "public, no-cache"), "{report}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0]["ohlcvData"]["nodes"][0]["close"], "8.5000", "{report}");
    assert!(results.iter().all(|r| r == &results[0]), "{report}");
}
