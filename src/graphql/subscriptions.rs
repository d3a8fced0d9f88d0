//! The live subscriptions: candles and daily bars (`events::live_bars`) and workflow
//! executions (`events::replay`), each given a slot of the connection's and the process's
//! subscriptions while it lives. What they hear and replay is the event layer's; this file
//! checks the arguments and registers the fields.
use super::context::viewer_of;
use super::SchemaParts;
use crate::auth::Role;
use crate::data::buckets::BarInterval;
use crate::data::catalog::{Catalog, Table};
use crate::data::query::check_region;
use crate::data::query::{Cond, Op};
use crate::data::read;
use crate::data::values::{parse_date, parse_datetime, Cell};
use crate::error::ApiError;
use crate::events::live_bars::{bar_feed, LiveSource};
use crate::events::replay::subscribe_with_replay;
use crate::events::Topic;
use crate::AppState;
use async_graphql::dynamic::{
    FieldValue, InputObject, InputValue, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::Value as GqlValue;
use futures_util::stream::{BoxStream, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

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
    match ctx.data::<Slots>() {
        Ok(slots) => held(slots, s),
        Err(_) => Ok(s),
    }
}

/// `s`, holding a slot of the connection and of the process for as long as it lives.
pub(crate) fn held<T: Send + 'static>(
    slots: &Slots,
    s: BoxStream<'static, T>,
) -> Result<BoxStream<'static, T>, ApiError> {
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

fn strings(v: Option<GqlValue>) -> Vec<String> {
    match v {
        Some(GqlValue::List(l)) => {
            l.into_iter().filter_map(|x| if let GqlValue::String(s) = x { Some(s) } else { None }).collect()
        }
        _ => Vec::new(),
    }
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    let builder = parts.builder.register(
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
            let feed = bar_feed::<f64>(state, LiveSource::candles(secs), symbols, since.map(|s| s.timestamp())).await?;
            let feed = slotted(&ctx, feed)?;
            Ok(feed.map(|r| r.map(FieldValue::owned_any).map_err(Into::into)))
        })
    })
    .argument(InputValue::new("symbols", TypeRef::named_nn_list_nn(TypeRef::STRING)))
    .argument(
        InputValue::new("interval", TypeRef::named("CandleInterval"))
            .description("M1 (default): a bar per minute; longer: the running M5…D1 bar."),
    )
    .argument(
        InputValue::new("since", TypeRef::named("DateTime"))
            .description("Replay the bars made of the stored candles after this time first."),
    )
    .description(
        "Live bars of these symbols as charts take them: the forming bar each time a minute candle of it is \
         written (same `bucket`: replace it), then once with `closed: true` when a candle of a later bucket \
         arrives; `seq` counts them.",
    );
    let bars = SubscriptionField::new("ohlcvBars", TypeRef::named_nn("OhlcvBucket"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let state = ctx.data::<AppState>()?.clone();
            let mut keys = Vec::new();
            if let Some(GqlValue::List(l)) = ctx.args.get("tickers").map(|v| v.as_value().clone()) {
                for k in l {
                    if let GqlValue::Object(o) = k {
                        let get = |n: &str| match o.get(n) {
                            Some(GqlValue::String(s)) => s.clone(),
                            _ => String::new(),
                        };
                        check_region(&get("region"))?;
                        keys.push(LiveSource::key(&[get("ticker"), get("region")]));
                    }
                }
            }
            if keys.is_empty() || keys.len() > 500 {
                return Err(ApiError::bad("tickers: 1 to 500 tickers").into());
            }
            let iv = match ctx.args.get("interval").and_then(|v| v.enum_name().ok().map(String::from)) {
                Some(i) => BarInterval::parse(&i).ok_or_else(|| ApiError::bad("unknown interval"))?,
                None => BarInterval::Day,
            };
            let since = ctx
                .args
                .get("since")
                .and_then(|v| v.string().ok().map(String::from))
                .map(|s| parse_date(&s))
                .transpose()
                .map_err(ApiError::bad)?;
            let since = since.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp());
            let feed = bar_feed::<Option<rust_decimal::Decimal>>(state, LiveSource::bars(iv), keys, since).await?;
            Ok(slotted(&ctx, feed)?.map(|r| r.map(FieldValue::owned_any).map_err(Into::into)))
        })
    })
    .argument(InputValue::new("tickers", TypeRef::named_nn_list_nn("TickerKey")))
    .argument(
        InputValue::new("interval", TypeRef::named("BarInterval"))
            .description("DAY (default): each daily bar; longer: the running week, month, quarter or year."),
    )
    .argument(
        InputValue::new("since", TypeRef::named("Date"))
            .description("Replay the bars made of the stored daily bars after this day first."),
    )
    .description(
        "Live bars of these tickers as charts take them: the forming bar each time a daily bar of it is written \
         (same `bucket`: replace it), then once with `closed: true` when a bar of a later bucket arrives; `seq` \
         counts them.",
    );
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
            let topics: Vec<Topic> = ids
                .iter()
                .map(|r| Topic::Execution {
                    workflow: match &r.cells[wf.col("id").unwrap()] {
                        Cell::Uuid(u) => u.to_string(),
                        _ => String::new(),
                    },
                })
                .collect();
            let feed = subscribe_with_replay(state, table("workflow_execution_logs"), topics, None, vec![]).await?;
            Ok(slotted(&ctx, feed)?.map(|r| r.map(FieldValue::owned_any).map_err(Into::into)))
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
                let topics = vec![Topic::PendingRuns];
                let feed = subscribe_with_replay(state, t, topics, Some(waiting), order).await?;
                Ok(slotted(&ctx, feed)?.map(|r| r.map(FieldValue::owned_any).map_err(Into::into)))
            })
        })
        .description(
            "Workers: the runs pending now (oldest first), then each run that becomes pending. A run seen here \
         may already be taken: `claimWorkflowExecution` hands out each run once.",
        );
    let subscription = parts.subscription.field(candles).field(bars).field(executions).field(pending);
    SchemaParts { builder, subscription, ..parts }
}
