//! Generic mutations from the catalog: create, create-many, update, delete and idempotent
//! upsert (ingest) per writable table, with role checks, validation and one transaction each.
use super::context::{app_state as state, viewer_of};
use super::SchemaParts;
use crate::auth::{Role, Viewer};
use crate::data::catalog::{Access, Catalog, Mutation, Owner, Table, Writers};
use crate::data::query::{Cond, Op};
use crate::data::read::Row;
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use crate::service::rules::Values;
use crate::service::tables;
use crate::service::write;
use crate::AppState;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::Value as GqlValue;
use std::collections::HashSet;
use uuid::Uuid;

/// The owner column of a user-owned table.
fn owner_col(t: &Table) -> Option<usize> {
    match t.access {
        Access::Owned(Owner::Column(c)) => t.col(c),
        _ => None,
    }
}

/// Whether `viewer` may write `t`; for owned tables, the owner to write as.
pub fn may_write(t: &Table, viewer: &Viewer) -> ApiResult<Option<(usize, Uuid)>> {
    let allowed = match t.writers {
        Writers::Admin => viewer.role == Role::Admin,
        Writers::Service => matches!(viewer.role, Role::Service | Role::Admin),
        Writers::Research => matches!(viewer.role, Role::Analyst | Role::Admin),
        Writers::Owner => viewer.user.is_some() && viewer.role != Role::Anonymous,
        Writers::None => false,
    };
    if viewer.role == Role::Anonymous {
        return Err(ApiError::Unauthenticated("sign in to write".into()));
    }
    if !allowed {
        return Err(ApiError::Forbidden(format!("your role may not write {}", t.type_name)));
    }
    Ok(match (t.writers, owner_col(t), viewer.user) {
        (Writers::Owner, Some(c), Some(u)) => Some((c, u)),
        _ => None,
    })
}

fn writable(t: &Table, i: usize, owner: Option<usize>) -> bool {
    let c = &t.columns[i];
    !c.auto && c.expr.is_none() && Some(i) != owner
}

fn input_types(t: &Table) -> Vec<InputObject> {
    let owner = owner_col(t);
    let mut input = InputObject::new(t.input_name.clone()).description(format!("A new {} row.", t.type_name));
    let mut patch = InputObject::new(format!("{}Patch", t.type_name))
        .description(format!("Changes to a {}; absent fields stay.", t.type_name));
    for (i, c) in t.columns.iter().enumerate() {
        if !writable(t, i, owner) {
            continue;
        }
        let required = !c.nullable && !c.has_default;
        let ty = if required { TypeRef::named_nn(c.type_name()) } else { TypeRef::named(c.type_name()) };
        input = input.field(InputValue::new(c.field.clone(), ty));
        if !t.key.contains(&i) && !t.pk.contains(&i) {
            patch = patch.field(InputValue::new(c.field.clone(), TypeRef::named(c.type_name())));
        }
    }
    let mut out = vec![input];
    if t.mutations.iter().any(|m| matches!(m, Mutation::Update(_))) {
        out.push(patch);
    }
    out
}

/// A GraphQL input object of `t` as the write service's column values (`owner` fills the owner
/// column); `at` names it in messages.
pub(crate) fn parse_input(
    t: &Table,
    obj: &async_graphql::indexmap::IndexMap<async_graphql::Name, GqlValue>,
    at: &str,
    owner: Option<(usize, Uuid)>,
    create: bool,
) -> ApiResult<Values> {
    let mut row: Values = Vec::with_capacity(obj.len() + 2);
    for (name, v) in obj {
        let i = t.col_by_field(name).ok_or_else(|| ApiError::bad(format!("{at}.{name}: unknown field")))?;
        write::check_writable(t, i, at, owner)?;
        let cell = Cell::parse(v, t.columns[i].kind).map_err(|e| ApiError::bad(format!("{at}.{name}: {e}")))?;
        row.push((i, cell));
    }
    write::complete_row(t, row, at, owner, create)
}

