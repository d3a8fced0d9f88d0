//! Subscriptions over plain HTTP: GraphQL over Server-Sent Events (graphql-sse, distinct
//! connections) and Apollo's multipart subscriptions, with the clients apps use, the same
//! events as over a WebSocket, and the same auth and limits.
use crate::common::*;
use crate::live_queries::{clients_follow_a_live_query, ingest};
use quantgraph::auth::Role;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const LIVE: &str = "subscription($t: String!) { live { ohlcvData(where: { ticker: { eq: $t } }, orderBy: [{ date: DESC }], first: 1) { nodes { date close } } } }";

/// An open HTTP event stream: its response, and the text read so far.
struct Events {
    resp: reqwest::Response,
    text: String,
}

impl Events {
    async fn open(app: &TestApp, accept: &str, auth: Option<&str>, query: &str, vars: Value) -> Events {
        let mut req =
            app.http.post(&app.url).header("Accept", accept).json(&json!({ "query": query, "variables": vars }));
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        let resp = req.send().await.expect("the stream opens");
        assert_eq!(resp.status(), 200);
        Events { resp, text: String::new() }
    }

    fn content_type(&self) -> String {
        self.resp.headers()["content-type"].to_str().unwrap().to_string()
    }

    /// Reads until `sep` has arrived `n` times in all (or the stream ends, or `T` passes).
    async fn until(&mut self, sep: &str, n: usize) -> &str {
        let deadline = tokio::time::Instant::now() + T;
        while self.text.matches(sep).count() < n {
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(c))) => self.text.push_str(&String::from_utf8_lossy(&c)),
                _ => break,
            }
        }
        &self.text
    }
}

/// The `data:` of each `event: next` in an SSE text, parsed, and whether `complete` followed.
fn sse_events(text: &str) -> (Vec<Value>, bool) {
    let mut next = Vec::new();
    let mut complete = false;
    for block in text.split("\n\n") {
        let event = block.lines().find_map(|l| l.strip_prefix("event:")).map(str::trim);
        let data: String = block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
        match event {
            Some("next") => next.push(serde_json::from_str(&data).unwrap()),
            Some("complete") => complete = true,
            _ => {}
        }
    }
    (next, complete)
}

