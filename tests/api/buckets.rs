//! `ohlcvBars` and `candles` against buckets computed here from the raw rows.
use crate::common::*;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// (open, high, low, close, volume, count) per bucket key, from rows already in time order.
fn expected<K: Ord + Clone>(
    rows: &[(K, Decimal, Decimal, Decimal, Decimal, i64)],
) -> BTreeMap<K, (Decimal, Decimal, Decimal, Decimal, i64, i64)> {
    let mut out: BTreeMap<K, (Decimal, Decimal, Decimal, Decimal, i64, i64)> = BTreeMap::new();
    for (k, o, h, l, c, v) in rows {
        out.entry(k.clone())
            .and_modify(|e| {
                e.1 = e.1.max(*h);
                e.2 = e.2.min(*l);
                e.3 = *c;
                e.4 += v;
                e.5 += 1;
            })
            .or_insert((*o, *h, *l, *c, *v, 1));
    }
    out
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).unwrap(),
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        _ => panic!("not a number: {v}"),
    }
}

fn check<K: Ord + Clone + std::fmt::Debug>(
    got: &[Value],
    want: BTreeMap<K, (Decimal, Decimal, Decimal, Decimal, i64, i64)>,
    key: impl Fn(&Value) -> K,
    what: &str,
) {
    assert_eq!(got.len(), want.len(), "{what}: bucket count");
    for (b, (k, w)) in got.iter().zip(want) {
        assert_eq!(key(&b["bucket"]), k, "{what}");
        let g = (
            dec(&b["open"]),
            dec(&b["high"]),
            dec(&b["low"]),
            dec(&b["close"]),
            b["volume"].as_str().unwrap().parse::<i64>().unwrap(),
            b["count"].as_i64().unwrap(),
        );
        assert_eq!(g, w, "{what}: bucket {k:?}");
    }
}

