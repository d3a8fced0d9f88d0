//! A fuzzer over the WebSocket endpoint, driven by proptest: sessions of generated messages
//! (both protocols, every message type, ids of every JSON type, payloads of every JSON shape,
//! subscription documents mangled with hostile tokens, variables of every shape) mixed with
//! garbage text, garbage bytes, pings and 40,000-deep nesting, sent to the real binary. Every
//! message the gateway sends back must be protocol JSON; no error may be `INTERNAL` or show SQL;
//! no connection may be closed as an internal error; the gateway must keep serving, log no
//! panic, and its memory must come back to where it was after the warm-up.
//! `QG_FUZZ_WS_SESSIONS` sets the count (tests/run.sh: 3,000; more by hand), `QG_FUZZ_SEED`
//! the seed; a failure is shrunk to a smallest failing session and printed.
use crate::common::{leaks_sql, Binary};
use crate::fuzz::TOKENS;
use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const DOCS: [&str; 12] = [
    "subscription { candles(symbols: [\"HPG\"]) { bucket close seq closed } }",
    "subscription($s: [String!]!) { candles(symbols: $s, interval: M5, since: \"2025-01-01T00:00:00Z\") { close } }",
    "subscription { ohlcvBars(tickers: [{ ticker: \"HPG\", region: \"VN\" }], interval: WEEK) { bucket close } }",
    "subscription($t: [TickerKey!]!, $d: Date) { ohlcvBars(tickers: $t, since: $d) { seq } }",
    "subscription { workflowExecution { status } }",
    "subscription { pendingWorkflowExecutions { rowId } }",
    "subscription { marketSnapshot(marketType: \"KR\") { __typename } }",
    "subscription { a: candles(symbols: [\"A\"]) { close } b: candles(symbols: [\"B\"]) { ...C } } fragment C on CandleBucket { open }",
    "subscription { ...F } fragment F on Subscription { ...F }",
    "query { tickers(first: 2) { nodes { ticker } } }",
    "mutation { deleteUser(rowId: \"00000000-0000-0000-0000-000000000000\") }",
    "subscription { candles(symbols: []) { close } }",
];

/// What a graphql-transport-ws or graphql-ws server may send.
const TYPES: [&str; 10] = [
    "connection_ack",
    "next",
    "data",
    "error",
    "complete",
    "ping",
    "pong",
    "ka",
    "connection_error",
    "connection_keep_alive",
];

#[derive(Debug, Clone)]
enum Frame {
    Message(Value),
    Text(String),
    Binary(Vec<u8>),
    Ping,
}

#[derive(Debug, Clone)]
struct Session {
    legacy: bool,
    init: Option<Value>,
    frames: Vec<Frame>,
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z_$]{1,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One of `DOCS`, with up to three hostile tokens put in anywhere.
fn document() -> impl Strategy<Value = String> {
    (0..DOCS.len(), prop::collection::vec((any::<prop::sample::Index>(), 0..TOKENS.len()), 0..3)).prop_map(
        |(d, edits)| {
            let mut s = DOCS[d].to_string();
            for (at, t) in edits {
                let mut i = at.index(s.len() + 1);
                while !s.is_char_boundary(i) {
                    i -= 1;
                }
                s.insert_str(i, TOKENS[t]);
            }
            s
        },
    )
}

fn message() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(vec![
        "connection_init",
        "subscribe",
        "start",
        "complete",
        "stop",
        "ping",
        "pong",
        "connection_terminate",
        "next",
        "bogus",
    ]);
    let id = prop_oneof![
        Just(json!("1")),
        Just(json!("2")),
        any::<i64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::Null),
    ];
    let vars = prop_oneof![
        Just(json!({ "s": ["HPG"], "t": [{ "ticker": "HPG", "region": "VN" }], "d": "2025-01-01" })),
        any_json(),
    ];
    let payload = prop_oneof![
        3 => (document(), prop::option::of(vars), prop::option::of(".{0,8}"))
            .prop_map(|(q, v, op)| json!({ "query": q, "variables": v, "operationName": op })),
        1 => any_json(),
    ];
    (kind, id, payload, 0..5u8).prop_map(|(k, id, p, shape)| match shape {
        0 => json!({ "type": k, "payload": p }),
        1 => json!({ "type": k, "id": id }),
        _ => json!({ "type": k, "id": id, "payload": p }),
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        12 => message().prop_map(Frame::Message),
        2 => ".{0,64}".prop_map(Frame::Text),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Frame::Binary),
        1 => Just(Frame::Ping),
        1 => (1usize..40_000).prop_map(|n| Frame::Text("[".repeat(n))),
    ]
}

fn session() -> impl Strategy<Value = Session> {
    let init = prop::option::weighted(0.9, prop_oneof![3 => Just(json!({})), 1 => any_json()]);
    (any::<bool>(), init, prop::collection::vec(frame(), 1..8)).prop_map(|(legacy, init, frames)| Session {
        legacy,
        init,
        frames,
    })
}

