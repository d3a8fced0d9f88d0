//! Live-feed bench: holds N subscriptions on one gateway (`--per-connection` of them per
//! WebSocket connection, default 1), ingests candles at a fixed rate through `ingestCandles`,
//! and reports delivery latency (ingest request → receipt).
//! Run through `bench/live.sh`, which starts the gateway and PostgreSQL.
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

fn rss_kb(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let addr = arg("--addr", "127.0.0.1:8200");
    let subscribers: usize = arg("--subscribers", "1000").parse().unwrap();
    let symbols: usize = arg("--symbols", "1000").parse().unwrap();
    let rate: usize = arg("--rate", "1000").parse().unwrap();
    let seconds: u64 = arg("--seconds", "10").parse().unwrap();
    let token = arg("--token", "");
    let pid = arg("--pid", "0");
    let per: usize = arg("--per-connection", "1").parse().unwrap();

    let rss0 = rss_kb(&pid);
    let latencies =
        Arc::new(Mutex::new(Vec::<u64>::with_capacity(rate * seconds as usize * subscribers / symbols + 1)));
    let received = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    for c in 0..subscribers.div_ceil(per) {
        let (addr, lat, rec, con) = (addr.clone(), latencies.clone(), received.clone(), connected.clone());
        let subs: Vec<usize> = (c * per..((c + 1) * per).min(subscribers)).collect();
        tokio::spawn(async move {
            let mut req = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
            req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else { return };
            ws.send(Message::Text(json!({ "type": "connection_init" }).to_string().into())).await.unwrap();
            let _ack = ws.next().await;
            for i in &subs {
                let q = format!("subscription {{ candles(symbols: [\"S{}\"]) {{ volume closed }} }}", i % symbols);
                ws.send(Message::Text(
                    json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": q } }).to_string().into(),
                ))
                .await
                .unwrap();
            }
            con.fetch_add(subs.len() as u64, Ordering::Relaxed);
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    // A bar's update carries its candle's send time; its closing event, sent when a
                    // later candle arrives, repeats it and is not a delivery of that candle.
                    let bar = &v["payload"]["data"]["candles"];
                    if let (Some(sent), false) =
                        (bar["volume"].as_str().and_then(|s| s.parse::<u64>().ok()), bar["closed"] == true)
                    {
                        lat.lock().unwrap().push(now_us().saturating_sub(sent));
                        rec.fetch_add(1, Ordering::Relaxed);
                    } else if v["type"] == "ping" {
                        let _ = ws.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                    }
                }
            }
        });
    }
    while (connected.load(Ordering::Relaxed) as usize) < subscribers && t0.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss1 = rss_kb(&pid);
    println!(
        "subscriptions: {} over {} connections in {:.1} s",
        connected.load(Ordering::Relaxed),
        subscribers.div_ceil(per),
        t0.elapsed().as_secs_f64()
    );
    println!(
        "gateway RSS: {} KiB idle before, {} KiB with subscribers: {:.1} KiB per subscriber",
        rss0,
        rss1,
        (rss1.saturating_sub(rss0)) as f64 / subscribers as f64
    );

    // Ingest: every 100 ms a batch of rate/10 candles over the symbols, stamped with the send time.
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/graphql");
    let batch = (rate / 10).max(1);
    let mut minute = 0i64;
    let mut sent = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        let stamp = now_us();
        let candles: Vec<Value> = (0..batch)
            .map(|k| {
                let idx = sent + k;
                let t = chrono::DateTime::from_timestamp(1_767_225_600 + (minute * 60), 0).unwrap();
                json!({ "time": t.to_rfc3339(), "symbol": format!("S{}", idx % symbols), "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5, "volume": stamp.to_string() })
            })
            .collect();
        sent += batch;
        if sent.is_multiple_of(symbols) {
            minute += 1;
        }
        let r = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }", "variables": { "c": candles } }))
            .send()
            .await;
        if let Ok(r) = r {
            let v: Value = r.json().await.unwrap_or_default();
            if v.get("errors").is_some() {
                eprintln!("ingest error: {v}");
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut l = latencies.lock().unwrap().clone();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0
    };
    let expected = sent * subscribers / symbols;
    println!(
        "candles ingested: {sent} at {rate}/s; deliveries: {} of {expected} expected",
        received.load(Ordering::Relaxed)
    );
    println!(
        "delivery latency (ingest request → receipt): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
