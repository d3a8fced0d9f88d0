//! A federation subgraph (Apollo Federation v2): every table type is an entity keyed by its
//! primary key and by its natural key where that differs (`@key`, e.g. a ticker by `id` or by
//! `ticker region`), `_service { sdl }` gives a router this subgraph's schema, and
//! `_entities` resolves many representations with one statement per type, under the list
//! field's access rules: a row the caller may not see (or that does not exist) is `null`.
use super::context::{app_state, viewer_of};
use super::keyed::{self, Named};
use crate::data::catalog::{Catalog, Table};
use crate::data::values::Cell;
use crate::error::ApiError;
use async_graphql::dynamic::{FieldFuture, Object, ResolverContext};

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

/// `_entities(representations:)`: the rows the representations name, in their order.
pub fn entities(ctx: ResolverContext<'_>) -> FieldFuture<'_> {
    FieldFuture::new(async move {
        let state = app_state(&ctx)?;
        let reps = ctx.args.try_get("representations")?.list()?;
        let cat = Catalog::get();
        let mut named = Vec::with_capacity(reps.len());
        for rep in reps.iter() {
            let rep = rep.object()?;
            let ty = rep.try_get("__typename")?.string()?;
            let t =
                cat.by_type(ty).ok_or_else(|| ApiError::bad(format!("`{ty}` is not an entity of this subgraph")))?;
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
            named.push(Named { table: t, cols, key });
        }
        let rows = keyed::rows(&state.db.read, viewer_of(&ctx), &named).await?;
        Ok(Some(keyed::items(&ctx, rows)))
    })
}
