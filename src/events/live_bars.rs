//! The live bars of the `candles` and `ohlcvBars` subscriptions: a series' rows (minute candles, daily bars)
//! folded into live bars (`events::bars`) by a task per subscription, which reads from the
//! database what live events cannot tell — the rows and buckets before a bar (its seq), the
//! bar's earlier rows, and, replaying `since` or after falling behind, the rows missed, a page
//! at a time — and hands the events to the subscriber through a conflating queue.
use super::bars::{BarEvent, Conflated, Forming, Ohlcv, Price, TooFarBehind};
use super::{row_of_payload, Payload, Topic};
use crate::data::buckets::{self, BarInterval, Bucket, TimeBucket};
use crate::data::catalog::{Catalog, Table};
use crate::data::query::{keyset, Cond, ListQuery, Op};
use crate::data::read::{self, Row};
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use chrono::{DateTime, NaiveDate};
use futures_util::stream::{self, BoxStream, StreamExt};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

/// Rows read per statement when a feed replays (`since`) or catches up.
const PAGE: u64 = 1000;

/// 0001-01-01: before every stored row, and a time both backends can hold.
const EARLIEST: i64 = -62_135_596_800;

/// Joins the key columns of a series into one key (a character no ticker holds).
const SEP: char = '\u{1f}';

/// The rows one kind of live bar is made of.
pub struct LiveSource {
    table: &'static Table,
    time: usize,
    /// The columns naming one series (symbol; ticker and region).
    keys: Vec<usize>,
    /// Rows of the table that are not of this series' kind are skipped (daily bars only).
    only: Option<(usize, Cell)>,
    span: TimeBucket,
    /// The topic of one series, from its key's parts.
    topic: fn(&str) -> Topic,
}

impl LiveSource {
    pub fn candles(secs: i64) -> LiveSource {
        let t = Catalog::get().table("market_candles");
        let c = |n: &str| t.col(n).expect("candle column");
        LiveSource {
            table: t,
            time: c("time"),
            keys: vec![c("symbol")],
            only: None,
            span: TimeBucket::Seconds(secs),
            topic: |k| Topic::Candle { symbol: k.into() },
        }
    }

    pub fn bars(iv: BarInterval) -> LiveSource {
        let t = Catalog::get().table("ohlcv_data");
        let c = |n: &str| t.col(n).expect("bar column");
        LiveSource {
            table: t,
            time: c("date"),
            keys: vec![c("ticker"), c("region")],
            only: Some((c("timeframe"), Cell::Text("D".into()))),
            span: TimeBucket::Calendar(iv),
            topic: |k| {
                let (ticker, region) = k.split_once(SEP).unwrap_or((k, ""));
                Topic::Bar { ticker: ticker.into(), region: region.into() }
            },
        }
    }

    /// One series' key from its key columns' values.
    pub fn key(parts: &[String]) -> String {
        parts.join(&SEP.to_string())
    }

    fn parts(key: &str) -> Vec<Cell> {
        key.split(SEP).map(|p| Cell::Text(p.to_string())).collect()
    }

    fn event_topic(&self, key: &str) -> Topic {
        (self.topic)(key)
    }

    fn day(t: i64) -> NaiveDate {
        DateTime::from_timestamp(t, 0).unwrap_or_default().date_naive()
    }

