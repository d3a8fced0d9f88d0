//! Access and abuse: the public development secret, deleted accounts' tokens, rate-limit keys,
//! bursts of sign-ins and subscription limits of every kind.
use crate::common::*;
use quantgraph::auth::Role;
use quantgraph::startup::{App, Startup};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn the_public_jwt_secret_serves_only_on_loopback() {
    let startup = Startup { migrate: true, seed_if_empty: false };
    let mut c = config("sqlite::memory:");
    c.bind = "0.0.0.0:0".parse().unwrap();
    let err = App::build(&c, startup).await.err().expect("refused").to_string();
    assert!(err.contains("JWT_SECRET is not set"), "{err}");
    c.jwt_secret.0 = "short".into();
    let err = App::build(&c, startup).await.err().expect("refused").to_string();
    assert!(err.contains("shorter than 32 bytes"), "{err}");
    // On loopback the development secret is fine (this is how every other test runs).
    let local = config("sqlite::memory:");
    assert_eq!(local.jwt_secret.0, quantgraph::config::DEV_JWT_SECRET);
    let app = App::build(&local, startup).await.expect("serves on loopback");
    assert!(app.addr.ip().is_loopback());
}

fn bare(auth: &str) -> &str {
    auth.trim_start_matches("Bearer ")
}

#[tokio::test]
async fn a_deleted_accounts_tokens_are_refused_everywhere() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (a, a_id) = register(&app, "gone@example.com").await;
        let (b, _) = register(&app, "stays@example.com").await;
        // Before: the token works over HTTP and WebSocket.
        let me = as_role(&app, &a, "{ me { email } }", json!({})).await;
        assert_eq!(me["data"]["me"]["email"], "gone@example.com", "{backend:?}: {me}");
        let (_ws, ack) = Ws::init(&app, "/graphql/ws", Some(bare(&a)), false).await;
        assert_eq!(ack["type"], "connection_ack");

        let r = as_role(&app, &a, "mutation($id: UUID!) { deleteUser(rowId: $id) }", json!({ "id": a_id })).await;
        assert_eq!(r["data"]["deleteUser"], true, "{backend:?}: {r}");

        let me = as_role(&app, &a, "{ me { email } }", json!({})).await;
        assert_eq!(code(&me), Some("UNAUTHENTICATED"), "{backend:?}: {me}");
        assert!(me.get("data").is_none(), "{me}");
        let mut e = vec![0.0f32; 1536];
        e[0] = 1.0;
        let add = "mutation($i: MemoryInput!) { addMemory(input: $i) { id } }";
        let m = json!({ "memoryType": "NOTE", "company": "HPG", "timestamp": "2025-01-01T00:00:00Z", "content": "x", "embedding": e });
        let r = as_role(&app, &a, add, json!({ "i": m })).await;
        assert_eq!(code(&r), Some("UNAUTHENTICATED"), "{backend:?}: a deleted account wrote: {r}");
        let (_ws, reply) = Ws::init(&app, "/graphql/ws", Some(bare(&a)), false).await;
        // Refused at once with graphql-transport-ws's Forbidden close, not left hanging.
        assert_eq!(reply, json!({ "type": "close", "code": 4403 }), "{backend:?}: {reply}");
        // Others are untouched.
        let me = as_role(&app, &b, "{ me { email } }", json!({})).await;
        assert_eq!(me["data"]["me"]["email"], "stays@example.com", "{backend:?}: {me}");
    }
}

