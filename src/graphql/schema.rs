//! Builds the GraphQL schema from the catalog: per table an object type, a connection,
//! `where` and `orderBy` inputs, a root list, a root one-row field and relation fields.
use super::context::{as_of_arg, limits, tz_of, viewer_of};
use super::plan::{BoundOperation, RootPlan};
use super::SchemaParts;
use crate::data::catalog::{Catalog, Column, Relation, Table, Words};
use crate::data::fetch::{self, Keep};
use crate::data::read;
use crate::data::read::{RelationKey, Row};
use crate::data::values::{Cell, Kind};
use crate::error::ApiError;
use crate::graphql::args;
use crate::graphql::args::list_query;
use crate::graphql::connection::{page_info, CountBy, Page, PageInfo};
use crate::graphql::shapes::{connection_type, edge_type, ConnectionWord, EdgeWord, PAGE_INFO};
use crate::loaders::{Loaders, RelationParent};
use crate::AppState;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar, TypeRef,
};
use async_graphql::{QueryPathSegment, Value as GqlValue};
use std::sync::Arc;

pub const SCALARS: [(&str, &str); 6] = [
    ("Decimal", "An exact decimal number, as a JSON string (e.g. \"71500.0000\")."),
    ("BigInt", "A 64-bit integer, as a JSON string."),
    ("Date", "A calendar date, `YYYY-MM-DD`."),
    ("DateTime", "An RFC 3339 date-time; rendered in the request's `Time-Zone` (stored in UTC)."),
    ("JSON", "Any JSON value."),
    ("UUID", "A UUID in its canonical text form."),
];

const FILTER_KINDS: [Kind; 10] = [
    Kind::Int,
    Kind::BigInt,
    Kind::Float,
    Kind::Decimal,
    Kind::String,
    Kind::Boolean,
    Kind::Date,
    Kind::DateTime,
    Kind::Json,
    Kind::Uuid,
];

pub fn filter_type(kind: Kind) -> String {
    format!("{}Filter", kind.scalar())
}

fn filter_input(kind: Kind) -> InputObject {
    let s = kind.scalar();
    let mut obj =
        InputObject::new(filter_type(kind)).description(format!("Conditions on a {s} column; all given must hold."));
    let ops: &[&str] = match kind {
        Kind::Json => &[],
        Kind::Boolean => &["eq", "ne"],
        Kind::Uuid => &["eq", "ne"],
        _ => &["eq", "ne", "lt", "lte", "gt", "gte"],
    };
    for op in ops {
        obj = obj.field(InputValue::new(*op, TypeRef::named(s)));
    }
    if !matches!(kind, Kind::Json | Kind::Boolean) {
        obj = obj.field(InputValue::new("in", TypeRef::named_nn_list(s)));
        obj = obj.field(InputValue::new("notIn", TypeRef::named_nn_list(s)));
    }
    if kind == Kind::String {
        obj = obj.field(
            InputValue::new("like", TypeRef::named(TypeRef::STRING))
                .description("SQL LIKE pattern (`%`, `_`), case-sensitive."),
        );
        obj =
            obj.field(InputValue::new("ilike", TypeRef::named(TypeRef::STRING)).description("Case-insensitive LIKE."));
    }
    obj.field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)))
}

fn column_type(c: &Column) -> TypeRef {
    if c.nullable {
        TypeRef::named(c.type_name())
    } else {
        TypeRef::named_nn(c.type_name())
    }
}

/// The enum of an enumerated column and its filter (equality and membership only).
fn words_types(w: Words) -> (Enum, InputObject) {
    let e = Enum::new(w.type_name).items(w.values.iter().copied());
    let mut f = InputObject::new(format!("{}Filter", w.type_name))
        .description(format!("Conditions on a {} column; all given must hold.", w.type_name));
    for op in ["eq", "ne"] {
        f = f.field(InputValue::new(op, TypeRef::named(w.type_name)));
    }
    for op in ["in", "notIn"] {
        f = f.field(InputValue::new(op, TypeRef::named_nn_list(w.type_name)));
    }
    (e, f.field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN))))
}

fn gql_err(e: ApiError) -> async_graphql::Error {
    e.into()
}

