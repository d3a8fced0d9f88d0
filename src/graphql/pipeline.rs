//! One way through for every GraphQL request over HTTP:
//! parse → validate (async-graphql's own rules) → collect fields → check limits → bind a read
//! plan → execute (the direct JSON writer when every root is a catalog read, the general
//! executor otherwise) → respond. Parsing, validation and collection are done once per
//! (document, operation name) and kept in a bounded cache; variables are bound per request.
use super::collect::{self, CollectedOperation, SchemaIndex};
use super::cost::{self, Budget};
use super::documents::Sent;
use super::plan::{self, BindContext};
use super::same_shape;
use super::{complete, context::RequestTz, direct, document};
use crate::auth::Viewer;
use crate::cache::bounded::Bounded;
use crate::cache::responses::Cached;
use crate::error::ApiError;
use crate::loaders::Loaders;
use crate::AppState;
use async_graphql::dynamic::Schema;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError, ValidationResult};
use std::any::TypeId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Request data: this document passed validation already (it came from the plan cache).
pub struct Validated;
/// Request data: stop once the document is validated (nothing is executed).
struct ValidateOnly;

/// Lets the pipeline use async-graphql's validator on its own and skip it for cached documents.
pub struct PipelineHooks;

impl ExtensionFactory for PipelineHooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PipelineHooks)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for PipelineHooks {
    /// Requests that skip the HTTP pipeline (subscriptions and queries over a WebSocket) meet
    /// the same rules for documents sent by hash and for trusted documents.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> async_graphql::ServerResult<Request> {
        let from_pipeline = [TypeId::of::<Validated>(), TypeId::of::<ValidateOnly>()];
        if !from_pipeline.iter().any(|t| request.data.contains_key(t)) {
            if let (Some(state), Some(viewer)) = (ctx.data_opt::<AppState>(), ctx.data_opt::<Viewer>()) {
                if let Sent::Register(hash) = state.documents.resolve(&mut request, viewer)? {
                    state.documents.register(hash, &request.query);
                }
            }
        }
        next.run(ctx, request).await
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        if ctx.data_opt::<Validated>().is_some() {
            return Ok(ValidationResult { cache_control: Default::default(), complexity: 0, depth: 0 });
        }
        next.run(ctx).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if ctx.data_opt::<ValidateOnly>().is_some() {
            return Response::default();
        }
        next.run(ctx, operation_name).await
    }
}

/// A parsed and validated document, with its fields collected when that needs no variables.
pub struct Prepared {
    pub doc: ExecutableDocument,
    pub operation: Option<String>,
    /// Validation errors (the document is never run when there are any).
    pub errors: Vec<ServerError>,
    pub collected: Option<Arc<CollectedOperation>>,
    /// The collected operation as plain fields, for the general executor.
    pub normalized: Option<ExecutableDocument>,
    /// The executed operation's own name (the one requested, or the only one's).
    pub name: Option<String>,
    bytes: usize,
}

impl Prepared {
    /// This document's operation run as the query `collected` (a live query's selection),
    /// with `normalized` its plain fields.
    pub(super) fn as_query(&self, normalized: ExecutableDocument, collected: Arc<CollectedOperation>) -> Prepared {
        Prepared {
            doc: self.doc.clone(),
            operation: self.operation.clone(),
            errors: Vec::new(),
            collected: Some(collected),
            normalized: Some(normalized),
            name: self.name.clone(),
            bytes: 0,
        }
    }
}

type CacheKey = (String, Option<String>);

/// Documents already parsed, validated and collected, by (text, operation name), bounded in
/// entries and in (estimated) bytes (its figures are the `quantgraph_plan_cache_*` metrics).
pub struct DocumentCache {
    entries: Bounded<CacheKey, Arc<Prepared>>,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
}

impl DocumentCache {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        DocumentCache {
            entries: Bounded::new(max_entries, max_bytes, |p| p.bytes),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn get(&self, query: &str, operation: Option<&str>) -> Option<Arc<Prepared>> {
        // The key owns its text; a borrowed look-up would need a second map type.
        self.entries.get(&(query.to_string(), operation.map(str::to_string)))
    }

