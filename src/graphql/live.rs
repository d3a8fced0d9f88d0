//! Subscriptions over a WebSocket (`run_socket`), and live queries as a subscription every
//! GraphQL client sends as it is:
//! `subscription { live { …any Query selection… } }`. The first event is the query's answer
//! under the `live` key (the same `data` the query answers, with its errors' paths below
//! `live`), then a new one each time a change touches what its plan read and the answer's bytes
//! differ (`cache::live` keeps identical subscriptions in one group and conflates
//! re-runs). A read whose sources the plan cannot see (series, buckets, users, workflow runs…)
//! is re-run on any change of any table. Memories live in the vector store, which sends no
//! change events: a live query of them answers once and then only after some table changes.
use super::cached;
use super::collect::{self, CollectedOperation};
use super::complete;
use super::context::RequestTz;
use super::pipeline::{api_error, with_code, Admitted, Answer, Pipeline, Validated};
use super::subscriptions::{held, Slots};
use super::SchemaParts;
use crate::auth::Viewer;
use crate::cache::live::{Latest, Run};
use crate::cache::responses::Cached;
use crate::error::ApiError;
use crate::loaders::Loaders;
use crate::AppState;
use async_graphql::dynamic::{FieldValue, SubscriptionField, SubscriptionFieldFuture, TypeRef};
use async_graphql::parser::types::OperationType;
use async_graphql::{Name, PathSegment, Request, Response, Value};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::any::TypeId;
use std::sync::Arc;

/// The subscription field that makes a query live.
pub const FIELD: &str = "live";

pub fn register(parts: SchemaParts) -> SchemaParts {
    // The pipeline serves this field before the executor would reach the resolver.
    let live = SubscriptionField::new(FIELD, TypeRef::named_nn("Query"), |_| {
        SubscriptionFieldFuture::new(async move {
            Err::<stream::Empty<async_graphql::Result<FieldValue<'static>>>, _>(
                ApiError::Internal("live queries are served by the pipeline".into()).into(),
            )
        })
    })
    .description(
        "Any query, kept current: the answer first, then a new answer each time a change (by anyone, plain SQL included) touches what it read and the answer differs. Identical live queries share one execution.",
    );
    SchemaParts { subscription: parts.subscription.field(live), ..parts }
}

/// Whether `op` is a live query.
pub(super) fn is_live(op: &CollectedOperation) -> bool {
    op.ty == OperationType::Subscription && op.roots.iter().any(|f| f.name.as_str() == FIELD)
}

/// The events of an admitted live query for one subscriber.
pub(super) fn serve(
    pipeline: Arc<Pipeline>,
    state: AppState,
    admitted: Admitted,
    viewer: Viewer,
    tz: RequestTz,
    session: &async_graphql::Data,
) -> BoxStream<'static, Response> {
    let refuse =
        |e: ApiError| stream::once(async move { Answer::Rejected(vec![api_error(e, None)]).into_response() }).boxed();
    let Admitted { req, prepared, collected } = admitted;
    let [root] = collected.roots.as_slice() else {
        return refuse(ApiError::bad("a live query is the only field of its subscription"));
    };
    let Some(def) = collect::operation(&prepared.doc, req.operation_name.as_deref()) else {
        return refuse(ApiError::Internal("operation vanished".into()));
    };
    let inner = Arc::new(CollectedOperation {
        ty: OperationType::Query,
        roots: root.children.clone(),
        introspection: collected.introspection,
    });
    let prepared = Arc::new(prepared.as_query(inner.to_document(&prepared.doc, def), inner.clone()));
    let (query, operation, variables) = (req.query.clone(), req.operation_name.clone(), req.variables.clone());
    let request = move || {
        let mut r = Request::new(query.clone()).variables(variables.clone());
        r.operation_name = operation.clone();
        r
    };
    let first = Admitted { req: request(), prepared: prepared.clone(), collected: inner.clone() };
    let tags = cached::tags(&pipeline.bind(&state, &first, &viewer));
    let key = cached::live_key(&first.req, &viewer, tz, tags.as_deref());
    let live = state.live.clone();
    let run: Run = Arc::new(move || {
        let admitted = Admitted { req: request(), prepared: prepared.clone(), collected: inner.clone() };
        let (pipeline, state) = (pipeline.clone(), state.clone());
        Box::pin(async move {
            match pipeline.execute(&state, admitted, viewer, tz).await {
                Answer::Read(a) => a,
                other => {
                    let resp = other.into_response();
                    let ok = resp.errors.is_empty();
                    Arc::new(Cached::new(serde_json::to_string(&resp).unwrap_or_default(), ok))
                }
            }
        })
    });
    let response_key = root.key.clone();
    let events = answers(live.join(key, tags, run)).map(move |c| under(&response_key, &c)).boxed();
    match session.get(&TypeId::of::<Slots>()).and_then(|s| s.downcast_ref::<Slots>()) {
        Some(slots) => held(slots, events).unwrap_or_else(refuse),
        None => events,
    }
}

