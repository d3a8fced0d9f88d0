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
use crate::events::Payload;
use crate::AppState;
use async_graphql::dynamic::{
    FieldValue, InputObject, InputValue, Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::Value as GqlValue;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{Map, Value};
use std::collections::HashSet;
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

/// A minute candle as a one-minute bucket.
fn minute_bucket(row: &Row) -> Option<Bucket> {
    let t = row.table;
    let c = |n: &str| row.cells[t.col(n).expect("candle column")].clone();
    let Cell::Text(symbol) = c("symbol") else { return None };
    Some(Bucket {
        key: symbol,
        start: c("time"),
        values: vec![c("open"), c("high"), c("low"), c("close"), c("volume"), Cell::Int(1)],
        derived: Vec::new(),
        filled: false,
    })
}

fn bucket_sig(b: &Bucket) -> String {
    format!("{}{:?}{:?}", b.key, b.start, b.values)
}

/// Stored candles (or buckets) of `symbols`, each from its own starting point, oldest first.
async fn stored(
    state: &AppState,
    from: &[(String, chrono::DateTime<chrono::Utc>)],
    secs: i64,
) -> Result<Vec<Bucket>, ApiError> {
    let mut out = Vec::new();
    for (sym, t) in from {
        out.extend(crate::data::buckets::candles(&state.db, sym, secs, Some(*t), None).await?);
    }
    out.sort_by_key(|b| match b.start {
        Cell::DateTime(t) => t,
        _ => chrono::DateTime::<chrono::Utc>::MIN_UTC,
    });
    Ok(out)
}

/// The bucket a live candle row updates (the candle itself for one minute).
async fn bucket_of(state: &AppState, secs: i64, row: &Row) -> Option<Bucket> {
    let b = minute_bucket(row)?;
    if secs == 60 {
        return Some(b);
    }
    let Cell::DateTime(t) = b.start else { return None };
    let start = chrono::DateTime::from_timestamp(t.timestamp() / secs * secs, 0)?;
    let end = start + chrono::Duration::seconds(secs) - chrono::Duration::microseconds(1);
    crate::data::buckets::candles(&state.db, &b.key, secs, Some(start), Some(end)).await.ok()?.pop()
}

/// Where a candle feed stands.
struct CandleFeed {
    state: AppState,
    symbols: Vec<String>,
    secs: i64,
    live: BoxStream<'static, Result<Payload, BroadcastStreamRecvError>>,
    queue: std::collections::VecDeque<Bucket>,
    /// What the last read from the database delivered: live duplicates of it are dropped.
    seen: HashSet<String>,
    /// Per symbol, the newest bucket start delivered and what was delivered for it: a
    /// lagging feed catches up from there without repeating it.
    last: std::collections::HashMap<String, (chrono::DateTime<chrono::Utc>, HashSet<String>)>,
    floor: chrono::DateTime<chrono::Utc>,
    /// Per symbol, the newest bucket the last database read returned: older live events were
    /// covered by that read (candles arrive in time order; a late correction during a lag is
    /// superseded by the read).
    watermark: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>>,
}

impl CandleFeed {
    /// Records what a read from the database delivered (see `seen` and `watermark`).
    fn caught_up(&mut self, rows: Vec<Bucket>) {
        self.seen = rows.iter().map(bucket_sig).collect();
        for b in &rows {
            if let Cell::DateTime(t) = b.start {
                let w = self.watermark.entry(b.key.clone()).or_insert(t);
                *w = (*w).max(t);
            }
        }
        for b in rows {
            let done = matches!((&b.start, self.last.get(&b.key)), (Cell::DateTime(t), Some((l, sigs))) if t == l && sigs.contains(&bucket_sig(&b)));
            if !done {
                self.queue.push_back(b);
            }
        }
    }

    fn delivered(&mut self, b: &Bucket) {
        let Cell::DateTime(t) = b.start else { return };
        let e = self.last.entry(b.key.clone()).or_insert_with(|| (t, HashSet::new()));
        if t > e.0 {
            *e = (t, HashSet::new());
        }
        if t == e.0 {
            e.1.insert(bucket_sig(b));
        }
    }

    async fn next(mut self) -> Option<(async_graphql::Result<Bucket>, Self)> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                self.delivered(&b);
                return Some((Ok(b), self));
            }
            let t = table("market_candles");
            let lagged = match self.live.next().await? {
                // Events may have been lost upstream: catch up from the database, as when lagging.
                Ok(p) if crate::events::is_gap(&p) => 0,
                Ok(p) => {
                    let Some(row) = p["row"].as_object().and_then(|r| row_of(t, r)) else { continue };
                    if let Some(b) = bucket_of(&self.state, self.secs, &row).await {
                        let covered =
                            matches!((&b.start, self.watermark.get(&b.key)), (Cell::DateTime(t), Some(w)) if t < w);
                        if !covered && !self.seen.contains(&bucket_sig(&b)) {
                            self.queue.push_back(b);
                        }
                    }
                    continue;
                }
                // Fell behind the bounded buffer: catch up from the database instead.
                Err(BroadcastStreamRecvError::Lagged(n)) => n,
            };
            crate::telemetry::METRICS.events.with_label_values(&["dropped"]).inc_by(lagged);
            // A symbol with nothing delivered yet catches up from `since` (or the last day).
            let fallback = self.floor;
            let from: Vec<_> =
                self.symbols.iter().map(|s| (s.clone(), self.last.get(s).map_or(fallback, |(t, _)| *t))).collect();
            match stored(&self.state, &from, self.secs).await {
                Ok(rows) => self.caught_up(rows),
                Err(e) => return Some((Err(e.into()), self)),
            }
        }
    }
}

/// Candles (or running buckets of `secs`) of `symbols`: the stored ones after `since`, then live.
async fn candle_feed(
    state: AppState,
    symbols: Vec<String>,
    secs: i64,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<BoxStream<'static, async_graphql::Result<Bucket>>, ApiError> {
    // Subscribe first: the replay below may overlap live events, never miss them.
    let receivers: Vec<_> = symbols.iter().map(|s| state.events.subscribe(&format!("candle:{s}"))).collect();
    let live = stream::select_all(receivers.into_iter().map(BroadcastStream::new)).boxed();
    let floor =
        since.map_or_else(|| chrono::Utc::now() - chrono::Duration::days(1), |s| s + chrono::Duration::microseconds(1));
    let mut feed = CandleFeed {
        state,
        symbols,
        secs,
        live,
        queue: Default::default(),
        seen: HashSet::new(),
        last: Default::default(),
        floor,
        watermark: Default::default(),
    };
    if let Some(since) = since {
        let from: Vec<_> =
            feed.symbols.iter().map(|s| (s.clone(), since + chrono::Duration::microseconds(1))).collect();
        let rows = stored(&feed.state, &from, secs).await?;
        feed.caught_up(rows);
    }
    Ok(stream::unfold(feed, CandleFeed::next).boxed())
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