    fn seconds(c: &Cell) -> Option<i64> {
        match c {
            Cell::DateTime(t) => Some(t.timestamp()),
            Cell::Date(d) => Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp()),
            _ => None,
        }
    }

    /// The start of the bucket holding `t` (both Unix seconds).
    fn bucket(&self, t: i64) -> i64 {
        match self.span {
            TimeBucket::Seconds(s) => t - t.rem_euclid(s),
            TimeBucket::Calendar(iv) => Self::seconds(&Cell::Date(iv.start(Self::day(t)))).unwrap_or(t),
        }
    }

    /// `t` as the time column holds it.
    fn at(&self, t: i64) -> Cell {
        match self.span {
            TimeBucket::Seconds(_) => DateTime::from_timestamp(t, 0).map_or(Cell::Null, Cell::DateTime),
            TimeBucket::Calendar(_) => Cell::Date(Self::day(t)),
        }
    }

    /// Most rows one bucket holds.
    fn most_rows(&self) -> u64 {
        match self.span {
            TimeBucket::Seconds(s) => (s / 60 + 1) as u64,
            TimeBucket::Calendar(iv) => iv.max_days() as u64 + 1,
        }
    }

    /// The bucket's SQL, for counting buckets.
    fn bucket_sql(&self, state: &AppState) -> String {
        let col = &self.table.columns[self.time].name;
        match self.span {
            TimeBucket::Seconds(s) => state.db.dialect.epoch_bucket(s, col),
            TimeBucket::Calendar(iv) => iv.sql(state.db.dialect, col),
        }
    }

    /// Tells the intervals apart in the shared cache of seq bases.
    fn width(&self) -> i64 {
        match self.span {
            TimeBucket::Seconds(s) => s,
            TimeBucket::Calendar(iv) => -1 - iv as i64,
        }
    }

    fn kind_cond(&self, mut conds: Vec<Cond>) -> Cond {
        if let Some((col, v)) = &self.only {
            conds.push(Cond::Cmp(*col, Op::Eq, v.clone()));
        }
        Cond::All(conds)
    }

    /// The rows of the series `key` before `t` (`Lt`) or from it on (`Gte`).
    fn of_key(&self, key: &str, op: Op, t: i64) -> Vec<Cond> {
        let mut c: Vec<Cond> =
            self.keys.iter().zip(Self::parts(key)).map(|(col, v)| Cond::Cmp(*col, Op::Eq, v)).collect();
        c.push(Cond::Cmp(self.time, op, self.at(t)));
        c
    }

    fn of_keys(&self, keys: &[String]) -> Cond {
        match self.keys.as_slice() {
            [one] => Cond::In(*one, keys.iter().map(|k| Cell::Text(k.clone())).collect(), false),
            cols => Cond::TupleIn(cols.to_vec(), keys.iter().map(|k| Self::parts(k)).collect()),
        }
    }

    /// A row as (series key, time in Unix seconds, values).
    fn read<P: PriceCell>(&self, row: &Row) -> Option<(String, i64, Ohlcv<P>)> {
        if let Some((col, v)) = &self.only {
            if &row.cells[*col] != v {
                return None;
            }
        }
        let t = self.table;
        let c = |n: &str| &row.cells[t.col(n).expect("price column")];
        let parts: Option<Vec<String>> =
            self.keys.iter().map(|k| if let Cell::Text(s) = &row.cells[*k] { Some(s.clone()) } else { None }).collect();
        let volume = if let Cell::Int(v) = c("volume") { *v } else { 0 };
        let m = Ohlcv {
            open: P::of(c("open"))?,
            high: P::of(c("high"))?,
            low: P::of(c("low"))?,
            close: P::of(c("close"))?,
            volume,
        };
        Some((Self::key(&parts?), Self::seconds(&row.cells[self.time])?, m))
    }

    /// A bar event as the bucket a subscriber reads.
    fn bucket_of<P: PriceCell>(&self, e: BarEvent<P>) -> Bucket {
        let b = e.bar;
        Bucket {
            key: e.symbol.split(SEP).next().unwrap_or_default().to_string(),
            start: self.at(e.start),
            values: vec![
                b.open.cell(),
                b.high.cell(),
                b.low.cell(),
                b.close.cell(),
                Cell::Int(b.volume),
                Cell::Int(e.count),
            ],
            derived: Vec::new(),
            filled: false,
            seq: Some(e.seq),
            closed: e.closed,
        }
    }
}

/// A price as a table cell.
pub trait PriceCell: Price {
    fn of(c: &Cell) -> Option<Self>;
    fn cell(self) -> Cell;
}

impl PriceCell for f64 {
    fn of(c: &Cell) -> Option<Self> {
        match c {
            Cell::Float(v) => Some(*v),
            Cell::Int(v) => Some(*v as f64),
            Cell::Decimal(d) => d.to_string().parse().ok(),
            _ => None,
        }
    }
    fn cell(self) -> Cell {
        Cell::Float(self)
    }
}

impl PriceCell for Option<Decimal> {
    fn of(c: &Cell) -> Option<Self> {
        match c {
            Cell::Decimal(d) => Some(Some(*d)),
            Cell::Int(v) => Some(Some(Decimal::from(*v))),
            Cell::Null => Some(None),
            _ => None,
        }
    }
    /// At the columns' DECIMAL(15,4) scale, as history shows them.
    fn cell(self) -> Cell {
        self.map_or(Cell::Null, |mut d| {
            d.rescale(4);
            Cell::Decimal(d)
        })
    }
}

/// What a subscription's feed hands its stream: events, conflated, and how it ended.
struct Outbox<P> {
    queue: Conflated<P>,
    end: Option<ApiError>,
}

