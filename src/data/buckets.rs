//! Time buckets over daily bars and minute candles — first open, max high, min low, last
//! close, summed volume and the row count per bucket. On TimescaleDB whole buckets come from the
//! continuous aggregates and only partial edge buckets from raw rows.
use super::catalog::Table;
use super::derived::Derived;
use super::exec::fetch;
use super::query::Cond;
use super::sql::dialect::{DateUnit, Dialect};
use super::sql::Sql;
use super::values::{Cell, Kind};
use crate::data::db::Db;
use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use sea_orm::Value;

/// The largest number of buckets one request may return.
pub const MAX_BUCKETS: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarInterval {
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl BarInterval {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "DAY" => Self::Day,
            "WEEK" => Self::Week,
            "MONTH" => Self::Month,
            "QUARTER" => Self::Quarter,
            "YEAR" => Self::Year,
            _ => return None,
        })
    }

    /// The continuous aggregate holding whole buckets of this width, if any.
    fn aggregate(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Month => Some(("ohlcv_monthly", "month")),
            Self::Quarter => Some(("ohlcv_quarterly", "quarter")),
            Self::Year => Some(("ohlcv_yearly", "year")),
            _ => None,
        }
    }

    fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            _ => 12,
        }
    }

    /// The first day of the bucket holding `d` (weeks start on Monday).
    pub(crate) fn start(self, d: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => d,
            Self::Week => d - chrono::Duration::days(d.weekday().num_days_from_monday() as i64),
            _ => {
                let m0 = (d.month0() / self.months()) * self.months();
                NaiveDate::from_ymd_opt(d.year(), m0 + 1, 1).expect("valid month")
            }
        }
    }

    fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => start + chrono::Duration::days(1),
            Self::Week => start + chrono::Duration::days(7),
            _ => start + Months::new(self.months()),
        }
    }

    /// SQL for the bucket start of the date expression `col`.
    pub(crate) fn sql(self, dialect: &dyn Dialect, col: &str) -> String {
        match self {
            Self::Day => col.to_string(),
            Self::Week => dialect.date_bucket(DateUnit::Week, col),
            Self::Month => dialect.date_bucket(DateUnit::Month, col),
            Self::Quarter => dialect.date_bucket(DateUnit::Quarter, col),
            Self::Year => dialect.date_bucket(DateUnit::Year, col),
        }
    }
}

pub fn candle_seconds(s: &str) -> Option<i64> {
    Some(match s {
        "M1" => 60,
        "M5" => 300,
        "M15" => 900,
        "M30" => 1800,
        "H1" => 3600,
        "H4" => 4 * 3600,
        "D1" => 86400,
        _ => return None,
    })
}

/// How rows fall into time buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeBucket {
    /// Calendar periods of a date column (weeks start on Monday).
    Calendar(BarInterval),
    /// Fixed widths of a timestamp column, in seconds from the Unix epoch.
    Seconds(i64),
}

/// One bucket: start, then open, high, low, close, volume, count.
pub struct Bucket {
    /// The ticker or symbol the bucket belongs to.
    pub key: String,
    pub start: Cell,
    pub values: Vec<Cell>,
    /// Derived series' values at this bucket, as asked.
    pub derived: Vec<(Derived, Option<f64>)>,
    /// Made up for a trading period without rows (`fill:`).
    pub filled: bool,
    /// A live bar's place in its feed (`events::bars`); none in history.
    pub seq: Option<i64>,
    /// The bucket's period is over (history), or a live bar sent once more as it closes.
    pub closed: bool,
}

/// Opens the select of buckets: grouped rows, or — when the bucket is the time column itself
/// (daily bars by day: one row per bucket) — the rows as they are.
fn open_buckets(sql: &mut Sql, table: &str, time_col: &str, bucket: &str, price: Kind) {
    if bucket == time_col {
        sql.push(&format!(
            "SELECT {time_col} AS b, open, high, low, close, volume, CAST(1 AS BIGINT) FROM \"{table}\" WHERE "
        ));
    } else {
        sql.dialect.open_ohlc(sql, table, time_col, bucket, price == Kind::Decimal);
    }
}