/// The group's answers as this subscriber sees them: the latest one first (waiting for the
/// first run), then each new one; a slow subscriber skips to the latest.
fn answers(latest: Latest) -> BoxStream<'static, Arc<Cached>> {
    stream::unfold((latest, true), |(mut latest, first)| async move {
        if first {
            latest.wait_for(Option::is_some).await.ok()?;
        } else {
            latest.changed().await.ok()?;
        }
        let answer = latest.borrow_and_update().clone()?;
        Some((answer, (latest, false)))
    })
    .boxed()
}

/// A query's answer as the event of the subscription field `key`: its `data` under `key`,
/// its errors' paths below it.
fn under(key: &Name, answer: &Cached) -> Response {
    let mut resp = Answer::Read(Arc::new(Cached { body: answer.body.clone(), etag: String::new(), ok: answer.ok }))
        .into_response();
    let data = std::mem::take(&mut resp.data);
    resp.data = Value::Object([(key.clone(), data)].into_iter().collect());
    for e in &mut resp.errors {
        e.path.insert(0, PathSegment::Field(key.to_string()));
    }
    resp
}

impl Pipeline {
    /// Runs one operation sent over a WebSocket (or an HTTP event stream; `get`: from a URL, so
    /// not a mutation): a query or mutation answers once, exactly as
    /// over HTTP; a subscription streams its events, each rendered as the general executor
    /// renders a query of the same selection.
    pub async fn run_socket(
        self: Arc<Self>,
        state: AppState,
        req: Request,
        session: Arc<async_graphql::Data>,
        get: bool,
    ) -> BoxStream<'static, Response> {
        let viewer = session.get(&TypeId::of::<Viewer>()).and_then(|v| v.downcast_ref::<Viewer>()).copied();
        let tz = session.get(&TypeId::of::<RequestTz>()).and_then(|v| v.downcast_ref::<RequestTz>()).copied();
        let (viewer, tz) = (viewer.unwrap_or(state.unauthenticated), tz.unwrap_or(RequestTz(state.default_tz)));
        let admitted = match self.admit(&state, req, &viewer, false).await {
            Ok(a) => a,
            Err(refused) => return stream::once(async move { refused.into_response() }).boxed(),
        };
        if get && admitted.collected.ty == OperationType::Mutation {
            return stream::once(async move { Answer::PostOnly.into_response() }).boxed();
        }
        if admitted.collected.ty != OperationType::Subscription {
            let answer = self.execute(&state, admitted, viewer, tz).await;
            return stream::once(async move { answer.into_response() }).boxed();
        }
        if is_live(&admitted.collected) {
            return serve(self, state, admitted, viewer, tz, &session);
        }
        if super::streams::is_stream(&admitted.collected) {
            return super::streams::serve(self, state, admitted, viewer, tz, session).await;
        }
        let Admitted { req, prepared, collected } = admitted;
        let req = self.plain_request(req, &prepared, &collected).data(Validated).data(Loaders::new(&state.db.read));
        self.schema
            .execute_stream_with_session_data(req, session)
            .map(move |mut resp| {
                complete::complete_response(&collected, &mut resp);
                for e in &mut resp.errors {
                    with_code(e);
                }
                resp
            })
            .boxed()
    }
}
