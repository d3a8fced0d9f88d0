//! Live feeds: candles, daily bars and workflow executions, from the event bus. A subscriber
//! that passes `since` first gets the stored rows after that point, then live rows, with
//! nothing lost or repeated at the switch; one that falls behind is told so and closed.
use super::schema::viewer_of;
use crate::auth::Role;
use crate::data::buckets::Bucket;
use crate::data::catalog::{Catalog, Table};
use crate::data::query::check_region;
use crate::data::query::{Cond, Op};
use crate::data::read;
use crate::data::read::Row;
use crate::data::values::{parse_date, parse_datetime, Cell, Kind};
use crate::error::ApiError;
use crate::events::bars::{BarEvent, Conflated, Forming, Minute, TooFarBehind};
use crate::events::Payload;
use crate::AppState;
use async_graphql::dynamic::{
    FieldValue, InputObject, InputValue, Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::Value as GqlValue;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

/// Most rows a `since` replay sends before switching to live rows.
const MAX_REPLAY: u64 = 100_000;

fn table(name: &str) -> &'static Table {
    Catalog::get().table(name)
}

/// The subscriptions one connection may hold, and the process-wide count they share: every
/// kind of subscription takes a slot of both for as long as it lives.
#[derive(Clone)]
pub struct Slots {
    connection: Arc<AtomicUsize>,
    per_connection: usize,
    process: Arc<AtomicUsize>,
    per_process: usize,
}

impl Slots {
    pub fn new(per_connection: usize, process: Arc<AtomicUsize>, per_process: usize) -> Self {
        Slots { connection: Default::default(), per_connection, process, per_process }
    }
}

/// A held slot of a counter, given back when dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(counter: &Arc<AtomicUsize>, max: usize) -> Option<Slot> {
        if counter.fetch_add(1, SeqCst) >= max {
            counter.fetch_sub(1, SeqCst);
            return None;
        }
        Some(Slot(counter.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// A live subscription, counted in the process's metrics while it lives.
struct Live;

impl Live {
    fn new() -> Live {
        crate::telemetry::METRICS.subscriptions.inc();
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        crate::telemetry::METRICS.subscriptions.dec();
    }
}

/// Takes a slot of the connection and of the process (if the transport keeps count) for as
/// long as `s` lives.
pub(crate) fn slotted<T: Send + 'static>(
    ctx: &async_graphql::dynamic::ResolverContext<'_>,
    s: BoxStream<'static, T>,
) -> Result<BoxStream<'static, T>, ApiError> {
    let Ok(slots) = ctx.data::<Slots>() else { return Ok(s) };
    let Some(mine) = Slot::take(&slots.connection, slots.per_connection) else {
        return Err(ApiError::TooComplex(format!("at most {} subscriptions per connection", slots.per_connection)));
    };
    let Some(shared) = Slot::take(&slots.process, slots.per_process) else {
        return Err(ApiError::RateLimited("the server holds as many subscriptions as it may: retry later".into()));
    };
    let slot = (mine, shared, Live::new());
    Ok(s.map(move |x| {
        let _held = &slot;
        x
    })
    .boxed())
}

/// A row from an event payload (text per column).
pub fn row_of(t: &'static Table, row: &Map<String, Value>) -> Option<Row> {
    let mut cells = Vec::with_capacity(t.columns.len());
    for c in &t.columns {
        let cell = match row.get(&c.name) {
            None | Some(Value::Null) => Cell::Null,
            Some(Value::String(s)) => match c.kind {
                Kind::Int | Kind::BigInt => Cell::Int(s.parse().ok()?),
                Kind::Float => Cell::Float(s.parse().ok()?),
                Kind::Decimal => Cell::Decimal(crate::data::values::parse_decimal(s).ok()?),
                Kind::Boolean => Cell::Bool(s == "true" || s == "t"),
                Kind::Date => Cell::Date(parse_date(s).ok()?),
                Kind::DateTime => Cell::DateTime(parse_datetime(s).ok()?),
                Kind::Json => Cell::Json(Box::new(serde_json::from_str(s).ok()?)),
                Kind::Uuid => Cell::Uuid(uuid::Uuid::parse_str(s).ok()?),
                Kind::String => Cell::Text(s.clone()),
            },
            Some(_) => return None,
        };
        cells.push(cell);
    }
    Some(Row { table: t, cells, fetched: Vec::new() })
}

