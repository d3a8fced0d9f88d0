//! The GraphQL face of time buckets: `ohlcvBars` over daily bars and `candles` over minute
//! candles (the reads are in `data::buckets`).
use super::schema::{tz_of, RequestTz};
use crate::data::buckets::{candle_seconds, candles, ohlcv_bars, BarInterval, Bucket};
use crate::data::query::check_region;
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
        );
    let bars = Field::new("ohlcvBars", TypeRef::named_nn_list_nn("OhlcvBucket"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let _ = ctx.data::<RequestTz>();
            let ticker = arg_str(&ctx, "ticker").unwrap_or_default();
            let region = arg_str(&ctx, "region").unwrap_or_default();
            check_region(&region)?;
            let iv = ctx
                .args
                .try_get("interval")?
                .enum_name()
                .ok()
                .and_then(BarInterval::parse)
                .ok_or_else(|| ApiError::bad("unknown interval"))?;
            let from = arg_str(&ctx, "from").map(|s| parse_date(&s)).transpose().map_err(ApiError::bad)?;
            let to = arg_str(&ctx, "to").map(|s| parse_date(&s)).transpose().map_err(ApiError::bad)?;
            if let (Some(f), Some(t)) = (from, to) {
                if f > t {
                    return Err(ApiError::bad("`from` is after `to`").into());
                }
            }
            let rows = ohlcv_bars(&state.db, &ticker, &region, iv, from, to).await?;
            Ok(Some(FieldValue::list(rows.into_iter().map(|mut b| {
                b.key = ticker.clone();
                FieldValue::owned_any(b)
            }))))
        })
    })
    .argument(InputValue::new("ticker", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("region", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("interval", TypeRef::named_nn("BarInterval")))
    .argument(InputValue::new("from", TypeRef::named("Date")).description("First day, inclusive."))
    .argument(InputValue::new("to", TypeRef::named("Date")).description("Last day, inclusive."))
    .description("Daily bars of one ticker bucketed by day, week (from Monday), month, quarter or year; oldest first.");
    let cds = Field::new("candles", TypeRef::named_nn_list_nn("CandleBucket"), |ctx| {
        FieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let symbol = arg_str(&ctx, "symbol").unwrap_or_default();
            let secs = ctx
                .args
                .try_get("interval")?
                .enum_name()
                .ok()
                .and_then(candle_seconds)
                .ok_or_else(|| ApiError::bad("unknown interval"))?;
            let from = arg_str(&ctx, "from").map(|s| parse_datetime(&s)).transpose().map_err(ApiError::bad)?;
            let to = arg_str(&ctx, "to").map(|s| parse_datetime(&s)).transpose().map_err(ApiError::bad)?;
            if let (Some(f), Some(t)) = (from, to) {
                if f > t {
                    return Err(ApiError::bad("`from` is after `to`").into());
                }
            }
            let rows = candles(&state.db, &symbol, secs, from, to).await?;
            Ok(Some(FieldValue::list(rows.into_iter().map(FieldValue::owned_any))))
        })
    })
    .argument(InputValue::new("symbol", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("interval", TypeRef::named_nn("CandleInterval")))
    .argument(InputValue::new("from", TypeRef::named("DateTime")).description("Inclusive."))
    .argument(InputValue::new("to", TypeRef::named("DateTime")).description("Inclusive."))
    .description("Minute candles of one symbol bucketed by minutes, hours or UTC days; oldest first.");
    (builder, query.field(bars).field(cds))
}