    fn put(&self, query: &str, p: Arc<Prepared>) {
        self.entries.put((query.to_string(), p.operation.clone()), p);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer to one request: JSON written directly, or the general executor's response.
pub enum Answer {
    /// A response written by the direct executor.
    Json(String),
    /// A query's answer, with its entity tag (as the response cache holds it).
    Read(Arc<Cached>),
    /// An executed request's response (with `data`).
    Graphql(Response),
    /// A request refused before execution (parse, validation, variables, limits): no `data`.
    Rejected(Vec<ServerError>),
    /// A mutation or subscription sent over GET.
    PostOnly,
}

pub struct Pipeline {
    pub schema: Schema,
    pub index: SchemaIndex,
    pub cache: DocumentCache,
    pub budget: Budget,
    /// Whether plain reads are answered by the direct writer (off: the general executor only).
    pub direct_reads: bool,
    /// Operations the direct writer answered (`/metrics`): a read that silently went to the
    /// general executor instead shows as a count that does not move.
    pub direct_answers: std::sync::atomic::AtomicU64,
}

impl Pipeline {
    /// The pipeline of a gateway configured by `config`, its resolvers reading through `state`
    /// (`None`: a schema without data, for printing it or timing documents).
    pub fn new(config: &crate::config::Config, state: Option<AppState>) -> anyhow::Result<Pipeline> {
        let schema = super::build_schema(state, crate::schema_limits(config))?;
        Ok(Pipeline {
            index: SchemaIndex::from_sdl(&schema.sdl()).map_err(|e| anyhow::anyhow!("schema index: {e}"))?,
            schema,
            cache: DocumentCache::new(config.plan_cache_entries, config.plan_cache_bytes),
            budget: Budget {
                max_depth: config.max_depth,
                max_page: config.max_page_size,
                default_page: config.default_page_size,
                max_complexity: config.max_complexity as u64,
                max_aliases: config.max_aliases,
            },
            direct_reads: config.direct_reads,
            direct_answers: Default::default(),
        })
    }
}

/// Deepest bracket nesting read before parsing: the parser recurses once per level.
const MAX_TEXT_NESTING: usize = 200;

/// The deepest nesting of `{`, `(` and `[` outside strings and comments, without recursion.
fn text_nesting(q: &str) -> usize {
    let b = q.as_bytes();
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// Every error carries a code; the parser's, the validator's and the executor's get theirs here.
pub fn with_code(e: &mut ServerError) {
    let ext = e.extensions.get_or_insert_with(Default::default);
    if ext.get("code").is_some() {
        return;
    }
    let m = e.message.to_lowercase();
    let code = if m.contains("nested too deep")
        || m.contains("too complex")
        || m.contains("recursion limit")
        || m.contains("recursion depth")
    {
        "QUERY_TOO_COMPLEX"
    } else if e.path.is_empty() {
        "BAD_USER_INPUT"
    } else {
        "INTERNAL"
    };
    ext.set("code", code);
}

pub(super) fn api_error(e: ApiError, key: Option<&str>) -> ServerError {
    let mut err = async_graphql::Error::from(e).into_server_error(Default::default());
    err.locations.clear();
    if let Some(k) = key {
        err.path = vec![async_graphql::PathSegment::Field(k.to_string())];
    }
    err
}

/// Errors of an executed request (`data` is null).
fn errors(errs: Vec<ServerError>) -> Answer {
    let mut resp = Response::from_errors(errs);
    for e in &mut resp.errors {
        with_code(e);
    }
    Answer::Graphql(resp)
}

/// Errors that stop a request before execution.
fn rejected(mut errs: Vec<ServerError>) -> Answer {
    for e in &mut errs {
        with_code(e);
    }
    Answer::Rejected(errs)
}

impl Pipeline {
    /// Parses, validates and (when variables cannot change it) collects a document, or takes it
    /// from the cache.
    pub async fn prepare(&self, query: &str, operation: Option<&str>) -> Result<Arc<Prepared>, Vec<ServerError>> {
        if let Some(p) = self.cache.get(query, operation) {
            self.cache.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(p);
        }
        self.cache.misses.fetch_add(1, Ordering::Relaxed);
        if text_nesting(query) > MAX_TEXT_NESTING {
            return Err(vec![api_error(
                ApiError::TooComplex(format!("query is nested deeper than {MAX_TEXT_NESTING} brackets")),
                None,
            )]);
        }
        let mut doc = async_graphql::parser::parse_query(query).map_err(|e| {
            let too_deep = matches!(e, async_graphql::parser::Error::RecursionLimitExceeded);
            let mut err = ServerError::from(e);
            if too_deep {
                err = api_error(ApiError::TooComplex("query is nested too deep for the parser".into()), None);
            }
            vec![err]
        })?;
        if let Some(cycle) = document::fragment_cycle(&doc) {
            return Err(vec![cycle]);
        }
        document::lift_typename_directives(&mut doc);
        let mut errors = self.validate(&doc, operation).await;
        // The validator reports in hash-map order; clients (and caches) get one order.
        errors.sort_by(|a, b| {
            let at = |e: &ServerError| e.locations.first().map(|p| (p.line, p.column));
            at(a).cmp(&at(b)).then_with(|| a.message.cmp(&b.message))
        });
        if errors.is_empty() {
            errors = self.index.check_literals(&doc);
        }
        if errors.is_empty() {
            errors = same_shape::check(&self.index, &doc);
        }
        let (mut collected, mut normalized) = (None, None);
        if errors.is_empty() && !collect::directives_use_variables(&doc) {
            match collect::collect(&doc, operation, &self.index, &Default::default()) {
                Ok(c) => {
                    normalized = collect::operation(&doc, operation).map(|def| c.to_document(&doc, def));
                    collected = Some(Arc::new(c));
                }
                Err(e) => errors.push(api_error(e, None)),
            }
        }
        // A rough measure: the document is held twice (as written and as plain fields).
        let bytes = query.len() * 16 + 1024;
        let name = operation.map(str::to_string).or_else(|| match &doc.operations {
            DocumentOperations::Single(_) => document::single_operation_name(query),
            DocumentOperations::Multiple(m) => m.keys().next().filter(|_| m.len() == 1).map(|n| n.to_string()),
        });
        let p = Arc::new(Prepared {
            doc,
            operation: operation.map(str::to_string),
            errors,
            collected,
            normalized,
            name,
            bytes,
        });
        self.cache.put(query, p.clone());
        Ok(p)
    }

    /// async-graphql's validation rules, run on their own.
    async fn validate(&self, doc: &ExecutableDocument, operation: Option<&str>) -> Vec<ServerError> {
        let mut req = Request::new("").data(ValidateOnly);
        if let Some(op) = operation {
            req = req.operation_name(op);
        }
        req.set_parsed_query(doc.clone());
        self.schema.execute(req).await.errors
    }

    /// Takes a request through everything that may refuse it before execution: the document
    /// sent (by text or hash), parsing, validation, the operation, variables and limits.
    pub(super) async fn admit(
        &self,
        state: &AppState,
        mut req: Request,
        viewer: &Viewer,
        query_only: bool,
    ) -> Result<Admitted, Answer> {
        let sent = state.documents.resolve(&mut req, viewer).map_err(|e| rejected(vec![e]))?;
        let operation = req.operation_name.clone();
        let prepare_span = tracing::debug_span!("graphql.prepare");
        let prepared = tracing::Instrument::instrument(self.prepare(&req.query, operation.as_deref()), prepare_span)
            .await
            .map_err(rejected)?;
        if !prepared.errors.is_empty() {
            return Err(rejected(prepared.errors.clone()));
        }
        if let Sent::Register(hash) = sent {
            state.documents.register(hash, &req.query);
        }
        let Some(def) = collect::operation(&prepared.doc, operation.as_deref()) else {
            let message = match &operation {
                Some(name) => format!("the document has no operation named `{name}`"),
                None => "the document has several operations: name one in `operationName`".to_string(),
            };
            return Err(rejected(vec![ServerError::new(message, None)]));
        };
        if query_only && def.ty != OperationType::Query {
            return Err(Answer::PostOnly);
        }
        let invalid = self.index.check_variables(def, &req.variables);
        if !invalid.is_empty() {
            return Err(rejected(invalid));
        }
        collect::apply_variable_defaults(&prepared.doc, operation.as_deref(), &mut req.variables);
        let collected = match &prepared.collected {
            Some(c) => c.clone(),
            None => match collect::collect(&prepared.doc, operation.as_deref(), &self.index, &req.variables) {
                Ok(c) => Arc::new(c),
                Err(e) => return Err(rejected(vec![api_error(e, None)])),
            },
        };
        if let Err(e) = cost::check(&collected, &req.variables, &self.budget) {
            return Err(rejected(vec![api_error(e, None)]));
        }
        Ok(Admitted { req, prepared, collected })
    }

    /// Runs one request for `viewer`, rendering `DateTime`s in `tz`; `query_only` for requests
    /// that must not change anything (sent over GET).
    pub async fn run(&self, state: &AppState, req: Request, viewer: Viewer, tz: RequestTz, query_only: bool) -> Answer {
        self.run_named(state, req, viewer, tz, query_only).await.0
    }

    /// As `run`, with the name of the operation that ran (for metrics and traces): its own
    /// name in the document, or the requested one when the request was refused before.
    pub async fn run_named(
        &self,
        state: &AppState,
        req: Request,
        viewer: Viewer,
        tz: RequestTz,
        query_only: bool,
    ) -> (Answer, Option<String>) {
        let requested = req.operation_name.clone();
        match self.admit(state, req, &viewer, query_only).await {
            Ok(admitted) => {
                let name = admitted.prepared.name.clone();
                (self.execute(state, admitted, viewer, tz).await, name)
            }
            Err(refused) => (refused, requested),
        }
    }

    /// The request the general executor runs: the collected fields as a plain document, one
    /// field per response key (introspection's selections inside it as written).
    pub(super) fn plain_request(
        &self,
        mut req: Request,
        prepared: &Prepared,
        collected: &CollectedOperation,
    ) -> Request {
        let operation = req.operation_name.take();
        req.set_parsed_query(match &prepared.normalized {
            Some(doc) => doc.clone(),
            None => match collect::operation(&prepared.doc, operation.as_deref()) {
                Some(def) => collected.to_document(&prepared.doc, def),
                None => prepared.doc.clone(),
            },
        });
        req
    }

    /// Executes an admitted query or mutation: a cacheable query's answer from the response
    /// cache, or read and offered to it; a mutation evicts what it wrote before answering.
    pub(super) async fn execute(&self, state: &AppState, admitted: Admitted, viewer: Viewer, tz: RequestTz) -> Answer {
        let collected = admitted.collected.clone();
        if collected.ty != OperationType::Query {
            let answer = self.execute_uncached(state, admitted, viewer, tz, None).await;
            super::cached::after_mutation(state, &collected).await;
            return answer;
        }
        let bound = self.bind(state, &admitted, &viewer);
        let cached = state.responses.as_ref().and_then(|c| Some((c, super::cached::tags(&bound)?)));
        let Some((cache, tags)) = cached else {
            return read(self.execute_uncached(state, admitted, viewer, tz, Some(bound)).await);
        };
        let key = super::cached::key(&admitted.req, &viewer, tz, &tags);
        if let Some(hit) = cache.get(&key) {
            return Answer::Read(hit);
        }
        let fill = cache.begin(&key);
        let answer = read(self.execute_uncached(state, admitted, viewer, tz, Some(bound)).await);
        // Field errors may be passing faults: such answers are not kept.
        let body = match &answer {
            Answer::Read(a) => Some(a.clone()),
            _ => None,
        };
        fill.finish(tags, body);
        answer
    }

    /// Admits and reads a query the direct writer answers, without writing it: what the
    /// writer's micro-benchmark replays (`bench/writer.rs`).
    pub async fn record(&self, state: &AppState, req: Request, viewer: Viewer) -> Result<Recorded, String> {
        let admitted =
            self.admit(state, req, &viewer, true).await.map_err(|_| "the request was refused".to_string())?;
        let bound = self.bind(state, &admitted, &viewer);
        if !bound.direct() {
            return Err("not a query the direct writer answers".into());
        }
        let reads = direct::read(state, &bound).await;
        Ok(Recorded { bound, collected: admitted.collected, reads })
    }

    pub(super) fn bind(&self, state: &AppState, admitted: &Admitted, viewer: &Viewer) -> Arc<plan::BoundOperation> {
        let _plan = tracing::debug_span!("graphql.plan").entered();
        let b = BindContext { viewer, limits: state.limits, vars: &admitted.req.variables };
        Arc::new(plan::bind(&b, &admitted.collected))
    }

    /// Executes an admitted query (bound already, or bound here) or mutation.
    async fn execute_uncached(
        &self,
        state: &AppState,
        admitted: Admitted,
        viewer: Viewer,
        tz: RequestTz,
        bound: Option<Arc<plan::BoundOperation>>,
    ) -> Answer {
        let bound = match bound {
            Some(b) => Some(b),
            None => (admitted.collected.ty == OperationType::Query).then(|| self.bind(state, &admitted, &viewer)),
        };
        let Admitted { req, prepared, collected } = admitted;
        if let Some(f) = direct::ingest_root(&collected) {
            return match direct::ingest(state, &viewer, f, &req.variables).await {
                Ok(json) => Answer::Json(json),
                Err(e) => errors(vec![api_error(e.error, Some(&e.key))]),
            };
        }
        if let Some(bound) = bound.as_ref().filter(|b| self.direct_reads && b.direct()) {
            self.direct_answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return match direct::execute(state, bound, &collected, tz.0).await {
                Ok(json) => Answer::Json(json),
                Err(e) => errors(vec![api_error(e.error, Some(&e.key))]),
            };
        }
        let req = self.plain_request(req, &prepared, &collected);
        let mut req = req.data(Validated).data(viewer).data(tz).data(Loaders::new(&state.db.read));
        if let Some(b) = bound {
            req = req.data(b);
        }
        if state.db.read.pinned.is_some() {
            // Resolvers read through this state's snapshot, not the schema's pool.
            req = req.data(state.clone());
        }
        let mut resp = self.schema.execute(req).await;
        complete::complete_response(&collected, &mut resp);
        for e in &mut resp.errors {
            with_code(e);
        }
        Answer::Graphql(resp)
    }
}

/// A query's answer with its entity tag. (Errors refused before execution stay `Rejected`.)
fn read(answer: Answer) -> Answer {
    match answer {
        // The direct writer puts field errors after `data`; an alias named `errors` is taken
        // for them too, which only costs that answer its place in the cache.
        Answer::Json(body) => {
            let ok = !body.contains(",\"errors\":");
            Answer::Read(Arc::new(Cached::new(body, ok)))
        }
        Answer::Graphql(resp) => match serde_json::to_string(&resp) {
            Ok(body) => Answer::Read(Arc::new(Cached::new(body, resp.errors.is_empty()))),
            Err(_) => Answer::Graphql(resp),
        },
        other => other,
    }
}

/// A direct query's plan and everything it read: its answer is `write`.
pub struct Recorded {
    bound: Arc<plan::BoundOperation>,
    collected: Arc<CollectedOperation>,
    reads: direct::Reads,
}

impl Recorded {
    /// The answer's text, as the direct executor writes it in the time zone `tz`.
    pub fn write(&self, tz: chrono_tz::Tz) -> Result<String, String> {
        direct::write(&self.bound, &self.collected, &self.reads, tz).map_err(|e| format!("{:?}", e.error))
    }
}

/// A request that passed every check before execution.
pub(super) struct Admitted {
    pub req: Request,
    pub prepared: Arc<Prepared>,
    pub collected: Arc<CollectedOperation>,
}

impl Answer {
    /// The answer as a GraphQL response value, for transports that write their own frames.
    pub fn into_response(self) -> Response {
        match self {
            Answer::Json(body) => match serde_json::from_str::<serde_json::Value>(&body) {
                Ok(mut v) => {
                    let data = v.get_mut("data").map(std::mem::take).unwrap_or_default();
                    let mut resp = Response::new(async_graphql::Value::from_json(data).unwrap_or_default());
                    if let Some(errs) = v.get_mut("errors").map(std::mem::take) {
                        resp.errors = serde_json::from_value(errs).unwrap_or_default();
                    }
                    resp
                }
                Err(_) => Response::from_errors(vec![api_error(ApiError::Internal("unreadable answer".into()), None)]),
            },
            Answer::Read(c) => Answer::Json(String::from_utf8_lossy(&c.body).into_owned()).into_response(),
            Answer::Graphql(resp) => resp,
            Answer::Rejected(errs) => Response::from_errors(errs),
            Answer::PostOnly => {
                Response::from_errors(vec![ServerError::new("only queries may be sent over GET", None)])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::text_nesting;

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert_eq!(text_nesting("{ a { b(x: \"{{{{\") } } # {{{{"), 3);
        assert_eq!(text_nesting("{ a(s: \"\"\"{{ \\\"\"\" {{\"\"\") }"), 2);
        assert_eq!(text_nesting(&"{a".repeat(10_000)), 10_000);
    }
}