/// The identity of a row (its primary key), for de-duplicating replayed and live rows.
fn key_of(row: &Row) -> String {
    format!("{:?}", row.table.pk.iter().map(|i| &row.cells[*i]).collect::<Vec<_>>())
}

type Item = async_graphql::Result<Row>;

/// Live rows of `topics` after `replay` (already read from the database). Live rows equal to a
/// replayed one are dropped, so the switch neither repeats nor loses a row.
fn feed(
    t: &'static Table,
    receivers: Vec<tokio::sync::broadcast::Receiver<Payload>>,
    replay: Vec<Row>,
) -> BoxStream<'static, Item> {
    let live = stream::select_all(receivers.into_iter().map(BroadcastStream::new)).boxed();
    let seen: HashSet<String> = replay.iter().map(|r| format!("{}{:?}", key_of(r), r.cells)).collect();
    let head = stream::iter(replay.into_iter().map(Ok));
    let tail = live
        .scan(false, move |ended, ev: Result<Payload, BroadcastStreamRecvError>| {
            let out = if *ended {
                None
            } else {
                match ev {
                    Ok(p) if crate::events::is_gap(&p) => {
                        *ended = true;
                        Some(Some(Err(ApiError::Unavailable(format!(
                            "events may have been missed ({}); resubscribe with `since` to catch up from the database",
                            p["gap"].as_str().unwrap_or("the event feed reconnected")
                        ))
                        .into())))
                    }
                    Ok(p) => {
                        let row = p["row"].as_object().and_then(|r| row_of(t, r));
                        Some(row.filter(|r| !seen.contains(&format!("{}{:?}", key_of(r), r.cells))).map(Ok))
                    }
                    Err(BroadcastStreamRecvError::Lagged(n)) => {
                        crate::telemetry::METRICS.events.with_label_values(&["dropped"]).inc_by(n);
                        *ended = true;
                        Some(Some(Err(ApiError::TooComplex(format!(
                            "subscriber fell {n} events behind and was closed; resubscribe with `since` to catch up from the database"
                        ))
                        .into())))
                    }
                }
            };
            futures_util::future::ready(out)
        })
        .filter_map(futures_util::future::ready);
    head.chain(tail).boxed()
}

/// Subscribes to `topics`, then reads the rows of `t` matching `cond` (the replay).
async fn subscribe_with_replay(
    state: &AppState,
    t: &'static Table,
    topics: Vec<String>,
    cond: Option<Cond>,
    order: Vec<(usize, bool)>,
) -> Result<BoxStream<'static, Item>, ApiError> {
    // Receivers exist from here on; the replay below may overlap them, never miss.
    let receivers: Vec<_> = topics.iter().map(|tp| state.events.subscribe(tp)).collect();
    let replay = match cond {
        Some(cond) => {
            let q = crate::data::query::ListQuery::matching(cond, order, MAX_REPLAY);
            let mut rows = read::list(&state.db.read, t, &q, None).await?;
            rows.truncate(MAX_REPLAY as usize);
            rows
        }
        None => Vec::new(),
    };
    Ok(feed(t, receivers, replay))
}

fn strings(v: Option<GqlValue>) -> Vec<String> {
    match v {
        Some(GqlValue::List(l)) => {
            l.into_iter().filter_map(|x| if let GqlValue::String(s) = x { Some(s) } else { None }).collect()
        }
        _ => Vec::new(),
    }
}

/// Minute candles read per statement when a feed replays (`since`) or catches up.
const PAGE: u64 = 1000;

fn candles_table() -> &'static Table {
    table("market_candles")
}

/// A candle row as (symbol, minute in Unix seconds, values).
fn minute_of(row: &Row) -> Option<(String, i64, Minute)> {
    let t = row.table;
    let c = |n: &str| &row.cells[t.col(n).expect("candle column")];
    let f = |n: &str| match c(n) {
        Cell::Float(v) => Some(*v),
        Cell::Int(v) => Some(*v as f64),
        Cell::Decimal(d) => d.to_string().parse().ok(),
        _ => None,
    };
    let (Cell::Text(symbol), Cell::DateTime(at)) = (c("symbol"), c("time")) else { return None };
    let volume = match c("volume") {
        Cell::Int(v) => *v,
        _ => 0,
    };
    let m = Minute { open: f("open")?, high: f("high")?, low: f("low")?, close: f("close")?, volume };
    Some((symbol.clone(), at.timestamp(), m))
}