fn close_buckets(sql: &mut Sql, time_col: &str, bucket: &str) {
    if bucket == time_col {
        sql.push(" ORDER BY 1");
    } else {
        sql.dialect.close_ohlc(sql);
    }
}

/// Where buckets come from: daily bars or minute candles, the bucket's SQL, and the kinds of
/// prices and of bucket starts.
struct BucketSource {
    table: &'static str,
    time_col: &'static str,
    bucket: String,
    price: Kind,
    start: Kind,
}

impl BucketSource {
    fn bars(db: &Db, iv: BarInterval) -> BucketSource {
        BucketSource {
            table: "ohlcv_data",
            time_col: "date",
            bucket: iv.sql(db.dialect, "date"),
            price: Kind::Decimal,
            start: Kind::Date,
        }
    }

    fn candles(db: &Db, secs: i64) -> BucketSource {
        let bucket = db.dialect.epoch_bucket(secs, "time");
        BucketSource { table: "market_candles", time_col: "time", bucket, price: Kind::Float, start: Kind::BigInt }
    }
}

/// Aggregates the raw rows of `src` matching `filter` into buckets, oldest first.
async fn raw_buckets(db: &Db, src: &BucketSource, filter: &mut (dyn FnMut(&mut Sql) + Send)) -> ApiResult<Vec<Bucket>> {
    let mut sql = Sql::with_dialect(db.dialect);
    open_buckets(&mut sql, src.table, src.time_col, &src.bucket, src.price);
    filter(&mut sql);
    close_buckets(&mut sql, src.time_col, &src.bucket);
    let rows = bucket_rows(db, sql, src.start, src.price, 0).await?;
    Ok(rows.into_iter().map(|(_, cells)| Bucket::from_row(cells)).collect())
}

/// Runs a bucket select (start, open, high, low, close, volume, count, then `extra` Float
/// columns), at most `MAX_BUCKETS` of them.
async fn bucket_rows(
    db: &Db,
    mut sql: Sql,
    start: Kind,
    price: Kind,
    extra: usize,
) -> ApiResult<Vec<(i64, Vec<Cell>)>> {
    sql.push(&format!(" LIMIT {}", MAX_BUCKETS + 1));
    let mut kinds = vec![start, price, price, price, price, Kind::BigInt, Kind::BigInt];
    kinds.extend(std::iter::repeat_n(Kind::Float, extra));
    let rows = fetch(&db.read, sql, 0, &kinds).await?;
    if rows.len() > MAX_BUCKETS {
        return Err(ApiError::TooComplex(format!(
            "more than {MAX_BUCKETS} buckets: narrow `from`/`to` or widen `interval`"
        )));
    }
    Ok(rows)
}

/// Where a read with derived series starts and what it shows: rows from `history` (`None`: the
/// first stored) and, when the range has a start, the `DerivedStart`.
pub struct DerivedSpan {
    pub history: Option<Value>,
    pub from: Option<DerivedStart>,
}

/// The start of a range read with derived series: rows from `from` on, and the rows before it
/// only up to `from_bucket` (the start of `from`'s bucket, a time), so every bucket shown is the
/// one a read without derived series gives; shown are the buckets from `shown` (that start as
/// the bucket column holds it).
pub struct DerivedStart {
    pub from: Value,
    pub from_bucket: Value,
    pub shown: Value,
}