fn object(v: &GqlValue) -> ApiResult<&async_graphql::indexmap::IndexMap<async_graphql::Name, GqlValue>> {
    match v {
        GqlValue::Object(o) => Ok(o),
        _ => Err(ApiError::bad("expected an input object")),
    }
}

fn list(v: Option<&GqlValue>) -> ApiResult<&Vec<GqlValue>> {
    match v {
        Some(GqlValue::List(l)) => Ok(l),
        _ => Err(ApiError::bad("expected a list")),
    }
}

/// The key condition of `t` from key arguments, plus the caller's access restriction.
fn key_cond(t: &Table, ctx: &ResolverContext<'_>, viewer: &Viewer) -> ApiResult<Cond> {
    let q = crate::graphql::args::one_query(t, ctx.args.as_index_map(), viewer)?;
    Ok(q.cond)
}

async fn create(ctx: &ResolverContext<'_>, t: &'static Table, many: Option<&str>) -> ApiResult<Vec<Row>> {
    let state = state(ctx)?;
    let viewer = viewer_of(ctx);
    let owner = may_write(t, viewer)?;
    let args = ctx.args.as_index_map();
    let rows: Vec<Values> = match many {
        None => {
            vec![parse_input(t, object(args.get("input").unwrap_or(&GqlValue::Null))?, "input", owner, true)?]
        }
        Some(arg) => list(args.get(arg))?
            .iter()
            .enumerate()
            .map(|(i, v)| parse_input(t, object(v)?, &format!("{arg}[{i}]"), owner, true))
            .collect::<ApiResult<_>>()?,
    };
    let out = tables::create(&state.db, t, rows).await?;
    crate::events::publish_rows(state, t, &out);
    Ok(out)
}

async fn upsert(ctx: &ResolverContext<'_>, t: &'static Table, arg: &str) -> ApiResult<(u64, u64)> {
    upsert_rows(state(ctx)?, viewer_of(ctx), t, arg, ctx.args.as_index_map().get(arg)).await
}

/// The idempotent upsert behind `ingestOhlcv`, `ingestCandles`, …: validate every row, then
/// one transaction. Returns (inserted, updated).
pub async fn upsert_rows(
    state: &AppState,
    viewer: &Viewer,
    t: &'static Table,
    arg: &str,
    items: Option<&GqlValue>,
) -> ApiResult<(u64, u64)> {
    may_write(t, viewer)?;
    let items = list(items)?;
    let mut rows = Vec::with_capacity(items.len());
    let mut seen = HashSet::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let at = format!("{arg}[{i}]");
        let row = parse_input(t, object(v)?, &at, None, true)?;
        let mut key = String::new();
        for p in &t.pk {
            if let Some((_, v)) = row.iter().find(|(c, _)| c == p) {
                let _ = std::fmt::Write::write_fmt(&mut key, format_args!("{v:?}\u{1f}"));
            }
        }
        if !seen.insert(key) {
            return Err(ApiError::bad(format!("{at}: the same key appears earlier in this batch")));
        }
        rows.push(row);
    }
    let done = tables::upsert(&state.db, t, rows).await?;
    // Published after commit; PostgreSQL's triggers skip the gateway's own writes.
    crate::events::publish_rows(state, t, &done.events);
    Ok((done.inserted, done.updated))
}

/// The row an update or delete targets: its key, restricted to the caller's own rows.
fn target(ctx: &ResolverContext<'_>, t: &'static Table) -> ApiResult<Cond> {
    let viewer = viewer_of(ctx);
    let owner = may_write(t, viewer)?;
    let cond = key_cond(t, ctx, viewer)?;
    Ok(match owner {
        Some((c, u)) if !viewer.is_admin() => Cond::All(vec![cond, Cond::Cmp(c, Op::Eq, Cell::Uuid(u))]),
        _ => cond,
    })
}

async fn update(ctx: &ResolverContext<'_>, t: &'static Table) -> ApiResult<Row> {
    let state = state(ctx)?;
    let cond = target(ctx, t)?;
    let patch =
        parse_input(t, object(ctx.args.as_index_map().get("patch").unwrap_or(&GqlValue::Null))?, "patch", None, false)?;
    let row = tables::update_one(&state.db, t, &cond, &patch, cond.clone()).await?;
    crate::events::publish_rows(state, t, std::slice::from_ref(&row));
    Ok(row)
}

