//! The arguments of market reads: a bar or candle range (`ohlcvBars`, `candles` and their
//! series) and a series query, parsed once for the resolvers and the planner alike.
use crate::data::buckets::{candle_seconds, BarInterval, MAX_BUCKETS};
use crate::data::db::Db;
use crate::data::market::{BarRange, CandleRange};
use crate::data::query::check_region;
use crate::data::series::{self, Series};
use crate::data::values::{parse_date, parse_datetime, Kind};
use crate::error::ApiError;
use crate::graphql::shapes::SeriesColumn;
use async_graphql::Value as GqlValue;

/// Argument values by name, as a resolver or a bound plan holds them.
pub type Args = async_graphql::indexmap::IndexMap<async_graphql::Name, GqlValue>;

pub fn args_of(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> Args {
    ctx.args.as_index_map().clone()
}

fn text(args: &Args, name: &str) -> Option<String> {
    match args.get(name) {
        Some(GqlValue::String(s)) => Some(s.clone()),
        _ => None,
    }
}

fn enum_name<'a>(args: &'a Args, name: &str) -> Option<&'a str> {
    match args.get(name) {
        Some(GqlValue::Enum(e)) => Some(e.as_str()),
        Some(GqlValue::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

pub fn bar_range(args: &Args) -> Result<BarRange, ApiError> {
    let ticker = text(args, "ticker").unwrap_or_default();
    let region = text(args, "region").unwrap_or_default();
    check_region(&region)?;
    let interval =
        enum_name(args, "interval").and_then(BarInterval::parse).ok_or_else(|| ApiError::bad("unknown interval"))?;
    let from = text(args, "from").map(|s| parse_date(&s)).transpose().map_err(ApiError::bad)?;
    let to = text(args, "to").map(|s| parse_date(&s)).transpose().map_err(ApiError::bad)?;
    ordered(from, to)?;
    Ok(BarRange { ticker, region, interval, from, to })
}

pub fn candle_range(args: &Args) -> Result<CandleRange, ApiError> {
    let symbol = text(args, "symbol").unwrap_or_default();
    let bucket_secs =
        enum_name(args, "interval").and_then(candle_seconds).ok_or_else(|| ApiError::bad("unknown interval"))?;
    let from = text(args, "from").map(|s| parse_datetime(&s)).transpose().map_err(ApiError::bad)?;
    let to = text(args, "to").map(|s| parse_datetime(&s)).transpose().map_err(ApiError::bad)?;
    ordered(from, to)?;
    Ok(CandleRange { symbol, bucket_secs, from, to })
}

fn ordered<T: PartialOrd>(from: Option<T>, to: Option<T>) -> Result<(), ApiError> {
    match (from, to) {
        (Some(f), Some(t)) if f > t => Err(ApiError::bad("`from` is after `to`")),
        _ => Ok(()),
    }
}

/// `countBack`: at least this many buckets ending at `to`, whatever `from` says.
fn count_back(args: &Args) -> Result<Option<u32>, ApiError> {
    match args.get("countBack") {
        None | Some(GqlValue::Null) => Ok(None),
        Some(GqlValue::Number(n)) => match n.as_i64() {
            Some(n) if (0..=MAX_BUCKETS as i64).contains(&n) => Ok(Some(n as u32)),
            _ => Err(ApiError::bad(format!("countBack must be between 0 and {MAX_BUCKETS}"))),
        },
        Some(_) => Err(ApiError::bad("countBack must be an Int")),
    }
}

/// What an `ohlcvSeries` or `candleSeries` field reads: one parse of its arguments, used by its
/// resolver and by the direct writer's plan alike.
#[derive(Debug)]
pub enum SeriesQuery {
    Bars {
        ticker: String,
        region: String,
        iv: BarInterval,
        from: Option<chrono::NaiveDate>,
        to: Option<chrono::NaiveDate>,
        count_back: Option<u32>,
    },
    Candles {
        symbol: String,
        secs: i64,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
        count_back: Option<u32>,
    },
}

impl SeriesQuery {
    /// The query of root field `field` (`ohlcvSeries` or `candleSeries`) with `args`; `None`
    /// for any other field.
    pub fn parse(field: &str, args: &Args) -> Option<Result<SeriesQuery, ApiError>> {
        Some(match field {
            "ohlcvSeries" => bar_range(args).and_then(|a| {
                let count_back = count_back(args)?;
                Ok(SeriesQuery::Bars {
                    ticker: a.ticker,
                    region: a.region,
                    iv: a.interval,
                    from: a.from,
                    to: a.to,
                    count_back,
                })
            }),
            "candleSeries" => candle_range(args).and_then(|a| {
                let count_back = count_back(args)?;
                Ok(SeriesQuery::Candles { symbol: a.symbol, secs: a.bucket_secs, from: a.from, to: a.to, count_back })
            }),
            _ => return None,
        })
    }

    /// The series' GraphQL type and its price kind.
    pub fn type_name(&self) -> &'static str {
        match self {
            SeriesQuery::Bars { .. } => "OhlcvSeries",
            SeriesQuery::Candles { .. } => "CandleSeries",
        }
    }

    /// The kind of `column`.
    pub fn kind(&self, column: SeriesColumn) -> Kind {
        match self {
            SeriesQuery::Bars { .. } => column_kind(Kind::Decimal, column),
            SeriesQuery::Candles { .. } => column_kind(Kind::Float, column),
        }
    }

    pub async fn read(&self, db: &Db) -> Result<Series, ApiError> {
        match self {
            SeriesQuery::Bars { ticker, region, iv, from, to, count_back } => {
                series::ohlcv(db, ticker, region, *iv, *from, *to, *count_back).await
            }
            SeriesQuery::Candles { symbol, secs, from, to, count_back } => {
                series::candles(db, symbol, *secs, *from, *to, *count_back).await
            }
        }
    }
}

/// The kind of `column` in a series whose prices are `price`.
pub fn column_kind(price: Kind, column: SeriesColumn) -> Kind {
    match column {
        SeriesColumn::Volume => Kind::BigInt,
        SeriesColumn::Open | SeriesColumn::High | SeriesColumn::Low | SeriesColumn::Close => price,
    }
}
