//! The generic writes of one table, each in one transaction: create, idempotent upsert,
//! update and delete. Rows arrive validated (`write::complete_row`); what was written comes back
//! so the caller can answer and publish it.
use super::rules::Values;
use super::write;
use crate::data::catalog::Table;
use crate::data::db::Db;
use crate::data::query::{Cond, ListQuery};
use crate::data::read::{self, Row};
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use sea_orm::TransactionTrait;

/// Inserts `rows`, all or none; returns them as stored.
pub async fn create(db: &Db, t: &'static Table, rows: Vec<Values>) -> ApiResult<Vec<Row>> {
    let tx = db.write.begin().await?;
    let (keys, _) = write::insert(&tx, t, rows, false).await?;
    let out = write::reread(&tx, t, &keys).await?;
    tx.commit().await?;
    Ok(out)
}

/// What an upsert did: rows new and rows replaced, and the rows to publish when `t` is live.
pub struct Upserted {
    pub inserted: u64,
    pub updated: u64,
    pub events: Vec<Row>,
}

/// Upserts `rows` on the primary key, all or none: a retried batch neither duplicates nor loses.
pub async fn upsert(db: &Db, t: &'static Table, rows: Vec<Values>) -> ApiResult<Upserted> {
    let tx = db.write.begin().await?;
    let n = rows.len() as u64;
    // Where the insert cannot tell which rows were new, ask beforehand.
    let before =
        if db.dialect.inserts_from_arrays() { None } else { Some(write::count_existing(&tx, t, &rows).await?) };
    // Rows with columns the database fills (ohlcv_data.id) are read back so events carry them.
    let live = crate::events::is_live(t);
    let reread = live && t.columns.iter().any(|c| c.auto);
    let keys: Vec<Vec<Cell>> = if reread {
        rows.iter()
            .map(|r| {
                t.pk.iter().map(|p| r.iter().find(|(c, _)| c == p).map_or(Cell::Null, |(_, v)| v.clone())).collect()
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut events: Vec<Row> =
        if live && !reread { rows.iter().map(|r| write::as_row(t, r)).collect() } else { Vec::new() };
    let (_, new) = write::insert(&tx, t, rows, true).await?;
    // In chunks: each key is several bind parameters, and a statement takes at most 65,535.
    for chunk in keys.chunks(2000) {
        events.extend(write::reread(&tx, t, chunk).await?);
    }
    let existing = before.unwrap_or_else(|| n - new.unwrap_or(0));
    tx.commit().await?;
    Ok(Upserted { inserted: n - existing, updated: existing, events })
}

/// Replaces the rows matching `cond` (a user's own set) with `rows`, all or none.
pub async fn replace(db: &Db, t: &'static Table, cond: &Cond, rows: Vec<Values>) -> ApiResult<Vec<Row>> {
    let tx = db.write.begin().await?;
    write::delete(&tx, t, cond).await?;
    let (keys, _) = write::insert(&tx, t, rows, false).await?;
    let out = write::reread(&tx, t, &keys).await?;
    tx.commit().await?;
    Ok(out)
}

/// Applies `patch` to the row matching `cond` (none is `NOT_FOUND`); returns the row found by
/// `after` — the same condition, unless the patch changes what it tests.
pub async fn update_one(db: &Db, t: &'static Table, cond: &Cond, patch: &Values, after: Cond) -> ApiResult<Row> {
    let tx = db.write.begin().await?;
    if write::update(&tx, t, cond, patch).await? == 0 {
        return Err(ApiError::NotFound(format!("no such {}", t.type_name)));
    }
    let q = ListQuery::matching(after, t.default_order.clone(), 1);
    let row =
        read::list(&tx, t, &q, None).await?.into_iter().next().ok_or_else(|| ApiError::NotFound(t.type_name.into()))?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes the rows matching `cond`; none is `NOT_FOUND`.
pub async fn delete(db: &Db, t: &'static Table, cond: &Cond) -> ApiResult<()> {
    let tx = db.write.begin().await?;
    let n = write::delete(&tx, t, cond).await?;
    tx.commit().await?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("no such {}", t.type_name)));
    }
    Ok(())
}