/// The problem with one message the gateway sent, if any.
fn fault(msg: &Message) -> Option<String> {
    match msg {
        Message::Text(t) => {
            let Ok(v) = serde_json::from_str::<Value>(t) else { return Some(format!("not JSON: {t}")) };
            let ty = v["type"].as_str().unwrap_or_default();
            if !TYPES.contains(&ty) {
                return Some(format!("unknown message type: {t}"));
            }
            let errors = match &v["payload"] {
                Value::Array(e) => e.clone(),
                p => p["errors"].as_array().cloned().unwrap_or_default(),
            };
            for e in errors {
                if e["extensions"]["code"] == "INTERNAL" {
                    return Some(format!("INTERNAL: {t}"));
                }
                if leaks_sql(e["message"].as_str().unwrap_or_default()) {
                    return Some(format!("SQL text: {t}"));
                }
            }
            None
        }
        Message::Close(Some(f)) if matches!(u16::from(f.code), 1011 | 4500) => {
            Some(format!("closed as a fault: {f:?}"))
        }
        Message::Binary(b) => Some(format!("binary message from the server: {b:?}")),
        _ => None,
    }
}

/// Plays `s` against the gateway at `addr`: the number of frames sent, or what went wrong.
async fn play(addr: &str, s: &Session) -> Result<usize, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
    let proto = if s.legacy { "graphql-ws" } else { "graphql-transport-ws" };
    req.headers_mut().insert("Sec-WebSocket-Protocol", proto.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| format!("cannot connect: {e}"))?;
    let mut sent = 0;
    let init = s.init.as_ref().map(|p| Frame::Message(json!({ "type": "connection_init", "payload": p })));
    for f in init.iter().chain(&s.frames) {
        let m = match f {
            Frame::Message(v) => Message::Text(v.to_string().into()),
            Frame::Text(t) => Message::Text(t.clone().into()),
            Frame::Binary(b) => Message::Binary(b.clone().into()),
            Frame::Ping => Message::Ping(Vec::new().into()),
        };
        if ws.send(m).await.is_err() {
            break; // closed by the gateway: what it said is read below
        }
        sent += 1;
    }
    // graphql-transport-ws answers a ping in order: once its pong (or a close) arrives, everything
    // the gateway said about the frames before it has been read and checked. The legacy protocol
    // has no ping: its answers are read until the gateway is quiet for a moment or closes.
    let probe = !s.legacy && ws.send(Message::Text(json!({ "type": "ping" }).to_string().into())).await.is_ok();
    let quiet = if probe { Duration::from_secs(5) } else { Duration::from_millis(30) };
    loop {
        match tokio::time::timeout(quiet, ws.next()).await {
            Ok(Some(Ok(msg))) => {
                if let Some(f) = fault(&msg) {
                    return Err(f);
                }
                let pong = matches!(&msg, Message::Text(t) if t.contains("\"pong\""));
                if pong || matches!(msg, Message::Close(_)) {
                    break;
                }
            }
            Ok(_) => break, // the connection ended
            Err(_) if probe => return Err("neither a pong nor a close within 5 s of a ping".into()),
            Err(_) => break,
        }
    }
    let _ = ws.close(None).await;
    Ok(sent)
}

#[test]
fn fuzzed_websocket_sessions_get_protocol_answers_and_memory_returns() {
    let sessions: u32 = std::env::var("QG_FUZZ_WS_SESSIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    // A fresh seed each run, printed so that a failure can be replayed.
    let seed: u64 = std::env::var("QG_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
    });
    eprintln!("WebSocket fuzzer: seed {seed} (replay with QG_FUZZ_SEED={seed})");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let gw = rt.block_on(Binary::start(&[("QUANTGRAPH_MAX_CONNECTIONS_PER_TOKEN", "100000")]));
    let addr = gw.url.trim_start_matches("http://").trim_end_matches("/graphql").to_string();
    let mut config = Config::with_cases(sessions);
    config.failure_persistence = None;
    config.max_shrink_iters = 500;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let (played, frames, baseline) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicU64::new(0));
    let warm_up = sessions as usize / 10;
    let outcome = runner.run(&session(), |s| {
        if played.fetch_add(1, Ordering::Relaxed) == warm_up {
            baseline.store(gw.rss_kib(), Ordering::Relaxed);
        }
        let n = rt.block_on(play(&addr, &s)).map_err(TestCaseError::fail)?;
        frames.fetch_add(n, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("seed {seed}: {e}");
    }
    // Connections closed, subscriptions ended: memory back where it was after the warm-up.
    std::thread::sleep(Duration::from_secs(2));
    let (before, after) = (baseline.load(Ordering::Relaxed), gw.rss_kib());
    let (played, frames) = (played.into_inner(), frames.into_inner());
    eprintln!("{played} WebSocket sessions, {frames} frames; gateway RSS {before} KiB after the warm-up, {after} KiB at the end");
    assert!(frames >= played, "{frames} frames in {played} sessions");
    assert!(after <= before + before / 4 + 8 * 1024, "memory grew from {before} to {after} KiB");
    let logs = gw.logs.lock().unwrap().join("\n");
    assert!(!logs.contains("panicked"), "the gateway panicked:\n{logs}");
    // Still serving.
    let ok = rt.block_on(async {
        reqwest::Client::new()
            .post(&gw.url)
            .json(&json!({ "query": "{ tickers(first: 1) { nodes { ticker } } }" }))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    });
    assert_eq!(ok["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(1), "{ok}");
}