/// The field resolvers of a table's columns read the parent `Row`.
fn column_field(c: &Column, idx: usize) -> Field {
    let kind = c.kind;
    Field::new(c.field.clone(), column_type(c), move |ctx| {
        let tz = tz_of(&ctx);
        match ctx.parent_value.try_downcast_ref::<Row>() {
            Ok(row) => FieldFuture::from_value(Some(row.cells[idx].to_gql(kind, tz))),
            Err(e) => FieldFuture::new(async move { Err::<Option<GqlValue>, _>(e) }),
        }
    })
}

fn list_args(field: Field, t: &Table) -> Field {
    as_of_arg(field, t)
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("last", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("before", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("where", TypeRef::named(format!("{}Where", t.type_name))))
        .argument(InputValue::new("orderBy", TypeRef::named_nn_list(format!("{}OrderBy", t.type_name))))
}

fn relation_field(parent: &'static Table, rel: &'static Relation) -> Field {
    let target = Catalog::get().table(rel.target);
    let from: Vec<usize> = rel.from_cols.iter().map(|c| parent.col(c).expect("relation column")).collect();
    let ty =
        if rel.many { TypeRef::named_nn(connection_type(target.type_name)) } else { TypeRef::named(target.type_name) };
    let mut field = Field::new(rel.field, ty, move |ctx| {
        let from = from.clone();
        FieldFuture::new(async move {
            let row = ctx.parent_value.try_downcast_ref::<Row>()?;
            // A planned relation's rows were prefetched with its parent's; an unplanned one
            // (under a subscription or a root the plan left to its resolver) is batched per
            // level by the loaders.
            let (read, rows, count) = match planned_relation(&ctx) {
                Some(read) => {
                    let f = row.fetched(&read).ok_or_else(|| {
                        gql_err(ApiError::Internal(format!("`{}` was planned but not prefetched", rel.field)))
                    })?;
                    let (rows, count) = (f.rows.clone(), f.total.map(CountBy::Known));
                    (read, rows, count)
                }
                None => {
                    let query = list_query(target, ctx.args.as_index_map(), Some(rel), limits(&ctx), viewer_of(&ctx))
                        .map_err(gql_err)?;
                    let read = Arc::new(RelationKey { rel, query });
                    let key: Vec<Cell> = from.iter().map(|i| row.cells[*i].clone()).collect();
                    if key.iter().any(|c| matches!(c, Cell::Null)) {
                        (read, Arc::new(Vec::new()), Some(CountBy::Known(0)))
                    } else {
                        let loaders = ctx.data::<Loaders>()?;
                        let key = RelationParent::new(read.clone(), key);
                        let rows = loaders.rel.load_one(key.clone()).await.map_err(gql_err)?.unwrap_or_default();
                        (read, rows, Some(CountBy::Nested(key)))
                    }
                }
            };
            if rel.many {
                // A prefetched read without a planned count is counted through the loader.
                let count = match count {
                    Some(c) => c,
                    None => {
                        let key: Vec<Cell> = from.iter().map(|i| row.cells[*i].clone()).collect();
                        CountBy::Nested(RelationParent::new(read.clone(), key))
                    }
                };
                Ok(Some(FieldValue::owned_any(Page::new(target, rows, &read.query, count))))
            } else {
                Ok(rows.first().map(|r| FieldValue::owned_any(r.clone())))
            }
        })
    });
    if !rel.many {
        field = as_of_arg(field, target);
    }
    if rel.many {
        field = list_args(field, target);
        for (arg, col, _) in &rel.shortcuts {
            let kind = target.columns[target.col(col).expect("shortcut column")].kind;
            field = field.argument(InputValue::new(*arg, TypeRef::named(kind.scalar())));
        }
    }
    field
}

fn table_types(t: &'static Table) -> (Object, Object, Object, InputObject, InputObject) {
    let mut obj = super::identity::node_type(super::federation::keyed(Object::new(t.type_name), t), t);
    let mut wh = InputObject::new(format!("{}Where", t.type_name)).description(format!(
        "Filters on {}: every given column condition holds; `and`/`or`/`not` combine.",
        t.type_name
    ));
    let mut ob =
        InputObject::new(format!("{}OrderBy", t.type_name)).description("One column to order by, ASC or DESC.");
    for (i, c) in t.columns.iter().enumerate() {
        obj = obj.field(column_field(c, i));
        let filter = c.words.map_or_else(|| filter_type(c.kind), |w| format!("{}Filter", w.type_name));
        wh = wh.field(InputValue::new(c.field.clone(), TypeRef::named(filter)));
        if c.kind.orderable() {
            ob = ob.field(InputValue::new(c.field.clone(), TypeRef::named("SortDirection")));
        }
    }
    let wname = format!("{}Where", t.type_name);
    wh = wh
        .field(InputValue::new("and", TypeRef::named_nn_list(wname.clone())))
        .field(InputValue::new("or", TypeRef::named_nn_list(wname.clone())))
        .field(InputValue::new("not", TypeRef::named(wname)));
    for rel in &t.relations {
        obj = obj.field(relation_field(t, rel));
    }
    obj = super::aggregate::relation_fields(t, obj);
    let mut edge = Object::new(edge_type(t.type_name));
    for word in EdgeWord::ALL {
        edge = edge.field(match word {
            EdgeWord::Cursor => Field::new(word.name(), TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move {
                    let e = ctx.parent_value.try_downcast_ref::<Edge>()?;
                    Ok(Some(GqlValue::String(e.cursor.clone())))
                })
            }),
            EdgeWord::Node => Field::new(word.name(), TypeRef::named_nn(t.type_name), |ctx| {
                FieldFuture::new(async move {
                    let e = ctx.parent_value.try_downcast_ref::<Edge>()?;
                    Ok(Some(FieldValue::borrowed_any(&e.page_rows[e.idx])))
                })
            }),
        });
    }
    let mut conn = Object::new(connection_type(t.type_name));
    for word in ConnectionWord::ALL {
        conn = conn.field(connection_field(t, *word));
    }
    (obj, edge, conn, wh, ob)
}

