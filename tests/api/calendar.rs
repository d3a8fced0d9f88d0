//! Trading calendars and gap filling: every trading period in range, made up where no row is
//! stored, never a bucket on a closed day.
use crate::common::*;
use chrono::{Datelike, NaiveDate};
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::collections::HashSet;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

async fn holidays(app: &TestApp, region: &str) -> HashSet<NaiveDate> {
    let h = app
        .data(
            "query($r: String) { tradingHolidays(where: { region: { eq: $r } }, first: 1000) { nodes { date } } }",
            json!({ "r": region }),
        )
        .await;
    h["tradingHolidays"]["nodes"].as_array().unwrap().iter().map(|n| day(n["date"].as_str().unwrap())).collect()
}

const BARS: &str = r#"query($f: BucketFill, $i: BarInterval!) {
  ohlcvBars(ticker: "005930", region: "KR", interval: $i, from: "2025-09-24", to: "2025-10-17", fill: $f) {
    bucket close volume count filled } }"#;

#[tokio::test]
async fn filled_bars_follow_the_trading_calendar() {
    for backend in backends() {
        let app = spawn(backend).await;
        // Admins edit calendars; others may not.
        let admin = token(&app, Role::Admin);
        let add = r#"mutation { createTradingHoliday(input: { region: "KR", date: "2025-09-26", name: "Test closure" }) { date } }"#;
        let (user, _) = register(&app, "cal@example.com").await;
        assert_eq!(code(&as_role(&app, &user, add, json!({})).await), Some("FORBIDDEN"));
        let r = as_role(&app, &admin, add, json!({})).await;
        assert_eq!(r["data"]["createTradingHoliday"]["date"], "2025-09-26", "{backend:?}: {r}");
        let hol = holidays(&app, "KR").await;
        assert!(
            hol.contains(&day("2025-10-03")) && hol.contains(&day("2025-10-09")),
            "{backend:?}: seeded KRX holidays"
        );
        // A trading day without a stored bar.
        let db = app.sql().await;
        db.execute_unprepared(
            "DELETE FROM ohlcv_data WHERE ticker = '005930' AND region = 'KR' AND date = '2025-10-14'",
        )
        .await
        .unwrap();

        let stored = app.data(BARS, json!({ "f": "NONE", "i": "DAY" })).await["ohlcvBars"].as_array().unwrap().clone();
        assert!(
            stored.iter().any(|b| b["bucket"] == "2025-10-03"),
            "{backend:?}: the demo data has a bar on a holiday"
        );
        let trading: Vec<String> = day("2025-09-24")
            .iter_days()
            .take_while(|d| *d <= day("2025-10-17"))
            .filter(|d| d.weekday().num_days_from_monday() < 5 && !hol.contains(d))
            .map(|d| d.to_string())
            .collect();
        for mode in ["NULL", "PREVIOUS"] {
            let got = app.data(BARS, json!({ "f": mode, "i": "DAY" })).await["ohlcvBars"].as_array().unwrap().clone();
            let days: Vec<&str> = got.iter().map(|b| b["bucket"].as_str().unwrap()).collect();
            assert_eq!(days, trading, "{backend:?} {mode}: one bucket per trading day, none on closed days");
            for (i, b) in got.iter().enumerate() {
                let kept = stored.iter().find(|s| s["bucket"] == b["bucket"]);
                match kept {
                    Some(s) => {
                        assert_eq!(b["filled"], false);
                        assert_eq!(b["close"], s["close"], "{backend:?}");
                    }
                    None => {
                        assert_eq!(b["filled"], true, "{backend:?}: {b}");
                        assert_eq!(b["count"], 0);
                        if mode == "NULL" {
                            assert!(b["close"].is_null() && b["volume"].is_null(), "{b}");
                        } else {
                            assert_eq!(b["close"], got[i - 1]["close"], "{backend:?}: the previous close");
                            assert_eq!(b["volume"], "0");
                        }
                    }
                }
            }
            assert_eq!(
                got.iter().filter(|b| b["filled"] == true).count(),
                1,
                "{backend:?}: only 14 October is made up"
            );
        }
        // Weeks: each week with a trading day, from its Monday.
        let weeks = app.data(BARS, json!({ "f": "NULL", "i": "WEEK" })).await["ohlcvBars"].as_array().unwrap().clone();
        let starts: Vec<&str> = weeks.iter().map(|b| b["bucket"].as_str().unwrap()).collect();
        assert_eq!(starts, ["2025-09-22", "2025-09-29", "2025-10-06", "2025-10-13"], "{backend:?}");
    }
}

#[tokio::test]
async fn filled_candles_follow_the_sessions() {
    for backend in backends() {
        let app = spawn(backend).await;
        let db = app.sql().await;
        db.execute_unprepared(
            "DELETE FROM market_candles WHERE symbol = 'HPG' AND time >= '2025-10-20T03:00:00+00:00' AND time < '2025-10-20T03:30:00+00:00'",
        )
        .await
        .unwrap();
        let raw = app
            .data(r#"{ marketCandles(where: { symbol: { eq: "HPG" } }, first: 1000) { nodes { time } } }"#, json!({}))
            .await;
        let with_rows: HashSet<i64> = raw["marketCandles"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                chrono::DateTime::parse_from_rfc3339(n["time"].as_str().unwrap()).unwrap().timestamp() / 1800 * 1800
            })
            .collect();
        let got = app
            .data(
                r#"{ candles(symbol: "HPG", interval: M30, from: "2025-10-17T00:00:00Z", to: "2025-10-20T23:59:59Z", fill: NULL) { bucket filled close } }"#,
                json!({}),
            )
            .await;
        let got = got["candles"].as_array().unwrap();
        // HOSE: 09:00–11:30 and 13:00–14:45 in Hanoi (UTC+7); the weekend between is closed.
        let mut want = Vec::new();
        for d in ["2025-10-17", "2025-10-20"] {
            for (h, m) in [(2, 0), (2, 30), (3, 0), (3, 30), (4, 0), (6, 0), (6, 30), (7, 0), (7, 30)] {
                want.push(format!("{d}T{h:02}:{m:02}:00Z"));
            }
        }
        let starts: Vec<&str> = got.iter().map(|b| b["bucket"].as_str().unwrap()).collect();
        assert_eq!(starts, want, "{backend:?}");
        for b in got {
            let t = chrono::DateTime::parse_from_rfc3339(b["bucket"].as_str().unwrap()).unwrap().timestamp();
            assert_eq!(b["filled"], Value::Bool(!with_rows.contains(&t)), "{backend:?}: {b}");
        }
        assert!(got
            .iter()
            .any(|b| b["bucket"] == "2025-10-20T03:00:00Z" && b["filled"] == true && b["close"].is_null()));
    }
}
