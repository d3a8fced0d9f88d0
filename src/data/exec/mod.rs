//! Running reads: the read pool (sea-orm's, and tokio-postgres's on PostgreSQL), retries on
//! connections that died with their server, and decoding the rows into cells.
pub mod pg;
pub mod pg_binary;
mod rows;
pub mod standby;

pub use rows::observe;
use rows::{Placed, READ_RETRIES};

use super::sql::{dialect::Dialect, Sql};
use super::values::{parse_decimal, Cell, Kind};
use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, NaiveDate, Utc};
use pg::PgReads;
use rust_decimal::Decimal;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, Statement,
};
use std::sync::Arc;
use uuid::Uuid;

/// A connection reads run on: the sea-orm ones, and `ReadPool`, which on PostgreSQL runs them
/// through tokio-postgres where it can (`exec::pg`).
pub trait ReadConnection: ConnectionTrait {
    fn pg_reads(&self) -> Option<&PgReads> {
        None
    }
}

impl ReadConnection for DatabaseConnection {}
impl ReadConnection for DatabaseTransaction {}

/// The read pool: sea-orm's, and on PostgreSQL (unless `QUANTGRAPH_PG_READ_DRIVER=sqlx`)
/// tokio-postgres's for the reads of `fetch`. With a standby, each statement goes to it only
/// when it has replayed every change known here, to the primary otherwise (`standby.rs`).
#[derive(Clone)]
pub struct ReadPool {
    pub conn: DatabaseConnection,
    pub pg: Option<Arc<PgReads>>,
    pub standby: Option<Arc<standby::Standby>>,
    /// A read-only transaction every statement runs in instead (`snapshot`): reads that agree.
    pub pinned: Option<Arc<DatabaseTransaction>>,
}

impl ReadPool {
    /// This pool with every statement in one read-only transaction, which sees one snapshot of
    /// the database (PostgreSQL: `REPEATABLE READ`; SQLite: a deferred transaction, whose
    /// snapshot in WAL mode is taken at its first read). Statements then queue on its one
    /// connection; `finish` ends it.
    pub async fn snapshot(&self) -> ApiResult<ReadPool> {
        use sea_orm::{AccessMode, IsolationLevel, TransactionTrait};
        let conn = self.route().0;
        let txn = match conn.get_database_backend() {
            DbBackend::Postgres => {
                conn.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
            }
            _ => conn.begin().await,
        }
        .map_err(ApiError::from)?;
        Ok(ReadPool { pinned: Some(Arc::new(txn)), ..self.clone() })
    }

    /// Ends a `snapshot`'s transaction (it wrote nothing) once no one holds this pool.
    pub async fn finish(self) {
        if let Some(txn) = self.pinned.and_then(|t| Arc::try_unwrap(t).ok()) {
            let _ = txn.rollback().await;
        }
    }

    /// Where the next statement runs: the standby's pools, or the primary's while it is behind.
    fn route(&self) -> (&DatabaseConnection, Option<&PgReads>) {
        match &self.standby {
            Some(s) if !s.fresh() => {
                s.count(false);
                (&s.primary, s.primary_pg.as_deref())
            }
            Some(s) => {
                s.count(true);
                (&self.conn, self.pg.as_deref())
            }
            None => (&self.conn, self.pg.as_deref()),
        }
    }
}