type Shared<P> = Arc<(std::sync::Mutex<Outbox<P>>, tokio::sync::Notify)>;

/// Folds the rows of a set of series into live bars.
struct BarFeed<P> {
    state: AppState,
    series: Arc<LiveSource>,
    keys: Vec<String>,
    forming: HashMap<String, Forming<P>>,
    /// Per series, the newest row folded in.
    last: HashMap<String, i64>,
    /// Where catching up starts for a series with nothing folded yet.
    floor: i64,
    out: Shared<P>,
}

impl<P: PriceCell> BarFeed<P> {
    fn send(&self, e: BarEvent<P>) -> bool {
        let (lock, notify) = &*self.out;
        let mut out = lock.lock().expect("outbox");
        let ok = match out.queue.push(e) {
            Ok(()) => true,
            Err(TooFarBehind(n)) => {
                out.end = Some(ApiError::TooComplex(format!(
                    "subscriber fell more than {n} closed bars behind and was closed; resubscribe with `since`"
                )));
                false
            }
        };
        self.state.live_queue_peak.fetch_max(out.queue.high_water, SeqCst);
        notify.notify_one();
        ok
    }

    fn fail(&self, e: ApiError) {
        let (lock, notify) = &*self.out;
        lock.lock().expect("outbox").end = Some(e);
        notify.notify_one();
    }

    /// The forming bar of `key` for the bucket starting at `start`, up to (not including) the
    /// row at `t`, as stored: its seq base (rows and buckets before it) and its rows.
    async fn load(&self, key: &str, start: i64, t: i64) -> Result<Forming<P>, ApiError> {
        let s = &self.series;
        // Every subscriber of the series meets the same bucket at once: one count for all.
        let cache = (key.to_string(), s.width(), start);
        let cell = self.state.bar_bases.get(&cache).unwrap_or_else(|| {
            let cell = Arc::new(tokio::sync::OnceCell::new());
            self.state.bar_bases.put(cache, cell.clone());
            cell
        });
        let before = s.kind_cond(s.of_key(key, Op::Lt, start));
        let bucket = s.bucket_sql(&self.state);
        let db = &self.state.db;
        let base = *cell.get_or_try_init(|| buckets::rows_and_buckets(db, s.table, &before, &bucket)).await?;
        let mut minutes = std::collections::BTreeMap::new();
        if t > start {
            let mut cond = s.of_key(key, Op::Gte, start);
            cond.push(Cond::Cmp(s.time, Op::Lt, s.at(t)));
            let q = ListQuery::matching(s.kind_cond(cond), vec![(s.time, false)], s.most_rows());
            for row in read::list(&db.read, s.table, &q, None).await? {
                if let Some((_, at, m)) = s.read(&row) {
                    minutes.insert(at, m);
                }
            }
        }
        Ok(Forming { start, base, minutes })
    }

    /// Folds one row in; answers false when the subscriber is to be closed.
    async fn fold(&mut self, key: String, t: i64, m: Ohlcv<P>, live: bool) -> Result<bool, ApiError> {
        let start = self.series.bucket(t);
        let last = self.last.get(&key).copied();
        if let Some(f) = self.forming.get(&key) {
            if start < f.start {
                // A correction of a closed bar: charts cannot take it live; history has it.
                return Ok(true);
            }
            if live && last.is_some_and(|l| t <= l) && f.minutes.get(&t) == Some(&m) {
                // Already folded in (a replay overlapping live events).
                return Ok(true);
            }
        }
        let mut forming = match self.forming.remove(&key) {
            Some(f) if f.start == start => f,
            Some(f) => {
                // Following the series, the first row of a bucket seen is its first stored
                // (an earlier one missed would have been a lag, and a catch-up).
                let (closed, next) = f.close(&key, start);
                if !self.send(closed) {
                    return Ok(false);
                }
                next
            }
            None => self.load(&key, start, t).await?,
        };
        let e = forming.add(&key, t, m);
        self.forming.insert(key.clone(), forming);
        self.last.insert(key, last.map_or(t, |l| l.max(t)));
        Ok(self.send(e))
    }

