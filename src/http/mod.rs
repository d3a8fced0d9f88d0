//! The HTTP face: `/graphql` (POST, GET and the playground), health, readiness and metrics.
use crate::auth::Viewer;
use crate::config::Config;
use crate::error::ApiError;
use crate::graphql::context::RequestTz;
use crate::graphql::pipeline::{Answer, Pipeline};
use crate::graphql::scalars::parse_tz;
use crate::telemetry::METRICS;
use crate::AppState;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::Request;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use transport::{Media, Posted};

type Limiter = governor::DefaultKeyedRateLimiter<String>;

struct Shared {
    pipeline: Arc<Pipeline>,
    /// Open WebSocket connections per token (or client address).
    sockets: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    max_sockets: usize,
    max_subscriptions: usize,
    /// Most operations in one batched POST.
    max_batch: usize,
    /// How often a WebSocket is pinged (`heartbeat`).
    keepalive: std::time::Duration,
    /// Live subscriptions of the whole process, and how many it may hold.
    subscriptions: Arc<AtomicUsize>,
    max_process_subscriptions: usize,
    limiter: Option<Limiter>,
    state: AppState,
    /// Becomes true when the server shuts down.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
    requests: AtomicU64,
    introspection: bool,
    trusted_proxies: Vec<ipnet::IpNet>,
}

/// An open connection (a WebSocket, an event stream) counted against its token's allowance,
/// given back when dropped.
struct Counted {
    shared: Arc<Shared>,
    key: String,
}

impl Shared {
    /// Counts a connection of `key` (a token, or a client address), unless it holds its
    /// allowance already.
    fn count(self: &Arc<Self>, key: String) -> Option<Counted> {
        let mut sockets = self.sockets.lock().expect("socket counts");
        let n = sockets.entry(key.clone()).or_insert(0);
        if *n >= self.max_sockets {
            return None;
        }
        *n += 1;
        Some(Counted { shared: self.clone(), key })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut sockets = self.shared.sockets.lock().expect("socket counts");
        if let Some(n) = sockets.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                sockets.remove(&self.key);
            }
        }
    }
}