/// The field `word` of the connection of `t`'s rows (a `Page`).
fn connection_field(t: &'static Table, word: ConnectionWord) -> Field {
    match word {
        ConnectionWord::Nodes => Field::new(word.name(), TypeRef::named_nn_list_nn(t.type_name), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                Ok(Some(FieldValue::list(page.visible().map(|r| FieldValue::borrowed_any(r)))))
            })
        }),
        ConnectionWord::Edges => Field::new(word.name(), TypeRef::named_nn_list_nn(edge_type(t.type_name)), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                let idx: Vec<usize> =
                    if page.reversed { (0..page.take).rev().collect() } else { (0..page.take).collect() };
                Ok(Some(FieldValue::list(idx.into_iter().map(|i| {
                    FieldValue::owned_any(Edge {
                        cursor: page.cursor(&page.rows[i]),
                        page_rows: page.rows.clone(),
                        idx: i,
                    })
                }))))
            })
        }),
        ConnectionWord::PageInfo => Field::new(word.name(), TypeRef::named_nn(PAGE_INFO), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                let mut rows = page.visible();
                let start = rows.next();
                let end = page.visible().last();
                Ok(Some(FieldValue::owned_any(PageInfo {
                    has_next: page.has_next,
                    has_prev: page.has_prev,
                    start: start.map(|r| page.cursor(r)),
                    end: end.map(|r| page.cursor(r)),
                })))
            })
        }),
        ConnectionWord::TotalCount => Field::new(word.name(), TypeRef::named_nn("BigInt"), |ctx| {
            FieldFuture::new(async move {
                let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                let n = match &page.count {
                    CountBy::Known(n) => *n,
                    CountBy::Root(cond) => {
                        let state = ctx.data::<AppState>()?;
                        read::count(&state.db.read, page.table, cond).await.map_err(gql_err)?
                    }
                    CountBy::Nested(key) => {
                        ctx.data::<Loaders>()?.count.load_one(key.clone()).await.map_err(gql_err)?.unwrap_or(0)
                    }
                    CountBy::NotPlanned => return Err(gql_err(ApiError::Internal("count not planned".into()))),
                };
                Ok(Some(GqlValue::String(n.to_string())))
            })
        }),
    }
}

