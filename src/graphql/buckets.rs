//! The GraphQL face of time buckets: `ohlcvBars` over daily bars and `candles` over minute
//! candles, and the same buckets as chart columns, `ohlcvSeries` and `candleSeries` (the reads
//! are in `data::buckets` and `data::series`).
use super::args::market::{args_of, bar_range, candle_range, column_kind, SeriesQuery};
use super::context::{tz_of, value_field};
use super::shapes::{SeriesColumn, SeriesWord};
use super::SchemaParts;
use crate::data::buckets::Bucket;
use crate::data::calendar::Fill;
use crate::data::derived::Derived;
use crate::data::market::{self};
use crate::data::series::{as_number, unix_seconds, Series};
use crate::data::values::{Cell, Kind};
use crate::error::ApiError;
use crate::AppState;
use async_graphql::dynamic::{Enum, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::Value as GqlValue;

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
    obj = obj
        .field(
            Field::new("seq", TypeRef::named("BigInt"), |ctx| {
                FieldFuture::new(async move {
                    let b = ctx.parent_value.try_downcast_ref::<Bucket>()?;
                    Ok(b.seq.map(|s| GqlValue::String(s.to_string())))
                })
            })
            .description(
                "Live bars: the event's number for its symbol and interval, one more per event, the same on every \
                 replica and on a replay with `since` (candles and buckets stored before the bar, plus its candles; \
                 a correction of a minute repeats it). Null in history.",
            ),
        )
        .field(
            Field::new("closed", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(GqlValue::Boolean(ctx.parent_value.try_downcast_ref::<Bucket>()?.closed)))
                })
            })
            .description(
                "History: the bucket's period is over. Live: the final state of a bar, sent once when a candle of a \
                 later bucket arrives; until then the forming bar is sent as it changes (same `bucket`: replace it).",
            ),
        );
    obj = obj.field(
        Field::new("filled", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
            FieldFuture::new(async move {
                Ok(Some(GqlValue::Boolean(ctx.parent_value.try_downcast_ref::<Bucket>()?.filled)))
            })
        })
        .description("Made up by `fill:` for a trading period without rows (derived series are null on it)."),
    );
    for (name, arg, default, desc) in DERIVED {
        let mut f = Field::new(name, TypeRef::named(TypeRef::FLOAT), move |ctx| {
            FieldFuture::new(async move {
                let b = ctx.parent_value.try_downcast_ref::<Bucket>()?;
                if b.filled {
                    return Ok(None);
                }
                let ask = derived_of(name, ctx.args.get(arg).map(|v| v.i64()).transpose()?)?;
                let v = b
                    .derived
                    .iter()
                    .find(|(d, _)| *d == ask)
                    .ok_or_else(|| ApiError::Internal(format!("{name} not computed")))?;
                Ok(v.1.map(GqlValue::from))
            })
        })
        .description(desc);
        if !arg.is_empty() {
            let a =
                InputValue::new(arg, TypeRef::named(TypeRef::INT)).description(format!("Buckets, 1 to {MAX_LENGTH}."));
            f = f.argument(match default {
                Some(d) => a.default_value(d),
                None => a,
            });
        }
        obj = obj.field(f);
    }
    obj
}

