//! Live-query and table-stream bench (run through `bench/live.sh`, which starts the gateway on
//! the bench database).
//!
//! `--mode live`: `--subscribers` live queries over `--groups` distinct screen-like queries (one
//! ticker's name and last 5 bars, tickers of every region), `--per-connection` per WebSocket;
//! plain-SQL bar updates at `--writes` per second, each stamping a unique volume, so each update
//! received is matched to its write: latency from the write's commit to the update's arrival,
//! and the gateway's SQL statements and runs per write. `--mode poll`: the same groups read
//! over HTTP once a second each (as a polling live-query engine does), same writes: freshness,
//! statements. Both report the CPU seconds of the gateway and of PostgreSQL over the window.
//! `--mode stream`: `--subscribers` streams of `ohlcv_data`; `--rows` rows inserted by plain SQL
//! in transactions of 1,000; rows/s delivered; then a subscriber resuming from the first cursor.
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

/// The fields of `/proc/<pid>/stat` after the command name.
fn stat(pid: &str) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(s.rsplit_once(") ")?.1.split_whitespace().map(String::from).collect())
}

/// CPU seconds used so far (user + system) by the process `pid` and, with `children`, by
/// every process it started that is alive now (PostgreSQL's backends).
fn cpu_seconds(pid: &str, children: bool) -> f64 {
    let ticks = |f: &[String]| {
        f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let mut total = stat(pid).map_or(0.0, |f| ticks(&f));
    if children {
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(f) = stat(&name).filter(|f| f.get(1).map(String::as_str) == Some(pid)) {
                total += ticks(&f);
            }
        }
    }
    total / 100.0
}

async fn metric(http: &reqwest::Client, addr: &str, name: &str) -> f64 {
    let body = http.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

const SCREEN: &str = "ticker(ticker: $t, region: $r) { name } ohlcvData(where: { ticker: { eq: $t }, region: { eq: $r } }, orderBy: [{ date: DESC }], first: 5) { nodes { date close volume } }";
/// Volumes the writes stamp start here, so a write is known by the volume it wrote.
const STAMP: i64 = 9_000_000_000_000;

/// This run's first stamp: unique per run, so a volume an earlier run left is not taken for
/// one of this run's writes (nor a write of the same value for no change).
fn first_stamp() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    STAMP + (secs % 1_000_000) * 100_000
}

async fn ws_connect(
    addr: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut req = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
    ws.send(Message::Text(json!({ "type": "connection_init" }).to_string().into())).await.unwrap();
    let _ack = ws.next().await;
    ws
}

#[tokio::main]
async fn main() {
    let addr = arg("--addr", "127.0.0.1:8100");
    let pg = arg("--pg", "postgres://postgres@127.0.0.1:55433/quantgraph");
    let mode = arg("--mode", "live");
    let gw_pid = arg("--pid", "0");
    let postmaster = arg("--postmaster", "0");
    let db = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&pg).await.expect("database");
    let http = reqwest::Client::new();
    match mode.as_str() {
        "stream" => stream_mode(&addr, &db).await,
        _ => queries_mode(&addr, &db, &http, &mode, &gw_pid, &postmaster).await,
    }
}