impl ReadConnection for ReadPool {
    fn pg_reads(&self) -> Option<&PgReads> {
        match self.pinned {
            Some(_) => None,
            None => self.route().1,
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadPool {
    fn get_database_backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match &self.pinned {
            Some(txn) => txn.execute_raw(stmt).await,
            None => self.route().0.execute_raw(stmt).await,
        }
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match &self.pinned {
            Some(txn) => txn.execute_unprepared(sql).await,
            None => self.route().0.execute_unprepared(sql).await,
        }
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match &self.pinned {
            Some(txn) => txn.query_one_raw(stmt).await,
            None => self.route().0.query_one_raw(stmt).await,
        }
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match &self.pinned {
            Some(txn) => txn.query_all_raw(stmt).await,
            None => self.route().0.query_all_raw(stmt).await,
        }
    }
}

async fn read_retrying<C: ReadConnection>(
    db: &C,
    stmt: sea_orm::Statement,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    let mut tries = 0;
    loop {
        match db.query_all_raw(stmt.clone()).await {
            Err(e) if tries < READ_RETRIES && crate::error::is_broken_connection(&e) => tries += 1,
            done => return done,
        }
    }
}

/// Runs `sql` and reads `kinds` from the first columns after `skip` leading ones.
pub async fn fetch<C: ReadConnection>(
    db: &C,
    sql: Sql,
    skip: usize,
    kinds: &[Kind],
) -> ApiResult<Vec<(i64, Vec<Cell>)>> {
    fetch_placed(db, sql, skip, kinds, None).await
}

/// As `fetch`, with the `i`th decoded cell placed at `slots[i]` of a row `width` cells wide
/// (the others `Null`): table rows read straight into their column positions.
pub async fn fetch_placed<C: ReadConnection>(
    db: &C,
    sql: Sql,
    skip: usize,
    kinds: &[Kind],
    place: Option<(&[usize], usize)>,
) -> ApiResult<Vec<(i64, Vec<Cell>)>> {
    if let Some(pg) = db.pg_reads() {
        if let Some(done) = pg.fetch(&sql.text, &sql.values, sql.replan, skip, kinds, place).await {
            return done;
        }
    }
    let dialect = sql.dialect;
    let rows = read_retrying(db, sql.statement()).await?;
    let wires = rows.first().and_then(|r| pg_binary::wires(r, skip, kinds));
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let lead = if skip > 0 {
            row.try_get_by_index::<i64>(0).or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))?
        } else {
            0
        };
        let mut cells = Placed::new(place, kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            let wire = wires.as_ref().and_then(|w| w[i]);
            let cell = match wire.and_then(|w| pg_binary::cell(row, skip + i, w)) {
                Some(cell) => cell,
                None => read_cell(row, skip + i, *k, dialect)?,
            };
            cells.put(i, cell);
        }
        out.push((lead, cells.into_cells()));
    }
    Ok(out)
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Cell) -> Cell {
    v.map(f).unwrap_or(Cell::Null)
}

/// ReadPool column `i` of `row` as `kind` (decimals may be stored as text: see the migrations).
pub fn read_cell(row: &QueryResult, i: usize, kind: Kind, dialect: &dyn Dialect) -> ApiResult<Cell> {
    let cell = match kind {
        Kind::Int => match row.try_get_by_index::<Option<i32>>(i) {
            Ok(v) => opt(v, |v| Cell::Int(v as i64)),
            Err(_) => opt(row.try_get_by_index::<Option<i64>>(i)?, Cell::Int),
        },
        Kind::BigInt => opt(row.try_get_by_index::<Option<i64>>(i)?, Cell::Int),
        Kind::Float => opt(row.try_get_by_index::<Option<f64>>(i)?, Cell::Float),
        Kind::Decimal if dialect.decimals_as_text() => {
            match row.try_get_by_index::<Option<String>>(i) {
                Ok(v) => match v {
                    Some(s) => {
                        Cell::Decimal(parse_decimal(&s).map_err(|_| ApiError::Internal(format!("bad decimal {s}")))?)
                    }
                    None => Cell::Null,
                },
                // A row written by another program as a number.
                Err(_) => opt(row.try_get_by_index::<Option<f64>>(i)?, |f| {
                    Cell::Decimal(Decimal::from_f64_retain(f).unwrap_or_default().normalize())
                }),
            }
        }
        Kind::Decimal => opt(row.try_get_by_index::<Option<Decimal>>(i)?, Cell::Decimal),
        Kind::String => opt(row.try_get_by_index::<Option<String>>(i)?, Cell::Text),
        Kind::Boolean => opt(row.try_get_by_index::<Option<bool>>(i)?, Cell::Bool),
        Kind::Date => opt(row.try_get_by_index::<Option<NaiveDate>>(i)?, Cell::Date),
        Kind::DateTime => opt(row.try_get_by_index::<Option<DateTime<Utc>>>(i)?, Cell::DateTime),
        Kind::Json => opt(row.try_get_by_index::<Option<serde_json::Value>>(i)?, |j| Cell::Json(Box::new(j))),
        Kind::Uuid => opt(row.try_get_by_index::<Option<Uuid>>(i)?, Cell::Uuid),
    };
    Ok(cell)
}
