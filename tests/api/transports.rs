//! One answer on every path: the same document answers the same `data` and `errors` over HTTP
//! POST, HTTP GET, graphql-transport-ws and the legacy graphql-ws protocol, and a field that
//! fails is `null` at its key (or nulls its nearest nullable parent) with its error's `path`.
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A caller: an `Authorization` value (`Bearer …`, or none) and a `Time-Zone` (or the default).
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub token: Option<&'a str>,
    pub tz: Option<&'a str>,
}

pub const ANONYMOUS: Caller<'static> = Caller { token: None, tz: None };

fn headers<'a>(c: &'a Caller<'a>, bearer: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut h = Vec::new();
    if c.token.is_some() {
        h.push(("Authorization", bearer));
    }
    if let Some(tz) = c.tz {
        h.push(("Time-Zone", tz));
    }
    h
}

/// The answer over POST: (status, body text).
pub async fn over_post(app: &TestApp, c: Caller<'_>, q: &str, vars: &Value) -> (u16, String) {
    let bearer = c.token.unwrap_or_default().to_string();
    let mut req = app.http.post(&app.url).json(&json!({ "query": q, "variables": vars }));
    for (k, v) in headers(&c, &bearer) {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("POST answers");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The answers to the operation sent twice in one batched POST: (status, body text).
pub async fn over_batch(app: &TestApp, c: Caller<'_>, q: &str, vars: &Value) -> (u16, String) {
    let bearer = c.token.unwrap_or_default().to_string();
    let op = json!({ "query": q, "variables": vars });
    let mut req = app.http.post(&app.url).json(&json!([op, op]));
    for (k, v) in headers(&c, &bearer) {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("a batch answers");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The `data:` of the one `next` event of the operation over Server-Sent Events.
pub async fn over_sse(app: &TestApp, c: Caller<'_>, q: &str, vars: &Value) -> String {
    let bearer = c.token.unwrap_or_default().to_string();
    let mut req =
        app.http.post(&app.url).header("Accept", "text/event-stream").json(&json!({ "query": q, "variables": vars }));
    for (k, v) in headers(&c, &bearer) {
        req = req.header(k, v);
    }
    let text = req.send().await.expect("an event stream").text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|b| b.starts_with("event: next")).collect();
    assert_eq!(events.len(), 1, "one result, then complete: {text}");
    assert!(text.contains("event: complete"), "{text}");
    events[0].lines().filter_map(|l| l.strip_prefix("data: ")).collect()
}

/// The answer over GET: (status, body text).
pub async fn over_get(app: &TestApp, c: Caller<'_>, q: &str, vars: &Value) -> (u16, String) {
    let bearer = c.token.unwrap_or_default().to_string();
    let mut req = app.http.get(&app.url).query(&[("query", q), ("variables", &vars.to_string())]);
    for (k, v) in headers(&c, &bearer) {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("GET answers");
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The single result of an operation sent over a WebSocket (`legacy`: the graphql-ws protocol),
/// as `{data, errors}`, or the `error` message's payload wrapped as `{"errors": …}`.
pub async fn over_ws(app: &TestApp, c: Caller<'_>, q: &str, vars: &Value, legacy: bool) -> Value {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/graphql/ws", app.app.addr).into_client_request().unwrap();
    let proto = if legacy { "graphql-ws" } else { "graphql-transport-ws" };
    req.headers_mut().insert("Sec-WebSocket-Protocol", proto.parse().unwrap());
    let (stream, _) = tokio_tungstenite::connect_async(req).await.expect("WebSocket connects");
    let mut ws = WsPeer { stream };
    let mut payload = json!({});
    if let Some(t) = c.token {
        payload["Authorization"] = json!(t);
    }
    if let Some(tz) = c.tz {
        payload["Time-Zone"] = json!(tz);
    }
    ws.send(json!({ "type": "connection_init", "payload": payload })).await;
    let ack = ws.recv().await.expect("connection_ack");
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let ty = if legacy { "start" } else { "subscribe" };
    ws.send(json!({ "id": "q", "type": ty, "payload": { "query": q, "variables": vars } })).await;
    let first = ws.recv().await.expect("an answer over the WebSocket");
    let result = match first["type"].as_str() {
        Some("next") | Some("data") => first["payload"].clone(),
        Some("error") => json!({ "errors": first["payload"] }),
        _ => panic!("unexpected message {first}"),
    };
    if first["type"] != "error" {
        let done = ws.recv().await.expect("complete");
        assert_eq!(done["type"], "complete", "one answer, then complete: {done}");
    }
    result
}

struct WsPeer {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl WsPeer {
    async fn send(&mut self, v: Value) {
        use futures_util::SinkExt;
        self.stream.send(tokio_tungstenite::tungstenite::Message::Text(v.to_string().into())).await.unwrap();
    }

    async fn recv(&mut self) -> Option<Value> {
        use futures_util::StreamExt;
        loop {
            let msg = tokio::time::timeout(T, self.stream.next()).await.ok()??.ok()?;
            if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                let v: Value = serde_json::from_str(&t).unwrap();
                if !matches!(v["type"].as_str(), Some("ka") | Some("ping") | Some("pong")) {
                    return Some(v);
                }
            }
        }
    }
}

/// The answer of `q` over all four transports, checked to be one answer; returns it.
pub async fn one_answer(app: &TestApp, c: Caller<'_>, q: &str, vars: &Value) -> Value {
    let (status, post) = over_post(app, c, q, vars).await;
    assert_eq!(status, 200, "{post}");
    let (status, get) = over_get(app, c, q, vars).await;
    assert_eq!(status, 200, "{get}");
    assert_eq!(post, get, "POST and GET give the same bytes for {q}");
    let (status, batch) = over_batch(app, c, q, vars).await;
    assert_eq!(status, 200, "{batch}");
    assert_eq!(batch, format!("[{post},{post}]"), "a batch holds the same bytes for {q}");
    assert_eq!(over_sse(app, c, q, vars).await, post, "Server-Sent Events carry the same bytes for {q}");
    let post: Value = serde_json::from_str(&post).unwrap();
    for legacy in [false, true] {
        let ws = over_ws(app, c, q, vars, legacy).await;
        assert_eq!(
            ws,
            post,
            "{} answers as HTTP does for {q}",
            if legacy { "graphql-ws" } else { "graphql-transport-ws" }
        );
    }
    post
}

fn paths(v: &Value) -> Vec<String> {
    v["errors"].as_array().map(|e| e.iter().map(|e| e["path"].to_string()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn queries_over_every_transport_answer_alike() {
    for backend in backends() {
        let app = spawn(backend).await;
        let analyst = token(&app, Role::Analyst);
        let vars = json!({ "r": "KR" });
        // Relations at two levels, aliases, a fragment, @skip, a variable.
        let q = r#"query Screen($r: String!) { tickers(first: 2, where: { region: { eq: $r } }) { nodes { ...T
              stockDetails { sector } bars: ohlcv(last: 2) { nodes { date close } } skipped: name @skip(if: true) } } }
              fragment T on Ticker { ticker name }"#;
        let d = one_answer(&app, ANONYMOUS, q, &vars).await;
        let nodes = d["data"]["tickers"]["nodes"].as_array().unwrap_or_else(|| panic!("{backend:?}: {d}"));
        assert_eq!(nodes.len(), 2, "{backend:?}: {d}");
        for n in nodes {
            assert!(n["stockDetails"].is_object() || n["stockDetails"].is_null(), "{backend:?}: {n}");
            assert_eq!(
                n["bars"]["nodes"].as_array().map(Vec::len),
                Some(2),
                "{backend:?}: relations over every transport: {n}"
            );
            assert!(n.get("skipped").is_none(), "{backend:?}: {n}");
        }
        assert!(nodes.iter().any(|n| n["stockDetails"]["sector"].is_string()), "{backend:?}: {d}");
        assert!(d.get("errors").is_none(), "{backend:?}: {d}");
        // The caller's role and zone reach the WebSocket too.
        let c = Caller { token: Some(&analyst), tz: Some("Asia/Seoul") };
        let q =
            "{ strategies(first: 2) { nodes { name createdAt backtestResults(first: 1) { nodes { sharpeRatio } } } } }";
        let d = one_answer(&app, c, q, &json!({})).await;
        let s = d["data"]["strategies"]["nodes"].as_array().unwrap_or_else(|| panic!("{backend:?}: {d}"));
        assert!(!s.is_empty(), "{backend:?}: {d}");
        assert!(s.iter().all(|s| s["createdAt"].as_str().unwrap().ends_with("+09:00")), "{backend:?}: {d}");
        // A mutation over the socket is the HTTP one too (a refused one, so nothing is written).
        let m = r#"mutation { createTradingHoliday(input: { region: "KR", date: "2030-01-01", name: "x" }) { name } }"#;
        let ws = over_ws(&app, ANONYMOUS, m, &json!({}), false).await;
        let (_, post) = over_post(&app, ANONYMOUS, m, &json!({})).await;
        assert_eq!(ws, serde_json::from_str::<Value>(&post).unwrap(), "{backend:?}");
        assert!(code(&ws).is_some(), "{backend:?}: {ws}");
    }
}

#[tokio::test]
async fn a_failed_field_is_null_at_its_key_with_its_path() {
    for backend in backends() {
        let app = spawn(backend).await;
        // A nullable root: only its key is null.
        let q =
            r#"{ a: ticker(ticker: "005930", region: "KR") { name } b: ticker(ticker: "X", region: "ZZ") { name } }"#;
        let d = one_answer(&app, ANONYMOUS, q, &json!({})).await;
        assert_eq!(d["data"]["a"]["name"], "Samsung Electronics", "{backend:?}: {d}");
        assert!(d["data"].as_object().unwrap().contains_key("b") && d["data"]["b"].is_null(), "{backend:?}: {d}");
        assert_eq!(paths(&d), vec![r#"["b"]"#], "{backend:?}: {d}");
        assert_eq!(code(&d), Some("BAD_USER_INPUT"), "{backend:?}: {d}");
        assert_eq!(d["errors"][0]["locations"], json!([{ "line": 1, "column": 54 }]), "{backend:?}: {d}");
        // A non-null root that fails nulls `data`, as the specification says.
        let q = "{ tickers(first: 1) { nodes { ticker } } strategies(first: 1) { nodes { name } } }";
        let d = one_answer(&app, ANONYMOUS, q, &json!({})).await;
        assert!(d["data"].is_null(), "{backend:?}: {d}");
        assert_eq!(paths(&d), vec![r#"["strategies"]"#], "{backend:?}: {d}");
        assert_eq!(code(&d), Some("UNAUTHENTICATED"), "{backend:?}: {d}");
        // A nested failure under a nullable parent nulls that parent only, one error per row.
        let q = r#"{ t: ticker(ticker: "005930", region: "KR") { name ohlcv(timeframe: "X") { nodes { close } } }
                     u: ticker(ticker: "000660", region: "KR") { name } }"#;
        let d = one_answer(&app, ANONYMOUS, q, &json!({})).await;
        assert!(d["data"]["t"].is_null(), "{backend:?}: {d}");
        assert_eq!(d["data"]["u"]["name"], "SK hynix", "{backend:?}: {d}");
        assert_eq!(paths(&d), vec![r#"["t","ohlcv"]"#], "{backend:?}: {d}");
        assert!(d["errors"][0]["message"].as_str().unwrap().contains("timeframe"), "{backend:?}: {d}");
        // Under a list of non-null items the null climbs to `data`; every row's error has its index.
        let q = r#"{ tickers(first: 2) { nodes { ticker ohlcv(timeframe: "X") { nodes { close } } } } }"#;
        let d = one_answer(&app, ANONYMOUS, q, &json!({})).await;
        assert!(d["data"].is_null(), "{backend:?}: {d}");
        assert_eq!(
            paths(&d),
            vec![r#"["tickers","nodes",0,"ohlcv"]"#, r#"["tickers","nodes",1,"ohlcv"]"#],
            "{backend:?}: {d}"
        );
        // Beside introspection too: a field repeated under one key with two selections is one
        // merged field, and a failed field is null at its key with its path (these documents
        // once ran as written, the merge then depending on which occurrence finished last).
        let q = r#"{ k: tickers(first: 1) { totalCount } k: tickers(first: 1) { nodes { ticker } }
                     b: ticker(ticker: "X", region: "ZZ") { name } __type(name: "Ticker") { name ...Kind } }
                   fragment Kind on __Type { kind }"#;
        for _ in 0..5 {
            let d = one_answer(&app, ANONYMOUS, q, &json!({})).await;
            assert!(d["data"]["k"]["totalCount"].is_string(), "{backend:?}: {d}");
            assert_eq!(d["data"]["k"]["nodes"].as_array().map(Vec::len), Some(1), "{backend:?}: {d}");
            assert!(d["data"].as_object().unwrap().contains_key("b") && d["data"]["b"].is_null(), "{backend:?}: {d}");
            assert_eq!(paths(&d), vec![r#"["b"]"#], "{backend:?}: {d}");
            assert_eq!(d["data"]["__type"], json!({ "name": "Ticker", "kind": "OBJECT" }), "{backend:?}: {d}");
        }
    }
}

#[tokio::test]
async fn a_subscription_renders_its_relations_as_a_query_does() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (auth, _) = register(&app, "ws-rel@example.com").await;
        let user = auth.trim_start_matches("Bearer ").to_string();
        let w = app
            .gql_with(
                r#"mutation { createWorkflow(input: { name: "rel", jsonGraph: { nodes: [], edges: [] } }) { rowId } }"#,
                json!({}),
                &[("Authorization", &auth)],
            )
            .await;
        let wid = w["data"]["createWorkflow"]["rowId"].as_str().unwrap_or_else(|| panic!("{w}")).to_string();
        for legacy in [false, true] {
            let mut ws = Ws::connect(&app, Some(&user), legacy).await;
            ws.subscribe(
                "1",
                "subscription { workflowExecution { ...E wf: workflow { name } } } fragment E on WorkflowExecutionLog { rowId status }",
                json!({}),
            )
            .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let run = app
                .gql_with(
                    "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }",
                    json!({ "id": wid }),
                    &[("Authorization", &auth)],
                )
                .await;
            let id = run["data"]["runWorkflow"]["rowId"].as_str().unwrap_or_else(|| panic!("{run}")).to_string();
            let got = ws.next_data(T).await.expect("an event");
            assert!(got.get("errors").is_none(), "{backend:?} legacy={legacy}: {got}");
            let e = &got["data"]["workflowExecution"];
            assert_eq!(e["rowId"], id.as_str(), "{backend:?}: {got}");
            assert_eq!(e["wf"]["name"], "rel", "{backend:?} legacy={legacy}: the relation is read: {got}");
            // The same row read by a query renders the same selection.
            let q = format!(r#"{{ workflowExecutionLog(rowId: "{id}") {{ rowId status wf: workflow {{ name }} }} }}"#);
            let read = app.gql_with(&q, json!({}), &[("Authorization", &auth)]).await;
            assert_eq!(read["data"]["workflowExecutionLog"], *e, "{backend:?}: {read}");
        }
    }
}
