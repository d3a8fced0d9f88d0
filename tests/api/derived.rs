//! Derived series on buckets, compared field by field with values computed here from the raw
//! rows (daily bars; minute candles bucketed by this test), with history before `from` and no
//! look-ahead.
use crate::common::*;
use serde_json::{json, Value};

/// A bucket as this test builds it: start, high, low, close, volume.
#[derive(Clone, Debug)]
struct B {
    start: String,
    h: f64,
    l: f64,
    c: f64,
    v: f64,
}

fn f(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}

/// The expected value of one derived field at bucket `i` (None: not enough history).
fn expect(bs: &[B], i: usize, field: &str, n: usize, per_year: f64) -> Option<f64> {
    let ret = |k: usize| -> Option<f64> { (k >= 1).then(|| bs[k].c / bs[k - 1].c) };
    match field {
        "simpleReturn" => ret(i).map(|r| r - 1.0),
        "logReturn" => ret(i).map(f64::ln),
        "sma" => (i + 1 >= n).then(|| bs[i + 1 - n..=i].iter().map(|b| b.c).sum::<f64>() / n as f64),
        "ema" => {
            if i + 1 < n {
                return None;
            }
            let a = 2.0 / (n as f64 + 1.0);
            let mut e = bs[..n].iter().map(|b| b.c).sum::<f64>() / n as f64;
            for b in &bs[n..=i] {
                e = a * b.c + (1.0 - a) * e;
            }
            Some(e)
        }
        "rsi" => {
            if i < n {
                return None;
            }
            let ch: Vec<f64> = (1..=i).map(|k| bs[k].c - bs[k - 1].c).collect();
            let mut g = ch[..n].iter().map(|d| d.max(0.0)).sum::<f64>() / n as f64;
            let mut l = ch[..n].iter().map(|d| (-d).max(0.0)).sum::<f64>() / n as f64;
            for d in &ch[n..] {
                g = (g * (n as f64 - 1.0) + d.max(0.0)) / n as f64;
                l = (l * (n as f64 - 1.0) + (-d).max(0.0)) / n as f64;
            }
            Some(if l == 0.0 { 100.0 } else { 100.0 - 100.0 / (1.0 + g / l) })
        }
        "volatility" => {
            if i < n || n < 2 {
                return None;
            }
            let lr: Vec<f64> = (i + 1 - n..=i).map(|k| ret(k).unwrap().ln()).collect();
            let m = lr.iter().sum::<f64>() / n as f64;
            Some((lr.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64 * per_year).sqrt())
        }
        "vwap" => {
            if i + 1 < n {
                return None;
            }
            let w = &bs[i + 1 - n..=i];
            Some(w.iter().map(|b| (b.h + b.l + b.c) / 3.0 * b.v).sum::<f64>() / w.iter().map(|b| b.v).sum::<f64>())
        }
        _ => unreachable!(),
    }
}

const FIELDS: [(&str, &str, usize); 10] = [
    ("simpleReturn", "simpleReturn", 0),
    ("logReturn", "logReturn", 0),
    ("sma5", "sma(length: 5)", 5),
    ("sma20", "sma", 20),
    ("ema10", "ema(length: 10)", 10),
    ("rsi", "rsi", 14),
    ("rsi3", "rsi(length: 3)", 3),
    ("vol5", "volatility(length: 5)", 5),
    ("vwap", "vwap", 1),
    ("vwap4", "vwap(length: $w)", 4),
];

fn check(backend: Backend, all: &[B], got: &[Value], per_year: f64) -> usize {
    let mut compared = 0;
    for g in got {
        let i = all.iter().position(|b| b.start == g["bucket"].as_str().unwrap()).unwrap();
        assert_eq!(f(&g["close"]), all[i].c, "{backend:?}: the bucket at {}", all[i].start);

        for (alias, _, n) in FIELDS {
            let name = match alias {
                "sma5" | "sma20" => "sma",
                "ema10" => "ema",
                "rsi3" => "rsi",
                "vol5" => "volatility",
                "vwap4" => "vwap",
                other => other,
            };
            match (expect(all, i, name, n.max(1), per_year), g[alias].as_f64()) {
                (Some(want), Some(have)) => {
                    assert!(
                        (want - have).abs() <= 1e-9 * want.abs().max(1.0),
                        "{backend:?} {alias} at {}: {have} vs {want}",
                        all[i].start
                    );
                    compared += 1;
                }
                (None, None) => {}
                (want, have) => panic!("{backend:?} {alias} at {}: {have:?} vs {want:?}", all[i].start),
            }
        }
    }
    compared
}

