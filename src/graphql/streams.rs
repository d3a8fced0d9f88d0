//! Table streams: `<list field>Stream(after:, where:, batchSize:)` for every table — its
//! inserted, updated and deleted rows in commit order (`data::stream`), under the access rules
//! of its list field, resumable from the cursor of any event. Without `after` the first event
//! is an empty batch holding the current position, so a subscriber that leaves before any
//! change still has a cursor to come back with. A stream reads only when a change of its table
//! is heard (or a gap, after which it reads to be sure): an idle stream runs no SQL.
use super::args::parse_where;
use super::cached;
use super::collect::{CollectedField, CollectedOperation};
use super::complete;
use super::context::{viewer_of, RequestTz};
use super::pipeline::{api_error, with_code, Admitted, Answer, Pipeline, Validated};
use super::subscriptions::{held, slotted, Slots};
use super::SchemaParts;
use crate::auth::Viewer;
use crate::data::catalog::{Catalog, Table};
use crate::data::depends::Tag;
use crate::data::query::{access, Cond};
use crate::data::stream::{Changed, Cursor};
use crate::error::{ApiError, ApiResult};
use crate::events::streams::{Delivery, Feed};
use crate::loaders::Loaders;
use crate::AppState;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Object, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerError, Value};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::any::TypeId;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

/// Changes per event unless the subscriber asks otherwise.
const DEFAULT_BATCH: u64 = 100;

pub fn register(parts: SchemaParts) -> SchemaParts {
    let mut builder = parts.builder.register(
        Enum::new("ChangeOp").item("INSERT").item("UPDATE").item("DELETE").description("What a change did to its row."),
    );
    let mut subscription = parts.subscription;
    for t in &Catalog::get().tables {
        let (batch, change) = types(t);
        builder = builder.register(batch).register(change);
        subscription = subscription.field(field(t));
    }
    SchemaParts { builder, subscription, ..parts }
}

fn types(t: &'static Table) -> (Object, Object) {
    let change_type = format!("{}Change", t.type_name);
    let batch = Object::new(format!("{}Changes", t.type_name))
        .description(format!("Changes of {} rows, in commit order.", t.type_name))
        .field(Field::new("changes", TypeRef::named_nn_list_nn(&change_type), |ctx| {
            FieldFuture::new(async move {
                let b = ctx.parent_value.try_downcast_ref::<Delivery>()?;
                Ok(Some(FieldValue::list(b.changes().iter().map(|c| FieldValue::borrowed_any(c)))))
            })
        }))
        .field(
            Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let b = ctx.parent_value.try_downcast_ref::<Delivery>()?;
                    Ok(Some(FieldValue::value(b.cursor().encode())))
                })
            })
            .description("Pass as `after` to resume after these changes."),
        );
    let change = Object::new(change_type)
        .field(Field::new("op", TypeRef::named_nn("ChangeOp"), |ctx| {
            FieldFuture::new(async move {
                let c = ctx.parent_value.try_downcast_ref::<Changed>()?;
                Ok(Some(FieldValue::value(async_graphql::Value::Enum(async_graphql::Name::new(c.op.name())))))
            })
        }))
        .field(
            Field::new("row", TypeRef::named_nn(t.type_name), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Changed>()?;
                    Ok(Some(FieldValue::borrowed_any(&c.row)))
                })
            })
            .description("The row as written; as it was, for a delete."),
        )
        .field(
            Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let c = ctx.parent_value.try_downcast_ref::<Changed>()?;
                    Ok(Some(FieldValue::value(c.cursor.encode())))
                })
            })
            .description("Pass as `after` to resume after this change."),
        );
    (batch, change)
}

/// The resolver's events: the subscriber's feed, or (in the pipeline's hands) the one delivery
/// to render, or nothing once the feed is handed over.
async fn deliveries(
    ctx: &async_graphql::dynamic::ResolverContext<'_>,
    t: &'static Table,
) -> ApiResult<BoxStream<'static, ApiResult<Delivery>>> {
    if let Ok(one) = ctx.data::<RenderOne>() {
        let delivery = one.0.lock().expect("delivery").take();
        return Ok(stream::iter(delivery.map(Ok)).boxed());
    }
    let state = ctx.data::<AppState>().map_err(|_| ApiError::Internal("no state".into()))?.clone();
    let viewer = *viewer_of(ctx);
    let mut conds = vec![access(t, &viewer)?];
    let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
    if let Some(w) = arg("where") {
        conds.push(parse_where(t, &w.as_value().clone())?);
    }
    let bad = |e: async_graphql::Error| ApiError::bad(e.message);
    let batch = match arg("batchSize").map(|v| v.i64()).transpose().map_err(bad)? {
        None => DEFAULT_BATCH,
        Some(n) if n >= 1 && n as u64 <= state.limits.max_page => n as u64,
        Some(_) => return Err(ApiError::bad(format!("batchSize: 1 to {}", state.limits.max_page))),
    };
    let after = arg("after").map(|v| v.string().map(Cursor::decode)).transpose().map_err(bad)?.transpose()?;
    let feed = state.streams.follow(&state.db.read, &state.events, t, Cond::All(conds), batch, after).await?;
    if let Ok(handoff) = ctx.data::<HandOff>() {
        *handoff.0.lock().expect("feed") = Some(feed);
        return Ok(stream::empty().boxed());
    }
    let events = stream::unfold(Some(feed), |feed| async move {
        let mut feed = feed?;
        match feed.next().await {
            Ok(d) => Some((Ok(d), Some(feed))),
            // An error ends the stream after saying why.
            Err(e) => Some((Err(e), None)),
        }
    })
    .boxed();
    slotted(ctx, events)
}

