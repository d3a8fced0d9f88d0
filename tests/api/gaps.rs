//! Events lost upstream are never lost silently: when the database listener or the Redis
//! subscription reconnects, row subscribers are told to resubscribe with `since`, and candle
//! feeds catch up from the database by themselves.
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);
/// A row subscription (a workers' queue): told when events may have been missed.
const ROWS: &str = "subscription { pendingWorkflowExecutions { rowId } }";
const CANDLES: &str = r#"subscription { candles(symbols: ["GAP"]) { symbol bucket close closed } }"#;

fn candle_sql(minute: u32, close: f64) -> String {
    format!(
        "INSERT INTO market_candles (time, symbol, open, high, low, close, volume) \
         VALUES ('2026-01-05T02:{minute:02}:00Z', 'GAP', 1, 200, 0.5, {close}, 7)"
    )
}

/// The next update of the candle feed (a bar's closing event repeats its last update: skipped).
async fn candle_update(ws: &mut Ws) -> serde_json::Value {
    loop {
        let m = message_of(ws, "candles").await;
        if m["payload"]["data"]["candles"]["closed"] != true {
            return m;
        }
    }
}

/// Waits for the message of subscription `id` (skipping others), or panics after `T`.
async fn message_of(ws: &mut Ws, id: &str) -> serde_json::Value {
    loop {
        let m = ws.recv(T).await.unwrap_or_else(|| panic!("nothing for subscription {id}"));
        if m["id"] == id {
            return m;
        }
    }
}

#[tokio::test]
async fn a_database_listener_reconnect_is_signalled_and_candles_catch_up() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let app = spawn(Backend::Postgres).await;
    let sql = app.sql().await;
    let worker = app.app.state.tokens.issue("gap-worker", Role::Service, 600).unwrap();
    let mut ws = Ws::connect(&app, Some(&worker), false).await;
    ws.subscribe("rows", ROWS, json!({})).await;
    ws.subscribe("candles", CANDLES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sql.execute_unprepared(&candle_sql(1, 101.0)).await.unwrap();
    assert_eq!(candle_update(&mut ws).await["payload"]["data"]["candles"]["close"], 101.0);

    // Cut the gateway's LISTEN connection (only this test's database), and write a candle in
    // the same breath, while the listener is away: its notification is lost, so only the
    // catch-up read that the gap triggers can bring it.
    let gaps = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("quantgraph_events_total{stage=\"gap\"} "))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let metrics =
        || async { app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap() };
    let gaps_before = gaps(&metrics().await).unwrap_or(0.0);
    cut_listener(&sql).await;
    sql.execute_unprepared(&candle_sql(2, 102.0)).await.unwrap();

    // The row subscription is told, with a code and what to do; the signal is counted.
    let told = message_of(&mut ws, "rows").await;
    assert_eq!(message_code(&told), Some("UNAVAILABLE"), "{told}");
    assert!(told.to_string().contains("since"), "{told}");
    assert!(
        gaps(&metrics().await).is_some_and(|n| n > gaps_before),
        "quantgraph_events_total{{stage=\"gap\"}} counts it"
    );

    // The candle written during the cut reaches the candle feed.
    let mut closes = Vec::new();
    while !closes.contains(&102.0) {
        let m = candle_update(&mut ws).await;
        closes.push(m["payload"]["data"]["candles"]["close"].as_f64().unwrap_or_else(|| panic!("{m}")));
    }
    assert!(!closes.contains(&101.0), "the catch-up repeated a delivered candle: {closes:?}");
}

/// A Redis of the test's own (restarting the shared one would disturb the other tests): how to
/// start it, and its URL.
fn own_redis() -> (impl Fn() -> std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = move || {
        std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts")
    };
    (start, format!("redis://127.0.0.1:{port}"))
}

