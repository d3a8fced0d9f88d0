//! Reads on PostgreSQL through tokio-postgres. sqlx (under sea-orm) hands each row through an
//! async stream with an allocation per row and type checks per cell; on a page of 500 rows
//! that was about half of the gateway's CPU per request. Here a statement's rows arrive as one
//! buffer each and cells are decoded from PostgreSQL's binary format (`pg_binary`).
//!
//! Only what this path can answer exactly as sqlx would is run here: bind values of the types
//! below, result columns with a binary decoder for their kind, no TLS. Anything else returns
//! `None` before running and the caller reads through sea-orm as before.
use super::pg_binary::{self, Wire};
use super::rows::{observe, Placed, READ_RETRIES};
use crate::data::values::{Cell, Kind};
use crate::error::{ApiError, ApiResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime, Timeouts};
use futures_util::TryStreamExt;
use sea_orm::sea_query::ArrayType;
use sea_orm::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

/// Prepared statements kept per connection before the cache is emptied (distinct texts come
/// from `IN` lists of different lengths, so the set is not bounded by the schema).
const MAX_PREPARED: usize = 256;

/// A statement's text, and whether it is planned afresh on each run (`Sql::replan`).
#[derive(Clone, Copy)]
struct Text<'a> {
    sql: &'a str,
    replan: bool,
}

pub struct PgReads {
    pool: Pool,
    statements: Arc<AtomicU64>,
}

/// A bind value as PostgreSQL gets it, and its declared type (the types sqlx declares, so
/// plans are the same).
type Param = (Box<dyn ToSql + Sync + Send>, Type);

fn param(v: &Value) -> Option<Param> {
    Some(match v {
        Value::Bool(b) => (Box::new(*b), Type::BOOL),
        Value::Int(i) => (Box::new(*i), Type::INT4),
        Value::BigInt(i) => (Box::new(*i), Type::INT8),
        Value::Double(f) => (Box::new(*f), Type::FLOAT8),
        Value::String(s) => (Box::new(s.clone()), Type::TEXT),
        Value::ChronoDate(d) => (Box::new(*d), Type::DATE),
        Value::ChronoDateTimeUtc(t) => (Box::new(*t), Type::TIMESTAMPTZ),
        Value::Decimal(d) => (Box::new(*d), Type::NUMERIC),
        Value::Uuid(u) => (Box::new(u.map(UuidParam)), Type::UUID),
        Value::Json(j) => (Box::new(j.as_deref().cloned()), Type::JSONB),
        Value::Array(ty, Some(items)) => return array(ty, items),
        _ => return None,
    })
}

/// An array parameter (the parent keys of a batched read, the columns of a bulk insert): its
/// items, which hold no NULL (those travel in a flag array), as one typed array.
fn array(ty: &ArrayType, items: &[Value]) -> Option<Param> {
    fn each<T: ToSql + Sync + Send + 'static>(
        items: &[Value],
        ty: Type,
        f: impl Fn(&Value) -> Option<T>,
    ) -> Option<Param> {
        let items: Vec<T> = items.iter().map(f).collect::<Option<_>>()?;
        Some((Box::new(items), ty))
    }
    match ty {
        ArrayType::Bool => each(items, Type::BOOL_ARRAY, |v| if let Value::Bool(b) = v { *b } else { None }),
        ArrayType::Int => each(items, Type::INT4_ARRAY, |v| if let Value::Int(i) = v { *i } else { None }),
        ArrayType::BigInt => each(items, Type::INT8_ARRAY, |v| if let Value::BigInt(i) = v { *i } else { None }),
        ArrayType::Double => each(items, Type::FLOAT8_ARRAY, |v| if let Value::Double(f) = v { *f } else { None }),
        ArrayType::String => each(items, Type::TEXT_ARRAY, |v| if let Value::String(s) = v { s.clone() } else { None }),
        ArrayType::ChronoDate => {
            each(items, Type::DATE_ARRAY, |v| if let Value::ChronoDate(d) = v { *d } else { None })
        }
        ArrayType::ChronoDateTimeUtc => {
            each(items, Type::TIMESTAMPTZ_ARRAY, |v| if let Value::ChronoDateTimeUtc(t) = v { *t } else { None })
        }
        ArrayType::Decimal => each(items, Type::NUMERIC_ARRAY, |v| if let Value::Decimal(d) = v { *d } else { None }),
        ArrayType::Uuid => {
            each(items, Type::UUID_ARRAY, |v| if let Value::Uuid(u) = v { u.map(UuidParam) } else { None })
        }
        _ => None,
    }
}

