//! Reading the change log (migration `change_log`): a table's inserted, updated and deleted
//! rows in commit order, after a cursor, filtered like a list read. A cursor is the position
//! of the last change seen: the commit's sequence number and the change's place within it.
use super::catalog::Table;
use super::exec::{fetch, ReadConnection};
use super::query::Cond;
use super::read::Row;
use super::sql::{dialect, Sql};
use super::values::{Cell, Kind};
use crate::error::{ApiError, ApiResult};
use base64::Engine;

/// A position in the change log: after every change up to (`seq`, `id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub seq: i64,
    pub id: i64,
}

const PREFIX: &str = "qgchange:";

impl Cursor {
    pub fn encode(self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}:{}", self.seq, self.id))
    }

    pub fn decode(s: &str) -> ApiResult<Cursor> {
        let bad = || ApiError::bad("not a stream cursor: pass one a stream event gave");
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(text).map_err(|_| bad())?;
        let (seq, id) = text.strip_prefix(PREFIX).and_then(|r| r.split_once(':')).ok_or_else(bad)?;
        Ok(Cursor { seq: seq.parse().map_err(|_| bad())?, id: id.parse().map_err(|_| bad())? })
    }
}

/// What happened to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeOp {
    Insert,
    Update,
    Delete,
}

impl ChangeOp {
    pub fn name(self) -> &'static str {
        match self {
            ChangeOp::Insert => "INSERT",
            ChangeOp::Update => "UPDATE",
            ChangeOp::Delete => "DELETE",
        }
    }
}

/// One logged change: the row as written (as it was, for a delete) and its position.
pub struct Changed {
    pub op: ChangeOp,
    pub row: Row,
    pub cursor: Cursor,
}

/// The position after every change logged so far.
pub async fn head<C: ReadConnection>(db: &C) -> ApiResult<Cursor> {
    let d = dialect::of(db.get_database_backend());
    let mut sql = Sql::with_dialect(d);
    sql.push(d.change_log_head());
    let rows = fetch(db, sql, 0, &[Kind::BigInt, Kind::BigInt]).await?;
    match rows.first().map(|(_, c)| c.as_slice()) {
        Some([Cell::Int(seq), Cell::Int(id)]) => Ok(Cursor { seq: *seq, id: *id }),
        _ => Ok(Cursor { seq: 0, id: 0 }),
    }
}

/// Up to `limit` changes of `t` after `after` whose row matches `cond`, in commit order; an
/// error when changes after `after` were pruned already (checked after the read, so a prune
/// that overlapped it is seen).
pub async fn after<C: ReadConnection>(
    db: &C,
    t: &'static Table,
    cond: &Cond,
    after: Cursor,
    limit: u64,
) -> ApiResult<Vec<Changed>> {
    let d = dialect::of(db.get_database_backend());
    let all: Vec<usize> = (0..t.columns.len()).collect();
    let mut sql = Sql::with_dialect(d);
    sql.replan = true;
    sql.push("SELECT a.qg_seq, a.qg_id, a.qg_op, ").columns("a", t, &all).push(" FROM ");
    d.change_log(&mut sql, t, after.seq, after.id);
    sql.push(" a WHERE ").cond("a", t, cond).push(&format!(" ORDER BY a.qg_seq, a.qg_id LIMIT {limit}"));
    let mut kinds = vec![Kind::BigInt, Kind::BigInt, Kind::String];
    kinds.extend(t.columns.iter().map(|c| c.kind));
    let rows = fetch(db, sql, 0, &kinds).await?;
    let mut horizon = Sql::with_dialect(d);
    horizon.push(d.change_log_horizon());
    let oldest = match fetch(db, horizon, 0, &[Kind::BigInt]).await?.first().map(|(_, c)| c.as_slice()) {
        Some([Cell::Int(h)]) => *h,
        _ => 0,
    };
    if after.seq < oldest {
        return Err(ApiError::bad(
            "this cursor is older than the changes kept (QUANTGRAPH_STREAM_RETENTION_HOURS): read the table again and stream from a new cursor",
        ));
    }
    rows.into_iter()
        .map(|(_, mut cells)| {
            let rest = cells.split_off(3);
            let (Cell::Int(seq), Cell::Int(id)) = (&cells[0], &cells[1]) else {
                return Err(ApiError::Internal("change log position".into()));
            };
            let op = match &cells[2] {
                Cell::Text(op) if op.starts_with('I') => ChangeOp::Insert,
                Cell::Text(op) if op.starts_with('U') => ChangeOp::Update,
                Cell::Text(op) if op.starts_with('D') => ChangeOp::Delete,
                other => return Err(ApiError::Internal(format!("change log operation {other:?}"))),
            };
            Ok(Changed { op, row: Row::new(t, rest, d), cursor: Cursor { seq: *seq, id: *id } })
        })
        .collect()
}

/// Drops changes logged more than `secs` seconds ago.
pub async fn prune(db: &sea_orm::DatabaseConnection, secs: i64) -> ApiResult<()> {
    use sea_orm::ConnectionTrait;
    let d = dialect::of(db.get_database_backend());
    db.execute_unprepared(&d.change_log_prune(secs)).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_read_back_and_refuse_others() {
        let c = Cursor { seq: 42, id: 9_000_000_001 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("eyJ4IjoxfQ").is_err());
        assert!(Cursor::decode("not base64 !").is_err());
    }
}
