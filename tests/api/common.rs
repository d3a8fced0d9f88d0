//! Spawning the app per test on a fresh database, and typed helpers to talk to it.
#![allow(dead_code)]
use quantgraph::config::Config;
use quantgraph::startup::{App, Startup};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; PostgreSQL when `QG_TEST_PG_URL` is set — and under `CI=true` it must be.
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    match std::env::var("QG_TEST_PG_URL") {
        Ok(_) => v.push(Backend::Postgres),
        Err(_) if std::env::var("CI").is_ok_and(|c| c == "true") => {
            panic!("CI=true but QG_TEST_PG_URL is not set: PostgreSQL tests cannot be skipped")
        }
        Err(_) => eprintln!("QG_TEST_PG_URL not set: PostgreSQL tests skipped (run tests/run.sh)"),
    }
    v
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A new, empty database of `backend`, unique to this test.
pub async fn fresh_database(backend: Backend) -> String {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let tag =
        format!("qg_{}_{}_{}", std::process::id(), n, uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap());
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("quantgraph-tests");
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}?mode=rwc", dir.join(format!("{tag}.db")).display())
        }
        Backend::Postgres => {
            let admin = std::env::var("QG_TEST_PG_URL").unwrap();
            let db = Database::connect(&admin).await.expect("connect to the test PostgreSQL");
            db.execute_unprepared(&format!("CREATE DATABASE {tag}")).await.unwrap();
            db.close().await.ok();
            let base = admin.rsplit_once('/').unwrap().0;
            format!("{base}/{tag}")
        }
    }
}

pub struct TestApp {
    pub app: App,
    pub backend: Backend,
    pub url: String,
    pub database_url: String,
    pub http: reqwest::Client,
}

/// The test configuration of a database: a data directory of its own (embedded memories), or
/// the Qdrant server at `QG_TEST_QDRANT_URL` when one is given.
pub fn config(database_url: &str) -> Config {
    let mut c = Config::for_database(database_url);
    c.bind = "127.0.0.1:0".parse().unwrap();
    c.db_pool = 5;
    c.data_dir = std::env::temp_dir().join("quantgraph-tests").join(format!("data-{}", uuid::Uuid::new_v4().simple()));
    c.qdrant_url = std::env::var("QG_TEST_QDRANT_URL").ok();
    c
}

pub async fn spawn_with(backend: Backend, seed: bool, tweak: impl FnOnce(&mut Config)) -> TestApp {
    // `RUST_LOG=quantgraph=debug cargo test …` shows the server's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let database_url = fresh_database(backend).await;
    let mut c = config(&database_url);
    tweak(&mut c);
    let app = App::build(&c, Startup { migrate: true, seed_if_empty: seed }).await.expect("app starts");
    // tests/run.sh's TimescaleDB pass: the production path must really be the one under test.
    if backend == Backend::Postgres && std::env::var("QG_TEST_EXPECT_TIMESCALE").is_ok_and(|v| v == "1") {
        assert!(
            app.state.db.timescale,
            "QG_TEST_EXPECT_TIMESCALE=1 but TimescaleDB is not installed in {database_url}"
        );
    }
    TestApp { url: format!("http://{}/graphql", app.addr), app, backend, database_url, http: reqwest::Client::new() }
}

pub async fn spawn(backend: Backend) -> TestApp {
    spawn_with(backend, true, |_| {}).await
}

impl TestApp {
    /// Another gateway on `config` (an existing database, not migrated again).
    pub async fn start(config: &Config, backend: Backend) -> TestApp {
        let app = App::build(config, Startup { migrate: false, seed_if_empty: false }).await.expect("app starts");
        TestApp {
            url: format!("http://{}/graphql", app.addr),
            app,
            backend,
            database_url: config.database_url.clone(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn gql_with(&self, query: &str, vars: Value, headers: &[(&str, &str)]) -> Value {
        let mut req = self.http.post(&self.url).json(&json!({ "query": query, "variables": vars }));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        resp.json().await.expect("JSON body")
    }

    pub async fn gql(&self, query: &str, vars: Value) -> Value {
        self.gql_with(query, vars, &[]).await
    }

    /// `data` of a response that must have no errors.
    pub async fn data(&self, query: &str, vars: Value) -> Value {
        let r = self.gql(query, vars).await;
        assert!(r.get("errors").is_none(), "{:?}: unexpected errors: {r}", self.backend);
        r["data"].clone()
    }

    /// The error code of a response that must have failed.
    pub async fn error_code(&self, query: &str, vars: Value) -> String {
        let r = self.gql(query, vars).await;
        let code = r["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{:?}: expected an error, got {r}", self.backend));
        for e in r["errors"].as_array().into_iter().flatten() {
            let msg = e["message"].as_str().unwrap_or_default();
            assert!(!leaks_sql(msg), "error message leaks SQL: {msg}");
        }
        code.to_string()
    }

    /// SQL statements the gateway has sent so far, read from `/metrics`.
    pub async fn statements(&self) -> u64 {
        let body = self.http.get(self.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix("quantgraph_sql_statements_total "))
            .and_then(|v| v.trim().parse().ok())
            .expect("statement counter in /metrics")
    }

    pub async fn sql(&self) -> sea_orm::DatabaseConnection {
        Database::connect(&self.database_url).await.unwrap()
    }
}

/// A GraphQL-over-WebSocket client (graphql-transport-ws, or the legacy graphql-ws).
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    legacy: bool,
}

impl Ws {
    pub async fn connect(app: &TestApp, token: Option<&str>, legacy: bool) -> Ws {
        Ws::connect_to(app, "/graphql/ws", token, legacy).await
    }

