//! Subscriptions over WebSocket: from any writer, across replicas, resumable without gaps.
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn svc(app: &TestApp) -> String {
    app.app.state.tokens.issue("ingest-worker", Role::Service, 600).unwrap()
}

fn candle(symbol: &str, minute: i64, close: f64) -> Value {
    let t = chrono::DateTime::parse_from_rfc3339("2026-01-05T02:00:00Z").unwrap() + chrono::Duration::minutes(minute);
    json!({ "time": t.to_rfc3339(), "symbol": symbol, "open": close, "high": close + 1.0, "low": close - 1.0, "close": close, "volume": "100" })
}

/// Ingests `batch` through the endpoint at `url` (from a task without the app at hand).
async fn post_candles(http: &reqwest::Client, url: &str, token: &str, batch: Vec<Value>) {
    let r: Value = http
        .post(url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({ "query": "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }", "variables": { "c": batch } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("errors").is_none(), "{r}");
}

const SUB: &str = "subscription($s: [String!]!, $since: DateTime) { candles(symbols: $s, since: $since) { symbol bucket close count seq closed } }";

/// The next update of a candle feed: a bar's closing event (its last update once more) skipped.
async fn next_update(ws: &mut Ws, t: Duration) -> Option<Value> {
    loop {
        let d = ws.next_data(t).await?;
        if d["data"]["candles"]["closed"] != true {
            return Some(d);
        }
    }
}

#[tokio::test]
async fn candles_reach_subscribers_from_mutations_and_plain_sql() {
    for backend in backends() {
        let app = spawn(backend).await;
        let token = svc(&app);
        for legacy in [false, true] {
            let sym = if legacy { "LEG" } else { "NEW" };
            // Both endpoints take subscriptions: /graphql/ws, and /graphql with an upgrade.
            let path = if legacy { "/graphql/ws" } else { "/graphql" };
            let mut ws = Ws::connect_to(&app, path, None, legacy).await;
            ws.subscribe("1", SUB, json!({ "s": [sym] })).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            ingest_candles(&app, &token, vec![candle(sym, 1, 100.5), candle("OTHER", 1, 10.0)]).await;
            let got = next_update(&mut ws, T).await.expect("a candle");
            assert_eq!(got["data"]["candles"]["symbol"], sym, "{backend:?} legacy={legacy}: {got}");
            assert_eq!(got["data"]["candles"]["close"], 100.5);
            if backend == Backend::Postgres {
                // Another program writes with plain SQL; the trigger bridge reports it.
                let db = app.sql().await;
                db.execute_unprepared(&format!("INSERT INTO market_candles (time, symbol, open, high, low, close, volume) VALUES ('2026-01-05T02:09:00Z', '{sym}', 1, 2, 0.5, 1.5, 7)")).await.unwrap();
                let got = next_update(&mut ws, T).await.expect("a candle written by SQL");
                assert_eq!(got["data"]["candles"]["close"], 1.5, "{got}");
                // A rolled-back write reports nothing.
                db.execute_unprepared(&format!("BEGIN; INSERT INTO market_candles (time, symbol, open, high, low, close, volume) VALUES ('2026-01-05T02:10:00Z', '{sym}', 1, 2, 0.5, 9.5, 7); ROLLBACK;")).await.unwrap();
                assert!(ws.next_data(Duration::from_millis(700)).await.is_none(), "a rolled-back candle was delivered");
            }
        }
    }
}

#[tokio::test]
async fn executions_reach_only_their_owner() {
    for backend in backends() {
        let app = spawn(backend).await;
        let reg = |e: &'static str| {
            let app = &app;
            async move {
                let r = app
                    .gql(
                        r#"mutation($e: String!) { register(email: $e, password: "long enough pw") { token } }"#,
                        json!({ "e": e }),
                    )
                    .await;
                r["data"]["register"]["token"].as_str().unwrap().to_string()
            }
        };
        let (a, b) = (reg("live-a@example.com").await, reg("live-b@example.com").await);
        let w = app
            .gql_with(
                r#"mutation { createWorkflow(input: { name: "live", jsonGraph: { nodes: [], edges: [] } }) { rowId } }"#,
                json!({}),
                &[("Authorization", &format!("Bearer {a}"))],
            )
            .await;
        let wid = w["data"]["createWorkflow"]["rowId"].as_str().unwrap().to_string();
        let mut mine = Ws::connect(&app, Some(&a), false).await;
        mine.subscribe("1", "subscription { workflowExecution { status workflowId } }", json!({})).await;
        let mut theirs = Ws::connect(&app, Some(&b), false).await;
        theirs
            .subscribe(
                "1",
                "subscription($w: UUID) { workflowExecution(workflowId: $w) { status } }",
                json!({ "w": wid }),
            )
            .await;
        let denied = theirs.recv(T).await.unwrap();
        assert_eq!(message_code(&denied), Some("NOT_FOUND"), "{backend:?}: another user's workflow: {denied}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.gql_with(
            "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }",
            json!({ "id": wid }),
            &[("Authorization", &format!("Bearer {a}"))],
        )
        .await;
        let got = mine.next_data(T).await.unwrap();
        assert_eq!(got["data"]["workflowExecution"]["status"], "pending", "{backend:?}: {got}");
        let mut anon = Ws::connect(&app, None, false).await;
        anon.subscribe("1", "subscription { workflowExecution { status } }", json!({})).await;
        let e = anon.recv(T).await.unwrap();
        assert_eq!(message_code(&e), Some("UNAUTHENTICATED"), "{e}");
    }
}

/// Subscribers joining at random moments during a 10,000-candle ingest, each replaying from
/// before the first candle and read only after it, end with every bar's final state once, in
/// order, numbered as a live subscriber numbers them (a reader this slow gets the closed bars
/// and the forming bar's latest state).
#[tokio::test]
async fn since_replays_then_goes_live_without_gap_or_duplicate() {
    for backend in backends() {
        let app = spawn_with(backend, true, |c| c.max_pending_closed_bars = 20_000).await;
        let token = svc(&app);
        let total = 10_000;
        let since = "2026-01-05T01:59:00Z";
        // A live subscriber from before the first candle: the reference numbering.
        let mut live = Ws::connect(&app, None, false).await;
        live.subscribe("1", SUB, json!({ "s": ["RESUME"] })).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ingest_task = {
            let url = app.url.clone();
            let token = token.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for chunk in 0..20 {
                    let batch: Vec<Value> =
                        (0..total / 20).map(|i| candle("RESUME", (chunk * (total / 20) + i) as i64, 100.0)).collect();
                    post_candles(&http, &url, &token, batch).await;
                }
            })
        };
        let mut subs = Vec::new();
        for k in 0..4u64 {
            tokio::time::sleep(Duration::from_millis(37 * k * k)).await;
            let mut ws = Ws::connect(&app, None, false).await;
            ws.subscribe("1", SUB, json!({ "s": ["RESUME"], "since": since })).await;
            subs.push(ws);
        }
        ingest_task.await.unwrap();
        // Per bucket time, the seq of its closing event (the last minute: of its update).
        let (reference, last_update) = bars_of(&mut live, total).await;
        assert_eq!(reference.len(), total - 1, "{backend:?}: the live subscriber missed closed bars");
        for (k, ws) in subs.iter_mut().enumerate() {
            let (closed, last) = bars_of(ws, total).await;
            assert_eq!(closed, reference, "{backend:?}: subscriber {k}: the closed bars as numbered live");
            assert_eq!(last, last_update, "{backend:?}: subscriber {k}: the forming bar");
            assert!(
                ws.next_data(Duration::from_millis(300)).await.is_none(),
                "{backend:?}: subscriber {k} got extra events"
            );
        }
        // A late subscriber replays the 10,000 stored candles a page (1,000 rows) per statement.
        let before = app.statements().await;
        let mut late = Ws::connect(&app, None, false).await;
        late.subscribe("1", SUB, json!({ "s": ["RESUME"], "since": since })).await;
        let (closed, last) = bars_of(&mut late, total).await;
        assert_eq!((closed, last), (reference, last_update), "{backend:?}: the late replay");
        let n = app.statements().await - before;
        eprintln!("{backend:?}: replay of {total} candles in {n} statements");
        assert!((10..=13).contains(&n), "{backend:?}: {n} statements for a {total}-candle replay");
    }
}