/// As `raw_buckets`, with the derived series `asks` computed in the same statement over the
/// buckets of `span` (`per_year` buckets make a year).
async fn derived_buckets(
    db: &Db,
    src: &BucketSource,
    filter: &mut (dyn FnMut(&mut Sql) + Send),
    span: DerivedSpan,
    asks: &[Derived],
    per_year: f64,
) -> ApiResult<Vec<Bucket>> {
    let (dialect, time_col) = (db.dialect, src.time_col);
    let mut sql = Sql::with_dialect(dialect);
    sql.push("WITH RECURSIVE b(b, o, h, l, c, v, n) AS (");
    open_buckets(&mut sql, src.table, time_col, &src.bucket, src.price);
    filter(&mut sql);
    if let Some(h) = span.history {
        sql.push(&format!(" AND {time_col} >= ")).param(h);
    }
    let shown = match span.from {
        Some(DerivedStart { from, from_bucket, shown }) => {
            sql.push(&format!(" AND ({time_col} >= ")).param(from);
            sql.push(&format!(" OR {time_col} < ")).param(from_bucket).push(")");
            Some(shown)
        }
        None => None,
    };
    close_buckets(&mut sql, time_col, &src.bucket);
    sql.push(")").push(&super::derived::window_ctes(asks, per_year)).push(" SELECT * FROM w");
    if let Some(shown) = shown {
        sql.push(" WHERE b >= ").param(shown);
    }
    sql.push(" ORDER BY b");
    let rows = bucket_rows(db, sql, src.start, src.price, asks.len()).await?;
    Ok(rows
        .into_iter()
        .map(|(_, mut cells)| {
            let values: Vec<Option<f64>> =
                cells.split_off(7).into_iter().map(|c| if let Cell::Float(f) = c { Some(f) } else { None }).collect();
            let mut b = Bucket::from_row(cells);
            b.derived = asks.iter().copied().zip(values).collect();
            b
        })
        .collect())
}

/// The rows of `t` matching `cond` (one series before a bucket's start) plus the buckets
/// (`bucket`, SQL) they fall in: the seq base of the bucket starting there (`events::bars`).
pub async fn rows_and_buckets(db: &Db, t: &Table, cond: &Cond, bucket: &str) -> ApiResult<i64> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push(&format!("SELECT count(*), count(DISTINCT {bucket}) FROM \"{}\" x WHERE ", t.name));
    sql.cond("x", t, cond);
    let rows = fetch(&db.read, sql, 0, &[Kind::BigInt, Kind::BigInt]).await?;
    Ok(match rows.first().map(|(_, c)| (&c[0], &c[1])) {
        Some((Cell::Int(c), Cell::Int(d))) => c + d,
        _ => 0,
    })
}

/// The newest `time` of the rows of `t` matching `cond`, if any.
pub async fn newest(db: &Db, t: &Table, cond: &Cond, time: usize) -> ApiResult<Option<Cell>> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("SELECT max(").col("x", t, time).push(&format!(") FROM \"{}\" x WHERE ", t.name));
    sql.cond("x", t, cond);
    let rows = fetch(&db.read, sql, 0, &[t.columns[time].kind]).await?;
    Ok(rows.into_iter().next().and_then(|(_, mut c)| c.pop()).filter(|c| !matches!(c, Cell::Null)))
}

/// `ohlcv_bars` with derived series, read from `history` (see `DerivedSpan`).
#[allow(clippy::too_many_arguments)]
pub async fn ohlcv_bars_derived(
    db: &Db,
    ticker: &str,
    region: &str,
    iv: BarInterval,
    history: Option<NaiveDate>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    asks: &[Derived],
) -> ApiResult<Vec<Bucket>> {
    let mut filter = bar_filter(ticker, region, None, to);
    let span = DerivedSpan {
        history: history.map(|h| Value::ChronoDate(Some(h))),
        from: from.map(|f| {
            let start = iv.start(f);
            let from_bucket = Value::ChronoDate(Some(start));
            DerivedStart { from: Value::ChronoDate(Some(f)), shown: from_bucket.clone(), from_bucket }
        }),
    };
    let rows = derived_buckets(db, &BucketSource::bars(db, iv), &mut filter, span, asks, iv.per_year()).await?;
    Ok(bars_over(rows, iv))
}