    pub async fn connect_to(app: &TestApp, path: &str, token: Option<&str>, legacy: bool) -> Ws {
        let (ws, ack) = Ws::init(app, path, token, legacy).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Opens a connection and sends `connection_init`: the connection and the server's reply
    /// (`Null` if the server closed it without one).
    pub async fn init(app: &TestApp, path: &str, token: Option<&str>, legacy: bool) -> (Ws, Value) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://{}{path}", app.app.addr).into_client_request().unwrap();
        let proto = if legacy { "graphql-ws" } else { "graphql-transport-ws" };
        req.headers_mut().insert("Sec-WebSocket-Protocol", proto.parse().unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(req).await.expect("WebSocket connects");
        let mut ws = Ws { stream, legacy };
        let payload = match token {
            Some(t) => json!({ "Authorization": format!("Bearer {t}") }),
            None => json!({}),
        };
        ws.send(json!({ "type": "connection_init", "payload": payload })).await;
        // The server answers: an ack, an error message, or a close (as `{"type": "close", "code"}`);
        // silence is a hung handshake and fails here.
        use futures_util::StreamExt;
        let reply = loop {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), ws.stream.next()).await;
            match next.expect("a reply to connection_init within 5 s") {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if !matches!(v["type"].as_str(), Some("ka") | Some("ping") | Some("pong")) {
                        break v;
                    }
                }
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(f))) => {
                    break json!({ "type": "close", "code": f.map(|f| u16::from(f.code)) });
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => break json!({ "type": "close", "code": null }),
            }
        };
        (ws, reply)
    }

    pub async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::Text(v.to_string().into())).await.unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, vars: Value) {
        let ty = if self.legacy { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": ty, "payload": { "query": query, "variables": vars } })).await;
    }

    /// The next protocol message other than keep-alives, or `None` after `timeout`.
    pub async fn recv(&mut self, timeout: std::time::Duration) -> Option<Value> {
        use futures_util::StreamExt;
        // One deadline for the whole wait: the server's pings must not extend it.
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            let text = match msg {
                tokio_tungstenite::tungstenite::Message::Text(t) => t.to_string(),
                tokio_tungstenite::tungstenite::Message::Close(_) => return None,
                _ => continue,
            };
            let v: Value = serde_json::from_str(&text).unwrap();
            match v["type"].as_str() {
                Some("ka") | Some("pong") => continue,
                Some("ping") => self.send(json!({ "type": "pong" })).await,
                _ => return Some(v),
            }
        }
    }

    /// The close frame's code and reason, skipping other messages; `None` if the connection just
    /// ends or nothing comes within `timeout`.
    pub async fn close_frame(&mut self, timeout: std::time::Duration) -> Option<(u16, String)> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()? {
                tokio_tungstenite::tungstenite::Message::Close(f) => {
                    return f.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                _ => continue,
            }
        }
    }

    /// The next `data` payload (`next` / `data` message), or `None` after `timeout`.
    pub async fn next_data(&mut self, timeout: std::time::Duration) -> Option<Value> {
        let v = self.recv(timeout).await?;
        match v["type"].as_str() {
            Some("next") | Some("data") => Some(v["payload"].clone()),
            _ => Some(v),
        }
    }
}

/// Redis for tests that need it; under `CI=true` it must be there.
pub fn redis_url() -> Option<String> {
    match std::env::var("QG_TEST_REDIS_URL") {
        Ok(u) => Some(u),
        Err(_) if std::env::var("CI").is_ok_and(|c| c == "true") => panic!("CI=true but QG_TEST_REDIS_URL is not set"),
        Err(_) => None,
    }
}

/// A bearer token of `role` for a made-up subject.
pub fn token(app: &TestApp, role: quantgraph::auth::Role) -> String {
    format!("Bearer {}", app.app.state.tokens.issue(&uuid::Uuid::new_v4().to_string(), role, 600).unwrap())
}

