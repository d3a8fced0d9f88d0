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
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\nfsync = off\nsynchronous_commit = off\n"
        );
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
    assert!(!down.to_string().contains("Connection refused"), "driver text leaked: {down}");
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
