//! Executing a bound read: a root page (or one row) and, level by level, every relation it
//! selects, read for all parents of a level in one statement. The planner describes what to
//! read (`FetchPlan`); this is the one place that reads it, for the direct writer and the
//! general executor alike, and the relation loaders read through the same two calls.
use super::catalog::{Catalog, Table};
use super::exec::ReadPool;
use super::query::ListQuery;
use super::read::{self, PrefetchedRelation, Projection, RelationKey, Row};
use super::values::Cell;
use crate::error::ApiResult;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;

/// What one level reads: columns, and each distinct relation read with its own next level.
#[derive(Debug)]
pub struct FetchPlan {
    pub table: &'static Table,
    pub cols: Vec<usize>,
    pub reads: Vec<RelationFetchPlan>,
}

#[derive(Debug)]
pub struct RelationFetchPlan {
    pub key: Arc<RelationKey>,
    pub target: &'static Table,
    /// Whether `totalCount` is shown, so the rows per parent are counted too.
    pub count: bool,
    pub next: FetchPlan,
}

/// How a read's rows are kept: decoded into cells (for resolvers), or as PostgreSQL sent them
/// where reads run on tokio-postgres (for the direct writer, which shows their bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    Cells,
    Wire,
}

/// One page of `query` over `plan.table` (one row past it), its relations prefetched.
pub async fn page(db: &ReadPool, query: &ListQuery, plan: &FetchPlan, keep: Keep) -> ApiResult<Vec<Row>> {
    let mut rows = rows(db, query, plan, keep).await?;
    prefetch(db, plan, &mut rows, keep).await?;
    Ok(rows)
}

/// The first row `query` selects, its relations prefetched.
pub async fn one(db: &ReadPool, query: &ListQuery, plan: &FetchPlan, keep: Keep) -> ApiResult<Option<Row>> {
    let mut rows = rows(db, query, plan, keep).await?;
    rows.truncate(1);
    prefetch(db, plan, &mut rows, keep).await?;
    Ok(rows.pop())
}

/// The rows of `query`'s own level, kept as `keep` asks where it can be.
async fn rows(db: &ReadPool, query: &ListQuery, plan: &FetchPlan, keep: Keep) -> ApiResult<Vec<Row>> {
    let kept = match keep {
        Keep::Wire => read::list_wire(db, plan.table, query, Some(&plan.cols)).await,
        Keep::Cells => None,
    };
    match kept {
        Some(rows) => rows,
        None => read::list(db, plan.table, query, Some(&plan.cols)).await,
    }
}

/// The rows of one relation read for every parent (by the parents' index), in one statement.
pub async fn relation_rows(
    db: &ReadPool,
    key: &RelationKey,
    parents: &[Vec<Cell>],
    cols: Projection<'_>,
    keep: Keep,
) -> ApiResult<Vec<Vec<Row>>> {
    let target = Catalog::get().table(key.rel.target);
    let wire = keep == Keep::Wire;
    let rows = if key.rel.many {
        read::batch_many(db, target, key.rel, &key.query, parents, cols, wire).await?
    } else {
        read::batch_one(db, target, key.rel, &key.query.cond, parents, cols, wire).await?
    };
    let mut per: Vec<Vec<Row>> = (0..parents.len()).map(|_| Vec::new()).collect();
    for (p, row) in rows {
        per[p].push(row);
    }
    Ok(per)
}

/// The size of one to-many relation read's whole list for every parent, in one statement.
pub async fn relation_counts(db: &ReadPool, key: &RelationKey, parents: &[Vec<Cell>]) -> ApiResult<Vec<i64>> {
    let target = Catalog::get().table(key.rel.target);
    let mut totals = vec![0; parents.len()];
    for (p, n) in read::batch_count(db, target, key.rel, &key.query.base, parents).await? {
        totals[p] = n;
    }
    Ok(totals)
}

/// The distinct non-null keys of `from` among `rows`, and for each row the index of its key.
fn parents_of(rows: &[Row], from: &[usize]) -> (Vec<Vec<Cell>>, Vec<Option<usize>>) {
    let mut parents: Vec<Vec<Cell>> = Vec::new();
    let mut index: HashMap<Vec<Cell>, usize> = HashMap::new();
    let mut parent_of_row = Vec::with_capacity(rows.len());
    for row in rows {
        let key: Vec<Cell> = from.iter().map(|i| row.cell(*i)).collect();
        if key.iter().any(|c| matches!(c, Cell::Null)) {
            parent_of_row.push(None);
            continue;
        }
        let n = parents.len();
        let p = *index.entry(key.clone()).or_insert(n);
        if p == n {
            parents.push(key);
        }
        parent_of_row.push(Some(p));
    }
    (parents, parent_of_row)
}

/// Reads the relations of `plan` for all `rows` at once, level by level, and attaches them.
pub fn prefetch<'a>(
    db: &'a ReadPool,
    plan: &'a FetchPlan,
    rows: &'a mut [Row],
    keep: Keep,
) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(());
        }
        for r in &plan.reads {
            let from: Vec<usize> =
                r.key.rel.from_cols.iter().map(|c| plan.table.col(c).expect("relation column")).collect();
            let (parents, parent_of_row) = parents_of(rows, &from);
            let (per, totals) = if parents.is_empty() {
                (Vec::new(), Vec::new())
            } else {
                let per = relation_rows(db, &r.key, &parents, Some(&r.next.cols), keep).await?;
                let totals =
                    if r.count { relation_counts(db, &r.key, &parents).await? } else { vec![0; parents.len()] };
                (per, totals)
            };
            // The next level is read for the children of every parent at once.
            let sizes: Vec<usize> = per.iter().map(Vec::len).collect();
            let mut children: Vec<Row> = per.into_iter().flatten().collect();
            prefetch(db, &r.next, &mut children, keep).await?;
            let mut children = children.into_iter();
            let per: Vec<PrefetchedRelation> = sizes
                .into_iter()
                .zip(totals)
                .map(|(n, total)| PrefetchedRelation {
                    key: r.key.clone(),
                    rows: Arc::new(children.by_ref().take(n).collect()),
                    total: r.count.then_some(total),
                })
                .collect();
            let none =
                PrefetchedRelation { key: r.key.clone(), rows: Arc::new(Vec::new()), total: r.count.then_some(0) };
            for (row, p) in rows.iter_mut().zip(parent_of_row) {
                row.fetched.push(p.map(|p| per[p].clone()).unwrap_or_else(|| none.clone()));
            }
        }
        Ok(())
    })
}