fn field(t: &'static Table) -> SubscriptionField {
    let name = format!("{}Stream", t.list_field);
    SubscriptionField::new(name, TypeRef::named_nn(format!("{}Changes", t.type_name)), move |ctx| {
        SubscriptionFieldFuture::new(async move {
            let events = deliveries(&ctx, t).await?;
            Ok(events.map(|r| r.map(FieldValue::owned_any).map_err(Into::into)))
        })
    })
    .argument(
        InputValue::new("after", TypeRef::named(TypeRef::STRING))
            .description("A cursor from an earlier event: resume after it. Without it: from now on."),
    )
    .argument(InputValue::new("where", TypeRef::named(format!("{}Where", t.type_name))))
    .argument(InputValue::new("batchSize", TypeRef::named(TypeRef::INT)).description("Most changes per event (100)."))
    .description(format!(
        "Every insert, update and delete of {} rows visible to the caller, in commit order, each once, resumable by cursor.",
        t.type_name
    ))
}

/// Request data: the resolver hands the subscriber's feed to the pipeline instead of following it.
#[derive(Clone, Default)]
struct HandOff(Arc<Mutex<Option<Feed>>>);

/// Request data: the resolver's one event, to be rendered.
struct RenderOne(Mutex<Option<Delivery>>);

/// Whether `op` is a table stream (its one root field).
pub(super) fn is_stream(op: &CollectedOperation) -> bool {
    op.ty == OperationType::Subscription
        && matches!(op.roots.as_slice(), [root] if Catalog::get().tables.iter().any(|t| {
            root.name.strip_suffix("Stream") == Some(t.list_field)
        }))
}

/// The tables whose rows a stream's selection shows (its own, its relations'), so that its
/// rendering key names the caller only where one of them is owner-scoped.
fn shown(roots: &[CollectedField]) -> Vec<Tag> {
    let cat = Catalog::get();
    let mut tags = Vec::new();
    let mut todo: Vec<&CollectedField> = roots.iter().collect();
    while let Some(f) = todo.pop() {
        if let Some(t) = f.ty.as_ref().and_then(|ty| cat.by_type(&ty.named)) {
            tags.push(Tag::Table(t.name));
        }
        todo.extend(&f.children);
    }
    tags
}

/// An executor's answer as rendered once and handed to many.
struct Rendered {
    data: Value,
    errors: Vec<ServerError>,
}

/// The events of an admitted table stream for one subscriber: each batch rendered once for all
/// subscribers with the same key (document, variables, role, caller, time zone).
pub(super) async fn serve(
    pipeline: Arc<Pipeline>,
    state: AppState,
    admitted: Admitted,
    viewer: Viewer,
    tz: RequestTz,
    session: Arc<async_graphql::Data>,
) -> BoxStream<'static, Response> {
    let Admitted { req, prepared, collected } = admitted;
    let key = cached::key(&req, &viewer, tz, &shown(&collected.roots));
    let (query, operation, variables) = (req.query.clone(), req.operation_name.clone(), req.variables.clone());
    let executed = {
        let (pipeline, state, session) = (pipeline.clone(), state.clone(), session.clone());
        move |data: Box<dyn FnOnce(Request) -> Request + Send>| {
            let mut r = Request::new(query.clone()).variables(variables.clone());
            r.operation_name = operation.clone();
            let r = pipeline.plain_request(r, &prepared, &collected).data(Validated).data(Loaders::new(&state.db.read));
            let mut responses = pipeline.schema.execute_stream_with_session_data(data(r), session.clone());
            let collected = collected.clone();
            async move {
                let mut resp = responses.next().await?;
                complete::complete_response(&collected, &mut resp);
                resp.errors.iter_mut().for_each(with_code);
                Some(resp)
            }
        }
    };
    // The resolver checks the arguments and access and makes the feed (or says why not).
    let handoff = HandOff::default();
    let given = handoff.clone();
    if let Some(refused) = executed(Box::new(move |r| r.data(given))).await {
        return stream::once(async move { refused }).boxed();
    }
    let Some(feed) = handoff.0.lock().expect("feed").take() else {
        let e = api_error(ApiError::Internal("the stream made no feed".into()), None);
        return stream::once(async move { Answer::Rejected(vec![e]).into_response() }).boxed();
    };
    let events = stream::unfold(Some(feed), move |feed| {
        let (executed, key, renders) = (executed.clone(), key.clone(), state.clone());
        async move {
            let mut feed = feed?;
            let delivery = match feed.next().await {
                Ok(d) => d,
                // An error ends the stream after saying why.
                Err(e) => return Some((Answer::Rejected(vec![api_error(e, None)]).into_response(), None)),
            };
            let rendering = delivery.rendering(&key);
            let made = rendering
                .get_or_init(|| async move {
                    renders.streams.renders.fetch_add(1, Relaxed);
                    let one = RenderOne(Mutex::new(Some(delivery)));
                    let resp = executed(Box::new(move |r| r.data(one))).await.unwrap_or_default();
                    Arc::new(Rendered { data: resp.data, errors: resp.errors }) as Arc<dyn std::any::Any + Send + Sync>
                })
                .await;
            let made = made.downcast_ref::<Rendered>().expect("a stream rendering");
            let mut resp = Response::new(made.data.clone());
            resp.errors = made.errors.clone();
            Some((resp, Some(feed)))
        }
    })
    .boxed();
    match session.get(&TypeId::of::<Slots>()).and_then(|s| s.downcast_ref::<Slots>()) {
        Some(slots) => held(slots, events).unwrap_or_else(|e| {
            let e = api_error(e, None);
            stream::once(async move { Answer::Rejected(vec![e]).into_response() }).boxed()
        }),
        None => events,
    }
}