#[tokio::test]
async fn sse_and_multipart_carry_the_websocket_events_under_the_same_rules() {
    let app = spawn(Backend::Sqlite).await;
    let analyst = token(&app, Role::Analyst);
    ingest(&app, "SSE", "2030-01-02", "5.5").await;
    let vars = json!({ "t": "SSE" });
    // The WebSocket's first event, for comparison.
    let mut ws = Ws::connect(&app, Some(&analyst), false).await;
    ws.subscribe("1", LIVE, vars.clone()).await;
    let over_ws = ws.next_data(T).await.expect("a WebSocket event");
    assert_eq!(over_ws["data"]["live"]["ohlcvData"]["nodes"][0]["close"], "5.5000", "{over_ws}");

    let mut sse = Events::open(&app, "text/event-stream", Some(&analyst), LIVE, vars.clone()).await;
    assert!(sse.content_type().starts_with("text/event-stream"), "{}", sse.content_type());
    let (events, _) = sse_events(sse.until("event: next", 1).await);
    assert_eq!(events, vec![over_ws.clone()], "SSE's first event is the WebSocket's");

    let mut mp = Events::open(
        &app,
        "multipart/mixed;subscriptionSpec=\"1.0\", application/json",
        Some(&analyst),
        LIVE,
        vars.clone(),
    )
    .await;
    assert!(mp.content_type().starts_with("multipart/mixed"), "{}", mp.content_type());
    assert!(mp.content_type().contains("boundary=\"graphql\""), "{}", mp.content_type());
    let text = mp.until("\"payload\"", 1).await.to_string();
    let part = text.split("\r\n\r\n").nth(1).expect("a part after its headers");
    let part: Value = serde_json::from_str(part.split("\r\n--graphql").next().unwrap()).unwrap();
    assert_eq!(part, json!({ "payload": over_ws }), "a multipart part carries the WebSocket's event as `payload`");

    // A write reaches all three.
    ingest(&app, "SSE", "2030-01-03", "6.25").await;
    let next = ws.next_data(T).await.expect("the next WebSocket event");
    assert_eq!(next["data"]["live"]["ohlcvData"]["nodes"][0]["close"], "6.2500", "{next}");
    let (events, complete) = sse_events(sse.until("event: next", 2).await);
    assert_eq!(events, vec![over_ws, next.clone()]);
    assert!(!complete, "a live query's stream stays open");
    assert!(mp.until("\"payload\"", 2).await.contains(&serde_json::to_string(&json!({ "payload": next })).unwrap()));

    // A query answers once and completes; a document that fails validation is an event too,
    // with its code and no data, and then completes.
    let mut once =
        Events::open(&app, "text/event-stream", None, "{ tickers(first: 1) { totalCount } }", json!({})).await;
    let (events, complete) = sse_events(once.until("event: complete", 1).await);
    assert!(complete, "{}", once.text);
    assert_eq!(events.len(), 1);
    assert!(events[0]["data"]["tickers"]["totalCount"].as_str().is_some_and(|n| n != "0"), "{events:?}");
    let mut invalid = Events::open(&app, "text/event-stream", None, "subscription { nope }", json!({})).await;
    let (events, complete) = sse_events(invalid.until("event: complete", 1).await);
    assert!(complete);
    assert_eq!(events.len(), 1, "{}", invalid.text);
    assert!(events[0].get("data").is_none_or(Value::is_null), "{events:?}");
    assert_eq!(events[0]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{events:?}");
    assert!(events[0]["errors"][0]["message"].as_str().unwrap().contains("nope"), "{events:?}");
    // A bad token is refused as over HTTP, in an event.
    let mut bad = Events::open(&app, "text/event-stream", Some("Bearer nope"), LIVE, vars.clone()).await;
    let (events, _) = sse_events(bad.until("event: complete", 1).await);
    assert_eq!(events[0]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{events:?}");
    // A mutation over an event stream writes when POSTed; from a URL (GET reads only) it is
    // refused and writes nothing.
    let admin = token(&app, Role::Admin);
    let create = |name: &str| format!("mutation {{ createStrategy(input: {{ name: \"{name}\" }}) {{ name }} }}");
    let mut posted = Events::open(&app, "text/event-stream", Some(&admin), &create("via-post"), json!({})).await;
    let (events, complete) = sse_events(posted.until("event: complete", 1).await);
    assert!(complete);
    assert_eq!(events, vec![json!({ "data": { "createStrategy": { "name": "via-post" } } })]);
    let resp = app
        .http
        .get(format!("{}?query={}", app.url, urlencode(&create("via-get"))))
        .header("Accept", "text/event-stream")
        .header("Authorization", &admin)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    let (events, _) = sse_events(&text);
    assert!(events[0]["errors"][0]["message"].as_str().unwrap().contains("GET"), "{text}");
    let count = "{ strategies(where: { name: { like: \"via-%\" } }) { nodes { name } } }";
    let names = as_role(&app, &admin, count, json!({})).await;
    assert_eq!(names["data"]["strategies"]["nodes"], json!([{ "name": "via-post" }]), "{names}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An event stream counts as a connection of its token, as a WebSocket does.
#[tokio::test]
async fn event_streams_count_against_the_connection_allowance() {
    let app = spawn_with(Backend::Sqlite, false, |c| c.max_connections_per_token = 1).await;
    let analyst = token(&app, Role::Analyst);
    let mut first = Events::open(&app, "text/event-stream", Some(&analyst), LIVE, json!({ "t": "LIM" })).await;
    let (events, _) = sse_events(first.until("event: next", 1).await);
    assert!(events[0]["errors"].is_null(), "the first stream is served: {events:?}");
    let mut second = Events::open(&app, "text/event-stream", Some(&analyst), LIVE, json!({ "t": "LIM" })).await;
    let (events, complete) = sse_events(second.until("event: complete", 1).await);
    assert_eq!(events[0]["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{events:?}");
    assert!(complete);
    // A WebSocket of that token is refused too; once the stream is closed, one is accepted.
    let (_, reply) = Ws::init(&app, "/graphql/ws", Some(&analyst), false).await;
    assert_eq!(reply["type"], "close", "{reply}");
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, reply) = Ws::init(&app, "/graphql/ws", Some(&analyst), false).await;
    assert_eq!(reply["type"], "connection_ack", "{reply}");
}

/// graphql-sse's client and Apollo Client's HttpLink, as apps use them, each get the live
/// query's first answer and the next one after a write.
#[tokio::test]
async fn graphql_sse_and_apollo_http_link_subscribe_unchanged() {
    let app = spawn(Backend::Sqlite).await;
    let analyst = token(&app, Role::Analyst);
    let raw = analyst.trim_start_matches("Bearer ");
    let args = ["http_subscriptions.mjs", &app.url, "HTS", raw];
    clients_follow_a_live_query(&app, "HTS", &args, &["sse", "multipart"]).await;
}