/// The router of a gateway with `state` and its request `pipeline`, and the switch that tells
/// open WebSockets the server is closing.
pub fn router(
    config: &Config,
    state: AppState,
    pipeline: Pipeline,
) -> anyhow::Result<(Router, Arc<tokio::sync::watch::Sender<bool>>)> {
    let limiter = std::num::NonZeroU32::new(config.rate_limit)
        .map(|n| governor::RateLimiter::keyed(governor::Quota::per_minute(n)));
    let trusted_proxies = client::parse_proxies(config.trusted_proxies.as_deref())?;
    let shared = Arc::new(Shared {
        pipeline: Arc::new(pipeline),
        closing: Arc::new(tokio::sync::watch::channel(false).0),
        sockets: Default::default(),
        max_sockets: config.max_connections_per_token,
        max_subscriptions: config.max_subscriptions_per_connection,
        keepalive: std::time::Duration::from_secs(config.ws_ping_secs.max(1)),
        max_batch: config.max_batch.max(1),
        subscriptions: Default::default(),
        max_process_subscriptions: config.max_subscriptions,
        limiter,
        state,
        requests: AtomicU64::new(0),
        introspection: config.introspection,
        trusted_proxies,
    });
    prune_limiter(Arc::downgrade(&shared));
    let mut router = Router::new();
    if config.introspection {
        router = router.route(assets::ROUTE, get(assets::serve)).route("/chart", get(|| async { chart::page() }));
    }
    let router = router
        .route("/graphql", get(graphql_get_or_ws).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // One body limit, the configured one (axum's own default of 2 MiB would cap it).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(config.max_body_bytes))
        .layer(cors(config.cors_origins.as_deref())?)
        .with_state(shared.clone());
    let closing = shared.closing.clone();
    Ok((router, closing))
}

/// The caller and zone a request speaks for, from its headers. A token whose account has been
/// deleted no longer speaks for anyone.
async fn request_context(headers: &HeaderMap, state: &AppState) -> Result<(Viewer, RequestTz), ApiError> {
    let tz = match headers.get("time-zone") {
        Some(v) => parse_tz(v.to_str().map_err(|_| ApiError::bad("Time-Zone header is not text"))?)?,
        None => state.default_tz,
    };
    let viewer = match headers.get(header::AUTHORIZATION) {
        Some(v) => {
            let v = v.to_str().map_err(|_| ApiError::Unauthenticated("bad Authorization header".into()))?;
            let token = v
                .strip_prefix("Bearer ")
                .ok_or_else(|| ApiError::Unauthenticated("use `Authorization: Bearer <token>`".into()))?;
            verified(state, token.trim()).await?
        }
        None => state.unauthenticated,
    };
    Ok((viewer, RequestTz(tz)))
}

/// The viewer of a token, if its signature holds and its account (sign-in tokens) exists.
pub(crate) async fn verified(state: &AppState, token: &str) -> Result<Viewer, ApiError> {
    let (viewer, account) = state.tokens.verify_account(token)?;
    if let Some(id) = account {
        if !state.live_accounts.fresh(id) {
            if !crate::service::accounts::exists(&state.db, id).await? {
                return Err(ApiError::Unauthenticated("the account of this token no longer exists".into()));
            }
            state.live_accounts.mark(id);
        }
    }
    Ok(viewer)
}

/// The CORS policy for the configured origins (no CORS headers when none are configured).
fn cors(origins: Option<&str>) -> anyhow::Result<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let layer = CorsLayer::new().allow_methods([axum::http::Method::GET, axum::http::Method::POST]).allow_headers([
        header::CONTENT_TYPE,
        header::AUTHORIZATION,
        header::HeaderName::from_static("time-zone"),
    ]);
    Ok(match origins.map(str::trim) {
        None | Some("") => CorsLayer::new(),
        Some("*") => layer.allow_origin(AllowOrigin::any()),
        Some(list) => {
            let parsed = list
                .split(',')
                .map(|o| o.trim().parse::<axum::http::HeaderValue>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| anyhow::anyhow!("QUANTGRAPH_CORS_ORIGINS: not a list of origins"))?;
            layer.allow_origin(AllowOrigin::list(parsed))
        }
    })
}

/// Over its per-minute allowance a caller gets 429 with a GraphQL error. The allowance is per
/// account (or role, for tokens without one), else per client address: a token cannot be
/// respelled into a new allowance, and anonymous clients behind a trusted proxy are told apart.
fn rate_limited(
    s: &Shared,
    viewer: Option<&Viewer>,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: Media,
) -> Option<Response> {
    let err = over_rate(s, viewer, headers, peer)?;
    let mut resp = transport::rejected(media, vec![err]);
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    Some(resp)
}

/// The error of a request over its caller's allowance (which it counts against), if it is.
fn over_rate(
    s: &Shared,
    viewer: Option<&Viewer>,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Option<async_graphql::ServerError> {
    let limiter = s.limiter.as_ref()?;
    let key = match viewer {
        Some(Viewer { user: Some(id), .. }) => format!("user:{id}"),
        Some(v) if v.role != crate::auth::Role::Anonymous && headers.contains_key(header::AUTHORIZATION) => {
            format!("role:{:?}", v.role)
        }
        _ => format!("addr:{}", client::address(headers, peer.ip(), &s.trusted_proxies)),
    };
    if limiter.check_key(&key).is_ok() {
        return None;
    }
    METRICS.rate_limited.inc();
    let mut err = async_graphql::ServerError::new("rate limit exceeded: slow down", None);
    err.extensions.get_or_insert_with(Default::default).set("code", "RATE_LIMITED");
    Some(err)
}

/// Forgets the allowances of callers quiet for a while, once a minute: the limiter's memory
/// follows the callers of the last minute, not every key ever seen.
fn prune_limiter(shared: std::sync::Weak<Shared>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(s) = shared.upgrade() else { return };
            if let Some(l) = &s.limiter {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
    });
}

