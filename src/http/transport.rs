//! GraphQL over HTTP (the GraphQL Foundation's specification, checked by the `graphql-http`
//! audit): which requests are accepted, which media type answers, and with which status.
//!
//! - POST bodies must be `application/json`: anything else is 415. Browsers send the "simple"
//!   types (`text/plain`, forms) cross-site without a CORS preflight, so refusing them is also
//!   the cross-site request guard.
//! - GET carries queries only; a mutation over GET is 405 with `Allow: POST`.
//! - `Accept: application/graphql-response+json` is answered in that type: a request refused
//!   before execution gets 400 (401 for a bad token) and no `data`. Under `application/json`
//!   (the default) such a response is 200, as clients of that type expect.
use crate::cache::responses::Cached;
use crate::graphql::pipeline::Answer;
use async_graphql::{Request, ServerError};
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const JSON: &str = "application/json";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The media type a response is written in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Media {
    Json,
    GraphqlResponse,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// A request refused before it reached GraphQL: its status and what the client is told.
pub struct Refused {
    status: StatusCode,
    message: String,
}

impl Refused {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Refused { status, message: message.into() }
    }

    /// The response in `media`: one error with `BAD_USER_INPUT`.
    pub fn respond(self, media: Media) -> Response {
        plain_error(media, self.status, self.message)
    }
}

/// The media type the client accepts (the first of ours its `Accept` lists; `application/json`
/// without the header), or 406.
pub fn negotiate(headers: &HeaderMap) -> Result<Media, Refused> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Media::Json);
    };
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
        if refused {
            continue;
        }
        match essence.as_str() {
            GRAPHQL_RESPONSE => return Ok(Media::GraphqlResponse),
            JSON | "application/*" | "*/*" => return Ok(Media::Json),
            _ => {}
        }
    }
    Err(Refused::new(
        StatusCode::NOT_ACCEPTABLE,
        format!("responses are {JSON} or {GRAPHQL_RESPONSE}; the Accept header allows neither"),
    ))
}

/// What a POST carries: one request, or a batch (a JSON array of them, as Apollo's
/// `BatchHttpLink` sends), each answered as if sent alone.
pub enum Posted {
    One(Box<Request>),
    Batch(Vec<Request>),
}

/// The GraphQL request (or batch of at most `max_batch`) a POST carries, or the response
/// refusing it.
pub fn read_post(headers: &HeaderMap, body: &Bytes, max_batch: usize) -> Result<Posted, Refused> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some(JSON) => {}
        Some(other) => {
            return Err(Refused::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("POST a JSON body with `Content-Type: {JSON}` (got `{other}`)"),
            ))
        }
        None => {
            return Err(Refused::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("POST a JSON body with `Content-Type: {JSON}`"),
            ))
        }
    }
    let not_a_request = |e: serde_json::Error| {
        Refused::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not a GraphQL request ({{\"query\": \"…\", \"variables\": {{…}}}}) nor an array of them: {e}"),
        )
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        let batch = serde_json::from_slice::<Vec<Params>>(body).map_err(not_a_request)?;
        if batch.is_empty() || batch.len() > max_batch {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                format!("a batch holds 1 to {max_batch} operations (QUANTGRAPH_MAX_BATCH); this one {}", batch.len()),
            ));
        }
        return Ok(Posted::Batch(batch.into_iter().map(Params::into_request).collect::<Result<_, _>>()?));
    }
    let params = serde_json::from_slice::<Params>(body).map_err(not_a_request)?;
    Ok(Posted::One(Box::new(params.into_request()?)))
}

/// A request's parameters as the specification names them: `query` is required unless a
/// persisted document is named (`documentId`, or Apollo's `extensions.persistedQuery`); the
/// others may be absent or null.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    query: Option<String>,
    document_id: Option<String>,
    operation_name: Option<String>,
    variables: Option<async_graphql::Variables>,
    extensions: Option<async_graphql::Extensions>,
}

impl Params {
    fn into_request(self) -> Result<Request, Refused> {
        let mut req = Request::new(self.query.unwrap_or_default()).variables(self.variables.unwrap_or_default());
        req.operation_name = self.operation_name;
        req.extensions = self.extensions.unwrap_or_default();
        if let Some(id) = self.document_id {
            // The persisted-documents form of GraphQL over HTTP: one look-up with Apollo's.
            let hash = id.strip_prefix("sha256:").unwrap_or(&id).to_string();
            let pq = serde_json::json!({ "version": 1, "sha256Hash": hash });
            req.extensions.insert("persistedQuery".into(), async_graphql::Value::from_json(pq).unwrap_or_default());
        }
        if req.query.is_empty() && !req.extensions.contains_key("persistedQuery") {
            return Err(Refused::new(
                StatusCode::BAD_REQUEST,
                "the body has no `query` (nor a persisted document's hash)",
            ));
        }
        Ok(req)
    }
}