    /// Folds in the stored rows after each series' last one (or `from`), a page at a time.
    async fn catch_up(&mut self, from: Option<i64>) -> Result<bool, ApiError> {
        let s = self.series.clone();
        let mut order = vec![(s.time, false)];
        order.extend(s.keys.iter().map(|k| (*k, false)));
        let start = from.unwrap_or_else(|| {
            self.keys.iter().map(|k| self.last.get(k).copied().unwrap_or(self.floor)).min().unwrap_or(self.floor)
        });
        // After every series at `start` (rows at that time were folded in, or stored before).
        let mut cursor = vec![s.at(start)];
        cursor.extend(s.keys.iter().map(|_| Cell::Text("\u{10FFFF}".into())));
        loop {
            let after = keyset(s.table, &order, &cursor, true);
            let cond = s.kind_cond(vec![s.of_keys(&self.keys), after]);
            let q = ListQuery::matching(cond, order.clone(), PAGE);
            let mut rows = read::list(&self.state.db.read, s.table, &q, None).await?;
            rows.truncate(PAGE as usize);
            let n = rows.len();
            for row in rows {
                cursor = order.iter().map(|(c, _)| row.cells[*c].clone()).collect();
                let Some((key, t, m)) = s.read(&row) else { continue };
                if self.last.get(&key).is_some_and(|l| t <= *l) {
                    continue;
                }
                if !self.fold(key, t, m, false).await? {
                    return Ok(false);
                }
            }
            if (n as u64) < PAGE {
                return Ok(true);
            }
        }
    }

    /// Runs the feed: the replay after `since`, then live rows, catching up from the database
    /// whenever events may have been missed.
    async fn run(
        mut self,
        mut live: BoxStream<'static, Result<Payload, BroadcastStreamRecvError>>,
        since: Option<i64>,
    ) {
        if let Some(s) = since {
            match self.catch_up(Some(s)).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => return self.fail(e),
            }
        }
        let s = self.series.clone();
        while let Some(ev) = live.next().await {
            let step = match ev {
                Ok(p) if super::is_gap(&p) => self.catch_up(None).await,
                Ok(p) => {
                    match p["row"].as_object().and_then(|r| row_of_payload(s.table, r)).as_ref().and_then(|r| s.read(r))
                    {
                        Some((key, t, m)) => self.fold(key, t, m, true).await,
                        None => Ok(true),
                    }
                }
                Err(BroadcastStreamRecvError::Lagged(n)) => {
                    crate::telemetry::METRICS.events.with_label_values(&["dropped"]).inc_by(n);
                    self.catch_up(None).await
                }
            };
            match step {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => return self.fail(e),
            }
        }
    }
}

/// Aborts the feed's task when the subscription's stream is dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Live bars of the series `keys` (see `LiveSource::key`): the replay after `since` (Unix
/// seconds) first, then live.
pub async fn bar_feed<P: PriceCell>(
    state: AppState,
    series: LiveSource,
    keys: Vec<String>,
    since: Option<i64>,
) -> ApiResult<BoxStream<'static, ApiResult<Bucket>>> {
    // Subscribe first: the replay overlaps live events, never misses them.
    let receivers: Vec<_> = keys.iter().map(|k| state.events.subscribe(&series.event_topic(k))).collect();
    let live = stream::select_all(receivers.into_iter().map(BroadcastStream::new)).boxed();
    // Without `since`, what is new is what is stored after the newest row stored now.
    let floor = match since {
        Some(s) => s,
        None => {
            let cond = series.kind_cond(vec![series.of_keys(&keys)]);
            let newest = buckets::newest(&state.db, series.table, &cond, series.time).await?;
            newest.as_ref().and_then(LiveSource::seconds).unwrap_or(EARLIEST)
        }
    };
    let out: Shared<P> = Arc::new((
        std::sync::Mutex::new(Outbox { queue: Conflated::new(state.max_pending_closed_bars), end: None }),
        Default::default(),
    ));
    let series = Arc::new(series);
    let feed = BarFeed {
        state,
        series: series.clone(),
        keys,
        forming: HashMap::new(),
        last: HashMap::new(),
        floor,
        out: out.clone(),
    };
    let task = tokio::spawn(feed.run(live, since));
    let guard = Arc::new(AbortOnDrop(task.abort_handle()));
    Ok(stream::unfold((out, guard, false), move |(out, guard, ended)| {
        let series = series.clone();
        async move {
            if ended {
                return None;
            }
            loop {
                let ready = {
                    let notified = out.1.notified();
                    let ready = {
                        let mut o = out.0.lock().expect("outbox");
                        match o.queue.pop() {
                            Some(e) => Some((Ok(series.bucket_of(e)), false)),
                            None => o.end.take().map(|e| (Err(e), true)),
                        }
                    };
                    if ready.is_none() {
                        notified.await;
                    }
                    ready
                };
                if let Some((item, ended)) = ready {
                    return Some((item, (out, guard, ended)));
                }
            }
        }
    })
    .boxed())
}
