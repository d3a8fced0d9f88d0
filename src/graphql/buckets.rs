//! The GraphQL face of time buckets: `ohlcvBars` over daily bars and `candles` over minute
//! candles, and the same buckets as chart columns, `ohlcvSeries` and `candleSeries` (the reads
//! are in `data::buckets` and `data::series`).
use super::schema::tz_of;
use super::schema::value_field;
use crate::data::buckets::{candle_seconds, candles, ohlcv_bars, BarInterval, Bucket, MAX_BUCKETS};
use crate::data::query::check_region;
use crate::data::series::{self, unix_seconds, Series};
use crate::data::values::{parse_date, parse_datetime, Cell, Kind};
use crate::error::ApiError;
use crate::AppState;
use async_graphql::dynamic::{Enum, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::Value as GqlValue;

fn arg_str(ctx: &async_graphql::dynamic::ResolverContext<'_>, name: &str) -> Option<String> {
    ctx.args.get(name).and_then(|v| v.string().ok().map(String::from))
}

fn bucket_object(name: &str, start: &str, price: Kind) -> Object {
    let mut obj = Object::new(name).field(Field::new("bucket", TypeRef::named_nn(start), |ctx| {
        let tz = tz_of(&ctx);
        FieldFuture::new(async move {
            let b = ctx.parent_value.try_downcast_ref::<Bucket>()?;
            let kind = if matches!(b.start, Cell::Date(_)) { Kind::Date } else { Kind::DateTime };
            Ok(Some(b.start.to_gql(kind, tz)))
        })
    }));
    obj = obj.field(Field::new("symbol", TypeRef::named_nn(TypeRef::STRING), |ctx| {
        FieldFuture::new(async move {
            Ok(Some(GqlValue::String(ctx.parent_value.try_downcast_ref::<Bucket>()?.key.clone())))
        })
    }));
    let fields = [
        ("open", price),
        ("high", price),
        ("low", price),
        ("close", price),
        ("volume", Kind::BigInt),
        ("count", Kind::Int),
    ];
    for (i, (f, kind)) in fields.into_iter().enumerate() {
        let ty = if f == "count" { TypeRef::named_nn(TypeRef::INT) } else { TypeRef::named(kind.scalar()) };
        obj = obj.field(Field::new(f, ty, move |ctx| {
            let tz = tz_of(&ctx);
            FieldFuture::new(async move {
                let b = ctx.parent_value.try_downcast_ref::<Bucket>()?;
                let v = match (&b.values[i], kind) {
                    (Cell::Decimal(d), Kind::Float) => GqlValue::from(d.to_string().parse::<f64>().unwrap_or_default()),
                    (c, k) => c.to_gql(k, tz),
                };
                Ok(Some(v))
            })
        }));
    }
    obj
}

/// Column `i` of every bucket (open, high, low, close, volume).
fn column(s: &Series, i: usize, kind: Kind, tz: chrono_tz::Tz) -> GqlValue {
    GqlValue::List(s.buckets.iter().map(|b| b.values[i].to_gql(kind, tz)).collect())
}

/// Column `i` as JSON numbers (exact below 2^53; a longer decimal is rounded to the nearest double).
fn numbers(s: &Series, i: usize) -> GqlValue {
    use rust_decimal::prelude::ToPrimitive as _;
    GqlValue::List(
        s.buckets
            .iter()
            .map(|b| match &b.values[i] {
                Cell::Decimal(d) => d.to_f64().map_or(GqlValue::Null, GqlValue::from),
                Cell::Int(n) => GqlValue::from(*n as f64),
                Cell::Float(f) => GqlValue::from(*f),
                _ => GqlValue::Null,
            })
            .collect(),
    )
}

const COLUMNS: [&str; 5] = ["o", "h", "l", "c", "v"];

/// A series type: `t`, the price and volume columns in `price`'s exact form, `numbers`, and
/// the UDF `noData`/`nextTime` pair.
fn series_object(name: &str, price: Kind, what: &str) -> Object {
    let mut obj = Object::new(name)
        .description(format!(
            "{what} as parallel columns (one entry per bucket, oldest first), as charting libraries load history."
        ))
        .field(
            value_field::<Series>("t", TypeRef::named_nn_list_nn(TypeRef::FLOAT), |s, _| {
                GqlValue::List(
                    s.buckets.iter().filter_map(|b| unix_seconds(&b.start)).map(|t| GqlValue::from(t as f64)).collect(),
                )
            })
            .description("Bucket starts in Unix seconds (UTC; a day starts at 00:00 UTC)."),
        );
    for (i, col) in COLUMNS.into_iter().enumerate() {
        let kind = if col == "v" { Kind::BigInt } else { price };
        obj = obj.field(Field::new(col, TypeRef::named_nn_list(kind.scalar()), move |ctx| {
            let tz = tz_of(&ctx);
            FieldFuture::new(
                async move { Ok(Some(column(ctx.parent_value.try_downcast_ref::<Series>()?, i, kind, tz))) },
            )
        }));
    }
    obj.field(
        Field::new("numbers", TypeRef::named_nn("SeriesNumbers"), |ctx| {
            FieldFuture::new(async move {
                let s = ctx.parent_value.try_downcast_ref::<Series>()?;
                Ok(Some(FieldValue::borrowed_any(s)))
            })
        })
        .description("The same columns as JSON numbers: fewer bytes, but a price with more than about 15 significant digits is rounded."),
    )
    .field(
        value_field::<Series>("noData", TypeRef::named_nn(TypeRef::BOOLEAN), |s, _| GqlValue::Boolean(s.no_data))
            .description("No bucket in the range."),
    )
    .field(
        value_field::<Series>("nextTime", TypeRef::named(TypeRef::FLOAT), |s, _| {
            s.next_time.map_or(GqlValue::Null, |t| GqlValue::from(t as f64))
        })
        .description("With `noData`: the start (Unix seconds) of the latest bucket before `from`, where a chart scrolling back continues; null when there is none."),
    )
}

fn numbers_object() -> Object {
    let mut obj = Object::new("SeriesNumbers").description("Series columns as JSON numbers.");
    for (i, col) in COLUMNS.into_iter().enumerate() {
        obj = obj.field(Field::new(col, TypeRef::named_nn_list(TypeRef::FLOAT), move |ctx| {
            FieldFuture::new(async move { Ok(Some(numbers(ctx.parent_value.try_downcast_ref::<Series>()?, i))) })
        }));
    }
    obj
}

/// `countBack`: at least this many buckets ending at `to`, whatever `from` says.
fn count_back(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> Result<Option<u32>, ApiError> {
    let n = ctx.args.get("countBack").filter(|v| !v.is_null()).map(|v| v.i64());
    match n.transpose().map_err(|e| ApiError::bad(e.message))? {
        None => Ok(None),
        Some(n) if (0..=MAX_BUCKETS as i64).contains(&n) => Ok(Some(n as u32)),
        Some(_) => Err(ApiError::bad(format!("countBack must be between 0 and {MAX_BUCKETS}"))),
    }
}

/// Registers the bucket types and adds `ohlcvBars` and `candles` to the query root.
pub fn register(
    mut builder: async_graphql::dynamic::SchemaBuilder,
    query: Object,
) -> (async_graphql::dynamic::SchemaBuilder, Object) {
    builder = builder
        .register(Enum::new("BarInterval").items(["DAY", "WEEK", "MONTH", "QUARTER", "YEAR"]))
        .register(Enum::new("CandleInterval").items(["M1", "M5", "M15", "M30", "H1", "H4", "D1"]))
        .register(
            bucket_object("OhlcvBucket", "Date", Kind::Decimal)
                .description("Daily bars of one ticker aggregated over `bucket`."),
        )
        .register(
            bucket_object("CandleBucket", "DateTime", Kind::Float)
                .description("Minute candles of one symbol aggregated over `bucket`."),
        )
        .register(series_object("OhlcvSeries", Kind::Decimal, "Daily bars of one ticker bucketed"))
        .register(series_object("CandleSeries", Kind::Float, "Minute candles of one symbol bucketed"))
        .register(numbers_object());
    let bar_args = |f: Field| {
        f.argument(InputValue::new("ticker", TypeRef::named_nn(TypeRef::STRING)))
            .argument(InputValue::new("region", TypeRef::named_nn(TypeRef::STRING)))
            .argument(InputValue::new("interval", TypeRef::named_nn("BarInterval")))
            .argument(InputValue::new("from", TypeRef::named("Date")).description("First day, inclusive."))
            .argument(InputValue::new("to", TypeRef::named("Date")).description("Last day, inclusive."))
    };
    let candle_args = |f: Field| {
        f.argument(InputValue::new("symbol", TypeRef::named_nn(TypeRef::STRING)))
            .argument(InputValue::new("interval", TypeRef::named_nn("CandleInterval")))
            .argument(InputValue::new("from", TypeRef::named("DateTime")).description("Inclusive."))
            .argument(InputValue::new("to", TypeRef::named("DateTime")).description("Inclusive."))
    };
    let count_back_arg = || {
        InputValue::new("countBack", TypeRef::named(TypeRef::INT))
            .description("At least this many buckets ending at `to`, reaching before `from` when needed.")
    };
    let bars = bar_args(Field::new("ohlcvBars", TypeRef::named_nn_list_nn("OhlcvBucket"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let a = BarArgs::of(&ctx)?;
            let rows = ohlcv_bars(&state.db, &a.ticker, &a.region, a.iv, a.from, a.to).await?;
            Ok(Some(FieldValue::list(rows.into_iter().map(|mut b| {
                b.key = a.ticker.clone();
                FieldValue::owned_any(b)
            }))))
        })
    }))
    .description("Daily bars of one ticker bucketed by day, week (from Monday), month, quarter or year; oldest first.");
    let bar_series = bar_args(Field::new("ohlcvSeries", TypeRef::named_nn("OhlcvSeries"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let a = BarArgs::of(&ctx)?;
            let n = count_back(&ctx)?;
            let s = series::ohlcv(&state.db, &a.ticker, &a.region, a.iv, a.from, a.to, n).await?;
            Ok(Some(FieldValue::owned_any(s)))
        })
    }))
    .argument(count_back_arg())
    .description("`ohlcvBars` as chart columns: prices as exact Decimal strings (or `numbers { … }`), TradingView UDF history semantics for `countBack`, `noData` and `nextTime`.");
    let cds = candle_args(Field::new("candles", TypeRef::named_nn_list_nn("CandleBucket"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let a = CandleArgs::of(&ctx)?;
            let rows = candles(&state.db, &a.symbol, a.secs, a.from, a.to).await?;
            Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
        })
    }))
    .description("Minute candles of one symbol bucketed by minutes, hours or UTC days; oldest first.");
    let candle_series = candle_args(Field::new("candleSeries", TypeRef::named_nn("CandleSeries"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let a = CandleArgs::of(&ctx)?;
            let n = count_back(&ctx)?;
            let s = series::candles(&state.db, &a.symbol, a.secs, a.from, a.to, n).await?;
            Ok(Some(FieldValue::owned_any(s)))
        })
    }))
    .argument(count_back_arg())
    .description("`candles` as chart columns (prices are numbers: the source stores them as DOUBLE PRECISION), with TradingView UDF history semantics for `countBack`, `noData` and `nextTime`.");
    (builder, query.field(bars).field(bar_series).field(cds).field(candle_series))
}