fn selection() -> String {
    FIELDS.iter().map(|(a, f, _)| format!("{a}: {f}")).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn derived_series_match_the_raw_rows() {
    for backend in backends() {
        let app = spawn(backend).await;
        // Daily bars: the buckets of DAY are the rows.
        let raw = app
            .data(r#"{ ohlcvData(where: { ticker: { eq: "005930" }, region: { eq: "KR" }, timeframe: { eq: "D" } }, first: 1000, orderBy: [{ date: ASC }]) { nodes { date high low close volume } } }"#, json!({}))
            .await;
        let days: Vec<B> = raw["ohlcvData"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| B {
                start: n["date"].as_str().unwrap().into(),
                h: f(&n["high"]),
                l: f(&n["low"]),
                c: f(&n["close"]),
                v: f(&n["volume"]),
            })
            .collect();
        assert!(days.len() > 100, "{backend:?}: demo history");
        let (from, to) = (days[60].start.clone(), days[90].start.clone());
        let q = format!(
            "query($f: Date, $t: Date, $w: Int) {{ ohlcvBars(ticker: \"005930\", region: \"KR\", interval: DAY, from: $f, to: $t) {{ bucket close ...D }} }} fragment D on OhlcvBucket {{ {} }}",
            selection()
        );
        let got = app.data(&q, json!({ "f": from, "t": to, "w": 4 })).await;
        let got = got["ohlcvBars"].as_array().unwrap().clone();
        assert_eq!(got.len(), 31, "{backend:?}: the range only");
        assert_eq!(got[0]["bucket"], from.as_str());
        let n = check(backend, &days, &got, 252.0);
        assert!(n >= 31 * 10, "{backend:?}: every field has history from the first bucket ({n})");
        // From the start of the history: values appear once enough buckets exist.
        let start = app.data(&q, json!({ "f": null, "t": days[25].start, "w": 4 })).await;
        let start = start["ohlcvBars"].as_array().unwrap().clone();
        assert_eq!(start.len(), 26);
        check(backend, &days, &start, 252.0);
        assert!(start[18]["sma20"].is_null() && start[19]["sma20"].is_number(), "{backend:?}");
        // No look-ahead: a bucket's values do not change when later buckets are read too.
        let later = app.data(&q, json!({ "f": days[20].start, "t": days[120].start, "w": 4 })).await;
        let later = later["ohlcvBars"].as_array().unwrap();
        for g in &start[20..] {
            let same = later.iter().find(|l| l["bucket"] == g["bucket"]).unwrap();
            assert_eq!(same, g, "{backend:?}");
        }
        // Minute candles bucketed by five minutes, checked against buckets built here.
        let raw = app
            .data(r#"{ marketCandles(where: { symbol: { eq: "HPG" } }, first: 1000, orderBy: [{ time: ASC }]) { nodes { time high low close volume } } }"#, json!({}))
            .await;
        let mut fives: Vec<B> = Vec::new();
        for n in raw["marketCandles"]["nodes"].as_array().unwrap() {
            let t = chrono::DateTime::parse_from_rfc3339(n["time"].as_str().unwrap()).unwrap().timestamp();
            let start = chrono::DateTime::from_timestamp(t - t.rem_euclid(300), 0)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let (h, l, c, v) = (f(&n["high"]), f(&n["low"]), f(&n["close"]), f(&n["volume"]));
            match fives.last_mut() {
                Some(b) if b.start == start => {
                    b.h = b.h.max(h);
                    b.l = b.l.min(l);
                    b.c = c;
                    b.v += v;
                }
                _ => fives.push(B { start, h, l, c, v }),
            }
        }
        assert!(fives.len() > 60, "{backend:?}");
        let q = format!(
            "query($f: DateTime, $t: DateTime, $w: Int) {{ candles(symbol: \"HPG\", interval: M5, from: $f, to: $t) {{ bucket close ...D }} }} fragment D on CandleBucket {{ {} }}",
            selection()
        );
        // `to` is inclusive: the end of the last bucket, so that it is whole.
        let end = chrono::DateTime::parse_from_rfc3339(&fives[60].start).unwrap() + chrono::Duration::seconds(299);
        let got = app.data(&q, json!({ "f": fives[40].start, "t": end.to_rfc3339(), "w": 4 })).await;
        let got = got["candles"].as_array().unwrap().clone();
        assert_eq!(got.len(), 21, "{backend:?}");
        let n = check(backend, &fives, &got, 365.25 * 86400.0 / 300.0);
        assert!(n >= 21 * 10, "{backend:?}: {n}");
        assert_eq!(
            app.error_code("{ candles(symbol: \"HPG\", interval: M5) { sma(length: 0) } }", json!({})).await,
            "BAD_USER_INPUT"
        );
    }
}