fn fill_mode(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> Result<Fill, ApiError> {
    let mode = ctx.args.get("fill").filter(|v| !v.is_null()).map(|v| v.enum_name().map(str::to_string));
    Ok(match mode.transpose().map_err(|e| ApiError::bad(e.message))? {
        Some(m) if m == "NULL" => Fill::Null,
        Some(m) if m == "PREVIOUS" => Fill::Previous,
        _ => Fill::None,
    })
}

/// Longest window a derived series takes.
const MAX_LENGTH: i64 = 1000;

/// Derived fields on buckets: (field, length argument, its default, description).
const DERIVED: [(&str, &str, Option<i64>, &str); 7] = [
    ("simpleReturn", "", None, "close / previous bucket's close − 1 (the previous stored bucket, also before `from`)."),
    ("logReturn", "", None, "ln(close / previous bucket's close)."),
    ("sma", "length", Some(20), "Mean of the last `length` closes; null until that many buckets exist."),
    ("ema", "length", Some(20), "Exponential moving average of closes, α = 2 / (length + 1), seeded with the mean of the first `length` closes of the stored history."),
    ("rsi", "length", Some(14), "Wilder's RSI over `length` changes (0–100; 100 without losses)."),
    ("volatility", "length", Some(20), "Sample standard deviation of the last `length` log returns, annualised: × √252 for days (trading days), √52 weeks, √12 months, √4 quarters; candles × √(seconds in 365.25 days / bucket seconds)."),
    ("vwap", "length", Some(1), "Σ typical price × volume / Σ volume over the last `length` buckets; typical price (high + low + close) / 3."),
];

fn derived_of(name: &str, length: Option<i64>) -> Result<Derived, ApiError> {
    let n = || -> Result<usize, ApiError> {
        let default = DERIVED.iter().find(|d| d.0 == name).and_then(|d| d.2).unwrap_or(1);
        let n = length.unwrap_or(default);
        if (1..=MAX_LENGTH).contains(&n) {
            Ok(n as usize)
        } else {
            Err(ApiError::bad(format!("{name}: length 1 to {MAX_LENGTH}")))
        }
    };
    Ok(match name {
        "simpleReturn" => Derived::SimpleReturn,
        "logReturn" => Derived::LogReturn,
        "sma" => Derived::Sma(n()?),
        "ema" => Derived::Ema(n()?),
        "rsi" => Derived::Rsi(n()?),
        "volatility" => Derived::Volatility(n()?),
        _ => Derived::Vwap(n()?),
    })
}

/// The derived series the selection asks for, each once.
fn derived_asks(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> Result<Vec<Derived>, ApiError> {
    let mut out = Vec::new();
    for f in ctx.field().selection_set() {
        let Some((name, arg, ..)) = DERIVED.iter().find(|d| d.0 == f.name()) else { continue };
        let args = f.arguments().map_err(|e| ApiError::bad(e.message))?;
        let length = args.iter().find(|(n, _)| n.as_str() == *arg).and_then(|(_, v)| match v {
            GqlValue::Number(n) => n.as_i64(),
            _ => None,
        });
        let d = derived_of(name, length)?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// Column `i` of every bucket (open, high, low, close, volume).
fn column(s: &Series, i: usize, kind: Kind, tz: chrono_tz::Tz) -> GqlValue {
    GqlValue::List(s.buckets.iter().map(|b| b.values[i].to_gql(kind, tz)).collect())
}

/// Column `i` as JSON numbers (exact below 2^53; a longer decimal is rounded to the nearest double).
fn numbers(s: &Series, i: usize) -> GqlValue {
    GqlValue::List(s.buckets.iter().map(|b| as_number(&b.values[i]).map_or(GqlValue::Null, GqlValue::from)).collect())
}

/// A series type: `t`, the price and volume columns in `price`'s exact form, `numbers`, and
/// the UDF `noData`/`nextTime` pair.
fn series_object(name: &str, price: Kind, what: &str) -> Object {
    let mut obj = Object::new(name).description(format!(
        "{what} as parallel columns (one entry per bucket, oldest first), as charting libraries load history."
    ));
    for word in SeriesWord::ALL {
        let name = word.name();
        obj = obj.field(match word {
            SeriesWord::Time => value_field::<Series>(name, TypeRef::named_nn_list_nn(TypeRef::FLOAT), |s, _| {
                GqlValue::List(
                    s.buckets.iter().filter_map(|b| unix_seconds(&b.start)).map(|t| GqlValue::from(t as f64)).collect(),
                )
            })
            .description("Bucket starts in Unix seconds (UTC; a day starts at 00:00 UTC)."),
            SeriesWord::Numbers => Field::new(name, TypeRef::named_nn("SeriesNumbers"), |ctx| {
                FieldFuture::new(async move {
                    let s = ctx.parent_value.try_downcast_ref::<Series>()?;
                    Ok(Some(FieldValue::borrowed_any(s)))
                })
            })
            .description("The same columns as JSON numbers: fewer bytes, but a price with more than about 15 significant digits is rounded."),
            SeriesWord::NoData => value_field::<Series>(name, TypeRef::named_nn(TypeRef::BOOLEAN), |s, _| GqlValue::Boolean(s.no_data))
                .description("No bucket in the range."),
            SeriesWord::NextTime => value_field::<Series>(name, TypeRef::named(TypeRef::FLOAT), |s, _| {
                s.next_time.map_or(GqlValue::Null, |t| GqlValue::from(t as f64))
            })
            .description("With `noData`: the start (Unix seconds) of the latest bucket before `from`, where a chart scrolling back continues; null when there is none."),
        });
        // The price and volume columns follow the times.
        if *word == SeriesWord::Time {
            for column in SeriesColumn::ALL {
                let (kind, i) = (column_kind(price, *column), column.index());
                obj = obj.field(Field::new(column.name(), TypeRef::named_nn_list(kind.scalar()), move |ctx| {
                    let tz = tz_of(&ctx);
                    FieldFuture::new(async move {
                        Ok(Some(self::column(ctx.parent_value.try_downcast_ref::<Series>()?, i, kind, tz)))
                    })
                }));
            }
        }
    }
    obj
}

fn numbers_object() -> Object {
    let mut obj = Object::new("SeriesNumbers").description("Series columns as JSON numbers.");
    for column in SeriesColumn::ALL {
        let i = column.index();
        obj = obj.field(Field::new(column.name(), TypeRef::named_nn_list(TypeRef::FLOAT), move |ctx| {
            FieldFuture::new(async move { Ok(Some(numbers(ctx.parent_value.try_downcast_ref::<Series>()?, i))) })
        }));
    }
    obj
}

/// Registers the bucket types and adds `ohlcvBars` and `candles` to the query root.
pub fn register(parts: SchemaParts) -> SchemaParts {
    let (mut builder, query) = (parts.builder, parts.query);
    builder = builder
        .register(Enum::new("BarInterval").items(["DAY", "WEEK", "MONTH", "QUARTER", "YEAR"]))
        .register(Enum::new("CandleInterval").items(["M1", "M5", "M15", "M30", "H1", "H4", "D1"]))
        .register(Enum::new("BucketFill").items(["NONE", "NULL", "PREVIOUS"]).description(
            "Gap filling: NULL leaves a made-up bucket without prices; PREVIOUS carries the last close (volume 0).",
        ))
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
    let fill_arg = || {
        InputValue::new("fill", TypeRef::named("BucketFill")).description(
            "NONE (default): stored buckets only. NULL or PREVIOUS: one bucket per trading period in range (the \
             region's weekdays without its holidays; candles: HOSE sessions), made up where no row exists.",
        )
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
            let range = bar_range(&args_of(&ctx))?;
            let rows = market::bars(&state.db, &range, &derived_asks(&ctx)?, fill_mode(&ctx)?).await?;
            Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
        })
    }))
    .argument(fill_arg())
    .description("Daily bars of one ticker bucketed by day, week (from Monday), month, quarter or year; oldest first.");
    let bar_series = bar_args(Field::new("ohlcvSeries", TypeRef::named_nn("OhlcvSeries"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let q = SeriesQuery::parse("ohlcvSeries", &args_of(&ctx)).expect("a series field")?;
            Ok(Some(FieldValue::owned_any(q.read(&state.db).await?)))
        })
    }))
    .argument(count_back_arg())
    .description("`ohlcvBars` as chart columns: prices as exact Decimal strings (or `numbers { … }`), TradingView UDF history semantics for `countBack`, `noData` and `nextTime`.");
    let cds = candle_args(Field::new("candles", TypeRef::named_nn_list_nn("CandleBucket"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let range = candle_range(&args_of(&ctx))?;
            let rows = market::candles(&state.db, &range, &derived_asks(&ctx)?, fill_mode(&ctx)?).await?;
            Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
        })
    }))
    .argument(fill_arg())
    .description("Minute candles of one symbol bucketed by minutes, hours or UTC days; oldest first.");
    let candle_series = candle_args(Field::new("candleSeries", TypeRef::named_nn("CandleSeries"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let q = SeriesQuery::parse("candleSeries", &args_of(&ctx)).expect("a series field")?;
            Ok(Some(FieldValue::owned_any(q.read(&state.db).await?)))
        })
    }))
    .argument(count_back_arg())
    .description("`candles` as chart columns (prices are numbers: the source stores them as DOUBLE PRECISION), with TradingView UDF history semantics for `countBack`, `noData` and `nextTime`.");
    let query = query.field(bars).field(bar_series).field(cds).field(candle_series);
    SchemaParts { builder, query, ..parts }
}