async fn delete(ctx: &ResolverContext<'_>, t: &'static Table) -> ApiResult<bool> {
    let state = state(ctx)?;
    let cond = target(ctx, t)?;
    tables::delete(&state.db, t, &cond).await?;
    Ok(true)
}

fn key_args(mut f: Field, t: &Table) -> Field {
    for k in &t.key {
        let c = &t.columns[*k];
        f = f.argument(InputValue::new(c.field.clone(), TypeRef::named_nn(c.type_name())));
    }
    f
}

fn field(t: &'static Table, m: Mutation) -> Field {
    match m {
        Mutation::Create(name) => Field::new(name, TypeRef::named_nn(t.type_name), move |ctx| {
            FieldFuture::new(async move {
                let rows = create(&ctx, t, None).await?;
                Ok(rows.into_iter().next().map(FieldValue::owned_any))
            })
        })
        .argument(InputValue::new("input", TypeRef::named_nn(t.input_name.clone())))
        .description(format!("Adds one {}.", t.type_name)),
        Mutation::CreateMany(name, arg) => Field::new(name, TypeRef::named_nn_list_nn(t.type_name), move |ctx| {
            FieldFuture::new(async move {
                let rows = create(&ctx, t, Some(arg)).await?;
                Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
            })
        })
        .argument(InputValue::new(arg, TypeRef::named_nn_list_nn(t.input_name.clone())))
        .description(format!("Adds {} rows: all or none.", t.type_name)),
        Mutation::Upsert(name, arg) => Field::new(name, TypeRef::named_nn("IngestResult"), move |ctx| {
            FieldFuture::new(async move {
                let (inserted, updated) = upsert(&ctx, t, arg).await?;
                Ok(Some(FieldValue::owned_any(IngestResult { inserted, updated })))
            })
        })
        .argument(InputValue::new(arg, TypeRef::named_nn_list_nn(t.input_name.clone())))
        .description(format!(
            "Inserts or updates {} rows by key, all or none; a retried batch changes nothing.",
            t.type_name
        )),
        Mutation::Update(name) => key_args(
            Field::new(name, TypeRef::named_nn(t.type_name), move |ctx| {
                FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(update(&ctx, t).await?))) })
            }),
            t,
        )
        .argument(InputValue::new("patch", TypeRef::named_nn(format!("{}Patch", t.type_name))))
        .description(format!("Changes one {}.", t.type_name)),
        Mutation::Delete(name) => key_args(
            Field::new(name, TypeRef::named_nn(TypeRef::BOOLEAN), move |ctx| {
                FieldFuture::new(async move { Ok(Some(GqlValue::Boolean(delete(&ctx, t).await?))) })
            }),
            t,
        )
        .description(format!("Deletes one {} (and what depends on it).", t.type_name)),
    }
}

pub struct IngestResult {
    pub inserted: u64,
    pub updated: u64,
}

/// Registers the input types and adds every table's mutations to `mutation`.
pub fn register(parts: SchemaParts) -> SchemaParts {
    let (mut builder, mut mutation) = (parts.builder, parts.mutation);
    let count = |name: &'static str, f: fn(&IngestResult) -> u64| {
        Field::new(name, TypeRef::named_nn(TypeRef::INT), move |ctx| {
            FieldFuture::new(async move {
                Ok(Some(GqlValue::from(f(ctx.parent_value.try_downcast_ref::<IngestResult>()?))))
            })
        })
    };
    builder = builder.register(
        Object::new("IngestResult")
            .description("Rows of an idempotent batch: newly inserted and updated in place.")
            .field(count("inserted", |r| r.inserted))
            .field(count("updated", |r| r.updated)),
    );
    for t in &Catalog::get().tables {
        if t.mutations.is_empty() {
            continue;
        }
        for i in input_types(t) {
            builder = builder.register(i);
        }
        for m in &t.mutations {
            mutation = mutation.field(field(t, *m));
        }
    }
    SchemaParts { builder, mutation, ..parts }
}