async fn graphql_post(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<client::Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(kind) = event_stream::requested(&headers) {
        return match transport::read_post(&headers, &body, 1) {
            Ok(posted) => {
                // A batch here holds one request (no more are read): streamed as that one.
                let req = match posted {
                    Posted::One(req) => *req,
                    Posted::Batch(mut reqs) => reqs.pop().expect("a batch holds at least one request"),
                };
                event_stream::serve(s, peer.addr, &headers, kind, req, false).await
            }
            Err(refused) => refused.respond(Media::Json),
        };
    }
    let media = match transport::negotiate(&headers) {
        Ok(m) => m,
        Err(refused) => return refused.respond(Media::Json),
    };
    match transport::read_post(&headers, &body, s.max_batch) {
        Ok(Posted::One(req)) => serve(&s, peer.addr, &headers, media, *req, false).await,
        Ok(Posted::Batch(reqs)) => serve_batch(&s, peer.addr, &headers, media, reqs).await,
        Err(refused) => refused.respond(media),
    }
}

/// Runs one GraphQL request that came over HTTP (`query_only` for GET), timed by operation and
/// outcome for the request metrics, traced as one span, and logged as one line.
async fn serve(
    s: &Shared,
    peer: SocketAddr,
    headers: &HeaderMap,
    media: Media,
    req: Request,
    query_only: bool,
) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    let started = std::time::Instant::now();
    let requested = req.operation_name.clone();
    let span = crate::telemetry::traces::request_span(headers, requested.as_deref().unwrap_or("anonymous"));
    let (outcome, name, resp) = tracing::Instrument::instrument(
        async {
            let context = request_context(headers, &s.state).await;
            if let Some(resp) = rate_limited(s, context.as_ref().ok().map(|c| &c.0), headers, peer, media) {
                return ("rate_limited", requested.clone(), resp);
            }
            let (viewer, tz) = match context {
                Ok(x) => x,
                Err(e) => {
                    let err = async_graphql::Error::from(e).into_server_error(Default::default());
                    return ("unauthenticated", requested.clone(), transport::rejected(media, vec![err]));
                }
            };
            let private = headers.contains_key(header::AUTHORIZATION);
            let (answer, name) = s.pipeline.run_named(&s.state, req, viewer, tz, query_only).await;
            let outcome = outcome_of(&answer);
            let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
            let revalidation = transport::Revalidation { if_none_match, private };
            (outcome, name, transport::respond(media, answer, &revalidation))
        },
        span.clone(),
    )
    .await;
    let elapsed = started.elapsed();
    let operation = METRICS.operation_label(name.as_deref());
    span.record("outcome", outcome);
    span.record("graphql.operation", operation.as_str());
    tracing::info!(
        target: "quantgraph::request",
        operation = operation.as_str(),
        outcome,
        status = resp.status().as_u16(),
        elapsed_us = elapsed.as_micros() as u64,
        trace_id = crate::telemetry::traces::trace_id(&span),
    );
    METRICS.requests.with_label_values(&[operation.as_str(), outcome]).observe(elapsed.as_secs_f64());
    resp
}