/// A feed read to its end: per bucket time the seq of its closing event, and the forming bar
/// after the `total - 1` closed ones (seq strictly increasing throughout).
async fn bars_of(ws: &mut Ws, total: usize) -> (std::collections::BTreeMap<String, i64>, Option<(String, i64)>) {
    let mut closed = std::collections::BTreeMap::new();
    let (mut previous, mut last) = (0, None);
    while closed.len() < total - 1 || last.is_none() {
        let Some(d) = ws.next_data(T).await else { break };
        let c = &d["data"]["candles"];
        let time = c["bucket"].as_str().unwrap_or_else(|| panic!("{d}")).to_string();
        let seq: i64 = c["seq"].as_str().unwrap().parse().unwrap();
        assert!(seq > previous, "seq {seq} after {previous}");
        previous = seq;
        if c["closed"] == true {
            assert!(closed.insert(time, seq).is_none(), "a bar closed twice");
        } else if closed.len() == total - 1 {
            last = Some((time, seq));
        }
    }
    (closed, last)
}

/// Two gateways sharing Redis (and PostgreSQL): a candle written through A, or by plain SQL,
/// reaches a subscriber on B exactly once.
#[tokio::test]
async fn redis_fans_out_across_replicas() {
    let Some(redis) = redis_url() else { return };
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    let a = spawn_with(Backend::Postgres, true, |c| {
        c.redis_url = Some(redis.clone());
        c.redis_prefix = prefix.clone();
    })
    .await;
    let mut cb = config(&a.database_url);
    cb.redis_url = Some(redis.clone());
    cb.redis_prefix = prefix.clone();
    let b = TestApp::start(&cb, Backend::Postgres).await;
    let mut ws = Ws::connect(&b, None, false).await;
    ws.subscribe("1", SUB, json!({ "s": ["FAN"] })).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ingest_candles(&a, &svc(&a), vec![candle("FAN", 1, 42.0)]).await;
    let got = ws.next_data(T).await.expect("candle via Redis");
    assert_eq!(got["data"]["candles"]["close"], 42.0);
    a.sql().await.execute_unprepared("INSERT INTO market_candles (time, symbol, open, high, low, close, volume) VALUES ('2026-01-05T03:00:00Z', 'FAN', 1, 2, 0.5, 43, 7)").await.unwrap();
    let got = next_update(&mut ws, T).await.expect("SQL candle via Redis");
    assert_eq!(got["data"]["candles"]["close"], 43.0);
    assert!(next_update(&mut ws, Duration::from_millis(800)).await.is_none(), "a candle arrived twice");
    // Daily bars too: a bar ingested through A, and one written by plain SQL, reach B's live bars.
    const BARS: &str = "subscription { ohlcvBars(tickers: [{ ticker: \"FANB\", region: \"VN\" }]) { bucket close } }";
    let mut bars = Ws::connect(&b, None, false).await;
    bars.subscribe("b", BARS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let bar = json!({ "ticker": "FANB", "region": "VN", "date": "2030-01-02", "timeframe": "D", "open": "1",
                      "high": "2", "low": "0.5", "close": "1.5", "volume": "10" });
    let r = as_role(
        &a,
        &format!("Bearer {}", svc(&a)),
        "mutation($b: [OhlcvInput!]!) { ingestOhlcv(bars: $b) { inserted } }",
        json!({ "b": [bar] }),
    )
    .await;
    assert_eq!(r["data"]["ingestOhlcv"]["inserted"], 1, "{r}");
    let got = bars.next_data(T).await.expect("a daily bar via Redis");
    assert_eq!(got["data"]["ohlcvBars"], json!({ "bucket": "2030-01-02", "close": "1.5000" }), "{got}");
    a.sql().await.execute_unprepared("INSERT INTO ohlcv_data (ticker, region, date, timeframe, open, high, low, close, volume) VALUES ('FANB', 'VN', '2030-01-03', 'D', 1, 2, 0.5, 1.75, 10)").await.unwrap();
    let mut seen = Vec::new();
    while let Some(m) = bars.next_data(T).await {
        seen.push(m["data"]["ohlcvBars"].clone());
        if m["data"]["ohlcvBars"]["bucket"] == "2030-01-03" {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&json!({ "bucket": "2030-01-03", "close": "1.7500" })), "SQL bar via Redis: {seen:?}");
}

#[tokio::test]
async fn longer_intervals_stream_the_running_bucket() {
    for backend in backends() {
        let app = spawn(backend).await;
        let token = svc(&app);
        let mut ws = Ws::connect(&app, None, false).await;
        ws.subscribe(
            "h",
            "subscription { candles(symbols: [\"RUN\"], interval: H1) { bucket open high close volume count } }",
            json!({}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        ingest_candles(&app, &token, vec![candle("RUN", 5, 10.0)]).await;
        let first = ws.next_data(T).await.unwrap();
        assert_eq!(first["data"]["candles"]["count"], 1, "{backend:?}: {first}");
        ingest_candles(&app, &token, vec![candle("RUN", 6, 12.0)]).await;
        let second = ws.next_data(T).await.unwrap();
        let b = &second["data"]["candles"];
        assert_eq!(
            (b["count"].as_i64(), b["open"].as_f64(), b["close"].as_f64(), b["high"].as_f64()),
            (Some(2), Some(10.0), Some(12.0), Some(13.0)),
            "{backend:?}: {second}"
        );
        assert_eq!(b["bucket"], first["data"]["candles"]["bucket"]);
        assert_eq!(b["volume"], "200");
    }
}

#[tokio::test]
async fn connections_and_subscriptions_are_limited() {
    let app = spawn_with(Backend::Sqlite, false, |c| {
        c.max_subscriptions_per_connection = 2;
        c.max_connections_per_token = 2;
    })
    .await;
    let mut ws = Ws::connect(&app, None, false).await;
    for id in ["1", "2", "3"] {
        ws.subscribe(id, SUB, json!({ "s": ["LIM"] })).await;
    }
    // The three are started concurrently: exactly one of them is refused.
    let refused = ws.recv(T).await.unwrap();
    assert_eq!(message_code(&refused), Some("QUERY_TOO_COMPLEX"), "{refused}");
    let kept = ["1", "2", "3"].into_iter().find(|id| refused["id"] != *id).unwrap();
    // A finished subscription gives its slot back.
    ws.send(json!({ "id": kept, "type": "complete" })).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The freed slot takes a new subscription: it is not refused, and it is live (a candle
    // written now reaches it).
    ws.subscribe("4", SUB, json!({ "s": ["LIM"] })).await;
    let m = ws.recv(Duration::from_millis(500)).await;
    assert!(
        m.is_none() || m.as_ref().is_some_and(|m| m["type"] == "complete" && m["id"] != "4"),
        "the fourth subscription was refused: {m:?}"
    );
    ingest_candles(&app, &svc(&app), vec![candle("LIM", 0, 10.0)]).await;
    let mut seen = HashSet::new();
    while let Some(m) = ws.recv(Duration::from_secs(2)).await {
        if m["type"] == "next" {
            seen.insert(m["id"].as_str().unwrap().to_string());
        }
    }
    assert!(seen.contains("4"), "the subscription that took the freed slot got nothing: {seen:?}");
    let _second = Ws::connect(&app, None, false).await;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/graphql/ws", app.app.addr).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut third, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    third
        .send(tokio_tungstenite::tungstenite::Message::Text(json!({ "type": "connection_init" }).to_string().into()))
        .await
        .unwrap();
    let reply = tokio::time::timeout(T, third.next()).await.unwrap();
    let acked =
        matches!(&reply, Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) if t.contains("connection_ack"));
    assert!(!acked, "a third connection for the same client was accepted: {reply:?}");
}

#[tokio::test]
async fn shutdown_closes_subscribers_cleanly() {
    let mut app = spawn_with(Backend::Sqlite, false, |_| {}).await;
    let mut subscribers = Vec::new();
    for legacy in [false, true] {
        let mut ws = Ws::connect(&app, None, legacy).await;
        ws.subscribe("1", SUB, json!({ "s": ["BYE"] })).await;
        subscribers.push(ws);
    }
    // An event stream too: it is cut without `complete`, so its client reconnects elsewhere
    // rather than taking the subscription for finished.
    let sse = app
        .http
        .post(&app.url)
        .header("Accept", "text/event-stream")
        .json(&json!({ "query": SUB, "variables": { "s": ["BYE"] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The server finishes shutting down although the connections were open…
    tokio::time::timeout(Duration::from_secs(10), app.app.stop()).await.expect("shutdown completes");
    // …and each client got a close frame saying why, not a dropped connection.
    for mut ws in subscribers {
        assert_eq!(ws.close_frame(T).await, Some((1001, "server shutting down".to_string())));
    }
    let text = tokio::time::timeout(T, sse.text()).await.expect("the event stream ended").unwrap_or_default();
    assert!(!text.contains("event: complete"), "{text}");
}

async fn next_bar(ws: &mut Ws) -> Value {
    ws.next_data(T).await.expect("a live bar")["data"]["ohlcvBars"].clone()
}

fn record<T: Clone>(seen: &mut Vec<T>, e: T) -> T {
    seen.push(e.clone());
    e
}

/// Daily bars stream as live bars: the forming bar of each interval as daily bars are written
/// (through the gateway or by plain SQL), `closed` once a later bucket starts, `seq` counted
/// from the stored bars; a subscriber resuming with `since` gets the same events.
#[tokio::test]
async fn daily_bars_stream_as_live_bars_with_seq_and_closed() {
    const SUB: &str = "subscription($i: BarInterval, $s: Date) { ohlcvBars(tickers: [{ ticker: \"HPG\", region: \"VN\" }], interval: $i, since: $s) { symbol bucket open high low close volume count seq closed } }";
    const HISTORY: &str = "query($i: BarInterval!, $to: Date) { ohlcvBars(ticker: \"HPG\", region: \"VN\", interval: $i, to: $to) { count } }";
    for backend in backends() {
        let app = spawn(backend).await;
        // The seq base of a bucket: the daily bars and the buckets stored before it.
        let base = |i: &'static str, to: &'static str| {
            let app = &app;
            async move {
                let d = app.data(HISTORY, json!({ "i": i, "to": to })).await;
                let b = d["ohlcvBars"].as_array().unwrap().clone();
                b.len() as i64 + b.iter().map(|x| x["count"].as_i64().unwrap()).sum::<i64>()
            }
        };
        let (days, weeks) = (base("DAY", "2031-01-01").await, base("WEEK", "2030-12-29").await);
        assert!(days > 0, "{backend:?}: the seeded history has HPG bars");
        let mut day = Ws::connect(&app, None, false).await;
        day.subscribe("d", SUB, json!({ "i": "DAY" })).await;
        let mut week = Ws::connect(&app, None, false).await;
        week.subscribe("w", SUB, json!({ "i": "WEEK" })).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ingest = |date: &'static str, high: &'static str, close: &'static str| {
            let (app, token) = (&app, svc(&app));
            async move {
                let bar = json!({ "ticker": "HPG", "region": "VN", "date": date, "timeframe": "D", "open": "12000",
                                  "high": high, "low": "11900", "close": close, "volume": "4200000000" });
                let r = app
                    .gql_with(
                        "mutation($b: [OhlcvInput!]!) { ingestOhlcv(bars: $b) { inserted } }",
                        json!({ "b": [bar] }),
                        &[("Authorization", &format!("Bearer {token}"))],
                    )
                    .await;
                assert!(r.get("errors").is_none(), "{r}");
            }
        };
        // (bucket, close, count, seq, closed) of each event.
        let shape = |b: &Value| {
            (
                b["bucket"].as_str().unwrap().to_string(),
                b["close"].clone(),
                b["count"].as_i64().unwrap(),
                b["seq"].as_str().unwrap().parse::<i64>().unwrap(),
                b["closed"].as_bool().unwrap(),
            )
        };
        let mut seen_day = Vec::new();
        ingest("2031-01-02", "12400.5", "12345.6789").await;
        let d = next_bar(&mut day).await;
        seen_day.push(shape(&d));
        assert_eq!(
            (d["symbol"].clone(), d["open"].clone(), d["high"].clone(), d["volume"].clone()),
            (json!("HPG"), json!("12000.0000"), json!("12400.5000"), json!("4200000000")),
            "{backend:?}: {d}"
        );
        assert_eq!(shape(&d), ("2031-01-02".into(), json!("12345.6789"), 1, days + 1, false));
        let w = next_bar(&mut week).await;
        assert_eq!(shape(&w), ("2030-12-30".into(), json!("12345.6789"), 1, weeks + 1, false), "{backend:?}: {w}");

        ingest("2031-01-03", "12500", "12450").await;
        assert_eq!(
            record(&mut seen_day, shape(&next_bar(&mut day).await)),
            ("2031-01-02".into(), json!("12345.6789"), 1, days + 2, true),
            "{backend:?}"
        );
        assert_eq!(
            record(&mut seen_day, shape(&next_bar(&mut day).await)),
            ("2031-01-03".into(), json!("12450.0000"), 1, days + 3, false)
        );
        let w = next_bar(&mut week).await;
        assert_eq!(
            shape(&w),
            ("2030-12-30".into(), json!("12450.0000"), 2, weeks + 2, false),
            "the week's forming bar is replaced"
        );
        assert_eq!(w["high"], "12500.0000");

        if backend == Backend::Postgres {
            // A correction by plain SQL replaces the forming bar, with the same seq.
            app.sql()
                .await
                .execute_unprepared("UPDATE ohlcv_data SET close = 12460 WHERE ticker = 'HPG' AND date = '2031-01-03'")
                .await
                .unwrap();
            assert_eq!(
                record(&mut seen_day, shape(&next_bar(&mut day).await)),
                ("2031-01-03".into(), json!("12460.0000"), 1, days + 3, false)
            );
            assert_eq!(
                shape(&next_bar(&mut week).await),
                ("2030-12-30".into(), json!("12460.0000"), 2, weeks + 2, false)
            );
        }
        let last = if backend == Backend::Postgres { "12460.0000" } else { "12450.0000" };
        ingest("2031-01-06", "12600", "12550").await;
        assert_eq!(
            record(&mut seen_day, shape(&next_bar(&mut day).await)),
            ("2031-01-03".into(), json!(last), 1, days + 4, true)
        );
        assert_eq!(
            record(&mut seen_day, shape(&next_bar(&mut day).await)),
            ("2031-01-06".into(), json!("12550.0000"), 1, days + 5, false)
        );
        assert_eq!(
            shape(&next_bar(&mut week).await),
            ("2030-12-30".into(), json!(last), 2, weeks + 3, true),
            "{backend:?}"
        );
        assert_eq!(shape(&next_bar(&mut week).await), ("2031-01-06".into(), json!("12550.0000"), 1, weeks + 4, false));

        // Resuming after the first of January: the bars a live subscriber saw, by the same seq,
        // corrections folded in; updates a closing superseded are conflated away, as for a slow
        // reader, but every closed bar comes.
        let seen: std::collections::BTreeMap<i64, _> = seen_day.into_iter().map(|e| (e.3, e)).collect();
        let mut again = Ws::connect(&app, None, false).await;
        again.subscribe("d", SUB, json!({ "i": "DAY", "s": "2031-01-01" })).await;
        let mut replay = Vec::new();
        while let Some(m) = again.recv(Duration::from_millis(500)).await {
            replay.push(shape(&m["payload"]["data"]["ohlcvBars"]));
        }
        assert!(replay.windows(2).all(|w| w[0].3 < w[1].3), "{backend:?}: in seq order: {replay:?}");
        for e in &replay {
            assert_eq!(Some(e), seen.get(&e.3), "{backend:?}: as seen live");
        }
        let closed: Vec<i64> = replay.iter().filter(|e| e.4).map(|e| e.3).collect();
        assert_eq!(closed, vec![days + 2, days + 4], "{backend:?}: every closed bar: {replay:?}");
        assert_eq!(replay.last().map(|e| e.3), Some(days + 5));
    }
}

/// NOTIFY refuses payloads over 8,000 bytes: a plain-SQL execution with a 20 KB result must
/// still be stored, and still reach its subscriber, whole.
#[tokio::test]
async fn a_plain_sql_write_too_large_to_notify_is_stored_and_delivered() {
    for backend in backends().into_iter().filter(|b| *b == Backend::Postgres) {
        let app = spawn(backend).await;
        let (auth, _) = register(&app, "big@example.com").await;
        let w = as_role(
            &app,
            &auth,
            r#"mutation { createWorkflow(input: { name: "big", jsonGraph: { nodes: [], edges: [] } }) { rowId } }"#,
            json!({}),
        )
        .await;
        let wid = w["data"]["createWorkflow"]["rowId"].as_str().unwrap().to_string();
        let mut ws = Ws::connect(&app, Some(auth.trim_start_matches("Bearer ")), false).await;
        ws.subscribe("1", "subscription { workflowExecution { status result } }", json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let blob = "x".repeat(20_000);
        let sql = app.sql().await;
        use sea_orm::ConnectionTrait;
        sql.execute_unprepared(&format!(
            "INSERT INTO workflow_execution_logs (id, workflow_id, status, result) \
             VALUES (gen_random_uuid(), '{wid}', 'success', '{{\"blob\": \"{blob}\"}}'::jsonb)"
        ))
        .await
        .expect("a large plain-SQL write is stored");
        let got = ws.next_data(T).await.expect("delivered");
        let e = &got["data"]["workflowExecution"];
        assert_eq!(e["status"], "success", "{got}");
        assert_eq!(e["result"]["blob"].as_str().map(str::len), Some(20_000));
    }
}

/// A subscriber reading ten times slower than a 1,000 candles/s feed gets every closed bar and
/// the latest state of the forming one — its last view equals the stored bars — while the
/// gateway holds a bounded queue for it; one falling further behind than the bound is told to
/// resubscribe.
#[tokio::test]
async fn slow_subscribers_get_conflated_bars_within_a_bound() {
    const FIVE: &str = "subscription { candles(symbols: [\"SLOW\"], interval: M5) { bucket open high low close volume count seq closed } }";
    for backend in backends() {
        let app = spawn_with(backend, false, |c| c.max_pending_closed_bars = 1000).await;
        let token = svc(&app);
        let mut ws = Ws::connect(&app, None, false).await;
        ws.subscribe("1", FIVE, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // 3,000 candles (600 five-minute bars) at 1,000/s, in batches of 100 every 100 ms.
        let feed = {
            let (url, token) = (app.url.clone(), token.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                for b in 0..30i64 {
                    tick.tick().await;
                    let batch: Vec<Value> =
                        (0..100).map(|i| candle("SLOW", b * 100 + i, 100.0 + ((b * 100 + i) % 17) as f64)).collect();
                    post_candles(&http, &url, &token, batch).await;
                }
            })
        };
        // Read 100 events a second while the feed runs (it makes about 1,200), then the rest.
        let mut bars = std::collections::BTreeMap::new();
        let (mut received, mut previous) = (0usize, 0i64);
        let mut reading = |d: Value| {
            let c = d["data"]["candles"].clone();
            let seq: i64 = c["seq"].as_str().unwrap_or_else(|| panic!("{d}")).parse().unwrap();
            assert!(seq > previous, "{backend:?}: seq {seq} after {previous}");
            previous = seq;
            received += 1;
            let key = c["bucket"].as_str().unwrap().to_string();
            bars.insert(key, json!([c["open"], c["high"], c["low"], c["close"], c["volume"], c["count"]]));
        };
        while !feed.is_finished() {
            if let Some(d) = ws.next_data(T).await {
                reading(d);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        feed.await.unwrap();
        while let Some(d) = ws.next_data(Duration::from_secs(2)).await {
            reading(d);
        }
        let stored = app
            .data(r#"{ candles(symbol: "SLOW", interval: M5) { bucket open high low close volume count } }"#, json!({}))
            .await;
        let stored: std::collections::BTreeMap<String, Value> = stored["candles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["bucket"].as_str().unwrap().to_string(),
                    json!([b["open"], b["high"], b["low"], b["close"], b["volume"], b["count"]]),
                )
            })
            .collect();
        assert_eq!(stored.len(), 600);
        assert_eq!(bars, stored, "{backend:?}: the subscriber's last view is the stored bars");
        // 3,000 updates and 599 closings were made; a reader this slow got fewer: conflated.
        assert_eq!(previous, 3000 + 599, "{backend:?}: the last event's seq");
        assert!(received < 3000, "{backend:?}: {received} events read: nothing was conflated");
        let metrics = app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap();
        let peak: i64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("quantgraph_live_queue_peak "))
            .and_then(|v| v.trim().parse().ok())
            .expect("the queue peak in /metrics");
        assert!(peak > 10 && peak <= 1001, "{backend:?}: queue peak {peak}: held, and within the bound");

        // A bound of 50 closed bars, and a reader that does not read: told to resubscribe.
        let app = spawn_with(backend, false, |c| c.max_pending_closed_bars = 50).await;
        let mut ws = Ws::connect(&app, None, false).await;
        ws.subscribe("1", SUB, json!({ "s": ["STUCK"] })).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for b in 0..10i64 {
            ingest_candles(&app, &svc(&app), (0..500).map(|i| candle("STUCK", b * 500 + i, 10.0)).collect()).await;
        }
        let mut told = None;
        while let Some(m) = ws.recv(T).await {
            if message_code(&m).is_some() {
                told = Some(m);
                break;
            }
        }
        let told = told.expect("the subscriber is told");
        assert_eq!(message_code(&told), Some("QUERY_TOO_COMPLEX"), "{told}");
        assert!(told.to_string().contains("since"), "{told}");
    }
}

/// graphql-transport-ws: a subscription sent before `connection_init` closes the socket with
/// 4401 Unauthorized (not 1011, which says the server failed); the legacy protocol is answered
/// the same way. Found by the WebSocket fuzzer.
#[tokio::test]
async fn a_subscription_before_the_handshake_is_closed_as_unauthorized() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    let app = spawn(Backend::Sqlite).await;
    for proto in ["graphql-transport-ws", "graphql-ws"] {
        let mut req = format!("ws://{}/graphql/ws", app.app.addr).into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", proto.parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let kind = if proto == "graphql-ws" { "start" } else { "subscribe" };
        let sub = json!({ "type": kind, "id": "1", "payload": { "query": "subscription { candles(symbols: [\"HPG\"]) { close } }" } });
        ws.send(Message::Text(sub.to_string().into())).await.unwrap();
        let close = loop {
            match tokio::time::timeout(T, ws.next()).await.expect("an answer") {
                Some(Ok(Message::Close(f))) => break f.map(|f| (u16::from(f.code), f.reason.to_string())),
                Some(Ok(_)) => continue,
                other => panic!("{proto}: {other:?}"),
            }
        };
        assert_eq!(close, Some((4401, "Unauthorized".to_string())), "{proto}");
    }
}

/// The server keeps quiet subscribers' connections alive with WebSocket pings (which client
/// libraries answer by themselves), and closes a peer that answers nothing, releasing its
/// subscriptions.
#[tokio::test]
async fn quiet_subscribers_stay_and_vanished_peers_are_closed() {
    let app = spawn_with(Backend::Sqlite, false, |c| c.ws_ping_secs = 1).await;
    for legacy in [false, true] {
        let mut ws = Ws::connect(&app, None, legacy).await;
        let symbol = if legacy { "HBL" } else { "HBN" };
        ws.subscribe("1", SUB, json!({ "s": [symbol] })).await;
        // Five intervals in which the client only reads (and so answers pings).
        assert_eq!(ws.recv(Duration::from_secs(5)).await, None, "legacy {legacy}: no event yet");
        ingest_candles(&app, &svc(&app), vec![candle(symbol, 0, 10.0)]).await;
        let m = ws.recv(T).await.expect("legacy {legacy}: the connection was kept and the event arrived");
        assert_eq!(m["payload"]["data"]["candles"]["symbol"], symbol, "{m}");
    }
    let mut gone = Ws::connect(&app, None, false).await;
    gone.subscribe("1", SUB, json!({ "s": ["HBX"] })).await;
    // The client stops reading, so it answers no ping: closed within about three intervals.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // Reading again finds the pings sent meanwhile, then the end: a close frame (1001), or the
    // closed socket refusing this client's late pongs. A kept connection would stay open.
    let deadline = tokio::time::Instant::now() + T;
    let ended = loop {
        use tokio_tungstenite::tungstenite::Message;
        match tokio::time::timeout_at(deadline, futures_util::StreamExt::next(&mut gone.stream)).await {
            Err(_) => break None,
            Ok(Some(Ok(Message::Ping(_)))) => continue,
            Ok(Some(Ok(Message::Close(f)))) => break Some(f.map(|f| u16::from(f.code))),
            Ok(Some(Ok(other))) => panic!("an event reached a peer that answered no ping: {other:?}"),
            Ok(Some(Err(_)) | None) => break Some(None),
        }
    };
    assert!(matches!(ended, Some(None | Some(1001))), "the silent peer's connection was kept: {ended:?}");
}
