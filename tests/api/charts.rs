//! Chart history as columns (`ohlcvSeries`, `candleSeries`) checked against the row-per-bucket
//! fields and the rows, and the `/chart` page driven in headless Chromium.
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};
use std::path::Path;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};

fn unix(day: &str) -> f64 {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp()
        as f64
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string())).collect()
}

#[tokio::test]
async fn ohlcv_series_are_the_buckets_as_columns_with_udf_history_semantics() {
    for backend in backends() {
        let app = spawn(backend).await;
        let days = app
            .data(
                r#"{ ohlcvData(where: { ticker: { eq: "005930" }, region: { eq: "KR" }, timeframe: { eq: "D" } }, orderBy: [{ date: ASC }], first: 1000) { nodes { date close } } }"#,
                json!({}),
            )
            .await;
        let days: Vec<(String, String)> = days["ohlcvData"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["date"].as_str().unwrap().to_string(), n["close"].as_str().unwrap().to_string()))
            .collect();
        assert!(days.len() > 30, "{backend:?}: {} days", days.len());

        // Weekly buckets: the same values as ohlcvBars, column by column, exact and as numbers.
        let (from, to) = (&days[3].0, &days[days.len() - 4].0);
        let vars = json!({ "from": from, "to": to });
        let q = r#"query($from: Date, $to: Date) {
            bars: ohlcvBars(ticker: "005930", region: "KR", interval: WEEK, from: $from, to: $to) { bucket open high low close volume }
            s: ohlcvSeries(ticker: "005930", region: "KR", interval: WEEK, from: $from, to: $to) { t o h l c v noData nextTime numbers { o c v } } }"#;
        let d = app.data(q, vars).await;
        let (bars, s) = (d["bars"].as_array().unwrap(), &d["s"]);
        assert!(bars.len() >= 4, "{backend:?}: {d}");
        let t: Vec<f64> = s["t"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(t, bars.iter().map(|b| unix(b["bucket"].as_str().unwrap())).collect::<Vec<_>>(), "{backend:?}");
        for (col, field) in [("o", "open"), ("h", "high"), ("l", "low"), ("c", "close"), ("v", "volume")] {
            assert_eq!(
                strs(&s[col]),
                bars.iter().map(|b| b[field].as_str().unwrap().to_string()).collect::<Vec<_>>(),
                "{backend:?} {col}"
            );
        }
        for (col, field) in [("o", "open"), ("c", "close"), ("v", "volume")] {
            let nums: Vec<f64> = s["numbers"][col].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            let want: Vec<f64> = bars.iter().map(|b| b[field].as_str().unwrap().parse().unwrap()).collect();
            assert_eq!(nums, want, "{backend:?} numbers.{col}");
        }
        assert_eq!((s["noData"].as_bool(), s["nextTime"].is_null()), (Some(false), true));

        // countBack: at least that many daily bars ending at `to`, reaching before `from`.
        let last = &days[days.len() - 1].0;
        let q = r#"query($d: Date, $n: Int) { s: ohlcvSeries(ticker: "005930", region: "KR", interval: DAY, from: $d, to: $d, countBack: $n) { t c } }"#;
        let s = &app.data(q, json!({ "d": last, "n": 10 })).await["s"];
        let want = &days[days.len() - 10..];
        let t: Vec<f64> = s["t"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
        assert_eq!(t, want.iter().map(|(d, _)| unix(d)).collect::<Vec<_>>(), "{backend:?}");
        assert_eq!(strs(&s["c"]), want.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>());
        // More than there is: everything up to `to`.
        let s = &app.data(q, json!({ "d": last, "n": 20000 })).await["s"];
        assert_eq!(s["t"].as_array().unwrap().len(), days.len());

        // An empty range after the data: noData, and where the data ends (its week's Monday).
        let after = chrono::NaiveDate::parse_from_str(last, "%Y-%m-%d").unwrap() + chrono::Duration::days(30);
        let q = r#"query($f: Date, $iv: BarInterval!) { s: ohlcvSeries(ticker: "005930", region: "KR", interval: $iv, from: $f) { t noData nextTime } }"#;
        let s = &app.data(q, json!({ "f": after.to_string(), "iv": "DAY" })).await["s"];
        assert_eq!(
            (s["t"].clone(), s["noData"].as_bool(), s["nextTime"].as_f64()),
            (json!([]), Some(true), Some(unix(last)))
        );
        let s = &app.data(q, json!({ "f": after.to_string(), "iv": "WEEK" })).await["s"];
        let monday =
            chrono::NaiveDate::parse_from_str(last, "%Y-%m-%d").unwrap().week(chrono::Weekday::Mon).first_day();
        assert_eq!(s["nextTime"].as_f64(), Some(unix(&monday.to_string())), "{backend:?}");
        // Before all data: noData and no earlier time.
        let s = &app.data(r#"{ s: ohlcvSeries(ticker: "005930", region: "KR", interval: DAY, to: "1990-01-01") { noData nextTime } }"#, json!({})).await["s"];
        assert_eq!(s, &json!({ "noData": true, "nextTime": null }));
        let bad = app
            .error_code(
                r#"{ ohlcvSeries(ticker: "005930", region: "KR", interval: DAY, countBack: -1) { t } }"#,
                json!({}),
            )
            .await;
        assert_eq!(bad, "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn candle_series_bucket_minutes_with_count_back_and_next_time() {
    for backend in backends() {
        let app = spawn(backend).await;
        let token = app.app.state.tokens.issue("series-test", Role::Service, 600).unwrap();
        // Minutes 0..12 of 2026-01-05 02:00 UTC, close = 100 + minute.
        let candles: Vec<Value> = (0..12)
            .map(|m| {
                let t = chrono::DateTime::parse_from_rfc3339("2026-01-05T02:00:00Z").unwrap() + chrono::Duration::minutes(m);
                json!({ "time": t.to_rfc3339(), "symbol": "SER", "open": 100 + m, "high": 101 + m, "low": 99 + m, "close": 100 + m, "volume": "10" })
            })
            .collect();
        let r = app
            .gql_with(
                "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }",
                json!({ "c": candles }),
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert_eq!(r["data"]["ingestCandles"]["inserted"], 12, "{r}");
        let base = 1_767_578_400.0; // 2026-01-05T02:00:00Z
        let q = r#"query($iv: CandleInterval!, $f: DateTime, $t: DateTime, $n: Int) {
            s: candleSeries(symbol: "SER", interval: $iv, from: $f, to: $t, countBack: $n) { t o h l c v noData nextTime numbers { v } } }"#;
        let s = &app.data(q, json!({ "iv": "M5" })).await["s"];
        assert_eq!(s["t"], json!([base, base + 300.0, base + 600.0]), "{backend:?}: {s}");
        assert_eq!(s["o"], json!([100.0, 105.0, 110.0]));
        assert_eq!(s["h"], json!([105.0, 110.0, 112.0]));
        assert_eq!(s["l"], json!([99.0, 104.0, 109.0]));
        assert_eq!(s["c"], json!([104.0, 109.0, 111.0]));
        assert_eq!((s["v"].clone(), s["numbers"]["v"].clone()), (json!(["50", "50", "20"]), json!([50.0, 50.0, 20.0])));
        // countBack reaches before `from`.
        let s = &app
            .data(q, json!({ "iv": "M1", "f": "2026-01-05T02:11:00Z", "t": "2026-01-05T02:11:00Z", "n": 4 }))
            .await["s"];
        assert_eq!(s["c"], json!([108.0, 109.0, 110.0, 111.0]), "{backend:?}");
        // After the data: noData, next time = the last minute's bucket.
        let s = &app.data(q, json!({ "iv": "M5", "f": "2026-01-05T03:00:00Z" })).await["s"];
        assert_eq!((s["noData"].as_bool(), s["nextTime"].as_f64()), (Some(true), Some(base + 600.0)), "{backend:?}");
    }
}

#[tokio::test]
async fn the_chart_page_draws_history_and_shows_a_candle_written_by_plain_sql() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() || !Path::new(dir).join("node_modules/playwright-core").exists() {
        assert!(!std::env::var("CI").is_ok_and(|c| c == "true"), "CI=true but Chromium or playwright-core is missing");
        eprintln!("chart page test skipped: install chromium and run `npm ci --prefix tests/browser`");
        return;
    }
    // Plain-SQL writers reach subscribers through PostgreSQL's triggers.
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let app = spawn(Backend::Postgres).await;
    let sql = app.sql().await;
    sql.execute_unprepared(
        "INSERT INTO market_candles (time, symbol, open, high, low, close, volume) \
         SELECT timestamptz '2026-01-05 02:00:00+00' + make_interval(mins => m), 'CHRT', 100 + m, 101.5 + m, 99 + m, 100.5 + m, 1000 + 10 * m \
         FROM generate_series(0, 59) m",
    )
    .await
    .unwrap();
    // A fresh file each run (the README's picture, tests/browser/chart.png, is not touched).
    let shot = std::env::temp_dir().join(format!("quantgraph-chart-{}.png", std::process::id()));
    let _ = std::fs::remove_file(&shot);
    let origin = app.url.trim_end_matches("/graphql").to_string();
    let mut child = tokio::process::Command::new("node")
        .arg("chart.mjs")
        .arg(&origin)
        .arg("CHRT")
        .arg(&shot)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first =
        tokio::time::timeout(std::time::Duration::from_secs(60), out.next_line()).await.expect("the page loads");
    assert_eq!(first.unwrap().as_deref(), Some("ready"));
    sql.execute_unprepared(
        "INSERT INTO market_candles (time, symbol, open, high, low, close, volume) \
         VALUES ('2026-01-05 03:00:00+00', 'CHRT', 160, 163, 158, 162.25, 2500)",
    )
    .await
    .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"162.25\n").await.unwrap();
    let report =
        tokio::time::timeout(std::time::Duration::from_secs(60), out.next_line()).await.expect("the bar arrives");
    let report: Value = serde_json::from_str(&report.unwrap().expect("a report")).unwrap();
    assert!(child.wait().await.unwrap().success());

    assert_eq!(report["foreign"], json!([]), "{report}");
    assert_eq!(report["consoleErrors"], json!([]), "{report}");
    let history = report["history"].as_array().unwrap();
    assert_eq!(history.len(), 60, "{report}");
    assert_eq!(history[0], json!({ "time": 1_767_578_400, "close": 100.5 }));
    assert_eq!(history[59], json!({ "time": 1_767_578_400 + 59 * 60, "close": 159.5 }));
    assert_eq!(report["status"], "60 buckets");
    let bars = report["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 61);
    assert_eq!(bars[60], json!({ "time": 1_767_582_000, "close": 162.25 }), "the SQL candle is the last bar");
    assert!(report["live"].as_u64().unwrap() >= 1);
    assert!(report["inkedPixels"].as_u64().unwrap() > 1000, "nothing drawn: {report}");
    let png = std::fs::read(&shot).expect("the page's screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "no screenshot: {} bytes", png.len());
    let _ = std::fs::remove_file(&shot);
}

/// The direct writer answers series roots; its bytes must be the general executor's.
#[tokio::test]
async fn series_bytes_are_the_same_from_the_direct_writer_and_the_general_executor() {
    for backend in backends() {
        let direct = spawn_with(backend, true, |c| c.direct_reads = true).await;
        let mut c = config(&direct.database_url);
        c.direct_reads = false;
        let general = TestApp::start(&c, backend).await;
        let token = direct.app.state.tokens.issue("series-test", Role::Service, 600).unwrap();
        let candles: Vec<Value> = (0..7)
            .map(|m| json!({ "time": format!("2026-01-05T02:0{m}:00Z"), "symbol": "BYT", "open": 1.5 + m as f64 / 4.0, "high": 3, "low": 0.25, "close": 2.125, "volume": "9" }))
            .collect();
        let r = direct
            .gql_with(
                "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }",
                json!({ "c": candles }),
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert!(r.get("errors").is_none(), "{r}");
        let docs = [
            (
                r#"{ ohlcvSeries(ticker: "005930", region: "KR", interval: DAY, countBack: 40) { t o h l c v noData nextTime numbers { o h l c v } } }"#,
                json!({}),
            ),
            (
                r#"query($iv: BarInterval!, $n: Int = 5, $skip: Boolean!) { a: ohlcvSeries(ticker: "005930", region: "KR", interval: $iv, countBack: $n) { __typename c t @skip(if: $skip) ...N } b: ohlcvSeries(ticker: "005930", region: "KR", interval: MONTH) { c c t } } fragment N on OhlcvSeries { numbers { __typename c } nextTime }"#,
                json!({ "iv": "WEEK", "skip": true }),
            ),
            (
                r#"{ s: candleSeries(symbol: "BYT", interval: M5) { t o h l c v numbers { v } noData } e: candleSeries(symbol: "BYT", interval: M1, from: "2030-01-01T00:00:00Z") { t noData nextTime } tickers(first: 1) { nodes { ticker } } }"#,
                json!({}),
            ),
            (
                r#"{ ohlcvSeries(ticker: "005930", region: "KR", interval: DAY, to: "1990-01-01") { t c noData nextTime } }"#,
                json!({}),
            ),
            (r#"{ ohlcvSeries(ticker: "005930", region: "KR", interval: DAY, countBack: -3) { t } }"#, json!({})),
        ];
        for (doc, vars) in docs {
            let raw = |app: &TestApp| {
                let (http, url, body) = (app.http.clone(), app.url.clone(), json!({ "query": doc, "variables": vars }));
                async move { http.post(url).json(&body).send().await.unwrap().text().await.unwrap() }
            };
            let (a, b) = (raw(&direct).await, raw(&general).await);
            assert_eq!(a, b, "{backend:?}: {doc}");
            assert!(a.contains("\"data\":{") || a.contains("BAD_USER_INPUT"), "{backend:?}: {a}");
        }
    }
}