/// A batch: each operation runs as if sent alone, in order (a mutation is seen by the reads
/// after it), with its own errors, its own place in the rate limit, metrics and log line.
async fn serve_batch(s: &Shared, peer: SocketAddr, headers: &HeaderMap, media: Media, reqs: Vec<Request>) -> Response {
    let context = request_context(headers, &s.state).await;
    // A batch of reads reads one snapshot, so its answers agree with each other; the response
    // cache (answers of other moments) is left out. A batch with a write (or a document sent
    // by hash, whose kind is not known yet) runs its operations as if each were sent alone.
    let reads_only = reqs.iter().all(|r| {
        async_graphql::parser::parse_query(&r.query).ok().is_some_and(|doc| {
            let mut ops = doc.operations.iter();
            let op = match &r.operation_name {
                Some(name) => ops.find(|(n, _)| n.is_some_and(|n| n.as_str() == name)).map(|(_, op)| op),
                None => ops.next().map(|(_, op)| op),
            };
            op.is_some_and(|op| op.node.ty == async_graphql::parser::types::OperationType::Query)
        })
    });
    let snapshot = match reads_only {
        true => match s.state.db.read.snapshot().await {
            Ok(read) => {
                let mut state = s.state.clone();
                state.db.read = read;
                state.responses = None;
                Some(state)
            }
            // Answers that might disagree are not given in its place.
            Err(e) => {
                let e = async_graphql::Error::from(e).into_server_error(Default::default());
                return transport::rejected(media, vec![e]);
            }
        },
        false => None,
    };
    let state = snapshot.as_ref().unwrap_or(&s.state);
    let mut bodies = Vec::with_capacity(reqs.len());
    for req in reqs {
        s.requests.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let requested = req.operation_name.clone();
        let refused = |e: async_graphql::ServerError| transport::body(Answer::Rejected(vec![e]));
        let (outcome, name, body) = match (&context, over_rate(s, context.as_ref().ok().map(|c| &c.0), headers, peer)) {
            (_, Some(e)) => ("rate_limited", requested, refused(e)),
            (Err(e), None) => {
                let e = async_graphql::Error::from(e.clone()).into_server_error(Default::default());
                ("unauthenticated", requested, refused(e))
            }
            (Ok((viewer, tz)), None) => {
                let (answer, name) = s.pipeline.run_named(state, req, *viewer, *tz, false).await;
                (outcome_of(&answer), name, transport::body(answer))
            }
        };
        let operation = METRICS.operation_label(name.as_deref());
        tracing::info!(target: "quantgraph::request", operation = operation.as_str(), outcome, batched = true,
            elapsed_us = started.elapsed().as_micros() as u64);
        METRICS.requests.with_label_values(&[operation.as_str(), outcome]).observe(started.elapsed().as_secs_f64());
        bodies.push(body);
    }
    if let Some(state) = snapshot {
        let read = state.db.read.clone();
        drop(state);
        read.finish().await;
    }
    transport::batch(media, bodies)
}

/// How an answer counts in the request metrics.
fn outcome_of(answer: &Answer) -> &'static str {
    match answer {
        Answer::Json(_) => "ok",
        Answer::Read(a) if a.ok => "ok",
        Answer::Read(_) => "error",
        Answer::Graphql(r) if r.errors.is_empty() => "ok",
        Answer::Graphql(_) => "error",
        Answer::Rejected(_) | Answer::PostOnly => "rejected",
    }
}

/// `GET /graphql`: a WebSocket upgrade starts subscriptions (as on `/graphql/ws`); a browser
/// asking for a page without a query gets the playground; anything else is a query in the URL.
async fn graphql_get_or_ws(
    State(s): State<Arc<Shared>>,
    peer: ConnectInfo<client::Peer>,
    req: axum::extract::Request,
) -> Response {
    use axum::extract::FromRequestParts;
    let upgrade = req.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if upgrade {
        let (mut parts, _) = req.into_parts();
        let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &s).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        return match WebSocketUpgrade::from_request_parts(&mut parts, &s).await {
            Ok(ws) => graphql_ws(State(s), peer, protocol, ws).await,
            Err(e) => e.into_response(),
        };
    }
    let headers = req.headers();
    let query = req.uri().query();
    let wants_html = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if wants_html && !query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("query="))) {
        return match s.introspection {
            true => graphiql::page(),
            false => (StatusCode::NOT_FOUND, "the playground is switched off").into_response(),
        };
    }
    if let Some(kind) = event_stream::requested(headers) {
        return match transport::read_get(query) {
            Ok(gql) => event_stream::serve(s.clone(), peer.0.addr, headers, kind, gql, true).await,
            Err(refused) => refused.respond(Media::Json),
        };
    }
    let media = match transport::negotiate(headers) {
        Ok(m) => m,
        Err(refused) => return refused.respond(Media::Json),
    };
    match transport::read_get(query) {
        Ok(gql) => serve(&s, peer.0.addr, headers, media, gql, true).await,
        Err(refused) => refused.respond(media),
    }
}