pub async fn as_role(app: &TestApp, auth: &str, q: &str, vars: Value) -> Value {
    app.gql_with(q, vars, &[("Authorization", auth)]).await
}

/// The error code of a subscription message (`error`, or `next` carrying errors).
pub fn message_code(v: &Value) -> Option<&str> {
    let errors = if v["type"] == "error" { &v["payload"] } else { &v["payload"]["errors"] };
    errors[0]["extensions"]["code"].as_str()
}

pub fn code(r: &Value) -> Option<&str> {
    r["errors"][0]["extensions"]["code"].as_str()
}

/// A new account: its bearer token and user id.
pub async fn register(app: &TestApp, email: &str) -> (String, String) {
    let r = app
        .gql(r#"mutation($e: String!) { register(email: $e, password: "correct horse") { token user { rowId email hasBrokerConnection } } }"#, json!({ "e": email }))
        .await;
    assert!(r.get("errors").is_none(), "{r}");
    (
        format!("Bearer {}", r["data"]["register"]["token"].as_str().unwrap()),
        r["data"]["register"]["user"]["rowId"].as_str().unwrap().to_string(),
    )
}

/// The binary cargo built, run as a process of its own on SQLite with its demo data, with
/// `env` besides; killed when dropped.
pub struct Binary {
    pub child: std::process::Child,
    /// Where it serves GraphQL (`http://…/graphql`).
    pub url: String,
    /// Its log lines so far.
    pub logs: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Binary {
    pub async fn start(env: &[(&str, &str)]) -> Binary {
        use std::io::BufRead as _;
        let dir = std::env::temp_dir().join("quantgraph-tests").join(format!("bin-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_quantgraph"));
        cmd.env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.join("qg.db").display()))
            .env("QUANTGRAPH_DATA_DIR", dir.join("data"))
            .env("QUANTGRAPH_BIND", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let logs: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let (tx, rx) = std::sync::mpsc::channel();
        let (stderr, sink) = (child.stderr.take().unwrap(), logs.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("serving GraphQL at ") {
                    let url = line[at + 19..].split(['"', ' ']).next().unwrap().to_string();
                    let _ = tx.send(url);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(60)))
            .await
            .unwrap()
            .expect("the gateway says where it serves");
        Binary { child, url, logs }
    }

    /// Migrates the database at `url` and fills it with the demo data, as `quantgraph seed` does.
    pub fn seed(url: &str) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantgraph"))
            .arg("seed")
            .env("DATABASE_URL", url)
            .output()
            .expect("the binary runs");
        assert!(out.status.success(), "seed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Resident memory of the process (`VmRSS`), KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ingests minute candles through the gateway as `token` (a service token, without "Bearer").
pub async fn ingest_candles(app: &TestApp, token: &str, candles: Vec<Value>) {
    let r = app
        .gql_with(
            "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted updated } }",
            json!({ "c": candles }),
            &[("Authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert!(r.get("errors").is_none(), "{r}");
}

/// A workflow of `user`'s (named `name`, an empty graph) with `n` runs queued: (workflow id, run ids).
pub async fn workflow_with_runs(app: &TestApp, user: &str, name: &str, n: usize) -> (String, Vec<String>) {
    let w = as_role(
        app,
        user,
        "mutation($n: String!) { createWorkflow(input: { name: $n, jsonGraph: { nodes: [], edges: [] } }) { rowId } }",
        json!({ "n": name }),
    )
    .await;
    let wid =
        w["data"]["createWorkflow"]["rowId"].as_str().unwrap_or_else(|| panic!("workflow created: {w}")).to_string();
    let mut ids = Vec::new();
    for _ in 0..n {
        let r = as_role(app, user, "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }", json!({ "id": wid }))
            .await;
        ids.push(r["data"]["runWorkflow"]["rowId"].as_str().unwrap_or_else(|| panic!("run queued: {r}")).to_string());
    }
    (wid, ids)
}

/// Whether an error message shows SQL or driver text.
pub fn leaks_sql(message: &str) -> bool {
    let m = message.to_lowercase();
    ["select ", "insert ", "update \"", "delete from", " from \"", "sqlx", "syntax error", "sqlstate", "tokio-postgres"]
        .iter()
        .any(|w| m.contains(w))
}

/// Cuts the gateway's `LISTEN` connection to the database `sql` is connected to.
pub async fn cut_listener(sql: &sea_orm::DatabaseConnection) {
    let cut = sql
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    assert!(cut.rows_affected() >= 1, "no listener to cut");
}

/// Runs `node <args>` in `dir` (an npm client of the tests) and reads the one JSON report it prints.
pub async fn node_report(dir: &str, args: &[&str]) -> Value {
    let out = tokio::process::Command::new("node").args(args).current_dir(dir).output().await.expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.trim()).expect("one JSON report")
}