struct BarArgs {
    ticker: String,
    region: String,
    iv: BarInterval,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
}

impl BarArgs {
    fn of(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> Result<BarArgs, ApiError> {
        let ticker = arg_str(ctx, "ticker").unwrap_or_default();
        let region = arg_str(ctx, "region").unwrap_or_default();
        check_region(&region)?;
        let iv = ctx
            .args
            .get("interval")
            .and_then(|v| v.enum_name().ok().and_then(BarInterval::parse))
            .ok_or_else(|| ApiError::bad("unknown interval"))?;
        let from = arg_str(ctx, "from").map(|s| parse_date(&s)).transpose().map_err(ApiError::bad)?;
        let to = arg_str(ctx, "to").map(|s| parse_date(&s)).transpose().map_err(ApiError::bad)?;
        ordered(from, to)?;
        Ok(BarArgs { ticker, region, iv, from, to })
    }
}

struct CandleArgs {
    symbol: String,
    secs: i64,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
}

impl CandleArgs {
    fn of(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> Result<CandleArgs, ApiError> {
        let symbol = arg_str(ctx, "symbol").unwrap_or_default();
        let secs = ctx
            .args
            .get("interval")
            .and_then(|v| v.enum_name().ok().and_then(candle_seconds))
            .ok_or_else(|| ApiError::bad("unknown interval"))?;
        let from = arg_str(ctx, "from").map(|s| parse_datetime(&s)).transpose().map_err(ApiError::bad)?;
        let to = arg_str(ctx, "to").map(|s| parse_datetime(&s)).transpose().map_err(ApiError::bad)?;
        ordered(from, to)?;
        Ok(CandleArgs { symbol, secs, from, to })
    }
}

fn ordered<T: PartialOrd>(from: Option<T>, to: Option<T>) -> Result<(), ApiError> {
    match (from, to) {
        (Some(f), Some(t)) if f > t => Err(ApiError::bad("`from` is after `to`")),
        _ => Ok(()),
    }
}