/// WebSocket subscriptions (graphql-transport-ws and the legacy graphql-ws); the token comes
/// in `connection_init` as `Authorization: Bearer …` (or `token`).
/// A subscription sent before `connection_init` is answered with the close the
/// graphql-transport-ws spec names, 4401 Unauthorized; async-graphql sends 1011, which tells
/// clients (and monitoring) that the server failed.
/// A refused `connection_init` is closed with the code graphql-transport-ws names for it (4403
/// Forbidden, 4400 Bad Request) rather than async-graphql's 1002; the reason says why.
fn spec_close(m: axum::extract::ws::Message) -> axum::extract::ws::Message {
    use axum::extract::ws::{CloseFrame, Message};
    match m {
        Message::Close(Some(f)) if f.code == 1011 && f.reason == "The handshake is not completed." => {
            Message::Close(Some(CloseFrame { code: 4401, reason: "Unauthorized".into() }))
        }
        Message::Close(Some(f)) if f.code == 1002 => {
            let code = [(FORBIDDEN, 4403), (BAD_REQUEST, 4400)].iter().find(|(p, _)| f.reason.starts_with(p));
            match code {
                Some((_, code)) => Message::Close(Some(CloseFrame { code: *code, reason: f.reason })),
                None => Message::Close(Some(f)),
            }
        }
        m => m,
    }
}

const FORBIDDEN: &str = "Forbidden: ";
const BAD_REQUEST: &str = "Bad request: ";

/// A `connection_init` refusal whose reason names its close code (`spec_close`).
fn init_refusal(kind: &str, why: impl std::fmt::Display) -> async_graphql::Error {
    async_graphql::Error::new(format!("{kind}{why}"))
}

/// An operation refused before it ran (parse, validation, limits: `data` null and no error
/// with a `path`) is answered as each protocol's reference server does, and as HTTP does with
/// no `data` key: graphql-transport-ws sends one `error` message (and no `complete` after it),
/// the legacy graphql-ws a `data` message holding only `errors`. async-graphql sends a result
/// with `"data": null` for both. `refused` holds the ids whose `complete` is to be dropped.
fn request_error(
    m: axum::extract::ws::Message,
    refused: &mut std::collections::HashSet<String>,
) -> Option<axum::extract::ws::Message> {
    use axum::extract::ws::Message;
    let Message::Text(text) = &m else { return Some(m) };
    let quick = text.as_str();
    // Most messages are events: only a refusal or a refused id's `complete` is parsed.
    let refusal = quick.contains("\"data\":null") && quick.contains("\"errors\"");
    let held = !refused.is_empty() && quick.contains("\"complete\"");
    if !refusal && !held {
        return Some(m);
    }
    let Ok(mut msg) = serde_json::from_str::<serde_json::Value>(quick) else { return Some(m) };
    let id = msg["id"].as_str().unwrap_or_default().to_string();
    let ty = msg["type"].as_str().unwrap_or_default().to_string();
    if ty == "complete" {
        return (!refused.remove(&id)).then_some(m);
    }
    let payload = &msg["payload"];
    let errors = payload["errors"].as_array();
    let before_execution =
        payload["data"].is_null() && errors.is_some_and(|e| !e.is_empty() && e.iter().all(|e| e.get("path").is_none()));
    if !before_execution || !(ty == "next" || ty == "data") {
        return Some(m);
    }
    let errors = msg["payload"]["errors"].take();
    let out = if ty == "next" {
        refused.insert(id.clone());
        serde_json::json!({ "id": id, "type": "error", "payload": errors })
    } else {
        serde_json::json!({ "id": id, "type": "data", "payload": { "errors": errors } })
    };
    Some(Message::Text(out.to_string().into()))
}

