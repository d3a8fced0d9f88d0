//! Workflow runs as a work queue: workers claim pending runs one at a time, hold them under a
//! lease they renew, and a run whose lease lapses goes back to `pending` — or to `failed` once
//! it has been tried `max_attempts` times — so a worker that dies loses no run and no run is
//! worked twice at once.
use super::write;
use crate::data::catalog::{Catalog, Table};
use crate::data::db::Db;
use crate::data::query::{Cond, Op};
use crate::data::read::Row;
use crate::data::sql::Sql;
use crate::data::values::{Cell, Kind};
use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait, Value};
use uuid::Uuid;

fn runs() -> &'static Table {
    Catalog::get().table("workflow_execution_logs")
}

fn col(name: &str) -> usize {
    runs().col(name).expect("workflow_execution_logs column")
}

fn text(s: &str) -> Value {
    Value::String(Some(s.to_string()))
}

fn time(t: DateTime<Utc>) -> Value {
    Cell::DateTime(t).to_value(Kind::DateTime)
}

/// Runs `sql` (an `UPDATE … RETURNING "id"`) and reads back the rows it changed.
async fn changed(tx: &DatabaseTransaction, sql: Sql) -> ApiResult<Vec<Row>> {
    let ids = tx.query_all_raw(sql.statement()).await?;
    let keys = ids
        .iter()
        .map(|r| {
            Ok(vec![crate::data::exec::read_cell(
                r,
                0,
                Kind::Uuid,
                crate::data::sql::dialect::of(tx.get_database_backend()),
            )?])
        })
        .collect::<ApiResult<Vec<_>>>()?;
    write::reread(tx, runs(), &keys).await
}

/// Hands the oldest pending run (of `workflows`, when given) to `worker` until `lease_until`;
/// `None` when nothing is pending. Concurrent claims never get the same run: PostgreSQL's
/// claimants pass over a run another claimant has locked (`SKIP LOCKED`), SQLite runs one
/// writer at a time, and the update re-checks the status either way.
pub async fn claim(
    db: &Db,
    worker: &str,
    lease_until: DateTime<Utc>,
    workflows: Option<&[Uuid]>,
) -> ApiResult<Option<Row>> {
    let t = runs();
    let mut pending = Cond::Cmp(col("status"), Op::Eq, Cell::Text("pending".into()));
    if let Some(ids) = workflows {
        let of = Cond::In(col("workflow_id"), ids.iter().map(|u| Cell::Uuid(*u)).collect(), false);
        pending = Cond::All(vec![pending, of]);
    }
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("UPDATE \"workflow_execution_logs\" SET \"status\" = ").param(text("running"));
    sql.push(", \"claimed_by\" = ").param(text(worker));
    sql.push(", \"lease_expires_at\" = ").param(time(lease_until));
    sql.push(", \"attempts\" = \"attempts\" + 1 WHERE \"status\" = ").param(text("pending"));
    sql.push(" AND \"id\" = (SELECT a.\"id\" FROM \"workflow_execution_logs\" AS a WHERE ").cond("a", t, &pending);
    sql.order_by("a", t, &[(col("executed_at"), false), (col("id"), false)], false, &[]);
    sql.push(" LIMIT 1").push(db.dialect.skip_locked()).push(") RETURNING \"id\"");
    let tx = db.write.begin().await?;
    let row = changed(&tx, sql).await?.pop();
    tx.commit().await?;
    Ok(row)
}

/// Extends `worker`'s lease on run `id`; `CONFLICT` when the worker no longer holds it (the
/// lease lapsed and the run went back to the queue, or it finished).
pub async fn renew(db: &Db, id: Uuid, worker: &str, lease_until: DateTime<Utc>) -> ApiResult<Row> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("UPDATE \"workflow_execution_logs\" SET \"lease_expires_at\" = ").param(time(lease_until));
    sql.push(" WHERE \"id\" = ").param(Cell::Uuid(id).to_value(Kind::Uuid));
    sql.push(" AND \"status\" = ").param(text("running"));
    sql.push(" AND \"claimed_by\" = ").param(text(worker)).push(" RETURNING \"id\"");
    let tx = db.write.begin().await?;
    let row = changed(&tx, sql).await?.pop();
    tx.commit().await?;
    row.ok_or_else(|| ApiError::Conflict(format!("worker `{worker}` does not hold run {id}: claim another")))
}

/// Returns the runs whose lease lapsed before `now` to `pending`, or fails those already tried
/// `max_attempts` times; answers the rows it changed (to publish).
pub async fn expire(db: &Db, now: DateTime<Utc>, max_attempts: u32) -> ApiResult<Vec<Row>> {
    // Looked for first with a read: most sweeps find nothing, and a write would take SQLite's
    // one writer's lock from the requests for nothing.
    let mut probe = Sql::with_dialect(db.dialect);
    probe.push("SELECT 1 FROM \"workflow_execution_logs\" WHERE \"status\" = ").param(text("running"));
    probe.push(" AND \"lease_expires_at\" < ").param(time(now)).push(" LIMIT 1");
    if db.housekeeping.query_all_raw(probe.statement()).await?.is_empty() {
        return Ok(Vec::new());
    }
    let attempts = Value::Int(Some(max_attempts.min(i32::MAX as u32) as i32));
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("UPDATE \"workflow_execution_logs\" SET \"status\" = CASE WHEN \"attempts\" >= ")
        .param(attempts.clone())
        .push(" THEN ")
        .param(text("failed"))
        .push(" ELSE ")
        .param(text("pending"))
        .push(" END, \"error_message\" = CASE WHEN \"attempts\" >= ")
        .param(attempts)
        .push(" THEN ")
        .param(text("the worker's lease lapsed on its last attempt"))
        .push(" ELSE \"error_message\" END, \"claimed_by\" = NULL, \"lease_expires_at\" = NULL WHERE \"status\" = ")
        .param(text("running"))
        .push(" AND \"lease_expires_at\" < ")
        .param(time(now))
        .push(" RETURNING \"id\"");
    let tx = db.housekeeping.begin().await?;
    let rows = changed(&tx, sql).await?;
    tx.commit().await?;
    Ok(rows)
}
