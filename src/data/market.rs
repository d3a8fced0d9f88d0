//! Market reads as a chart asks for them: the buckets of a range, with the derived series
//! selected (reading the history before the range they need) and the trading periods without
//! rows filled in. One sequence of data calls, written once for daily bars and minute candles.
use super::buckets::{self, BarInterval, Bucket};
use super::calendar::{self, Fill};
use super::db::Db;
use super::derived::Derived;
use super::values::Cell;
use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, NaiveDate, Utc};

/// Daily bars of one ticker in `interval` buckets over [from, to] (either end open).
pub struct BarRange {
    pub ticker: String,
    pub region: String,
    pub interval: BarInterval,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Minute candles of one symbol in buckets of `bucket_secs` seconds over [from, to].
pub struct CandleRange {
    pub symbol: String,
    pub bucket_secs: i64,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// What differs between the two kinds of range; `read` is the rest.
trait Range {
    type Time: Copy;
    fn from(&self) -> Option<Self::Time>;
    fn to(&self) -> Option<Self::Time>;
    fn time(b: &Bucket) -> Option<Self::Time>;
    /// The last moment before `t`.
    fn before(t: Self::Time) -> Option<Self::Time>;
    async fn plain(&self, db: &Db, from: Option<Self::Time>, to: Option<Self::Time>) -> ApiResult<Vec<Bucket>>;
    async fn derived(&self, db: &Db, history: Option<Self::Time>, derived: &[Derived]) -> ApiResult<Vec<Bucket>>;
    /// Where the `buckets` buckets before `from` start.
    async fn history_start(&self, db: &Db, from: Self::Time, buckets: usize) -> ApiResult<Option<Self::Time>>;
    /// The trading periods in [from, to], as bucket starts.
    async fn periods(&self, db: &Db, from: Self::Time, to: Self::Time) -> ApiResult<Vec<Cell>>;
    fn key(&self) -> &str;
}

impl Range for BarRange {
    type Time = NaiveDate;
    fn from(&self) -> Option<NaiveDate> {
        self.from
    }
    fn to(&self) -> Option<NaiveDate> {
        self.to
    }
    fn time(b: &Bucket) -> Option<NaiveDate> {
        if let Cell::Date(d) = b.start {
            Some(d)
        } else {
            None
        }
    }
    fn before(t: NaiveDate) -> Option<NaiveDate> {
        t.pred_opt()
    }
    async fn plain(&self, db: &Db, from: Option<NaiveDate>, to: Option<NaiveDate>) -> ApiResult<Vec<Bucket>> {
        buckets::ohlcv_bars(db, &self.ticker, &self.region, self.interval, from, to).await
    }
    async fn derived(&self, db: &Db, history: Option<NaiveDate>, derived: &[Derived]) -> ApiResult<Vec<Bucket>> {
        let (ticker, region, iv) = (&self.ticker, &self.region, self.interval);
        buckets::ohlcv_bars_derived(db, ticker, region, iv, history, self.from, self.to, derived).await
    }
    async fn history_start(&self, db: &Db, from: NaiveDate, buckets: usize) -> ApiResult<Option<NaiveDate>> {
        buckets::bar_history_start(db, &self.ticker, &self.region, self.interval, from, buckets).await
    }
    async fn periods(&self, db: &Db, from: NaiveDate, to: NaiveDate) -> ApiResult<Vec<Cell>> {
        let holidays = calendar::holidays(db, &self.region, from, to).await?;
        Ok(calendar::bar_periods(self.interval, from, to, &holidays).into_iter().map(Cell::Date).collect())
    }
    fn key(&self) -> &str {
        &self.ticker
    }
}

impl Range for CandleRange {
    type Time = DateTime<Utc>;
    fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }
    fn to(&self) -> Option<DateTime<Utc>> {
        self.to
    }
    fn time(b: &Bucket) -> Option<DateTime<Utc>> {
        if let Cell::DateTime(t) = b.start {
            Some(t)
        } else {
            None
        }
    }
    fn before(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        Some(t - chrono::Duration::microseconds(1))
    }
    async fn plain(&self, db: &Db, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> ApiResult<Vec<Bucket>> {
        buckets::candles(db, &self.symbol, self.bucket_secs, from, to).await
    }
    async fn derived(&self, db: &Db, history: Option<DateTime<Utc>>, derived: &[Derived]) -> ApiResult<Vec<Bucket>> {
        buckets::candles_derived(db, &self.symbol, self.bucket_secs, history, self.from, self.to, derived).await
    }
    async fn history_start(&self, db: &Db, from: DateTime<Utc>, n: usize) -> ApiResult<Option<DateTime<Utc>>> {
        buckets::candle_history_start(db, &self.symbol, self.bucket_secs, from, n).await
    }
    async fn periods(&self, db: &Db, from: DateTime<Utc>, to: DateTime<Utc>) -> ApiResult<Vec<Cell>> {
        // The minute candles are Vietnamese listings: HOSE's calendar and sessions.
        let holidays = calendar::holidays(db, "VN", from.date_naive(), to.date_naive()).await?;
        let periods = calendar::candle_periods(self.bucket_secs, from, to, &holidays);
        Ok(periods.into_iter().map(Cell::DateTime).collect())
    }
    fn key(&self) -> &str {
        &self.symbol
    }
}

/// The buckets of `range` with the `derived` series computed and gaps filled by `fill`.
pub async fn bars(db: &Db, range: &BarRange, derived: &[Derived], fill: Fill) -> ApiResult<Vec<Bucket>> {
    let mut rows = read(db, range, derived, fill).await?;
    for b in &mut rows {
        b.key.clone_from(&range.ticker);
    }
    Ok(rows)
}

/// The same for minute candles.
pub async fn candles(db: &Db, range: &CandleRange, derived: &[Derived], fill: Fill) -> ApiResult<Vec<Bucket>> {
    read(db, range, derived, fill).await
}

async fn read<R: Range>(db: &Db, range: &R, derived: &[Derived], fill: Fill) -> ApiResult<Vec<Bucket>> {
    // Derived series also read the buckets before `from` they need (all, for the recursive
    // averages), in the statement that makes the buckets.
    let rows = match (derived.is_empty(), range.from()) {
        (true, _) => range.plain(db, range.from(), range.to()).await?,
        (false, Some(from)) if !derived.iter().any(|d| d.needs_all_history()) => {
            let start = range.history_start(db, from, lookback(derived)).await?;
            range.derived(db, start, derived).await?
        }
        (false, _) => range.derived(db, None, derived).await?,
    };
    // Filling at the previous close reads the close before `from` when it needs it.
    let previous = match range.from().and_then(|f| R::before(f).map(|b| (f, b))) {
        Some((from, before)) if fill == Fill::Previous => {
            let start = range.history_start(db, from, 1).await?;
            range.plain(db, start, Some(before)).await?.pop().map(|b| b.values[3].clone())
        }
        _ => None,
    };
    let from = range.from().or_else(|| rows.first().and_then(R::time));
    let to = range.to().or_else(|| rows.last().and_then(R::time));
    Ok(match (fill, from, to) {
        (Fill::None, ..) | (_, None, _) | (_, _, None) => rows,
        (_, Some(from), Some(to)) => {
            let periods = range.periods(db, from, to).await?;
            if periods.len() > calendar::MAX_FILLED {
                return Err(ApiError::TooComplex(format!(
                    "more than {} trading periods: narrow `from`/`to` or widen `interval`",
                    calendar::MAX_FILLED
                )));
            }
            calendar::fill(rows, &periods, fill, previous, range.key())
        }
    })
}

/// Buckets before the first one shown that a value of `derived` needs (EMA and RSI walk the
/// whole history instead).
fn lookback(derived: &[Derived]) -> usize {
    derived
        .iter()
        .map(|d| match d {
            Derived::SimpleReturn | Derived::LogReturn => 1,
            Derived::Sma(n) | Derived::Vwap(n) => n - 1,
            Derived::Volatility(n) => *n,
            Derived::Ema(_) | Derived::Rsi(_) => 0,
        })
        .max()
        .unwrap_or(0)
}
