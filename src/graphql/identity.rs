//! Relay object identity. Every table type implements `Node`: its `id` is its type and primary
//! key, as base64url (unpadded) JSON — `["Ticker",1]` — so it depends on nothing but the row,
//! and reads the same on every replica and after every restart. `node(id:)` and `nodes(ids:)`
//! fetch objects by it (`keyed`: one statement per type, under the list fields' access rules).
use super::context::{app_state, viewer_of};
use super::keyed::{self, Named};
use super::SchemaParts;
use crate::data::catalog::{Catalog, Table};
use crate::data::query::key_json;
use crate::data::read::Row;
use crate::data::values::Cell;
use crate::error::ApiError;
use async_graphql::dynamic::{Field, FieldFuture, InputValue, Interface, InterfaceField, Object, TypeRef};
use async_graphql::Value as GqlValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

pub const NODE: &str = "Node";

/// Most ids one `nodes` call may name (the request's other limits apply too).
const MAX_IDS: usize = 1000;

/// The global id of the row of `t` whose primary key is `key`.
pub fn encode(t: &Table, key: impl Iterator<Item = Cell>) -> String {
    let mut json = Vec::with_capacity(1 + t.pk.len());
    json.push(serde_json::Value::from(t.type_name));
    json.extend(key.map(|c| key_json(&c)));
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap_or_default())
}

/// The table and primary key an id names.
pub fn decode(id: &str) -> Result<Named, ApiError> {
    let bad = || ApiError::bad(format!("`{id}` is not an object id of this API"));
    let bytes = URL_SAFE_NO_PAD.decode(id.trim()).map_err(|_| bad())?;
    let json: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let (ty, key) = json.split_first().ok_or_else(bad)?;
    let ty = ty.as_str().ok_or_else(bad)?;
    let t = Catalog::get().by_type(ty).ok_or_else(bad)?;
    if key.len() != t.pk.len() {
        return Err(bad());
    }
    let key = key
        .iter()
        .zip(&t.pk)
        .map(|(v, &c)| Cell::from_json(v, t.columns[c].kind).map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    Ok(Named { table: t, cols: &t.pk, key })
}

/// `t`'s object type, made a `Node` with its `id` field.
pub fn node_type(obj: Object, t: &'static Table) -> Object {
    let field = Field::new("id", TypeRef::named_nn(TypeRef::ID), move |ctx| {
        let row = match ctx.parent_value.try_downcast_ref::<Row>() {
            Ok(row) => row,
            Err(e) => return FieldFuture::new(async move { Err::<Option<GqlValue>, _>(e) }),
        };
        let id = encode(t, t.pk.iter().map(|&c| row.cells[c].clone()));
        FieldFuture::from_value(Some(GqlValue::String(id)))
    });
    obj.implement(NODE).field(field.description("The object's global id: its type and key, opaque (`node(id:)`)."))
}

/// The `Node` interface and the root fields reading by id.
pub fn register(parts: SchemaParts) -> SchemaParts {
    let node = Interface::new(NODE)
        .description("An object with a global id, fetched again with `node(id:)` (Relay's object identification).")
        .field(InterfaceField::new("id", TypeRef::named_nn(TypeRef::ID)));
    let one = Field::new("node", TypeRef::named(NODE), |ctx| {
        FieldFuture::new(async move {
            let named = decode(ctx.args.try_get("id")?.string()?)?;
            let state = app_state(&ctx)?;
            let row = keyed::rows(&state.db.read, viewer_of(&ctx), &[named]).await?.pop().flatten();
            Ok(row.map(keyed::object))
        })
    })
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::ID)))
    .description("The object with this global id, or null when there is none the caller may see.");
    let many = Field::new("nodes", TypeRef::named_list_nn(NODE), |ctx| {
        FieldFuture::new(async move {
            let ids = ctx.args.try_get("ids")?.list()?;
            if ids.len() > MAX_IDS {
                return Err(ApiError::bad(format!("ids: at most {MAX_IDS}")).into());
            }
            let named = ids
                .iter()
                .map(|id| decode(id.string()?).map_err(Into::into))
                .collect::<async_graphql::Result<Vec<_>>>()?;
            let state = app_state(&ctx)?;
            let rows = keyed::rows(&state.db.read, viewer_of(&ctx), &named).await?;
            Ok(Some(keyed::items(&ctx, rows)))
        })
    })
    .argument(InputValue::new("ids", TypeRef::named_nn_list_nn(TypeRef::ID)))
    .description("The objects with these ids, in their order; null for each the caller may not see.");
    SchemaParts { builder: parts.builder.register(node), query: parts.query.field(one).field(many), ..parts }
}