async fn graphql_ws(
    State(s): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<client::Peer>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let executor = SocketExecutor(s.clone());
    // Small socket buffers: thousands of idle dashboards should cost little memory each (a read
    // buffer is allocated per connection; larger messages still arrive in several reads, and
    // writes go out as they are made).
    let upgrade = upgrade.read_buffer_size(1024).write_buffer_size(0);
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| async move {
        METRICS.websockets.inc();
        let init_state = s.clone();
        // The key this connection counts against, known once `connection_init` arrives.
        let counted: Arc<std::sync::Mutex<Option<Counted>>> = Default::default();
        let counted_init = counted.clone();
        let (outbox, stream) = heartbeat::split(socket, s.keepalive);
        let mut sink = outbox.clone();
        let mut closing = s.closing.subscribe();
        let stream = futures_util::StreamExt::take_until(stream, async move {
            let _ = closing.wait_for(|c| *c).await;
        });
        let mut refused = std::collections::HashSet::new();
        let spec_closes = futures_util::SinkExt::with_flat_map(outbox, move |m| {
            let out = request_error(spec_close(m), &mut refused);
            futures_util::stream::iter(out.into_iter().map(Ok::<_, futures_channel::mpsc::SendError>))
        });
        GraphQLWebSocket::new_with_pair(spec_closes, stream, executor, protocol)
            .on_connection_init(move |payload: serde_json::Value| async move {
                let token = ["Authorization", "authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                    .map(|v| v.trim_start_matches("Bearer ").trim().to_string())
                    .or_else(|| payload.get("token").and_then(|v| v.as_str()).map(String::from));
                let viewer = match &token {
                    Some(t) => {
                        verified(&init_state.state, t).await.map_err(|e| init_refusal(FORBIDDEN, e.message()))?
                    }
                    None => init_state.state.unauthenticated,
                };
                let key = token.map(|t| format!("Bearer {t}")).unwrap_or_else(|| format!("addr:{}", peer.addr.ip()));
                let Some(counted) = init_state.count(key) else {
                    return Err(init_refusal(FORBIDDEN, "too many connections for this token"));
                };
                *counted_init.lock().expect("socket key") = Some(counted);
                // The zone as the `Time-Zone` header names it over HTTP.
                let tz = match ["Time-Zone", "time-zone"].iter().find_map(|k| payload.get(*k).and_then(|v| v.as_str()))
                {
                    Some(name) => parse_tz(name).map_err(|e| init_refusal(BAD_REQUEST, e.message()))?,
                    None => init_state.state.default_tz,
                };
                let mut data = async_graphql::Data::default();
                data.insert(viewer);
                data.insert(RequestTz(tz));
                data.insert(crate::graphql::subscriptions::Slots::new(
                    init_state.max_subscriptions,
                    init_state.subscriptions.clone(),
                    init_state.max_process_subscriptions,
                ));
                Ok(data)
            })
            .serve()
            .await;
        if *s.closing.borrow() {
            let bye = axum::extract::ws::CloseFrame { code: 1001, reason: "server shutting down".into() };
            let _ = futures_util::SinkExt::send(&mut sink, axum::extract::ws::Message::Close(Some(bye))).await;
        }
        METRICS.websockets.dec();
        drop(counted.lock().expect("socket key").take());
    })
}

