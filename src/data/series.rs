//! Chart history in the shape charting libraries load (TradingView's UDF `history`): the buckets
//! of `data::buckets` over a range, reaching back far enough to hold at least `count_back`
//! buckets ending at `to`, and — when the range holds none — where the next earlier data starts.
use super::buckets::{self, BarInterval, Bucket};
use super::exec::fetch;
use super::sql::Sql;
use super::values::{Cell, Kind};
use crate::data::db::Db;
use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::Value;

pub struct Series {
    /// Oldest first.
    pub buckets: Vec<Bucket>,
    /// No bucket in the range: the chart has nothing to draw there.
    pub no_data: bool,
    /// With `no_data`, the start (Unix seconds) of the latest bucket before the range.
    pub next_time: Option<i64>,
}

/// Unix seconds of a bucket start (a day starts at 00:00 UTC).
pub fn unix_seconds(c: &Cell) -> Option<i64> {
    match c {
        Cell::Date(d) => d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()),
        Cell::DateTime(t) => Some(t.timestamp()),
        Cell::Int(s) => Some(*s),
        _ => None,
    }
}

/// A cell as a JSON number (`numbers { … }`): exact below 2^53, a longer decimal rounded to
/// the nearest double.
pub fn as_number(c: &Cell) -> Option<f64> {
    use rust_decimal::prelude::ToPrimitive as _;
    match c {
        Cell::Decimal(d) => d.to_f64(),
        Cell::Int(n) => Some(*n as f64),
        Cell::Float(f) => Some(*f),
        _ => None,
    }
}

/// Where a chart's rows are: the table, its time column and the bucket expression over it, and
/// the condition selecting one instrument (a parameterised SQL fragment).
struct ChartSource<'a> {
    table: &'a str,
    time_col: &'a str,
    bucket: String,
    bucket_kind: Kind,
    instrument: &'a (dyn Fn(&mut Sql) + Send + Sync),
}

impl ChartSource<'_> {
    /// The start of the `n`-th latest bucket whose rows begin at or before `to`.
    async fn nth_latest(&self, db: &Db, to: Option<Value>, n: u32) -> ApiResult<Option<Cell>> {
        let mut sql = Sql::with_dialect(db.dialect);
        sql.push(&format!("SELECT {} AS b FROM \"{}\" WHERE ", self.bucket, self.table));
        (self.instrument)(&mut sql);
        if let Some(to) = to {
            sql.push(&format!(" AND {} <= ", self.time_col)).param(to);
        }
        sql.push(&format!(" GROUP BY 1 ORDER BY 1 DESC LIMIT 1 OFFSET {}", n.saturating_sub(1)));
        Ok(fetch(&db.read, sql, 0, &[self.bucket_kind]).await?.into_iter().next().map(|(_, mut c)| c.remove(0)))
    }

    /// The time of the latest row before `from`.
    async fn latest_before(&self, db: &Db, from: Value, kind: Kind) -> ApiResult<Option<Cell>> {
        let mut sql = Sql::with_dialect(db.dialect);
        sql.push(&format!("SELECT max({}) FROM \"{}\" WHERE ", self.time_col, self.table));
        (self.instrument)(&mut sql);
        sql.push(&format!(" AND {} < ", self.time_col)).param(from);
        let row = fetch(&db.read, sql, 0, &[kind]).await?.into_iter().next();
        Ok(row.map(|(_, mut c)| c.remove(0)).filter(|c| !matches!(c, Cell::Null)))
    }
}

/// Daily bars of one ticker as a series of `iv` buckets in [from, to] (both inclusive).
pub async fn ohlcv(
    db: &Db,
    ticker: &str,
    region: &str,
    iv: BarInterval,
    mut from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    count_back: Option<u32>,
) -> ApiResult<Series> {
    let instrument = |sql: &mut Sql| {
        sql.push("ticker = ").param(Value::String(Some(ticker.into())));
        sql.push(" AND region = ").param(Value::String(Some(region.into())));
        sql.push(" AND timeframe = 'D'");
    };
    let src = ChartSource {
        table: "ohlcv_data",
        time_col: "date",
        bucket: iv.sql(db.dialect, "date"),
        bucket_kind: Kind::Date,
        instrument: &instrument,
    };
    let buckets = if iv == BarInterval::Day {
        daily(db, &instrument, from, to, count_back).await?
    } else {
        let to_value = to.map(|t| Value::ChronoDate(Some(t)));
        if let Some(n) = count_back.filter(|n| *n > 0) {
            // Fewer than `n` buckets in all: the whole history.
            from = match src.nth_latest(db, to_value, n).await? {
                Some(Cell::Date(d)) => Some(from.map_or(d, |f| f.min(d))),
                _ => None,
            };
        }
        buckets::ohlcv_bars(db, ticker, region, iv, from, to).await?
    };
    let next_time = match (buckets.is_empty(), from) {
        (true, Some(f)) => match src.latest_before(db, Value::ChronoDate(Some(f)), Kind::Date).await? {
            Some(Cell::Date(d)) => unix_seconds(&Cell::Date(iv.start(d))),
            _ => None,
        },
        _ => None,
    };
    Ok(Series { no_data: buckets.is_empty(), buckets, next_time })
}