/// `candles` with derived series, read from `history` (see `DerivedSpan`).
pub async fn candles_derived(
    db: &Db,
    symbol: &str,
    secs: i64,
    history: Option<DateTime<Utc>>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    asks: &[Derived],
) -> ApiResult<Vec<Bucket>> {
    let mut filter = candle_filter(symbol, None, to);
    let span = DerivedSpan {
        history: history.map(|h| Value::ChronoDateTimeUtc(Some(h))),
        from: from.map(|f| {
            let start = f.timestamp().div_euclid(secs) * secs;
            let at = DateTime::from_timestamp(start, 0).unwrap_or(f);
            DerivedStart {
                from: Value::ChronoDateTimeUtc(Some(f)),
                from_bucket: Value::ChronoDateTimeUtc(Some(at)),
                shown: Value::BigInt(Some(start)),
            }
        }),
    };
    let per_year = 365.25 * 86400.0 / secs as f64;
    let rows = derived_buckets(db, &BucketSource::candles(db, secs), &mut filter, span, asks, per_year).await?;
    Ok(rows.into_iter().map(|b| over(epoch_start(b, symbol), secs)).collect())
}

/// Marks a candle bucket whose period is not over yet as not closed.
fn over(mut b: Bucket, secs: i64) -> Bucket {
    if let Cell::DateTime(t) = b.start {
        b.closed = t.timestamp() + secs <= Utc::now().timestamp();
    }
    b
}

/// A candle bucket whose start was read as Unix seconds.
fn epoch_start(b: Bucket, symbol: &str) -> Bucket {
    Bucket {
        key: symbol.to_string(),
        start: match b.start {
            Cell::Int(s) => DateTime::from_timestamp(s, 0).map(Cell::DateTime).unwrap_or(Cell::Null),
            other => other,
        },
        ..b
    }
}

impl Bucket {
    /// A bucket from a row of start, open, high, low, close, volume, count. SQLite keeps
    /// decimals as written: prices are shown at the columns' DECIMAL(15,4) scale.
    pub(crate) fn from_row(mut cells: Vec<Cell>) -> Bucket {
        let start = cells.remove(0);
        for c in &mut cells {
            if let Cell::Decimal(d) = c {
                d.rescale(4);
            }
        }
        Bucket { key: String::new(), start, values: cells, derived: Vec::new(), filled: false, seq: None, closed: true }
    }
}

fn bar_filter<'a>(
    ticker: &'a str,
    region: &'a str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> impl FnMut(&mut Sql) + Send + 'a {
    move |sql: &mut Sql| {
        sql.push("ticker = ").param(Value::String(Some(ticker.into())));
        sql.push(" AND region = ").param(Value::String(Some(region.into())));
        sql.push(" AND timeframe = 'D'");
        if let Some(f) = from {
            sql.push(" AND date >= ").param(Value::ChronoDate(Some(f)));
        }
        if let Some(t) = to {
            sql.push(" AND date <= ").param(Value::ChronoDate(Some(t)));
        }
    }
}

fn candle_filter<'a>(
    symbol: &'a str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> impl FnMut(&mut Sql) + Send + 'a {
    move |sql: &mut Sql| {
        sql.push("symbol = ").param(Value::String(Some(symbol.into())));
        if let Some(f) = from {
            sql.push(" AND time >= ").param(Value::ChronoDateTimeUtc(Some(f)));
        }
        if let Some(t) = to {
            sql.push(" AND time <= ").param(Value::ChronoDateTimeUtc(Some(t)));
        }
    }
}

