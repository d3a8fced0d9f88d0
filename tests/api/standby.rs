//! Reads on a streaming standby (`DATABASE_READ_URL`): `tests/run.sh` starts one with
//! `pg_basebackup` of the test cluster. The gateway reads it only once it has replayed every
//! change the gateway knows of; while it lags (here: its replay paused), reads go to the primary.
use crate::cache::metric;
use crate::common::*;
use quantgraph::auth::Role;
use quantgraph::startup::{App, Startup};
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use std::time::{Duration, Instant};

/// The standby's server, as `postgres://…/postgres`; under `CI=true` it must be given.
fn standby_url() -> Option<String> {
    match std::env::var("QG_TEST_PG_STANDBY_URL") {
        Ok(u) => Some(u),
        Err(_) if std::env::var("CI").is_ok_and(|c| c == "true") => {
            panic!("CI=true but QG_TEST_PG_STANDBY_URL is not set: the standby tests cannot be skipped")
        }
        Err(_) => None,
    }
}

const TICKERS: &str = "{ tickers(where: { region: { eq: \"HK\" } }) { totalCount } }";
/// The same rows under a page size of its own: a cache miss, so a statement.
const UNCACHED: &str = "query($n: Int!) { tickers(where: { region: { eq: \"HK\" } }, first: $n) { totalCount } }";
static PAGE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(500);

/// The HK tickers, from the cache when it holds them.
async fn count(app: &TestApp, auth: &str) -> usize {
    let r = as_role(app, auth, TICKERS, json!({})).await;
    r["data"]["tickers"]["totalCount"].as_str().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{r}"))
}

/// The HK tickers, read from the database.
async fn read(app: &TestApp, auth: &str) -> usize {
    let n = PAGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let r = as_role(app, auth, UNCACHED, json!({ "n": n })).await;
    r["data"]["tickers"]["totalCount"].as_str().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{r}"))
}

#[tokio::test]
async fn a_standby_serves_reads_without_going_back_in_time() {
    let Some(standby) = standby_url() else { return };
    let primary_url = fresh_database(Backend::Postgres).await;
    let name = primary_url.rsplit('/').next().unwrap().to_string();
    let read_url = format!("{}/{name}", standby.rsplit_once('/').unwrap().0);
    // The new database reaches the standby by replay.
    let start = Instant::now();
    let replica = loop {
        if let Ok(db) = Database::connect(&read_url).await {
            break db;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the standby never showed {name}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut c = config(&primary_url);
    c.database_read_url = Some(read_url.clone());
    c.response_cache_bytes = 16 << 20;
    let built = App::build(&c, Startup { migrate: true, seed_if_empty: false }).await.expect("app starts");
    let app = TestApp {
        url: format!("http://{}/graphql", built.addr),
        app: built,
        backend: Backend::Postgres,
        database_url: primary_url.clone(),
        http: reqwest::Client::new(),
    };
    let admin = token(&app, Role::Admin);
    let on = |to: &'static str| {
        let app = &app;
        async move { metric(app, &format!("quantgraph_standby_statements_total{{to=\"{to}\"}}")).await }
    };
    // Reads until one goes to the standby, each seeing `rows`.
    let until_standby = |rows: usize| {
        let (app, admin, on) = (&app, &admin, &on);
        async move {
            let start = Instant::now();
            loop {
                let before = on("standby").await;
                assert_eq!(read(app, admin).await, rows);
                if on("standby").await > before {
                    return;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "no read went to the standby");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    // Once it has replayed the migrations, the standby serves reads.
    until_standby(0).await;

    // A standby that does not replay: writes through this replica, and by plain SQL, are
    // still seen (read from the primary), and never lost again.
    replica.execute_unprepared("SELECT pg_wal_replay_pause()").await.unwrap();
    let primary_reads = on("primary").await;
    let create = "mutation($t: String!) { createTicker(input: { ticker: $t, region: \"HK\" }) { ticker } }";
    for i in 0..20 {
        let r = as_role(&app, &admin, create, json!({ "t": format!("S{i:02}") })).await;
        assert!(r.get("errors").is_none(), "{r}");
        assert_eq!(count(&app, &admin).await, i + 1, "write {i} not seen by the next read");
        assert_eq!(read(&app, &admin).await, i + 1, "write {i} not seen by the next read");
    }
    let sql = app.sql().await;
    sql.execute_unprepared("INSERT INTO tickers (ticker, region) VALUES ('SQL1', 'HK')").await.unwrap();
    let start = Instant::now();
    while count(&app, &admin).await != 21 {
        assert!(start.elapsed() < Duration::from_secs(10), "a plain-SQL write was never seen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(count(&app, &admin).await, 21);
    assert!(on("primary").await > primary_reads, "the lagging standby was read");
    // The standby really is behind.
    let stale = replica.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT count(*) AS n FROM tickers WHERE region = 'HK'",
    ));
    let n: i64 = stale.await.unwrap().unwrap().try_get("", "n").unwrap();
    assert!(n < 21, "the standby replayed while paused ({n} rows)");

    // Replaying again, it takes the reads back.
    replica.execute_unprepared("SELECT pg_wal_replay_resume()").await.unwrap();
    until_standby(21).await;

    // The window with a standby: a plain-SQL write until this replica shows it.
    let mut windows = Vec::new();
    for i in 0..200 {
        sql.execute_unprepared(&format!("INSERT INTO tickers (ticker, region) VALUES ('W{i:03}', 'HK')"))
            .await
            .unwrap();
        let start = Instant::now();
        loop {
            let n = count(&app, &admin).await;
            if n == 22 + i {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "write {i} was never seen ({n} rows; from the database {})",
                read(&app, &admin).await
            );
        }
        windows.push(start.elapsed());
    }
    windows.sort();
    eprintln!(
        "standby window: p50 {:?}, p99 {:?}, max {:?}; statements on the standby {}, on the primary {}",
        windows[100],
        windows[198],
        windows[199],
        on("standby").await,
        on("primary").await
    );
}
