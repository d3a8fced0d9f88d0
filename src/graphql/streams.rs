//! Table streams: `<list field>Stream(after:, where:, batchSize:)` for every table — its
//! inserted, updated and deleted rows in commit order (`data::stream`), under the access rules
//! of its list field, resumable from the cursor of any event. Without `after` the first event
//! is an empty batch holding the current position, so a subscriber that leaves before any
//! change still has a cursor to come back with. A stream reads only when a change of its table
//! is heard (or a gap, after which it reads to be sure): an idle stream runs no SQL.
use super::args::parse_where;
use super::context::viewer_of;
use super::subscriptions::slotted;
use super::SchemaParts;
use crate::data::catalog::{Catalog, Table};
use crate::data::query::{access, Cond};
use crate::data::stream::{Changed, Cursor};
use crate::error::{ApiError, ApiResult};
use crate::events::streams::Delivery;
use crate::AppState;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Object, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use futures_util::stream::{BoxStream, StreamExt};

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

fn field(t: &'static Table) -> SubscriptionField {
    let name = format!("{}Stream", t.list_field);
    SubscriptionField::new(name, TypeRef::named_nn(format!("{}Changes", t.type_name)), move |ctx| {
        SubscriptionFieldFuture::new(async move {
            let state = ctx.data::<AppState>()?.clone();
            let viewer = *viewer_of(&ctx);
            let mut conds = vec![access(t, &viewer)?];
            let arg = |name: &str| ctx.args.get(name).filter(|v| !v.is_null());
            if let Some(w) = arg("where") {
                conds.push(parse_where(t, &w.as_value().clone())?);
            }
            let batch = match arg("batchSize").map(|v| v.i64()).transpose()? {
                None => DEFAULT_BATCH,
                Some(n) if n >= 1 && n as u64 <= state.limits.max_page => n as u64,
                Some(_) => return Err(ApiError::bad(format!("batchSize: 1 to {}", state.limits.max_page)).into()),
            };
            let after = arg("after").map(|v| v.string().map(Cursor::decode)).transpose()?.transpose()?;
            let feed = state.streams.follow(&state.db.read, &state.events, t, Cond::All(conds), batch, after).await?;
            let events = futures_util::stream::unfold(Some(feed), |feed| async move {
                let mut feed = feed?;
                match feed.next().await {
                    Ok(d) => Some((Ok(d), Some(feed))),
                    // An error ends the stream after saying why.
                    Err(e) => Some((Err(e), None)),
                }
            })
            .boxed();
            let events: BoxStream<'static, ApiResult<Delivery>> = slotted(&ctx, events)?;
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
