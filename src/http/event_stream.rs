//! Subscriptions without WebSockets, for networks whose proxies drop them: GraphQL over
//! Server-Sent Events (the `graphql-sse` protocol's distinct-connections mode, asked for with
//! `Accept: text/event-stream`) and Apollo's multipart HTTP subscriptions (`Accept:
//! multipart/mixed;subscriptionSpec=1.0`). The request is GraphQL over HTTP's POST (or GET,
//! for reads) with its `Authorization` and `Time-Zone` headers. The operation runs as over a
//! WebSocket (`Pipeline::run_socket`): the same validation, slots and limits (the stream counts
//! as one connection of its token), `since` resumes and metrics, and each event carries the
//! bytes a WebSocket `next` message carries. Errors found before execution arrive as an event
//! too, as graphql-sse asks: a 400 would make a browser's `EventSource` drop the reason.
use super::{rate_limited, request_context, Shared};
use crate::error::ApiError;
use crate::graphql::context::RequestTz;
use crate::graphql::subscriptions::Slots;
use crate::telemetry::METRICS;
use async_graphql::{Request, Response as GqlResponse};
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A streaming answer a client may ask for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Sse,
    Multipart,
}

/// The streaming answer `Accept` asks for: the first of ours it lists, unless a JSON type comes
/// before it (Apollo Client lists multipart with `deferSpec` for queries, which is not ours).
pub fn requested(headers: &HeaderMap) -> Option<Kind> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(|p| p.trim().replace(' ', "").to_ascii_lowercase());
        let essence = parts.next().unwrap_or_default();
        let params: Vec<String> = parts.collect();
        if params.iter().any(|p| p == "q=0") {
            continue;
        }
        match essence.as_str() {
            "text/event-stream" => return Some(Kind::Sse),
            "multipart/mixed" if params.iter().any(|p| p.starts_with("subscriptionspec=")) => {
                return Some(Kind::Multipart)
            }
            "application/json" | "application/graphql-response+json" => return None,
            _ => {}
        }
    }
    None
}

/// Runs `req` and streams its results as `kind` asks (`get`: a request from a URL, which may
/// not write).
pub async fn serve(
    s: Arc<Shared>,
    peer: SocketAddr,
    headers: &HeaderMap,
    kind: Kind,
    req: Request,
    get: bool,
) -> Response {
    s.requests.fetch_add(1, Ordering::Relaxed);
    let events = match start(&s, peer, headers, req, get).await {
        Ok(events) => events,
        Err(refused) => return *refused,
    };
    // On shutdown the stream is cut without its end (`complete`, the closing delimiter), so
    // clients take it as a dropped connection and reconnect, as WebSocket clients do on 1001.
    let mut closing = s.closing.subscribe();
    let shutdown = async move {
        let _ = closing.wait_for(|c| *c).await;
    };
    match kind {
        Kind::Sse => sse(events, s.keepalive, shutdown),
        Kind::Multipart => multipart(events, s.keepalive, shutdown),
    }
}

/// The results of `req` for the caller the headers name; an HTTP refusal only for rate limits.
async fn start(
    s: &Arc<Shared>,
    peer: SocketAddr,
    headers: &HeaderMap,
    req: Request,
    get: bool,
) -> Result<BoxStream<'static, GqlResponse>, Box<Response>> {
    let context = request_context(headers, &s.state).await;
    if let Some(resp) = rate_limited(s, context.as_ref().ok().map(|c| &c.0), headers, peer, super::Media::Json) {
        return Err(Box::new(resp));
    }
    let refusal = |e: ApiError| {
        let e = async_graphql::Error::from(e).into_server_error(Default::default());
        Ok(stream::once(async move { GqlResponse::from_errors(vec![e]) }).boxed())
    };
    let (viewer, tz) = match context {
        Ok(c) => c,
        Err(e) => return refusal(e),
    };
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
    let Some(counted) = s.count(token.unwrap_or_else(|| format!("addr:{}", peer.ip()))) else {
        return refusal(ApiError::RateLimited("too many connections for this token".into()));
    };
    let mut session = async_graphql::Data::default();
    session.insert(viewer);
    session.insert(RequestTz(tz.0));
    session.insert(Slots::new(s.max_subscriptions, s.subscriptions.clone(), s.max_process_subscriptions));
    let events = s.pipeline.clone().run_socket(s.state.clone(), req, Arc::new(session), get).await;
    let open = Open::new();
    Ok(events
        .map(move |r| {
            let _held = (&counted, &open);
            r
        })
        .boxed())
}

/// An open event stream, in `/metrics` while it lives.
struct Open;

impl Open {
    fn new() -> Open {
        METRICS.event_streams.inc();
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        METRICS.event_streams.dec();
    }
}

/// `next` events, then `complete`; comment lines keep a quiet stream open through proxies.
fn sse(
    events: BoxStream<'static, GqlResponse>,
    every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Response {
    let events = events
        .map(|r| Event::default().event("next").json_data(&r))
        .chain(stream::once(async { Ok(Event::default().event("complete").data("")) }))
        .take_until(shutdown);
    let mut resp = Sse::new(events).keep_alive(KeepAlive::new().interval(every)).into_response();
    resp.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// A part's headers; each part is followed at once by the boundary, so a client (which reads a
/// part when the boundary after it arrives) has every result as soon as it is sent.
const PART: &str = "\r\ncontent-type: application/json; charset=utf-8\r\n\r\n";
const BOUNDARY: &str = "\r\n--graphql";

/// One part per result (`{"payload": …}`), an empty object as a heartbeat while quiet, and the
/// closing delimiter when the results end.
fn multipart(
    events: BoxStream<'static, GqlResponse>,
    every: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Response {
    enum Part {
        Result(Box<GqlResponse>),
        Heartbeat,
        End,
    }
    let beats = tokio_stream::wrappers::IntervalStream::new(tokio::time::interval_at(
        tokio::time::Instant::now() + every,
        every,
    ))
    .map(|_| Part::Heartbeat);
    let parts = events.map(|r| Part::Result(Box::new(r))).chain(stream::once(async { Part::End }));
    let body =
        stream::select(parts, beats).take_while(|p| std::future::ready(!matches!(p, Part::End))).map(|p| match p {
            Part::Result(r) => {
                let payload = serde_json::to_string(&r).unwrap_or_else(|_| "null".into());
                format!("{PART}{{\"payload\":{payload}}}{BOUNDARY}")
            }
            _ => format!("{PART}{{}}{BOUNDARY}"),
        });
    let body = stream::once(async { BOUNDARY.to_string() })
        .chain(body)
        .chain(stream::once(async { "--\r\n".to_string() }))
        .take_until(shutdown)
        .map(|s| Ok::<_, std::convert::Infallible>(Bytes::from(s)));
    let headers = [
        (header::CONTENT_TYPE, "multipart/mixed; boundary=\"graphql\"; subscriptionSpec=\"1.0\""),
        (header::CACHE_CONTROL, "no-store"),
    ];
    (headers, Body::from_stream(body)).into_response()
}