/// A bar event as the `CandleBucket` a subscriber reads.
fn bucket_of_event(e: BarEvent) -> Bucket {
    let b = e.bar;
    Bucket {
        key: e.symbol,
        start: chrono::DateTime::from_timestamp(e.start, 0).map_or(Cell::Null, Cell::DateTime),
        values: vec![
            Cell::Float(b.open),
            Cell::Float(b.high),
            Cell::Float(b.low),
            Cell::Float(b.close),
            Cell::Int(b.volume),
            Cell::Int(e.count),
        ],
        derived: Vec::new(),
        filled: false,
        seq: Some(e.seq),
        closed: e.closed,
    }
}

/// What a subscription's feed hands its stream: events, conflated, and how it ended.
struct Outbox {
    queue: Conflated,
    end: Option<ApiError>,
}

type Shared = Arc<(std::sync::Mutex<Outbox>, tokio::sync::Notify)>;

/// Folds a symbol set's minute candles into live bars (`events::bars`), reading from the
/// database what the live events cannot tell: the candles and buckets before a bar (its seq),
/// the bar's earlier candles, and — replaying `since` or after falling behind — the candles
/// missed, a page at a time.
struct BarFeed {
    state: AppState,
    symbols: Vec<String>,
    secs: i64,
    forming: HashMap<String, Forming>,
    /// Per symbol, the newest minute folded in.
    last: HashMap<String, i64>,
    /// Where catching up starts for a symbol with nothing folded yet.
    floor: i64,
    out: Shared,
}

impl BarFeed {
    fn bucket(&self, minute: i64) -> i64 {
        minute - minute.rem_euclid(self.secs)
    }