struct Edge {
    cursor: String,
    page_rows: Arc<Vec<Row>>,
    idx: usize,
}

/// The plan the pipeline bound for this root field (by response key), if any.
fn root_plan<'a>(ctx: &ResolverContext<'a>) -> Option<&'a RootPlan> {
    let bound = ctx.data_opt::<Arc<BoundOperation>>()?;
    let f = ctx.field();
    bound.root(f.alias().unwrap_or_else(|| f.name()))
}

/// The read the pipeline planned for the relation field being resolved, found by its path.
fn planned_relation(ctx: &ResolverContext<'_>) -> Option<Arc<RelationKey>> {
    let bound = ctx.data_opt::<Arc<BoundOperation>>()?;
    let mut path = Vec::new();
    let mut node = ctx.path_node.as_ref();
    while let Some(n) = node {
        if let QueryPathSegment::Name(key) = n.segment {
            path.push(key);
        }
        node = n.parent;
    }
    path.reverse();
    bound.relation_at(&path).map(|r| r.read.clone())
}

/// The root list field of `t`.
fn root_list(t: &'static Table) -> Field {
    let f = Field::new(t.list_field, TypeRef::named_nn(connection_type(t.type_name)), move |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let db = &state.db.read;
            let page = match root_plan(&ctx) {
                Some(RootPlan::List { query, fetch, .. }) => {
                    let rows = fetch::page(db, query, fetch, Keep::Cells).await.map_err(gql_err)?;
                    Page::new(t, Arc::new(rows), query, CountBy::Root(query.base.clone()))
                }
                // Not planned (a query over a WebSocket, or arguments to report): relations
                // are batched per level by the loaders.
                _ => {
                    let q =
                        list_query(t, ctx.args.as_index_map(), None, state.limits, viewer_of(&ctx)).map_err(gql_err)?;
                    let rows = read::list(db, t, &q, None).await.map_err(gql_err)?;
                    Page::new(t, Arc::new(rows), &q, CountBy::Root(q.base.clone()))
                }
            };
            Ok(Some(FieldValue::owned_any(page)))
        })
    });
    list_args(f, t).description(format!("All {} rows visible to the caller, as a Relay connection.", t.type_name))
}

/// The root field for one row of `t` by its key.
fn root_one(t: &'static Table) -> Field {
    let mut f = Field::new(t.one_field.clone(), TypeRef::named(t.type_name), move |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let db = &state.db.read;
            let mut rows = match root_plan(&ctx) {
                Some(RootPlan::One { query, fetch, .. }) => {
                    fetch::one(db, query, fetch, Keep::Cells).await.map_err(gql_err)?.into_iter().collect()
                }
                _ => {
                    let q = args::one_query(t, ctx.args.as_index_map(), viewer_of(&ctx)).map_err(gql_err)?;
                    read::list(db, t, &q, None).await.map_err(gql_err)?
                }
            };
            rows.truncate(1);
            Ok(rows.pop().map(FieldValue::owned_any))
        })
    });
    for k in &t.key {
        let c = &t.columns[*k];
        f = f.argument(InputValue::new(c.field.clone(), TypeRef::named_nn(c.type_name())));
    }
    f.description(format!("One {} by its key, or null.", t.type_name))
}

/// Registers every generic type and root field; returns the query root to extend.
pub fn register(parts: SchemaParts) -> SchemaParts {
    let (mut builder, mut query) = (parts.builder, parts.query);
    for (name, desc) in SCALARS {
        builder = builder.register(Scalar::new(name).description(desc));
    }
    builder = builder.register(Enum::new("SortDirection").item("ASC").item("DESC")).register(page_info());
    for k in FILTER_KINDS {
        builder = builder.register(filter_input(k));
    }
    for w in Catalog::get().tables.iter().flat_map(|t| t.columns.iter().filter_map(|c| c.words)) {
        let (e, filter) = words_types(w);
        builder = builder.register(e).register(filter);
    }
    for t in &Catalog::get().tables {
        let (obj, edge, conn, wh, ob) = table_types(t);
        builder = builder.register(obj).register(edge).register(conn).register(wh).register(ob);
        query = query.field(root_list(t)).field(root_one(t));
    }
    SchemaParts { builder, query, ..parts }
}