/// A UUID as its 16 bytes (`uuid_send`).
#[derive(Debug)]
struct UuidParam(uuid::Uuid);

impl ToSql for UuidParam {
    fn to_sql(&self, _: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
    tokio_postgres::types::to_sql_checked!();
}

/// A cell's bytes as they came, for `pg_binary` to decode.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The connection broke under the statement, or none could be had: another try may work.
fn broken(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.is_closed()
        || e.as_db_error().is_some_and(|d| {
            [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW].contains(d.code())
        })
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

fn unreachable_now(e: impl std::fmt::Display) -> ApiError {
    tracing::warn!(error = %e, "database unreachable");
    ApiError::database_unreachable()
}

impl PgReads {
    /// A pool of `size` connections to `url`, opened as needed; `None` where this path does
    /// not go (TLS asked for).
    pub fn new(url: &str, size: usize, statements: Arc<AtomicU64>) -> anyhow::Result<Option<PgReads>> {
        let config: tokio_postgres::Config = url.parse()?;
        if !matches!(config.get_ssl_mode(), SslMode::Disable | SslMode::Prefer) {
            return Ok(None);
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let timeouts = Timeouts {
            wait: Some(Duration::from_secs(10)),
            create: Some(Duration::from_secs(10)),
            recycle: Some(Duration::from_secs(10)),
        };
        let pool = Pool::builder(manager).max_size(size).timeouts(timeouts).runtime(Runtime::Tokio1).build()?;
        Ok(Some(PgReads { pool, statements }))
    }

    /// Runs `text` with `values` and reads `kinds` after the first `skip` columns (the first
    /// of those read as the lead number), placed as `place` says; `None` (before running
    /// anything) when a value or a result column is not for this path.
    pub async fn fetch(
        &self,
        text: &str,
        values: &[Value],
        replan: bool,
        skip: usize,
        kinds: &[Kind],
        place: Option<(&[usize], usize)>,
    ) -> Option<ApiResult<Vec<(i64, Vec<Cell>)>>> {
        self.retried(Text { sql: text, replan }, values, skip, kinds, 0, |rows, lead, wires| {
            decode_rows(&rows, skip, lead, wires, place)
        })
        .await
    }

    /// Runs `text` with `values` and keeps its rows (about `rows_hint`) as they came, with the
    /// decoders of the lead column (if `skip` > 0) and of each of the `kinds` columns after
    /// `skip`, for a writer that shows them without decoding them into cells.
    pub async fn fetch_wire(
        &self,
        text: &str,
        values: &[Value],
        replan: bool,
        skip: usize,
        kinds: &[Kind],
        rows_hint: usize,
    ) -> Option<ApiResult<WireRead>> {
        let text = Text { sql: text, replan };
        self.retried(text, values, skip, kinds, rows_hint, |rows, lead, wires| Ok((rows, lead, wires.to_vec()))).await
    }

    /// Runs the statement, on another connection when one breaks under it, and reads its rows
    /// with `read` (given the decoders of the lead and the `kinds` columns).
    async fn retried<T>(
        &self,
        text: Text<'_>,
        values: &[Value],
        skip: usize,
        kinds: &[Kind],
        rows_hint: usize,
        read: impl Fn(Vec<tokio_postgres::Row>, Option<Wire>, &[Wire]) -> Result<T, Failure>,
    ) -> Option<ApiResult<T>> {
        let params: Vec<Param> = values.iter().map(param).collect::<Option<_>>()?;
        let types: Vec<Type> = params.iter().map(|(_, t)| t.clone()).collect();
        let mut tries = 0;
        loop {
            let result = match self.run(text, &params, &types, skip, kinds, rows_hint).await? {
                Ok((rows, lead, wires)) => read(rows, lead, &wires),
                Err(e) => Err(e),
            };
            match result {
                Err(Failure::Broken(e)) if tries < READ_RETRIES => {
                    tracing::debug!(error = %e, "a pooled connection broke; reading on another");
                    tries += 1;
                }
                Err(Failure::Broken(e)) => return Some(Err(unreachable_now(e))),
                Err(Failure::Api(e)) => return Some(Err(e)),
                Ok(rows) => return Some(Ok(rows)),
            }
        }
    }

    /// The rows of one run, with the decoders of the lead column (if `skip` > 0) and of the
    /// `kinds` columns; `None` when a column has no binary decoder here.
    async fn run(
        &self,
        text: Text<'_>,
        params: &[Param],
        types: &[Type],
        skip: usize,
        kinds: &[Kind],
        rows_hint: usize,
    ) -> Option<Result<(Vec<tokio_postgres::Row>, Option<Wire>, Vec<Wire>), Failure>> {
        let client = match self.pool.get().await {
            Ok(c) => c,
            Err(PoolError::Backend(e)) if broken(&e) => return Some(Err(Failure::Broken(e.to_string()))),
            Err(e) => return Some(Err(Failure::Api(unreachable_now(e)))),
        };
        if client.statement_cache.size() > MAX_PREPARED {
            client.statement_cache.clear();
        }
        let prepared = match text.replan {
            true => client.prepare_typed(text.sql, types).await,
            false => client.prepare_typed_cached(text.sql, types).await,
        };
        let stmt = match prepared {
            Ok(s) => s,
            Err(e) => return Some(Err(Failure::of(e))),
        };
        // Every column this read decodes has a binary decoder for its kind, or sqlx reads it.
        let columns = stmt.columns();
        let lead =
            if skip > 0 { Some(pg_binary::wire_of(Kind::BigInt, columns.first()?.type_().oid())?) } else { None };
        let wires: Vec<Wire> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| pg_binary::wire_of(*k, columns.get(skip + i)?.type_().oid()))
            .collect::<Option<_>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(p, _)| p.as_ref() as &(dyn ToSql + Sync)).collect();
        let started = Instant::now();
        let result = async {
            let stream = client.query_raw(&stmt, refs).await?;
            futures_util::pin_mut!(stream);
            // Sized for the page asked for: growing by doubling moves every row read so far.
            let mut rows = Vec::with_capacity(rows_hint);
            while let Some(row) = stream.try_next().await? {
                rows.push(row);
            }
            Ok(rows)
        }
        .await;
        self.observe(text.sql, started.elapsed());
        Some(result.map(|rows| (rows, lead, wires)).map_err(Failure::of))
    }

    /// Counted and timed as the sea-orm pools' statements are (`rows::observe`).
    fn observe(&self, text: &str, elapsed: Duration) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        observe(text, elapsed);
    }
}