/// Buckets of `ticker`'s daily bars in [from, to], computed from the rows.
async fn raw_bars(
    db: &Db,
    ticker: &str,
    region: &str,
    iv: BarInterval,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> ApiResult<Vec<Bucket>> {
    let mut filter = bar_filter(ticker, region, from, to);
    raw_buckets(db, &BucketSource::bars(db, iv), &mut filter).await
}

pub async fn ohlcv_bars(
    db: &Db,
    ticker: &str,
    region: &str,
    iv: BarInterval,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> ApiResult<Vec<Bucket>> {
    let backend = db.backend;
    let Some((view, col)) = iv.aggregate().filter(|_| db.timescale) else {
        return Ok(bars_over(raw_bars(db, ticker, region, iv, from, to).await?, iv));
    };
    // Whole buckets [full_from, full_to) from the aggregate; partial edges from raw rows.
    let full_from = from.map(|f| if iv.start(f) == f { f } else { iv.next(iv.start(f)) });
    let full_to = to.map(|t| {
        let s = iv.start(t);
        if iv.next(s) - chrono::Duration::days(1) == t {
            iv.next(s)
        } else {
            s
        }
    });
    let mut out = Vec::new();
    if let (Some(f), Some(ff)) = (from, full_from) {
        let edge_to = ff - chrono::Duration::days(1);
        if f <= edge_to {
            let upto = to.map_or(edge_to, |t| t.min(edge_to));
            out.extend(raw_bars(db, ticker, region, iv, Some(f), Some(upto)).await?);
        }
    }
    // The aggregate's rows, unless a write below its refresh (a correction, by any program) is
    // pending for these buckets in TimescaleDB's invalidation logs: then the buckets are computed
    // from the rows, so that no answer is older than the data. One statement either way when
    // nothing is pending; the flag comes back on a row of its own when no bucket does.
    let mut sql = Sql::new(backend);
    sql.push("WITH d AS (SELECT ");
    pending_corrections(&mut sql, view, full_from, full_to);
    sql.push(&format!(
        " AS dirty) SELECT d.dirty, v.* FROM d LEFT JOIN (SELECT {col}, open, high, low, close, volume, \
         trading_days FROM {view} WHERE ticker = "
    ));
    sql.param(Value::String(Some(ticker.into()))).push(" AND region = ").param(Value::String(Some(region.into())));
    if let Some(ff) = full_from {
        sql.push(&format!(" AND {col} >= ")).param(Value::ChronoDate(Some(ff)));
    }
    if let Some(ft) = full_to {
        sql.push(&format!(" AND {col} < ")).param(Value::ChronoDate(Some(ft)));
    }
    sql.push(&format!(") v ON NOT d.dirty ORDER BY v.{col} LIMIT {}", MAX_BUCKETS + 1));
    let kinds = [
        Kind::Boolean,
        Kind::Date,
        Kind::Decimal,
        Kind::Decimal,
        Kind::Decimal,
        Kind::Decimal,
        Kind::BigInt,
        Kind::BigInt,
    ];
    let rows = fetch(&db.read, sql, 0, &kinds).await?;
    if rows.first().is_some_and(|(_, cells)| matches!(cells[0], Cell::Bool(true))) {
        return Ok(bars_over(raw_bars(db, ticker, region, iv, from, to).await?, iv));
    }
    for (_, mut cells) in rows {
        cells.remove(0);
        let start = cells.remove(0);
        if start == Cell::Null {
            continue; // the flag's own row: no bucket
        }
        out.push(Bucket {
            key: String::new(),
            start,
            values: cells,
            derived: Vec::new(),
            filled: false,
            seq: None,
            closed: true,
        });
    }
    if let (Some(t), Some(ft)) = (to, full_to) {
        let edge_from = full_from.map_or(ft, |ff| ft.max(ff));
        if edge_from <= t {
            out.extend(raw_bars(db, ticker, region, iv, Some(edge_from), Some(t)).await?);
        }
    }
    if out.len() > MAX_BUCKETS {
        return Err(ApiError::TooComplex(format!("more than {MAX_BUCKETS} buckets: narrow `from`/`to`")));
    }
    Ok(bars_over(out, iv))
}

/// Whether TimescaleDB holds invalidations of `view`'s buckets in [from, to) not yet refreshed:
/// writes to `ohlcv_data` below the aggregate's threshold (its hypertable log) or ranges the
/// aggregate was told to re-read (its materialization log). Times there are microseconds
/// from the Unix epoch, dates included.
fn pending_corrections(sql: &mut Sql, view: &str, from: Option<NaiveDate>, to: Option<NaiveDate>) {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    let usecs = |d: NaiveDate| (d - epoch).num_days() * 86_400_000_000;
    let lo = from.map_or(i64::MIN, usecs);
    let hi = to.map_or(i64::MAX, |t| usecs(t) - 1);
    let overlaps = format!("l.lowest_modified_value <= {hi} AND l.greatest_modified_value >= {lo}");
    sql.push(&format!(
        "EXISTS (SELECT 1 FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log l \
         JOIN _timescaledb_catalog.hypertable h ON h.id = l.hypertable_id WHERE h.table_name = 'ohlcv_data' AND {overlaps}) \
         OR EXISTS (SELECT 1 FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log l \
         JOIN _timescaledb_catalog.continuous_agg c ON c.mat_hypertable_id = l.materialization_id \
         WHERE c.user_view_name = '{view}' AND {overlaps})"
    ));
}

/// Marks the bars whose period has not ended (UTC) as not closed.
fn bars_over(mut out: Vec<Bucket>, iv: BarInterval) -> Vec<Bucket> {
    let today = Utc::now().date_naive();
    for b in &mut out {
        if let Cell::Date(d) = b.start {
            b.closed = iv.next(d) <= today;
        }
    }
    out
}

pub async fn candles(
    db: &Db,
    symbol: &str,
    secs: i64,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> ApiResult<Vec<Bucket>> {
    let mut filter = candle_filter(symbol, from, to);
    let rows = raw_buckets(db, &BucketSource::candles(db, secs), &mut filter).await?;
    Ok(rows.into_iter().map(|b| over(epoch_start(b, symbol), secs)).collect())
}

impl BarInterval {
    /// Most daily rows one bucket holds.
    pub fn max_days(self) -> usize {
        match self {
            Self::Day => 1,
            Self::Week => 7,
            Self::Month => 31,
            Self::Quarter => 92,
            Self::Year => 366,
        }
    }

    /// Buckets per year, for annualising (252 trading days a year).
    pub fn per_year(self) -> f64 {
        match self {
            Self::Day => 252.0,
            Self::Week => 52.0,
            Self::Month => 12.0,
            Self::Quarter => 4.0,
            Self::Year => 1.0,
        }
    }
}

/// The time of the `rows`-th stored row of a series before `before` (rows ordered by `col`
/// under `filter`), or `None` when fewer rows exist: where reading must start for `rows` rows of
/// history to be included.
async fn rows_back(
    db: &Db,
    table: &str,
    col: &str,
    filter: &mut (dyn FnMut(&mut Sql) + Send),
    before: Value,
    rows: usize,
    kind: Kind,
) -> ApiResult<Option<Cell>> {
    if rows == 0 {
        return Ok(None);
    }
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push(&format!("SELECT {col} FROM {table} WHERE "));
    filter(&mut sql);
    sql.push(&format!(" AND {col} < ")).param(before);
    sql.push(&format!(" ORDER BY {col} DESC LIMIT 1 OFFSET {}", rows - 1));
    Ok(fetch(&db.read, sql, 0, &[kind]).await?.pop().and_then(|(_, mut c)| c.pop()))
}

/// Where to start reading `ticker`'s bars so that `buckets` whole buckets before `from` are
/// included (`None`: from the first stored bar).
pub async fn bar_history_start(
    db: &Db,
    ticker: &str,
    region: &str,
    iv: BarInterval,
    from: NaiveDate,
    buckets: usize,
) -> ApiResult<Option<NaiveDate>> {
    let mut filter = bar_filter(ticker, region, None, None);
    let at = rows_back(
        db,
        "ohlcv_data",
        "date",
        &mut filter,
        Value::ChronoDate(Some(from)),
        buckets * iv.max_days(),
        Kind::Date,
    )
    .await?;
    Ok(match at {
        Some(Cell::Date(d)) => Some(iv.start(d)),
        _ => None,
    })
}

/// The same for minute candles: a bucket of `secs` seconds holds at most `secs / 60` of them.
pub async fn candle_history_start(
    db: &Db,
    symbol: &str,
    secs: i64,
    from: DateTime<Utc>,
    buckets: usize,
) -> ApiResult<Option<DateTime<Utc>>> {
    let mut filter = candle_filter(symbol, None, None);
    let rows = buckets * (secs / 60).max(1) as usize;
    let at = rows_back(
        db,
        "market_candles",
        "time",
        &mut filter,
        Value::ChronoDateTimeUtc(Some(from)),
        rows,
        Kind::DateTime,
    )
    .await?;
    Ok(match at {
        // The start of that candle's bucket.
        Some(Cell::DateTime(t)) => DateTime::from_timestamp(t.timestamp().div_euclid(secs) * secs, 0),
        _ => None,
    })
}
