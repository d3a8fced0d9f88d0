//! Faults of the database under a running gateway, on a PostgreSQL cluster of the test's own
//! (restarting the shared one would disturb every other test).
use crate::common::*;
use quantgraph::startup::{App, Startup};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

struct Cluster {
    dir: PathBuf,
    port: u16,
}

/// Runs a PostgreSQL binary as the `postgres` user when the tests run as root (initdb refuses root).
fn pg(cmd: &str, args: &[&str]) -> std::process::Output {
    let bin = format!("{PG_BIN}/{cmd}");
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    let out = if root {
        Command::new("runuser").args(["-u", "postgres", "--", &bin]).args(args).output()
    } else {
        Command::new(&bin).args(args).output()
    };
    out.expect("a PostgreSQL binary runs")
}

impl Cluster {
    fn start() -> Option<Cluster> {
        if !std::path::Path::new(PG_BIN).join("initdb").exists() {
            assert!(!std::env::var("CI").is_ok_and(|c| c == "true"), "CI=true but {PG_BIN} has no initdb");
            eprintln!("fault test skipped: no PostgreSQL 15 binaries in {PG_BIN}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("quantgraph-fault-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").arg("postgres").arg(&dir).output();
        let d = dir.to_str().unwrap().to_string();
        let d = d.as_str();
        let init = pg("initdb", &["-D", d, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
        assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
        // Durable settings (unlike the shared test cluster): a crash must not take acknowledged commits.
        let conf = format!("listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\n");
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("postgresql.conf"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, conf.as_bytes()))
            .unwrap();
        let c = Cluster { dir, port };
        c.ctl(&["start", "-w", "-l", &format!("{d}/log")]);
        Some(c)
    }

    /// `pg_ctl` with `args` (a start or restart must name a log file: the server would otherwise
    /// keep this process's output pipes open).
    fn ctl(&self, args: &[&str]) {
        let mut all = vec!["-D", self.dir.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = pg("pg_ctl", &all);
        assert!(out.status.success(), "pg_ctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg("pg_ctl", &["-D", self.dir.to_str().unwrap(), "-m", "immediate", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const Q: &str = "{ tickers(first: 3, orderBy: [{ ticker: ASC }]) { nodes { ticker } } }";

async fn tickers(app: &TestApp) -> Value {
    app.gql(Q, json!({})).await
}

#[tokio::test]
async fn a_database_restart_costs_no_request_and_an_outage_answers_unavailable() {
    let Some(cluster) = Cluster::start() else { return };
    let mut c = config(&cluster.url());
    c.db_pool = 6;
    let app = App::build(&c, Startup { migrate: true, seed_if_empty: true }).await.expect("app starts");
    let app = TestApp {
        url: format!("http://{}/graphql", app.addr),
        app,
        backend: Backend::Postgres,
        database_url: cluster.url(),
        http: reqwest::Client::new(),
    };
    let want = tickers(&app).await;
    assert_eq!(want["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(3), "{want}");
    // Fill the pool: every connection is about to go stale.
    let all = futures_util::future::join_all((0..12).map(|_| tickers(&app))).await;
    assert!(all.iter().all(|r| *r == want));

    // An immediate restart kills every pooled connection; no request may notice.
    cluster.ctl(&["restart", "-m", "immediate", "-w", "-l", &format!("{}/log", cluster.dir.display())]);
    let after = futures_util::future::join_all((0..12).map(|_| tickers(&app))).await;
    for r in &after {
        assert_eq!(*r, want, "a request failed after the restart");
    }
    for _ in 0..10 {
        assert_eq!(tickers(&app).await, want);
    }

    // While the server is down: UNAVAILABLE (retryable), never INTERNAL, and not ready.
    cluster.ctl(&["stop", "-m", "immediate", "-w"]);
    let down = tickers(&app).await;
    assert_eq!(code(&down), Some("UNAVAILABLE"), "{down}");
    let text = down.to_string().to_lowercase();
    for driver in
        ["connection refused", "os error", "sqlx", "tokio-postgres", "pool timed out", "io error", "127.0.0.1:"]
    {
        assert!(!text.contains(driver), "driver text leaked ({driver}): {down}");
    }
    let ready = app.http.get(app.url.replace("/graphql", "/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);

    // Back up: answers again without a gateway restart.
    cluster.ctl(&["start", "-w", "-l", &format!("{}/log", cluster.dir.display())]);
    let mut back = Value::Null;
    for _ in 0..50 {
        back = tickers(&app).await;
        if back == want {
            break;
        }
        assert_eq!(code(&back), Some("UNAVAILABLE"), "{back}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(back, want);
}

#[tokio::test]
async fn writes_acknowledged_across_a_database_restart_are_stored_exactly_once() {
    let Some(cluster) = Cluster::start() else { return };
    let mut c = config(&cluster.url());
    c.db_pool = 4;
    let app = App::build(&c, Startup { migrate: true, seed_if_empty: false }).await.expect("app starts");
    let url = format!("http://{}/graphql", app.addr);
    let token =
        format!("Bearer {}", app.state.tokens.issue("fault-ingest", quantgraph::auth::Role::Service, 600).unwrap());
    let http = reqwest::Client::new();
    let write = move |i: i64| {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        async move {
            let t =
                chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z").unwrap() + chrono::Duration::minutes(i);
            // Each write's own close, so a stored row shows which write it is.
            let c = json!([{ "time": t.to_rfc3339(), "symbol": "FLT", "open": 1, "high": 1000, "low": 0.5, "close": 100 + i, "volume": "1" }]);
            let body = json!({ "query": "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }", "variables": { "c": c } });
            let r: Value =
                http.post(&url).header("Authorization", token).json(&body).send().await.unwrap().json().await.unwrap();
            r
        }
    };
    // A steady stream of single-candle writes; the database restarts in the middle of it.
    let writer = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for i in 0..400i64 {
            let sent = std::time::Instant::now();
            let r = write(i).await;
            outcomes.push((i, r, std::time::Instant::now(), sent.elapsed()));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        outcomes
    });
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    cluster.ctl(&["stop", "-m", "immediate", "-w"]);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    cluster.ctl(&["start", "-w", "-l", &format!("{}/log", cluster.dir.display())]);
    let back = std::time::Instant::now();
    let outcomes = writer.await.unwrap();

    let mut acked = Vec::new();
    let mut refused = 0;
    let mut first_ok_after_back = None;
    let slowest = outcomes.iter().map(|o| o.3).max().unwrap();
    for (i, r, at, _) in &outcomes {
        if r["data"]["ingestCandles"]["inserted"] == 1 {
            acked.push(*i);
            if *at > back && first_ok_after_back.is_none() {
                first_ok_after_back = Some(*at - back);
            }
        } else {
            refused += 1;
            assert_eq!(code(r), Some("UNAVAILABLE"), "write {i}: {r}");
        }
    }
    // Writes sent while the database is down either wait for a connection or are refused.
    assert!(
        refused > 0 || slowest >= std::time::Duration::from_millis(300),
        "no write met the outage (slowest {slowest:?}): it happened outside the stream"
    );
    assert!(acked.len() > 200, "only {} of 400 writes acknowledged", acked.len());
    let recovered = first_ok_after_back.expect("writes succeed again after the restart");
    assert!(recovered < std::time::Duration::from_secs(5), "answered again only after {recovered:?}");

    // Every acknowledged write is stored with the values it carried (the key (time, symbol)
    // makes a second copy impossible); a refused one is absent or stored whole, never garbled.
    let db = sea_orm::Database::connect(cluster.url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT (extract(epoch FROM time - timestamptz '2026-01-05 00:00:00+00') / 60)::bigint AS i, close \
             FROM market_candles WHERE symbol = 'FLT'",
        ))
        .await
        .unwrap();
    let stored: std::collections::HashMap<i64, f64> =
        rows.iter().map(|r| (r.try_get_by_index::<i64>(0).unwrap(), r.try_get_by_index::<f64>(1).unwrap())).collect();
    for i in &acked {
        assert_eq!(stored.get(i), Some(&(100.0 + *i as f64)), "acknowledged write {i} is not stored as written");
    }
    for (i, close) in &stored {
        assert_eq!(*close, 100.0 + *i as f64, "row {i} holds another write's values");
        assert!((0..400).contains(i), "a row no write sent: {i}");
    }
    eprintln!(
        "{} writes: {} acknowledged (all stored once), {refused} refused with UNAVAILABLE, slowest {slowest:?}, answering again {recovered:?} after the database was back",
        outcomes.len(),
        acked.len()
    );
    db.close().await.ok();
}