#[tokio::test]
async fn ohlcv_buckets_match_the_daily_rows_including_partial_edges() {
    for backend in backends() {
        let app = spawn(backend).await;
        let raw = app
            .data(r#"{ ohlcvData(first: 1000, where: { ticker: { eq: "005930" }, region: { eq: "KR" } }, orderBy: [{ date: ASC }]) { nodes { date open high low close volume } } }"#, json!({}))
            .await;
        let (from, to) =
            (NaiveDate::from_ymd_opt(2024, 11, 13).unwrap(), NaiveDate::from_ymd_opt(2025, 8, 20).unwrap());
        let rows: Vec<(NaiveDate, Decimal, Decimal, Decimal, Decimal, i64)> = raw["ohlcvData"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    NaiveDate::parse_from_str(n["date"].as_str().unwrap(), "%Y-%m-%d").unwrap(),
                    dec(&n["open"]),
                    dec(&n["high"]),
                    dec(&n["low"]),
                    dec(&n["close"]),
                    n["volume"].as_str().unwrap().parse().unwrap(),
                )
            })
            .filter(|r| r.0 >= from && r.0 <= to)
            .collect();
        type Start = fn(NaiveDate) -> NaiveDate;
        let starts: [(&str, Start); 5] = [
            ("DAY", |d| d),
            ("WEEK", |d| d - Duration::days(d.weekday().num_days_from_monday() as i64)),
            ("MONTH", |d| d.with_day(1).unwrap()),
            ("QUARTER", |d| NaiveDate::from_ymd_opt(d.year(), d.month0() / 3 * 3 + 1, 1).unwrap()),
            ("YEAR", |d| NaiveDate::from_ymd_opt(d.year(), 1, 1).unwrap()),
        ];
        for (interval, start) in starts {
            let keyed: Vec<_> = rows.iter().map(|r| (start(r.0), r.1, r.2, r.3, r.4, r.5)).collect();
            let want = expected(&keyed);
            if interval == "YEAR" {
                assert_eq!(want.len(), 2, "the range crosses a year boundary");
            }
            let d = app
                .data(
                    "query($i: BarInterval!) { ohlcvBars(ticker: \"005930\", region: \"KR\", interval: $i, from: \"2024-11-13\", to: \"2025-08-20\") { bucket open high low close volume count } }",
                    json!({ "i": interval }),
                )
                .await;
            check(
                d["ohlcvBars"].as_array().unwrap(),
                want,
                |v| NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d").unwrap(),
                &format!("{backend:?} {interval}"),
            );
        }
        assert_eq!(app.error_code(r#"{ ohlcvBars(ticker: "005930", region: "KR", interval: MONTH, from: "2025-02-01", to: "2025-01-01") { count } }"#, json!({})).await, "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn candle_buckets_match_the_minute_rows() {
    for backend in backends() {
        let app = spawn(backend).await;
        let raw = app
            .data(r#"{ marketCandles(first: 1000, where: { symbol: { eq: "HPG" } }, orderBy: [{ time: ASC }]) { nodes { time open high low close volume } } }"#, json!({}))
            .await;
        let from: DateTime<Utc> = "2025-10-17T02:40:00Z".parse().unwrap();
        let to: DateTime<Utc> = "2025-10-20T06:59:00Z".parse().unwrap();
        let rows: Vec<(DateTime<Utc>, Decimal, Decimal, Decimal, Decimal, i64)> = raw["marketCandles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["time"].as_str().unwrap().parse().unwrap(),
                    dec(&n["open"]),
                    dec(&n["high"]),
                    dec(&n["low"]),
                    dec(&n["close"]),
                    n["volume"].as_str().unwrap().parse().unwrap(),
                )
            })
            .filter(|r: &(DateTime<Utc>, _, _, _, _, i64)| r.0 >= from && r.0 <= to)
            .collect();
        assert!(rows.len() > 200);
        for (interval, secs) in [("M1", 60), ("M15", 900), ("H1", 3600), ("H4", 14400), ("D1", 86400)] {
            let keyed: Vec<_> = rows.iter().map(|r| (r.0.timestamp() / secs * secs, r.1, r.2, r.3, r.4, r.5)).collect();
            let want = expected(&keyed);
            let d = app
                .data(
                    "query($i: CandleInterval!, $f: DateTime, $t: DateTime) { candles(symbol: \"HPG\", interval: $i, from: $f, to: $t) { bucket open high low close volume count } }",
                    json!({ "i": interval, "f": from.to_rfc3339(), "t": to.to_rfc3339() }),
                )
                .await;
            check(
                d["candles"].as_array().unwrap(),
                want,
                |v| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap().timestamp(),
                &format!("{backend:?} {interval}"),
            );
        }
    }
}

/// On TimescaleDB, corrections by plain SQL show at once in every bucket read, also where the
/// continuous aggregates have materialized the buckets already: a daily bar corrected inside a
/// refreshed month, a minute candle corrected 19 days back (past the hourly view's 7-day
/// refresh window). While nothing is pending, the month is read from the aggregate (one
/// statement fewer than the rows need).
#[tokio::test]
async fn corrections_show_at_once_over_refreshed_aggregates() {
    use sea_orm::ConnectionTrait;
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let app = spawn_with(Backend::Postgres, false, |_| {}).await;
    if !app.app.state.db.timescale {
        assert!(std::env::var("QG_TEST_EXPECT_TIMESCALE").is_err(), "TimescaleDB expected");
        return;
    }
    let db = app.sql().await;
    db.execute_unprepared(
        "INSERT INTO ohlcv_data (ticker, region, date, timeframe, open, high, low, close, volume) \
         SELECT 'TSC', 'VN', d::date, 'D', 10, 12, 9, 11, 100 FROM generate_series('2024-01-01'::date, '2024-03-31', '1 day') d",
    )
    .await
    .unwrap();
    let refresh = |view: &'static str| {
        let db = &db;
        async move {
            db.execute_unprepared(&format!("CALL refresh_continuous_aggregate('{view}', NULL, NULL)")).await.unwrap();
        }
    };
    refresh("ohlcv_monthly").await;
    let feb = r#"{ ohlcvBars(ticker: "TSC", region: "VN", interval: MONTH, from: "2024-02-01", to: "2024-02-29") { bucket high count } }"#;
    let read = |q: &'static str| {
        let app = &app;
        async move {
            let before = app.statements().await;
            let d = app.data(q, json!({})).await;
            (d, app.statements().await - before)
        }
    };
    let (clean, from_view) = read(feb).await;
    assert_eq!(clean["ohlcvBars"], json!([{ "bucket": "2024-02-01", "high": "12.0000", "count": 29 }]), "{clean}");
    db.execute_unprepared("UPDATE ohlcv_data SET high = 99 WHERE ticker = 'TSC' AND date = '2024-02-15'")
        .await
        .unwrap();
    let (corrected, from_rows) = read(feb).await;
    assert_eq!(corrected["ohlcvBars"][0]["high"], "99.0000", "the correction shows before any refresh: {corrected}");
    assert_eq!(from_rows, from_view + 1, "pending: the month is computed from the rows");
    let quarter = r#"{ ohlcvBars(ticker: "TSC", region: "VN", interval: QUARTER, from: "2024-01-01", to: "2024-03-31") { high } }"#;
    assert_eq!(read(quarter).await.0["ohlcvBars"], json!([{ "high": "99.0000" }]));
    // The same month as a chart series and as an aggregate over the rows.
    let series =
        r#"{ ohlcvSeries(ticker: "TSC", region: "VN", interval: MONTH, from: "2024-02-01", to: "2024-02-29") { h } }"#;
    assert_eq!(read(series).await.0["ohlcvSeries"]["h"], json!(["99.0000"]));
    let agg = r#"{ ohlcvDataAggregate(where: { ticker: { eq: "TSC" } }, groupBy: [{ column: DATE, interval: MONTH }]) { nodes { keys max { high } } } }"#;
    let groups = read(agg).await.0;
    assert_eq!(
        groups["ohlcvDataAggregate"]["nodes"][1],
        json!({ "keys": ["2024-02-01"], "max": { "high": "99.0000" } }),
        "{groups}"
    );
    refresh("ohlcv_monthly").await;
    refresh("ohlcv_quarterly").await;
    let (again, n) = read(feb).await;
    assert_eq!(again["ohlcvBars"][0]["high"], "99.0000", "{again}");
    assert_eq!(n, from_view, "refreshed: read from the aggregate again");

    // A minute candle 19 days back, inside an hour the hourly view has materialized.
    let start = chrono::Utc::now() - chrono::Duration::days(19);
    let hour = start.format("%Y-%m-%dT%H:00:00Z").to_string();
    let last = start.format("%Y-%m-%dT%H:59:00Z").to_string();
    db.execute_unprepared(&format!(
        "INSERT INTO market_candles (time, symbol, open, high, low, close, volume) \
         SELECT timestamptz '{hour}' + make_interval(mins => m), 'TSCC', 100, 101, 99, 100, 10 FROM generate_series(0, 59) m"
    ))
    .await
    .unwrap();
    refresh("market_candles_1h").await;
    let q = format!(r#"{{ candles(symbol: "TSCC", interval: H1, from: "{hour}", to: "{last}") {{ high count }} }}"#);
    let before = app.data(&q, json!({})).await;
    assert_eq!(before["candles"], json!([{ "high": 101.0, "count": 60 }]), "{before}");
    db.execute_unprepared(&format!(
        "UPDATE market_candles SET high = 150 WHERE symbol = 'TSCC' AND time = timestamptz '{hour}' + interval '30 minutes'"
    ))
    .await
    .unwrap();
    let after = app.data(&q, json!({})).await;
    assert_eq!(after["candles"], json!([{ "high": 150.0, "count": 60 }]), "the corrected minute shows: {after}");
}
