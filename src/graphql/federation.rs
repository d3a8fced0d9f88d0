//! A federation subgraph (Apollo Federation v2): every table type is an entity keyed by its
//! primary key and by its natural key where that differs (`@key`, e.g. a ticker by `id` or by
//! `ticker region`), `_service { sdl }` gives a router this subgraph's schema, and
//! `_entities` resolves many representations with one statement per type, under the list
//! field's access rules: a row the caller may not see (or that does not exist) is `null`.
use super::context::{app_state, viewer_of};
use crate::data::catalog::{Catalog, Table};
use crate::data::query::{access, Cond, ListQuery};
use crate::data::read;
use crate::data::values::Cell;
use crate::error::ApiError;
use async_graphql::dynamic::{FieldFuture, FieldValue, Object, ResolverContext};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextResolve, ResolveInfo,
};
use async_graphql::{QueryPathSegment, ServerResult};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The column sets an entity of `t` may be named by: its primary key, and its natural key.
fn keys(t: &'static Table) -> Vec<&'static [usize]> {
    let mut keys = vec![t.pk.as_slice()];
    if !t.key.is_empty() && t.key != t.pk {
        keys.push(t.key.as_slice());
    }
    keys
}

/// `obj` declared an entity of `t`, by each of its keys.
pub fn keyed(obj: Object, t: &'static Table) -> Object {
    keys(t).into_iter().fold(obj, |obj, key| {
        let fields: Vec<&str> = key.iter().map(|&c| t.columns[c].field.as_str()).collect();
        obj.key(fields.join(" "))
    })
}

/// Representations of one type by one key: the type, the key's columns, and each
/// representation's place and key cells.
type Wanted = (&'static Table, &'static [usize], Vec<(usize, Vec<Cell>)>);

/// `_entities(representations:)`: the rows the representations name, in their order.
pub fn entities(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let state = app_state(&ctx)?;
        let viewer = *viewer_of(&ctx);
        let reps = ctx.args.try_get("representations")?.list()?;
        let cat = Catalog::get();
        let mut wanted: Vec<Wanted> = Vec::new();
        for (i, rep) in reps.iter().enumerate() {
            let rep = rep.object()?;
            let ty = rep.try_get("__typename")?.string()?;
            let t = cat
                .tables
                .iter()
                .find(|t| t.type_name == ty)
                .ok_or_else(|| ApiError::bad(format!("`{ty}` is not an entity of this subgraph")))?;
            let cols = keys(t)
                .into_iter()
                .find(|k| k.iter().all(|&c| rep.get(&t.columns[c].field).is_some()))
                .ok_or_else(|| ApiError::bad(format!("`{ty}` is named by one of its @key field sets")))?;
            let mut key = Vec::with_capacity(cols.len());
            for &c in cols {
                let col = &t.columns[c];
                let v = rep.get(&col.field).expect("checked above");
                key.push(
                    Cell::parse(v.as_value(), col.kind).map_err(|e| ApiError::bad(format!("`{}`: {e}", col.field)))?,
                );
            }
            match wanted.iter_mut().find(|(w, k, _)| std::ptr::eq(*w, t) && *k == cols) {
                Some((_, _, named)) => named.push((i, key)),
                None => wanted.push((t, cols, vec![(i, key)])),
            }
        }
        // Until found, each place holds a marker the executor never resolves (`NullEntities`).
        let mut out: Vec<Option<FieldValue>> = (0..reps.len()).map(|_| None).collect();
        for (t, cols, named) in wanted {
            // A type the caller may not read at all: its entities are null, as its rows are unseen.
            let Ok(allowed) = access(t, &viewer) else { continue };
            let matching = match cols {
                [c] => Cond::In(*c, named.iter().map(|(_, k)| k[0].clone()).collect(), false),
                cols => Cond::TupleIn(cols.to_vec(), named.iter().map(|(_, k)| k.clone()).collect()),
            };
            let q =
                ListQuery::matching(Cond::All(vec![allowed, matching]), t.default_order.clone(), named.len() as u64);
            let rows = read::list(&state.db.read, t, &q, None).await?;
            for (i, key) in named {
                let found = rows.iter().find(|r| cols.iter().zip(&key).all(|(&c, k)| r.cells[c] == *k));
                if let Some(row) = found {
                    out[i] = Some(FieldValue::owned_any(row.clone()).with_type(t.type_name));
                }
            }
        }
        let absent = ctx.data::<Absent>().ok();
        let out = out.into_iter().enumerate().map(|(i, v)| {
            v.unwrap_or_else(|| {
                if let Some(absent) = absent {
                    absent.0.lock().expect("absent entities").insert(i);
                }
                FieldValue::NULL.with_type("_Absent")
            })
        });
        Ok(Some(FieldValue::list(out)))
    })
}

/// The places of `_entities` whose representation named nothing the caller may see.
#[derive(Clone, Default)]
struct Absent(Arc<Mutex<HashSet<usize>>>);

/// Answers `null` at those places. (async-graphql resolves every item of a list of a union,
/// and has no null item of one: the resolver marks them, and this hook skips them.)
pub struct NullEntities;

impl ExtensionFactory for NullEntities {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullEntities)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for NullEntities {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        let request = match request.query.contains("_entities") {
            true => request.data(Absent::default()),
            false => request,
        };
        next.run(ctx, request).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        if info.return_type == "_Entity" {
            if let (Some(absent), QueryPathSegment::Index(i)) = (ctx.data_opt::<Absent>(), &info.path_node.segment) {
                if absent.0.lock().expect("absent entities").contains(i) {
                    return Ok(None);
                }
            }
        }
        next.run(ctx, info).await
    }
}