/// Daily buckets are the rows themselves (one per day): read as they are, in one statement —
/// the latest `count_back` days up to `to` together with every day in [from, to].
async fn daily(
    db: &Db,
    instrument: &(dyn Fn(&mut Sql) + Send + Sync),
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    count_back: Option<u32>,
) -> ApiResult<Vec<Bucket>> {
    let part = |sql: &mut Sql, from: Option<NaiveDate>| {
        sql.push("SELECT date, open, high, low, close, volume, 1 AS n FROM ohlcv_data WHERE ");
        instrument(sql);
        if let Some(f) = from {
            sql.push(" AND date >= ").param(Value::ChronoDate(Some(f)));
        }
        if let Some(t) = to {
            sql.push(" AND date <= ").param(Value::ChronoDate(Some(t)));
        }
    };
    let mut sql = Sql::with_dialect(db.dialect);
    match count_back.filter(|n| *n > 0) {
        Some(n) => {
            sql.push("SELECT * FROM (");
            part(&mut sql, None);
            sql.push(&format!(" ORDER BY date DESC LIMIT {n}) latest"));
            if from.is_some() {
                sql.push(" UNION SELECT * FROM (");
                part(&mut sql, from);
                sql.push(") in_range");
            }
            sql.push(&format!(" ORDER BY 1 LIMIT {}", buckets::MAX_BUCKETS + 1));
        }
        None => {
            part(&mut sql, from);
            sql.push(&format!(" ORDER BY date LIMIT {}", buckets::MAX_BUCKETS + 1));
        }
    }
    let kinds = [Kind::Date, Kind::Decimal, Kind::Decimal, Kind::Decimal, Kind::Decimal, Kind::BigInt, Kind::BigInt];
    let rows = fetch(&db.read, sql, 0, &kinds).await?;
    if rows.len() > buckets::MAX_BUCKETS {
        return Err(ApiError::TooComplex(format!("more than {} buckets: narrow `from`/`to`", buckets::MAX_BUCKETS)));
    }
    Ok(rows.into_iter().map(|(_, cells)| Bucket::from_row(cells)).collect())
}

/// Minute candles of one symbol as a series of `secs`-wide buckets in [from, to].
pub async fn candles(
    db: &Db,
    symbol: &str,
    secs: i64,
    mut from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    count_back: Option<u32>,
) -> ApiResult<Series> {
    let instrument = |sql: &mut Sql| {
        sql.push("symbol = ").param(Value::String(Some(symbol.into())));
    };
    let src = ChartSource {
        table: "market_candles",
        time_col: "time",
        bucket: db.dialect.epoch_bucket(secs, "time"),
        bucket_kind: Kind::BigInt,
        instrument: &instrument,
    };
    let to_value = to.map(|t| Value::ChronoDateTimeUtc(Some(t)));
    if let Some(n) = count_back.filter(|n| *n > 0) {
        from = match src.nth_latest(db, to_value, n).await? {
            Some(Cell::Int(s)) => DateTime::from_timestamp(s, 0).map(|t| from.map_or(t, |f| f.min(t))),
            _ => None,
        };
    }
    let buckets = buckets::candles(db, symbol, secs, from, to).await?;
    let next_time = match (buckets.is_empty(), from) {
        (true, Some(f)) => match src.latest_before(db, Value::ChronoDateTimeUtc(Some(f)), Kind::DateTime).await? {
            Some(Cell::DateTime(t)) => Some(t.timestamp().div_euclid(secs) * secs),
            _ => None,
        },
        _ => None,
    };
    Ok(Series { no_data: buckets.is_empty(), buckets, next_time })
}
