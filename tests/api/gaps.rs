//! Events lost upstream are never lost silently: when the database listener or the Redis
//! subscription reconnects, row subscribers are told to resubscribe with `since`, and candle
//! feeds catch up from the database by themselves.
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);
const BARS: &str = r#"subscription { ohlcvBars(tickers: [{ ticker: "HPG", region: "VN" }]) { ticker date close } }"#;
const CANDLES: &str = r#"subscription { candles(symbols: ["GAP"]) { symbol close } }"#;

fn candle_sql(minute: u32, close: f64) -> String {
    format!(
        "INSERT INTO market_candles (time, symbol, open, high, low, close, volume) \
         VALUES ('2026-01-05T02:{minute:02}:00Z', 'GAP', 1, 200, 0.5, {close}, 7)"
    )
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
    let mut ws = Ws::connect(&app, None, false).await;
    ws.subscribe("bars", BARS, json!({})).await;
    ws.subscribe("candles", CANDLES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sql.execute_unprepared(&candle_sql(1, 101.0)).await.unwrap();
    assert_eq!(message_of(&mut ws, "candles").await["payload"]["data"]["candles"]["close"], 101.0);

    // Cut the gateway's LISTEN connection (only this test's database).
    let cut = sql
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    assert!(cut.rows_affected() >= 1, "no listener to cut");

    // The row subscription is told, with a code and what to do.
    let told = message_of(&mut ws, "bars").await;
    assert_eq!(message_code(&told), Some("UNAVAILABLE"), "{told}");
    assert!(told.to_string().contains("since"), "{told}");

    // A candle written while (or after) the listener was away still reaches the candle feed:
    // either live or from the catch-up read that the gap triggers.
    sql.execute_unprepared(&candle_sql(2, 102.0)).await.unwrap();
    let mut closes = Vec::new();
    while !closes.contains(&102.0) {
        let m = message_of(&mut ws, "candles").await;
        closes.push(m["payload"]["data"]["candles"]["close"].as_f64().unwrap_or_else(|| panic!("{m}")));
    }
    assert!(!closes.contains(&101.0), "the catch-up repeated a delivered candle: {closes:?}");
}

#[tokio::test]
async fn a_redis_restart_is_signalled_and_delivery_resumes() {
    if redis_url().is_none() {
        return;
    }
    // A Redis of this test's own: restarting the shared one would disturb the other tests.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let start = || {
        std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts")
    };
    let mut redis = start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = spawn_with(Backend::Sqlite, true, |c| c.redis_url = Some(url.clone())).await;
    let token = format!("Bearer {}", app.app.state.tokens.issue("gap-test", Role::Service, 600).unwrap());
    let ingest = |close: f64| {
        let (app, token) = (&app, token.clone());
        async move {
            let c = json!([{ "time": "2026-01-05T02:00:00Z", "symbol": "GAP", "open": 1, "high": 200, "low": 0.5, "close": close, "volume": "1" }]);
            let r = app
                .gql_with(
                    "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { updated } }",
                    json!({ "c": c }),
                    &[("Authorization", &token)],
                )
                .await;
            assert!(r.get("errors").is_none(), "{r}");
        }
    };
    let mut ws = Ws::connect(&app, None, false).await;
    ws.subscribe("bars", BARS, json!({})).await;
    ws.subscribe("candles", CANDLES, json!({})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ingest(10.0).await;
    assert_eq!(message_of(&mut ws, "candles").await["payload"]["data"]["candles"]["close"], 10.0);

    redis.kill().unwrap();
    redis.wait().unwrap();
    // Written while Redis is down: stored, and delivered on this replica.
    ingest(11.0).await;
    assert_eq!(message_of(&mut ws, "candles").await["payload"]["data"]["candles"]["close"], 11.0);
    let mut redis = start();
    // Once the subscription is back, row subscribers learn that they may have missed events.
    let told = message_of(&mut ws, "bars").await;
    assert_eq!(message_code(&told), Some("UNAVAILABLE"), "{told}");
    // And events flow through Redis again.
    let mut got = Vec::new();
    for attempt in 0..40 {
        ingest(12.0 + attempt as f64).await;
        if let Some(m) = ws.recv(Duration::from_millis(250)).await {
            got.push(m.clone());
            if m["id"] == "candles" && m["payload"]["data"]["candles"]["close"].as_f64() == Some(12.0 + attempt as f64)
            {
                break;
            }
        }
    }
    assert!(got.iter().any(|m| m["id"] == "candles"), "no candle after Redis came back: {got:?}");
    redis.kill().ok();
    redis.wait().ok();
}