/// Every operation sent over a WebSocket goes through the same pipeline as over HTTP: queries
/// and mutations get the bytes HTTP gives, subscriptions the same validation, loaders and field
/// collection.
#[derive(Clone)]
struct SocketExecutor(Arc<Shared>);

impl async_graphql::Executor for SocketExecutor {
    async fn execute(&self, request: Request) -> async_graphql::Response {
        let state = &self.0.state;
        let answer =
            self.0.pipeline.run(state, request, state.unauthenticated, RequestTz(state.default_tz), false).await;
        answer.into_response()
    }

    fn execute_stream(
        &self,
        request: Request,
        session: Option<Arc<async_graphql::Data>>,
    ) -> futures_util::stream::BoxStream<'static, async_graphql::Response> {
        let (pipeline, state) = (self.0.pipeline.clone(), self.0.state.clone());
        let run = pipeline.run_socket(state, request, session.unwrap_or_default(), false);
        futures_util::StreamExt::boxed(futures_util::StreamExt::flatten(futures_util::stream::once(run)))
    }
}

async fn readyz(State(s): State<Arc<Shared>>) -> Response {
    match s.state.db.read.conn.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let body = format!(
        "# HELP quantgraph_graphql_requests_total GraphQL requests received.\n# TYPE quantgraph_graphql_requests_total counter\nquantgraph_graphql_requests_total {}\n\
         # HELP quantgraph_sql_statements_total SQL statements sent to the database for requests.\n# TYPE quantgraph_sql_statements_total counter\nquantgraph_sql_statements_total {}\n\
         # HELP quantgraph_plan_cache_hits_total Requests whose document was parsed, validated and collected already.\n# TYPE quantgraph_plan_cache_hits_total counter\nquantgraph_plan_cache_hits_total {}\n\
         # HELP quantgraph_plan_cache_misses_total Requests whose document had to be prepared.\n# TYPE quantgraph_plan_cache_misses_total counter\nquantgraph_plan_cache_misses_total {}\n\
         # HELP quantgraph_plan_cache_entries Documents held by the plan cache.\n# TYPE quantgraph_plan_cache_entries gauge\nquantgraph_plan_cache_entries {}\n\
         # HELP quantgraph_direct_answers_total Reads answered by the direct JSON writer (the rest by the general executor).\n# TYPE quantgraph_direct_answers_total counter\nquantgraph_direct_answers_total {}\n\
         # HELP quantgraph_stream_reads_total Reads of the change log by table streams.\n# TYPE quantgraph_stream_reads_total counter\nquantgraph_stream_reads_total {}\n\
         # HELP quantgraph_stream_renders_total Stream batches rendered, once for all subscribers of one selection.\n# TYPE quantgraph_stream_renders_total counter\nquantgraph_stream_renders_total {}\n\
         # HELP quantgraph_live_queue_peak Most events one live-bar subscription has held for a slow client (forming bars conflated).\n# TYPE quantgraph_live_queue_peak gauge\nquantgraph_live_queue_peak {}\n",
        s.requests.load(Ordering::Relaxed),
        s.state.db.statements.load(Ordering::Relaxed),
        s.pipeline.cache.hits.load(Ordering::Relaxed),
        s.pipeline.cache.misses.load(Ordering::Relaxed),
        s.pipeline.cache.len(),
        s.pipeline.direct_answers.load(Ordering::Relaxed),
        s.state.streams.reads.load(Ordering::Relaxed),
        s.state.streams.renders.load(Ordering::Relaxed),
        s.state.live_queue_peak.load(Ordering::Relaxed)
    ) + &METRICS.render()
        + &s.state.responses.as_ref().map(|c| c.metrics()).unwrap_or_default()
        + &s.state.db.read.standby.as_ref().map(|sb| sb.metrics()).unwrap_or_default()
        + &s.state.live.metrics();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

pub mod assets;
pub mod chart;
pub mod client;
mod event_stream;
pub mod graphiql;
mod heartbeat;
mod transport;