async fn queries_mode(addr: &str, db: &sqlx::PgPool, http: &reqwest::Client, mode: &str, gw: &str, pg: &str) {
    let subscribers: usize = arg("--subscribers", "10000").parse().unwrap();
    let groups: usize = arg("--groups", "1000").parse().unwrap();
    let per: usize = arg("--per-connection", "10").parse().unwrap();
    let writes: u64 = arg("--writes", "20").parse().unwrap();
    let seconds: u64 = arg("--seconds", "30").parse().unwrap();
    // The queried tickers, every region, and each one's latest bar (the one the writes change).
    let rows = sqlx::query(
        "SELECT t.ticker, t.region, max(o.date)::text AS last FROM tickers t JOIN ohlcv_data o USING (ticker, region) \
         GROUP BY t.ticker, t.region ORDER BY md5(t.ticker || t.region) LIMIT $1",
    )
    .bind(groups as i64)
    .fetch_all(db)
    .await
    .unwrap();
    let keys: Arc<Vec<(String, String, String)>> =
        Arc::new(rows.iter().map(|r| (r.get("ticker"), r.get("region"), r.get("last"))).collect());
    let groups = keys.len();
    let committed: Arc<Mutex<HashMap<i64, Instant>>> = Default::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Default::default();
    let received = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(AtomicU64::new(0));
    let seen = |v: &Value, committed: &Mutex<HashMap<i64, Instant>>, latencies: &Mutex<Vec<f64>>| {
        let stamp = v["ohlcvData"]["nodes"][0]["volume"].as_str().and_then(|s| s.parse::<i64>().ok());
        if let Some(at) = stamp.filter(|s| *s >= STAMP).and_then(|s| committed.lock().unwrap().get(&s).copied()) {
            latencies.lock().unwrap().push(at.elapsed().as_secs_f64() * 1000.0);
        }
    };
    if mode == "live" {
        let doc = format!("subscription($t: String!, $r: String!) {{ live {{ {SCREEN} }} }}");
        for c in 0..subscribers.div_ceil(per) {
            let (keys, doc, addr) = (keys.clone(), doc.clone(), addr.to_string());
            let (committed, latencies, received, ready) =
                (committed.clone(), latencies.clone(), received.clone(), ready.clone());
            tokio::spawn(async move {
                let mut ws = ws_connect(&addr).await;
                let subs: Vec<usize> = (c * per..((c + 1) * per).min(subscribers)).collect();
                for i in &subs {
                    let (t, r, _) = &keys[i % keys.len()];
                    let msg = json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": doc, "variables": { "t": t, "r": r } } });
                    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
                }
                let mut first = subs.len();
                while let Some(Ok(m)) = ws.next().await {
                    let Message::Text(t) = m else { continue };
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    if v["type"] == "ping" {
                        // As graphql-ws clients do: the server closes a connection that does not answer.
                        let _ = ws.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                    }
                    if v["type"] != "next" {
                        continue;
                    }
                    if first > 0 {
                        first -= 1;
                        if first == 0 {
                            ready.fetch_add(subs.len() as u64, Relaxed);
                        }
                        continue;
                    }
                    received.fetch_add(1, Relaxed);
                    seen(&v["payload"]["data"]["live"], &committed, &latencies);
                }
            });
        }
        let t0 = Instant::now();
        while (ready.load(Relaxed) as usize) < subscribers {
            assert!(t0.elapsed() < Duration::from_secs(300), "only {} subscribers answered", ready.load(Relaxed));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "{subscribers} live subscribers over {groups} queries answered in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
    } else {
        // One read per group per second, spread over the second.
        let doc = format!("query($t: String!, $r: String!) {{ {SCREEN} }}");
        for g in 0..groups {
            let (keys, doc, addr, http) = (keys.clone(), doc.clone(), addr.to_string(), http.clone());
            let (committed, latencies, received) = (committed.clone(), latencies.clone(), received.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_micros((g as u64 * 1_000_000) / groups as u64)).await;
                let mut every = tokio::time::interval(Duration::from_secs(1));
                let mut last = Value::Null;
                let (t, r, _) = &keys[g];
                loop {
                    every.tick().await;
                    let body = json!({ "query": doc, "variables": { "t": t, "r": r } });
                    let Ok(resp) = http.post(format!("http://{addr}/graphql")).json(&body).send().await else {
                        continue;
                    };
                    let v: Value = resp.json().await.unwrap_or_default();
                    received.fetch_add(1, Relaxed);
                    if v["data"] != last {
                        seen(&v["data"], &committed, &latencies);
                        last = v["data"].clone();
                    }
                }
            });
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // The measured window: writes at a steady rate.
    let (stmt0, runs0) = (
        metric(http, addr, "quantgraph_sql_statements_total").await,
        metric(http, addr, "quantgraph_live_query_runs_total").await,
    );
    let (gw0, pg0) = (cpu_seconds(gw, false), cpu_seconds(pg, true));
    received.store(0, Relaxed);
    let t0 = Instant::now();
    let mut every = tokio::time::interval(Duration::from_micros(1_000_000 / writes.max(1)));
    let mut n = 0u64;
    let mut touched = std::collections::HashSet::new();
    let base = first_stamp();
    while t0.elapsed() < Duration::from_secs(seconds) {
        every.tick().await;
        let (t, r, last) = &keys[(n as usize * 7919) % groups];
        touched.insert((t.clone(), r.clone()));
        let stamp = base + n as i64;
        sqlx::query("UPDATE ohlcv_data SET volume = $1 WHERE ticker = $2 AND region = $3 AND date = $4::date")
            .bind(stamp)
            .bind(t)
            .bind(r)
            .bind(last)
            .execute(db)
            .await
            .unwrap();
        committed.lock().unwrap().insert(stamp, Instant::now());
        n += 1;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = t0.elapsed().as_secs_f64();
    let (gw1, pg1) = (cpu_seconds(gw, false), cpu_seconds(pg, true));
    let stmts = metric(http, addr, "quantgraph_sql_statements_total").await - stmt0;
    let runs = metric(http, addr, "quantgraph_live_query_runs_total").await - runs0;
    let mut l = latencies.lock().unwrap().clone();
    let subs_per_group = if mode == "live" { subscribers as f64 / groups as f64 } else { 1.0 };
    println!(
        "{mode}: {n} writes in {seconds} s ({} tickers), {} answers received; latency commit -> arrival p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} matched)",
        touched.len(),
        received.load(Relaxed),
        percentile(&mut l, 0.5),
        percentile(&mut l, 0.99),
        percentile(&mut l, 1.0),
        l.len()
    );
    println!(
        "{mode}: gateway SQL statements {stmts:.0} ({:.2} per write, {:.1}/s); live runs {runs:.0} ({:.2} per write; {subs_per_group:.0} subscribers per group); CPU over {window:.1} s: gateway {:.2} s ({:.0}% of a core), PostgreSQL {:.2} s ({:.0}%)",
        stmts / n as f64,
        stmts / window,
        runs / n as f64,
        gw1 - gw0,
        100.0 * (gw1 - gw0) / window,
        pg1 - pg0,
        100.0 * (pg1 - pg0) / window
    );
    std::process::exit(0);
}

async fn stream_mode(addr: &str, db: &sqlx::PgPool) {
    let subscribers: usize = arg("--subscribers", "1").parse().unwrap();
    let rows: u64 = arg("--rows", "100000").parse().unwrap();
    let per: usize = arg("--per-connection", "10").parse().unwrap();
    sqlx::query("DELETE FROM ohlcv_data WHERE ticker LIKE 'ZZB%'").execute(db).await.unwrap();
    let doc = "subscription($after: String) { ohlcvDataStream(after: $after, where: { ticker: { like: \"ZZB%\" } }, batchSize: 1000) { cursor changes { op row { ticker date close volume } } } }";
    let got = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let first_cursor: Arc<Mutex<Option<String>>> = Default::default();
    for c in 0..subscribers.div_ceil(per) {
        let (got, started, first_cursor, addr) = (got.clone(), started.clone(), first_cursor.clone(), addr.to_string());
        let n = per.min(subscribers - c * per);
        tokio::spawn(async move {
            let mut ws = ws_connect(&addr).await;
            for i in 0..n {
                let msg = json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": doc } });
                ws.send(Message::Text(msg.to_string().into())).await.unwrap();
            }
            while let Some(Ok(m)) = ws.next().await {
                let Message::Text(t) = m else { continue };
                // Counted, not parsed: a thousand subscribers' JSON would take the client's share
                // of the two cores from the gateway.
                let k = t.matches("\"op\":").count() as u64;
                if k == 0 {
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    if v["type"] == "ping" {
                        let _ = ws.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await;
                        continue;
                    }
                    let b = &v["payload"]["data"]["ohlcvDataStream"];
                    first_cursor.lock().unwrap().get_or_insert_with(|| b["cursor"].as_str().unwrap_or("").to_string());
                    started.fetch_add(1, Relaxed);
                }
                got.fetch_add(k, Relaxed);
            }
        });
    }
    let t0 = Instant::now();
    while (started.load(Relaxed) as usize) < subscribers {
        assert!(t0.elapsed() < Duration::from_secs(120), "only {} streams started", started.load(Relaxed));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!("{subscribers} stream subscriber(s) started in {:.2} s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    for b in 0..rows.div_ceil(1000) {
        sqlx::query(
            "INSERT INTO ohlcv_data (ticker, region, date, timeframe, open, high, low, close, volume) \
             SELECT 'ZZB' || (g % 100), 'US', date '2040-01-01' + (g / 100)::int, 'D', 1, 1, 1, 1, g \
             FROM generate_series($1::int8, $2::int8) g",
        )
        .bind((b * 1000) as i64)
        .bind(((b + 1) * 1000).min(rows) as i64 - 1)
        .execute(db)
        .await
        .unwrap();
    }
    let written = t0.elapsed().as_secs_f64();
    let want = rows * subscribers as u64;
    while got.load(Relaxed) < want {
        assert!(t0.elapsed() < Duration::from_secs(600), "stalled at {} of {want}", got.load(Relaxed));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all = t0.elapsed().as_secs_f64();
    println!(
        "stream: {rows} rows inserted in {written:.2} s (transactions of 1,000); {subscribers} subscriber(s) had every row after {all:.2} s: {:.0} rows/s each, {:.0} rows/s delivered in all",
        rows as f64 / all,
        want as f64 / all
    );
    // Resuming from the start: the whole backlog read back.
    let cursor = first_cursor.lock().unwrap().clone();
    let mut ws = ws_connect(addr).await;
    let t1 = Instant::now();
    let msg = json!({ "id": "r", "type": "subscribe", "payload": { "query": doc, "variables": { "after": cursor } } });
    ws.send(Message::Text(msg.to_string().into())).await.unwrap();
    let (mut n, mut first) = (0u64, None);
    while n < rows {
        let Some(Ok(Message::Text(t))) = ws.next().await else { continue };
        let v: Value = serde_json::from_str(&t).unwrap_or_default();
        n += v["payload"]["data"]["ohlcvDataStream"]["changes"].as_array().map_or(0, |c| c.len()) as u64;
        first.get_or_insert(t1.elapsed());
    }
    println!(
        "stream resume: first batch after {:.1} ms, the {rows}-row backlog in {:.2} s ({:.0} rows/s)",
        first.unwrap().as_secs_f64() * 1000.0,
        t1.elapsed().as_secs_f64(),
        rows as f64 / t1.elapsed().as_secs_f64()
    );
    std::process::exit(0);
}