    fn send(&self, e: BarEvent) -> bool {
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

    /// The forming bar of `symbol` for the bucket starting at `start`, up to (not including)
    /// `minute`, as stored: its seq base (candles and buckets before it) and its candles.
    async fn load(&self, symbol: &str, start: i64, minute: i64) -> Result<Forming, ApiError> {
        // Every subscriber of the symbol meets the same bucket at once: one count for all.
        let key = (symbol.to_string(), self.secs, start);
        let cell = self.state.bar_bases.get(&key).unwrap_or_else(|| {
            let cell = Arc::new(tokio::sync::OnceCell::new());
            self.state.bar_bases.put(key, cell.clone());
            cell
        });
        let db = &self.state.db;
        let base = *cell.get_or_try_init(|| crate::data::buckets::candles_before(db, symbol, self.secs, start)).await?;
        if minute == start {
            return Ok(Forming { start, base, minutes: Default::default() });
        }
        let t = candles_table();
        let at = |s: i64| chrono::DateTime::from_timestamp(s, 0).map_or(Cell::Null, Cell::DateTime);
        let (sym, time) = (t.col("symbol").unwrap(), t.col("time").unwrap());
        let cond = Cond::All(vec![
            Cond::Cmp(sym, Op::Eq, Cell::Text(symbol.to_string())),
            Cond::Cmp(time, Op::Gte, at(start)),
            Cond::Cmp(time, Op::Lt, at(minute)),
        ]);
        let q = crate::data::query::ListQuery::matching(cond, vec![(time, false)], (self.secs / 60 + 1) as u64);
        let mut minutes = std::collections::BTreeMap::new();
        for row in read::list(&self.state.db.read, t, &q, None).await? {
            if let Some((_, m, c)) = minute_of(&row) {
                minutes.insert(m, c);
            }
        }
        Ok(Forming { start, base, minutes })
    }

    /// Folds one candle in; answers false when the subscriber is to be closed.
    async fn fold(&mut self, symbol: String, minute: i64, m: Minute, live: bool) -> Result<bool, ApiError> {
        let start = self.bucket(minute);
        let last = self.last.get(&symbol).copied();
        if let Some(f) = self.forming.get(&symbol) {
            if start < f.start {
                // A correction of a closed bar: charts cannot take it live; history has it.
                return Ok(true);
            }
            if live && last.is_some_and(|l| minute <= l) && f.minutes.get(&minute) == Some(&m) {
                // Already folded in (a replay overlapping live events).
                return Ok(true);
            }
        }
        let forming = match self.forming.remove(&symbol) {
            Some(f) if f.start == start => f,
            Some(f) => {
                // Following the symbol, the first candle of a bucket seen is its first stored
                // (an earlier one missed would have been a lag, and a catch-up).
                let (closed, next) = f.close(&symbol, start);
                if !self.send(closed) {
                    return Ok(false);
                }
                next
            }
            None => self.load(&symbol, start, minute).await?,
        };
        let mut forming = forming;
        let e = forming.add(&symbol, minute, m);
        self.forming.insert(symbol.clone(), forming);
        self.last.insert(symbol, last.map_or(minute, |l| l.max(minute)));
        Ok(self.send(e))
    }

    /// Folds in the stored candles after each symbol's last one (or `from`), a page at a time.
    async fn catch_up(&mut self, from: Option<i64>) -> Result<bool, ApiError> {
        let t = candles_table();
        let (sym, time) = (t.col("symbol").unwrap(), t.col("time").unwrap());
        let order = vec![(time, false), (sym, false)];
        let start = from.unwrap_or_else(|| {
            self.symbols.iter().map(|s| self.last.get(s).copied().unwrap_or(self.floor)).min().unwrap_or(self.floor)
        });
        // After every symbol at `start` (rows at that time were folded in, or stored before).
        let mut cursor = vec![
            Cell::DateTime(
                chrono::DateTime::from_timestamp(start, 0).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC),
            ),
            Cell::Text("\u{10FFFF}".into()),
        ];
        loop {
            let symbols = Cond::In(sym, self.symbols.iter().map(|s| Cell::Text(s.clone())).collect(), false);
            let after = crate::data::query::keyset(t, &order, &cursor, true);
            let q = crate::data::query::ListQuery::matching(Cond::All(vec![symbols, after]), order.clone(), PAGE);
            let mut rows = read::list(&self.state.db.read, t, &q, None).await?;
            rows.truncate(PAGE as usize);
            let n = rows.len();
            for row in rows {
                cursor = vec![row.cells[time].clone(), row.cells[sym].clone()];
                let Some((symbol, minute, m)) = minute_of(&row) else { continue };
                if self.last.get(&symbol).is_some_and(|l| minute <= *l) {
                    continue;
                }
                if !self.fold(symbol, minute, m, false).await? {
                    return Ok(false);
                }
            }
            if (n as u64) < PAGE {
                return Ok(true);
            }
        }
    }