/// Rows as they came, with the decoders of their lead column and of the columns after it.
pub type WireRead = (Vec<tokio_postgres::Row>, Option<Wire>, Vec<Wire>);

/// Column `i` of `row` as it came (`None`: SQL NULL).
pub fn raw(row: &tokio_postgres::Row, i: usize) -> Option<&[u8]> {
    row.try_get::<_, Option<Raw>>(i).ok().flatten().map(|r| r.0)
}

fn undecodable(i: usize, w: Wire) -> Failure {
    Failure::Api(ApiError::Internal(format!("column {i}: a value not decodable as {w:?}")))
}

/// Rows decoded into cells: the lead number (if any), then the `wires` columns after `skip`.
fn decode_rows(
    rows: &[tokio_postgres::Row],
    skip: usize,
    lead: Option<Wire>,
    wires: &[Wire],
    place: Option<(&[usize], usize)>,
) -> Result<Vec<(i64, Vec<Cell>)>, Failure> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let get = |i: usize, w: Wire| -> Result<Cell, Failure> {
            let raw: Option<Raw> = row.try_get(i).map_err(Failure::of)?;
            pg_binary::decode(raw.map(|r| r.0), w).ok_or_else(|| undecodable(i, w))
        };
        let n = match lead {
            Some(w) => match get(0, w)? {
                Cell::Int(n) => n,
                _ => 0,
            },
            None => 0,
        };
        let mut cells = Placed::new(place, wires.len());
        for (i, w) in wires.iter().enumerate() {
            cells.put(i, get(skip + i, *w)?);
        }
        out.push((n, cells.into_cells()));
    }
    Ok(out)
}

enum Failure {
    Broken(String),
    Api(ApiError),
}

impl Failure {
    fn of(e: tokio_postgres::Error) -> Failure {
        if broken(&e) {
            return Failure::Broken(e.to_string());
        }
        tracing::error!(error = %e, "database error");
        Failure::Api(ApiError::Internal(e.to_string()))
    }
}