/// The JSON text of an answer, as a batch holds it.
pub fn body(answer: Answer) -> String {
    match answer {
        Answer::Read(a) => String::from_utf8_lossy(&a.body).into_owned(),
        Answer::Json(body) => body,
        Answer::Graphql(resp) => serde_json::to_string(&resp).unwrap_or_else(|_| "{\"data\":null}".into()),
        Answer::Rejected(errors) => serde_json::json!({ "errors": errors }).to_string(),
        Answer::PostOnly => serde_json::json!({ "errors": [{ "message": "not over GET" }] }).to_string(),
    }
}

/// A batch's answers, in order, as one JSON array.
pub fn batch(media: Media, bodies: Vec<String>) -> Response {
    let body = format!("[{}]", bodies.join(","));
    let headers = [(header::CONTENT_TYPE, media.content_type()), (header::CACHE_CONTROL, "no-store")];
    (StatusCode::OK, headers, body).into_response()
}

/// The GraphQL request in a GET's query string, or the response refusing it.
pub fn read_get(query: Option<&str>) -> Result<Request, Refused> {
    async_graphql::http::parse_query_string(query.unwrap_or(""))
        .map_err(|e| Refused::new(StatusCode::BAD_REQUEST, format!("the URL does not carry a GraphQL request: {e}")))
}

/// One error with `BAD_USER_INPUT` and `status`, written in `media`.
fn plain_error(media: Media, status: StatusCode, message: String) -> Response {
    let mut err = ServerError::new(message, None);
    err.extensions.get_or_insert_with(Default::default).set("code", "BAD_USER_INPUT");
    let mut resp = rejected(media, vec![err]);
    *resp.status_mut() = status;
    resp
}

/// Errors that stopped a request before execution: no `data` entry.
pub fn rejected(media: Media, errors: Vec<ServerError>) -> Response {
    let status = match media {
        Media::Json => StatusCode::OK,
        Media::GraphqlResponse if errors.iter().any(|e| code(e) == Some("UNAUTHENTICATED")) => StatusCode::UNAUTHORIZED,
        Media::GraphqlResponse => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({ "errors": errors });
    (status, [(header::CONTENT_TYPE, media.content_type())], body.to_string()).into_response()
}

fn code(e: &ServerError) -> Option<&str> {
    match e.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(s) => Some(s),
        _ => None,
    }
}

/// How a response may be kept by browsers and shared caches.
pub struct Revalidation<'a> {
    /// The request's `If-None-Match`.
    pub if_none_match: Option<&'a str>,
    /// The caller sent a token: the answer is theirs alone.
    pub private: bool,
}

impl Revalidation<'_> {
    /// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks, or `*`).
    fn matches(&self, etag: &str) -> bool {
        self.if_none_match.is_some_and(|v| {
            v.split(',').map(|t| t.trim()).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
        })
    }
}

/// A query's answer: `ETag` from its bytes, and `304` with no body when the client holds them
/// already. Answers without errors may be stored and must be revalidated (`no-cache`): by the
/// browser alone for a caller with a token (`private`), by shared caches too otherwise; `Vary`
/// names the headers that change an answer. Answers with errors are not stored.
fn read(media: Media, answer: &Cached, r: &Revalidation) -> Response {
    let policy = match (answer.ok, r.private) {
        (false, _) => "no-store",
        (true, true) => "private, no-cache",
        (true, false) => "public, no-cache",
    };
    let etag = HeaderValue::from_str(&answer.etag).expect("a hex entity tag");
    let headers = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static(policy)),
        (header::VARY, HeaderValue::from_static("Accept, Authorization, Time-Zone")),
    ];
    if answer.ok && r.matches(&answer.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let mut resp = (StatusCode::OK, headers, answer.body.clone()).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(media.content_type()));
    resp
}

/// The HTTP response for a pipeline answer. Only queries' answers may be stored by a client.
pub fn respond(media: Media, answer: Answer, r: &Revalidation) -> Response {
    let mut resp = respond_uncached(media, answer, r);
    if !resp.headers().contains_key(header::CACHE_CONTROL) {
        resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn respond_uncached(media: Media, answer: Answer, r: &Revalidation) -> Response {
    let ok = |body: String| (StatusCode::OK, [(header::CONTENT_TYPE, media.content_type())], body).into_response();
    match answer {
        Answer::Read(a) => read(media, &a, r),
        Answer::Json(body) => ok(body),
        Answer::Graphql(resp) => {
            let body = serde_json::to_string(&resp).unwrap_or_else(|_| "{\"data\":null}".into());
            let mut out = ok(body);
            out.headers_mut().extend(resp.http_headers);
            out
        }
        Answer::Rejected(errors) => rejected(media, errors),
        Answer::PostOnly => {
            let mut resp = plain_error(
                media,
                StatusCode::METHOD_NOT_ALLOWED,
                "mutations and subscriptions are sent with POST (or subscribed over WebSocket), not GET".into(),
            );
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            resp
        }
    }
}