#[tokio::test]
async fn a_redis_restart_is_signalled_and_delivery_resumes() {
    if redis_url().is_none() {
        return;
    }
    let (start, url) = own_redis();
    let mut redis = start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let app = spawn_with(Backend::Sqlite, true, |c| c.redis_url = Some(url.clone())).await;
    let token = app.app.state.tokens.issue("gap-test", Role::Service, 600).unwrap();
    let ingest = |close: f64| {
        let c = json!({ "time": "2026-01-05T02:00:00Z", "symbol": "GAP", "open": 1, "high": 200, "low": 0.5, "close": close, "volume": "1" });
        ingest_candles(&app, &token, vec![c])
    };
    let mut ws = Ws::connect(&app, Some(&token), false).await;
    ws.subscribe("rows", ROWS, json!({})).await;
    ws.subscribe("candles", CANDLES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ingest(10.0).await;
    assert_eq!(candle_update(&mut ws).await["payload"]["data"]["candles"]["close"], 10.0);

    redis.kill().unwrap();
    redis.wait().unwrap();
    // Written while Redis is down: stored, and delivered on this replica.
    ingest(11.0).await;
    assert_eq!(candle_update(&mut ws).await["payload"]["data"]["candles"]["close"], 11.0);
    let mut redis = start();
    // Once the subscription is back, row subscribers learn that they may have missed events.
    let told = message_of(&mut ws, "rows").await;
    assert_eq!(message_code(&told), Some("UNAVAILABLE"), "{told}");
    // And events flow through Redis again: a second replica, which hears of A's writes only
    // through Redis (a failed publish is delivered locally, on A alone), gets the next candle
    // written on A with its own close.
    let mut cfg = config(&app.database_url);
    cfg.redis_url = Some(url.clone());
    let b = TestApp::start(&cfg, Backend::Sqlite).await;
    let mut on_b = Ws::connect(&b, Some(&token), false).await;
    on_b.subscribe("candles", CANDLES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut got = Vec::new();
    let mut heard = None;
    for attempt in 0..40 {
        let close = 12.0 + attempt as f64;
        ingest(close).await;
        if let Some(m) = on_b.recv(Duration::from_millis(250)).await {
            got.push(m.clone());
            if m["id"] == "candles" && m["payload"]["data"]["candles"]["close"].as_f64() == Some(close) {
                heard = Some(close);
                break;
            }
        }
    }
    assert!(heard.is_some(), "replica B heard no candle of A's after Redis came back: {got:?}");
    redis.kill().ok();
    redis.wait().ok();
}

/// Two replicas, candles written through A once every 40 ms while Redis is stopped and started
/// again: the live-bar subscribers on A (local delivery) and on B (through Redis, caught up from
/// the database when Redis is back) each end with every bar closed exactly once, in order, with
/// its stored values, and the last one forming.
#[tokio::test]
async fn two_replicas_deliver_every_bar_exactly_once_through_a_redis_restart() {
    if redis_url().is_none() || !backends().contains(&Backend::Postgres) {
        return;
    }
    const SUB: &str = "subscription { candles(symbols: [\"ONCE\"], interval: M1) { bucket close seq closed } }";
    const N: u32 = 60;
    let (start, url) = own_redis();
    let mut redis = start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = spawn_with(Backend::Postgres, false, |c| c.redis_url = Some(url.clone())).await;
    let mut cb = config(&a.database_url);
    cb.redis_url = Some(url.clone());
    let b = TestApp::start(&cb, Backend::Postgres).await;
    let mut on_a = Ws::connect(&a, None, false).await;
    let mut on_b = Ws::connect(&b, None, false).await;
    on_a.subscribe("a", SUB, json!({})).await;
    on_b.subscribe("b", SUB, json!({})).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let token = a.app.state.tokens.issue("once", Role::Service, 600).unwrap();
    let at = |m: u32| format!("2026-02-02T{:02}:{:02}:00Z", 9 + m / 60, m % 60);
    for m in 0..N {
        if m == 20 {
            redis.kill().unwrap();
            redis.wait().unwrap();
        }
        if m == 40 {
            redis = start();
        }
        let c = json!({ "time": at(m), "symbol": "ONCE", "open": 1, "high": 500, "low": 0.5, "close": 100 + m, "volume": "1" });
        ingest_candles(&a, &token, vec![c]).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let mut closed_seqs = Vec::new();
    for (name, ws) in [("A", &mut on_a), ("B", &mut on_b)] {
        // (bucket, close, seq, closed) until the last candle's bar is seen.
        let mut got: Vec<(String, f64, i64, bool)> = Vec::new();
        while got.last().is_none_or(|e| e.0 != at(N - 1)) {
            let m = ws.recv(Duration::from_secs(20)).await.unwrap_or_else(|| panic!("{name}: stalled after {got:?}"));
            let e = &m["payload"]["data"]["candles"];
            assert!(e.is_object(), "{name}: {m}");
            let seq = e["seq"].as_str().unwrap().parse().unwrap();
            got.push((
                e["bucket"].as_str().unwrap().to_string(),
                e["close"].as_f64().unwrap(),
                seq,
                e["closed"].as_bool().unwrap(),
            ));
        }
        assert!(got.windows(2).all(|w| w[0].2 < w[1].2), "{name}: an event repeated or out of order: {got:?}");
        let closed: Vec<(String, f64)> = got.iter().filter(|e| e.3).map(|e| (e.0.clone(), e.1)).collect();
        let stored: Vec<(String, f64)> = (0..N - 1).map(|m| (at(m), 100.0 + m as f64)).collect();
        assert_eq!(closed, stored, "{name}: every bar closed once, in order");
        assert_eq!(got.last().map(|e| (e.1, e.3)), Some((100.0 + (N - 1) as f64, false)), "{name}");
        assert!(ws.recv(Duration::from_millis(500)).await.is_none(), "{name}: nothing more");
        closed_seqs.push(got.iter().filter(|e| e.3).map(|e| (e.0.clone(), e.2)).collect::<Vec<_>>());
    }
    // A bar's `seq` is the same on every replica, whether it came live, through Redis or from
    // the catch-up.
    assert_eq!(closed_seqs[0], closed_seqs[1], "the replicas number the closed bars alike");
    redis.kill().ok();
    redis.wait().ok();
}

/// The backend pid of the session holding the event bridge's advisory lock (0x5147_4556, "QGEV").
async fn bridge_holder(sql: &sea_orm::DatabaseConnection) -> Option<i32> {
    let row = sql
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = \
             (SELECT oid FROM pg_database WHERE datname = current_database()) AND objid = 1363625302",
        ))
        .await
        .unwrap()?;
    row.try_get_by_index::<i32>(0).ok()
}

#[tokio::test]
async fn another_replica_takes_over_the_event_bridge_and_nothing_written_meanwhile_is_lost() {
    let Some(redis) = redis_url() else { return };
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let prefix = format!("takeover-{}:", uuid::Uuid::new_v4().simple());
    let database_url = fresh_database(Backend::Postgres).await;
    // Replica A: the real binary, started first, so it holds the bridge; killed below.
    let dir = std::env::temp_dir().join("quantgraph-tests").join(format!("a-{}", uuid::Uuid::new_v4().simple()));
    let mut a = std::process::Command::new(env!("CARGO_BIN_EXE_quantgraph"))
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis)
        .env("QUANTGRAPH_REDIS_PREFIX", &prefix)
        .env("QUANTGRAPH_BIND", "127.0.0.1:0")
        .env("QUANTGRAPH_DATA_DIR", &dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("replica A starts");
    let admin = sea_orm::Database::connect(&database_url).await.unwrap();
    let mut held = None;
    for _ in 0..100 {
        // Replica A migrates the new database, then takes the lock.
        if let Some(pid) = bridge_holder(&admin).await {
            held = Some(pid);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let a_pid = held.expect("replica A holds the event bridge");
    // Replica B, with a subscriber.
    let mut cb = config(&database_url);
    cb.redis_url = Some(redis.clone());
    cb.redis_prefix = prefix.clone();
    let b = TestApp::start(&cb, Backend::Postgres).await;
    let mut ws = Ws::connect(&b, None, false).await;
    ws.subscribe("candles", CANDLES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    admin.execute_unprepared(&candle_sql(0, 100.0)).await.unwrap();
    assert_eq!(candle_update(&mut ws).await["payload"]["data"]["candles"]["close"], 100.0);

    // Kill A; write through the window in which no replica forwards.
    a.kill().unwrap();
    a.wait().unwrap();
    let killed = std::time::Instant::now();
    for m in 1..=10u32 {
        admin.execute_unprepared(&candle_sql(m, 100.0 + m as f64)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut took_over = None;
    while killed.elapsed() < Duration::from_secs(10) {
        if bridge_holder(&admin).await.is_some_and(|p| p != a_pid) {
            took_over = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took_over = took_over.expect("replica B takes the event bridge over");
    assert!(took_over < Duration::from_secs(5), "took over after {took_over:?}");
    // Every candle of the window reaches B's subscriber (live, or from the catch-up the
    // takeover's gap signal triggers) as its bar: an update, or — when the feed ran ahead of
    // the reader — only the bar's closing event, which supersedes the update not yet read.
    let mut bars = std::collections::BTreeMap::new();
    while bars.len() < 11 {
        let m = message_of(&mut ws, "candles").await;
        let c = &m["payload"]["data"]["candles"];
        let close = c["close"].as_f64().unwrap_or_else(|| panic!("{m}"));
        bars.insert(c["bucket"].as_str().unwrap().to_string(), close);
    }
    let closes: Vec<f64> = bars.values().copied().collect();
    assert_eq!(closes, (0..=10).map(|m| 100.0 + m as f64).collect::<Vec<_>>(), "took over after {took_over:?}");
    assert!(ws.next_data(Duration::from_millis(500)).await.is_none(), "a candle arrived twice");
    eprintln!("the event bridge was taken over {took_over:?} after its replica was killed; 10 of 10 candles delivered");
}