    /// Runs the feed: the replay after `since`, then live candles, catching up from the
    /// database whenever events may have been missed.
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
        let t = candles_table();
        while let Some(ev) = live.next().await {
            let step = match ev {
                Ok(p) if crate::events::is_gap(&p) => self.catch_up(None).await,
                Ok(p) => match p["row"].as_object().and_then(|r| row_of(t, r)).as_ref().and_then(minute_of) {
                    Some((symbol, minute, m)) => self.fold(symbol, minute, m, true).await,
                    None => Ok(true),
                },
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

/// Live bars of `symbols` in `secs` buckets: the replay after `since` first, then live.
async fn candle_feed(
    state: AppState,
    symbols: Vec<String>,
    secs: i64,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<BoxStream<'static, async_graphql::Result<Bucket>>, ApiError> {
    // Subscribe first: the replay overlaps live events, never misses them.
    let receivers: Vec<_> = symbols.iter().map(|s| state.events.subscribe(&format!("candle:{s}"))).collect();
    let live = stream::select_all(receivers.into_iter().map(BroadcastStream::new)).boxed();
    // Without `since`, what is new is what is stored after the newest candle stored now.
    let floor = match since {
        Some(s) => s.timestamp(),
        None => crate::data::buckets::newest_candle(&state.db, &symbols).await?.unwrap_or(0),
    };
    let max_closed = state.max_pending_closed_bars;
    let out: Shared =
        Arc::new((std::sync::Mutex::new(Outbox { queue: Conflated::new(max_closed), end: None }), Default::default()));
    let feed = BarFeed { state, symbols, secs, forming: HashMap::new(), last: HashMap::new(), floor, out: out.clone() };
    let task = tokio::spawn(feed.run(live, since.map(|s| s.timestamp())));
    let guard = Arc::new(AbortOnDrop(task.abort_handle()));
    Ok(stream::unfold((out, guard, false), |(out, guard, ended)| async move {
        if ended {
            return None;
        }
        loop {
            let next = {
                let notified = out.1.notified();
                let ready = {
                    let mut o = out.0.lock().expect("outbox");
                    match o.queue.pop() {
                        Some(e) => Some((Ok(bucket_of_event(e)), false)),
                        None => o.end.take().map(|e| (Err(e.into()), true)),
                    }
                };
                if ready.is_none() {
                    notified.await;
                }
                ready
            };
            if let Some((item, ended)) = next {
                return Some((item, (out, guard, ended)));
            }
        }
    })
    .boxed())
}

pub fn register(
    mut builder: async_graphql::dynamic::SchemaBuilder,
    snapshots: SubscriptionField,
) -> async_graphql::dynamic::SchemaBuilder {
    builder = builder.register(
        InputObject::new("TickerKey")
            .field(InputValue::new("ticker", TypeRef::named_nn(TypeRef::STRING)))
            .field(InputValue::new("region", TypeRef::named_nn(TypeRef::STRING))),
    );
    let candles = SubscriptionField::new("candles", TypeRef::named_nn("CandleBucket"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let state = ctx.data::<AppState>()?.clone();
            let symbols = strings(ctx.args.get("symbols").map(|v| v.as_value().clone()));
            if symbols.is_empty() || symbols.len() > 500 {
                return Err(ApiError::bad("symbols: 1 to 500 symbols").into());
            }
            let secs = match ctx.args.get("interval").and_then(|v| v.enum_name().ok().map(String::from)) {
                Some(i) => crate::data::buckets::candle_seconds(&i).ok_or_else(|| ApiError::bad("unknown interval"))?,
                None => 60,
            };
            let since = ctx
                .args
                .get("since")
                .and_then(|v| v.string().ok().map(String::from))
                .map(|s| parse_datetime(&s))
                .transpose()
                .map_err(ApiError::bad)?;
            let feed = slotted(&ctx, candle_feed(state, symbols, secs, since).await?)?;
            Ok(feed.map(|r| r.map(FieldValue::owned_any)))
        })
    })
    .argument(InputValue::new("symbols", TypeRef::named_nn_list_nn(TypeRef::STRING)))
    .argument(
        InputValue::new("interval", TypeRef::named("CandleInterval"))
            .description("M1 (default): each candle; longer: the updated running bucket."),
    )
    .argument(
        InputValue::new("since", TypeRef::named("DateTime"))
            .description("Replay stored candles (or buckets) after this time first."),
    )
    .description("Every new or corrected minute candle of these symbols, or the running bucket it updates.");
    let bars = SubscriptionField::new("ohlcvBars", TypeRef::named_nn("OhlcvBar"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let t = table("ohlcv_data");
            let mut keys = Vec::new();
            if let Some(GqlValue::List(l)) = ctx.args.get("tickers").map(|v| v.as_value().clone()) {
                for k in l {
                    if let GqlValue::Object(o) = k {
                        let get = |n: &str| match o.get(n) {
                            Some(GqlValue::String(s)) => s.clone(),
                            _ => String::new(),
                        };
                        check_region(&get("region"))?;
                        keys.push((get("ticker"), get("region")));
                    }
                }
            }
            if keys.is_empty() || keys.len() > 500 {
                return Err(ApiError::bad("tickers: 1 to 500 tickers").into());
            }
            let since = ctx
                .args
                .get("since")
                .and_then(|v| v.string().ok().map(String::from))
                .map(|s| parse_date(&s))
                .transpose()
                .map_err(ApiError::bad)?;
            let topics: Vec<String> = keys.iter().map(|(tk, r)| format!("bar:{tk}:{r}")).collect();
            let (ct, cr, cd) = (t.col("ticker").unwrap(), t.col("region").unwrap(), t.col("date").unwrap());
            let cond = since.map(|s| {
                Cond::All(vec![
                    Cond::Any(
                        keys.iter()
                            .map(|(tk, r)| {
                                Cond::All(vec![
                                    Cond::Cmp(ct, Op::Eq, Cell::Text(tk.clone())),
                                    Cond::Cmp(cr, Op::Eq, Cell::Text(r.clone())),
                                ])
                            })
                            .collect(),
                    ),
                    Cond::Cmp(cd, Op::Gt, Cell::Date(s)),
                ])
            });
            let feed =
                subscribe_with_replay(state, t, topics, cond, vec![(cd, false), (ct, false), (cr, false)]).await?;
            Ok(slotted(&ctx, feed)?.map(|r| r.map(FieldValue::owned_any)))
        })
    })
    .argument(InputValue::new("tickers", TypeRef::named_nn_list_nn("TickerKey")))
    .argument(InputValue::new("since", TypeRef::named("Date")).description("Replay stored bars after this day first."))
    .description("Every new or corrected daily bar of these tickers.");
    let executions = SubscriptionField::new("workflowExecution", TypeRef::named_nn("WorkflowExecutionLog"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let viewer = viewer_of(&ctx);
            viewer.require_user()?;
            let wf = table("workflows");
            let mut cond = vec![crate::data::query::access(wf, viewer)?];
            if let Some(id) = ctx.args.get("workflowId").and_then(|v| v.string().ok().map(String::from)) {
                let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::bad("workflowId: not a UUID"))?;
                cond.push(Cond::Cmp(wf.col("id").unwrap(), Op::Eq, Cell::Uuid(id)));
            }
            // The caller's workflows, fixed when subscribing: others' executions never reach them.
            let cond = Cond::All(cond);
            let q = crate::data::query::ListQuery::matching(cond, wf.default_order.clone(), 10_000);
            let ids = read::list(&state.db.read, wf, &q, None).await?;
            if ids.is_empty() {
                return Err(ApiError::NotFound("no such workflow".into()).into());
            }
            let topics: Vec<String> = ids
                .iter()
                .map(|r| {
                    format!(
                        "exec:{}",
                        match &r.cells[wf.col("id").unwrap()] {
                            Cell::Uuid(u) => u.to_string(),
                            _ => String::new(),
                        }
                    )
                })
                .collect();
            let feed = subscribe_with_replay(state, table("workflow_execution_logs"), topics, None, vec![]).await?;
            Ok(slotted(&ctx, feed)?.map(|r| r.map(FieldValue::owned_any)))
        })
    })
    .argument(
        InputValue::new("workflowId", TypeRef::named("UUID"))
            .description("One workflow; all of the caller's when absent."),
    )
    .description("Status changes of the caller's workflow executions.");
    let pending =
        SubscriptionField::new("pendingWorkflowExecutions", TypeRef::named_nn("WorkflowExecutionLog"), |ctx| {
            SubscriptionFieldFuture::new(async move {
                let state = ctx.data::<AppState>()?;
                match viewer_of(&ctx).role {
                    Role::Service | Role::Admin => {}
                    Role::Anonymous => {
                        return Err(ApiError::Unauthenticated("sign in as a workflow worker".into()).into())
                    }
                    _ => {
                        return Err(
                            ApiError::Forbidden("only workflow workers (service role) see the queue".into()).into()
                        )
                    }
                }
                let t = table("workflow_execution_logs");
                let (status, at) = (t.col("status").unwrap(), t.col("executed_at").unwrap());
                let waiting = Cond::Cmp(status, Op::Eq, Cell::Text("pending".into()));
                let order = vec![(at, false), (t.pk[0], false)];
                let topics = vec![crate::events::PENDING_RUNS.to_string()];
                let feed = subscribe_with_replay(state, t, topics, Some(waiting), order).await?;
                Ok(slotted(&ctx, feed)?.map(|r| r.map(FieldValue::owned_any)))
            })
        })
        .description(
            "Workers: the runs pending now (oldest first), then each run that becomes pending. A run seen here \
         may already be taken: `claimWorkflowExecution` hands out each run once.",
        );
    builder.register(
        Subscription::new("Subscription").field(candles).field(bars).field(executions).field(pending).field(snapshots),
    )
}
