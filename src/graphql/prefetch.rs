//! Level-by-level prefetching of selected relations.
//!
//! When a list is read, the selection below it is known, so every selected relation is read
//! for all rows at once — one statement per relation level, with no batching timers — and
//! attached to the parent rows. Relation resolvers use what was attached and fall back to
//! the DataLoader for anything not anticipated.
use super::args::{list_query, Limits};
use super::catalog::{Catalog, Relation, Table};
use super::read::{self, Row};
use super::scalars::Cell;
use crate::auth::Viewer;
use crate::error::ApiResult;
use async_graphql::indexmap::IndexMap;
use async_graphql::SelectionField;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub struct Ctx<'a> {
    pub db: &'a DatabaseConnection,
    pub viewer: &'a Viewer,
    pub limits: Limits,
}

/// The signature that identifies one relation read; resolvers look results up by it.
pub fn signature(parent: &Table, rel: &Relation, q: &super::args::ListQuery) -> String {
    format!("{}.{}:{:?}", parent.name, rel.field, q)
}

/// The object-level selections under a connection field (`nodes { … }` and `edges { node { … } }`).
pub fn node_selections<'a>(conn: SelectionField<'a>) -> Vec<SelectionField<'a>> {
    let mut out = Vec::new();
    for f in conn.selection_set() {
        match f.name() {
            "nodes" => out.extend(f.selection_set()),
            "edges" => {
                for e in f.selection_set() {
                    if e.name() == "node" {
                        out.extend(e.selection_set());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Reads every relation selected in `sel` for all `rows` and attaches the results.
pub fn prefetch<'a>(
    cx: &'a Ctx<'a>,
    t: &'static Table,
    rows: &'a mut [Row],
    sel: Vec<SelectionField<'a>>,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(());
        }
        for f in sel {
            let Some(rel) = t.relations.iter().find(|r| r.field == f.name()) else { continue };
            let target = Catalog::get().table(rel.target);
            let Ok(args) = f.arguments() else { continue };
            let args: IndexMap<_, _> = args.into_iter().collect();
            // Invalid arguments are reported by the field's own resolver.
            let Ok(q) = list_query(target, &args, Some(rel), cx.limits, cx.viewer) else { continue };
            let sig = signature(t, rel, &q);
            if rows[0].children.contains_key(&sig) {
                continue;
            }
            let from: Vec<usize> = rel.from_cols.iter().map(|c| t.col(c).expect("relation column")).collect();
            let mut parents: Vec<Vec<Cell>> = Vec::new();
            let mut parent_of_row: Vec<Option<usize>> = Vec::with_capacity(rows.len());
            for row in rows.iter() {
                let key: Vec<Cell> = from.iter().map(|i| row.cells[*i].clone()).collect();
                if key.iter().any(|c| matches!(c, Cell::Null)) {
                    parent_of_row.push(None);
                    continue;
                }
                let p = match parents.iter().position(|k| *k == key) {
                    Some(p) => p,
                    None => {
                        parents.push(key);
                        parents.len() - 1
                    }
                };
                parent_of_row.push(Some(p));
            }
            let fetched = if parents.is_empty() {
                Vec::new()
            } else if rel.many {
                read::batch_many(cx.db, target, rel, &q, &parents).await?
            } else {
                read::batch_one(cx.db, target, rel, &q.cond, &parents).await?
            };
            let (owners, mut children): (Vec<usize>, Vec<Row>) = fetched.into_iter().unzip();
            let below = if rel.many { node_selections(f) } else { f.selection_set().collect() };
            prefetch(cx, target, &mut children, below).await?;
            let mut per: Vec<Vec<Row>> = (0..parents.len()).map(|_| Vec::new()).collect();
            for (p, child) in owners.into_iter().zip(children) {
                per[p].push(child);
            }
            let per: Vec<Arc<Vec<Row>>> = per.into_iter().map(Arc::new).collect();
            let empty = Arc::new(Vec::new());
            for (row, p) in rows.iter_mut().zip(parent_of_row) {
                let v = p.map(|p| per[p].clone()).unwrap_or_else(|| empty.clone());
                row.children.insert(sig.clone(), v);
            }
        }
        Ok(())
    })
}