/// Across replicas: a token accepted by replica B before its account is deleted on A is refused
/// by B once B's 2-second cache of live accounts lapses, over HTTP and for a new socket.
#[tokio::test]
async fn a_deleted_account_is_refused_by_every_replica_once_its_cache_lapses() {
    for backend in backends() {
        let a = spawn(backend).await;
        let b = TestApp::start(&config(&a.database_url), backend).await;
        let (user, id) = register(&a, "replicas@example.com").await;
        let me = "{ me { email } }";
        assert_eq!(as_role(&b, &user, me, json!({})).await["data"]["me"]["email"], "replicas@example.com");
        let r = as_role(&a, &user, "mutation($id: UUID!) { deleteUser(rowId: $id) }", json!({ "id": id })).await;
        assert_eq!(r["data"]["deleteUser"], true, "{backend:?}: {r}");
        let deleted = std::time::Instant::now();
        let refused = loop {
            let r = as_role(&b, &user, me, json!({})).await;
            if code(&r) == Some("UNAUTHENTICATED") {
                break deleted.elapsed();
            }
            assert!(deleted.elapsed() < Duration::from_secs(4), "{backend:?}: B still serves a deleted account: {r}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!("{backend:?}: refused by the other replica {} ms after the deletion", refused.as_millis());
        assert!(refused <= Duration::from_millis(2600), "{backend:?}: refused after {refused:?}");
        let (_ws, reply) = Ws::init(&b, "/graphql/ws", Some(bare(&user)), false).await;
        assert_eq!(reply["type"], "close", "{backend:?}: {reply}");
    }
}

async fn status(app: &TestApp, headers: &[(&str, &str)]) -> u16 {
    let mut req = app.http.post(&app.url).json(&json!({ "query": "{ tickers(first: 1) { totalCount } }" }));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn rate_limits_key_by_account_and_by_the_client_behind_a_trusted_proxy() {
    let app = spawn_with(Backend::Sqlite, true, |c| {
        c.rate_limit = 3;
        c.trusted_proxies = Some("127.0.0.1/32".into());
    })
    .await;
    // One account, however its header is spelled, has one allowance.
    let tok = token(&app, Role::Analyst);
    let respelled = tok.replacen("Bearer ", "Bearer  ", 1);
    for _ in 0..3 {
        assert_eq!(status(&app, &[("Authorization", &tok)]).await, 200);
    }
    assert_eq!(status(&app, &[("Authorization", &respelled)]).await, 429, "a respelled token got a new allowance");
    // Anonymous clients behind the trusted proxy (the test's own address) are told apart…
    for _ in 0..3 {
        assert_eq!(status(&app, &[("X-Forwarded-For", "198.51.100.1")]).await, 200);
    }
    assert_eq!(status(&app, &[("X-Forwarded-For", "198.51.100.1")]).await, 429);
    assert_eq!(status(&app, &[("X-Forwarded-For", "198.51.100.2")]).await, 200);
    // …and an address a client writes to the left of the proxy's entry is not believed.
    assert_eq!(status(&app, &[("X-Forwarded-For", "10.9.9.9, 198.51.100.1")]).await, 429);

    // Without trusted proxies the header is ignored: spoofing it gains nothing.
    let plain = spawn_with(Backend::Sqlite, true, |c| c.rate_limit = 3).await;
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(status(&plain, &[("X-Forwarded-For", ip)]).await, 200);
    }
    assert_eq!(status(&plain, &[("X-Forwarded-For", "198.51.100.4")]).await, 429);
}

#[tokio::test]
async fn a_burst_of_sign_ins_is_queued_then_refused_not_run_on_every_core() {
    let app = spawn(Backend::Sqlite).await;
    register(&app, "burst@example.com").await;
    let login = |pw: &'static str| {
        let app = &app;
        async move {
            app.gql(
                "mutation($p: String!) { login(email: \"burst@example.com\", password: $p) { token } }",
                json!({ "p": pw }),
            )
            .await
        }
    };
    let answers: Vec<Value> = futures_util::future::join_all((0..150).map(|_| login("wrong password"))).await;
    let codes: Vec<&str> = answers.iter().map(|r| code(r).unwrap_or("none")).collect();
    let refused = codes.iter().filter(|c| **c == "RATE_LIMITED").count();
    let checked = codes.iter().filter(|c| **c == "UNAUTHENTICATED").count();
    assert_eq!(refused + checked, 150, "{codes:?}");
    assert!(checked >= 2, "the queue admitted nobody: {codes:?}");
    assert!(refused >= 1, "150 simultaneous sign-ins were all hashed at once: {codes:?}");
    // The burst over, the right password signs in.
    let ok = login("correct horse").await;
    assert!(ok["data"]["login"]["token"].is_string(), "{ok}");
}

/// Starts `n` subscriptions of `query` on `ws`; the error codes of those refused within 1 s.
async fn refused(ws: &mut Ws, n: usize, query: &str, vars: Value) -> Vec<String> {
    for i in 0..n {
        ws.subscribe(&format!("s{i}"), query, vars.clone()).await;
    }
    let mut codes = Vec::new();
    while let Some(m) = ws.recv(Duration::from_secs(1)).await {
        if let Some(c) = message_code(&m) {
            codes.push(c.to_string());
        }
    }
    codes
}

#[tokio::test]
async fn every_kind_of_subscription_counts_against_the_limits() {
    let app = spawn_with(Backend::Sqlite, true, |c| {
        c.max_subscriptions_per_connection = 2;
        c.max_subscriptions = 10;
    })
    .await;
    let (user, _) = register(&app, "limits@example.com").await;
    let w = r#"mutation { createWorkflow(input: { name: "w", jsonGraph: { nodes: [], edges: [] } }) { rowId } }"#;
    assert!(as_role(&app, &user, w, json!({})).await.get("errors").is_none());
    let service = token(&app, quantgraph::auth::Role::Service);
    // Each of the five kinds, as a caller allowed it (raw tokens, as connection_init sends them).
    let kinds = [
        ("subscription { ohlcvBars(tickers: [{ ticker: \"HPG\", region: \"VN\" }]) { close } }", None),
        ("subscription { marketSnapshot(marketType: \"VN\") { vnIndex } }", None),
        ("subscription { candles(symbols: [\"HPG\"]) { close } }", None),
        ("subscription { workflowExecution { rowId status } }", user.strip_prefix("Bearer ")),
        ("subscription { pendingWorkflowExecutions { rowId } }", service.strip_prefix("Bearer ")),
    ];
    let mut open = Vec::new();
    for (q, auth) in kinds {
        let mut ws = Ws::connect(&app, auth, false).await;
        let codes = refused(&mut ws, 3, q, json!({})).await;
        assert_eq!(codes, ["QUERY_TOO_COMPLEX"], "{q}: two of three are held per connection");
        open.push(ws);
    }
    // The process holds ten: an eleventh, on a new connection, is refused.
    let mut last = Ws::connect(&app, None, false).await;
    let codes = refused(&mut last, 1, kinds[0].0, json!({})).await;
    assert_eq!(codes, ["RATE_LIMITED"], "past the process-wide limit");
    // A connection closed gives its slots back.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let codes = refused(&mut last, 1, kinds[1].0, json!({})).await;
    assert!(codes.is_empty(), "{codes:?}");
}
