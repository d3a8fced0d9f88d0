//! Aggregates and group-by, checked against figures this test computes from the raw rows.
use crate::common::*;
use quantgraph::auth::Role;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::str::FromStr;

/// Every KR daily bar with its ticker's sector: (sector, date, volume, close).
async fn kr_bars(app: &TestApp) -> Vec<(Option<String>, String, i64, Decimal)> {
    let sectors = app
        .data(
            r#"{ tickers(where: { region: { eq: "KR" } }, first: 1000) { nodes { ticker stockDetails { sector } } } }"#,
            json!({}),
        )
        .await;
    let sector: BTreeMap<String, Option<String>> = sectors["tickers"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["ticker"].as_str().unwrap().to_string(), n["stockDetails"]["sector"].as_str().map(String::from)))
        .collect();
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app
            .data(
                r#"query($a: String) { ohlcvData(where: { region: { eq: "KR" } }, first: 1000, after: $a) {
                    nodes { ticker date volume close } pageInfo { hasNextPage endCursor } } }"#,
                json!({ "a": after }),
            )
            .await;
        for n in page["ohlcvData"]["nodes"].as_array().unwrap() {
            out.push((
                sector[n["ticker"].as_str().unwrap()].clone(),
                n["date"].as_str().unwrap().to_string(),
                n["volume"].as_str().unwrap().parse().unwrap(),
                Decimal::from_str(n["close"].as_str().unwrap()).unwrap(),
            ));
        }
        if page["ohlcvData"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["ohlcvData"]["pageInfo"]["endCursor"].clone();
    }
    out
}

fn stddev(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    Some((xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt())
}

const BY_SECTOR_MONTH: &str = r#"query($first: Int, $after: String) {
  ohlcvDataAggregate(where: { region: { eq: "KR" } }, first: $first, after: $after,
    groupBy: [{ tickerInfo: { stockDetails: { column: SECTOR } } }, { column: DATE, interval: MONTH }]) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { keys count sum { volume close } avg { volume close } min { close date } max { close } stddev { close } }
  } }"#;

/// Average volume and close deviation per sector per month across KR stocks, in one statement,
/// equal to the figures computed here from the rows.
#[tokio::test]
async fn group_by_sector_and_month_matches_the_rows() {
    for backend in backends() {
        let app = spawn(backend).await;
        let bars = kr_bars(&app).await;
        assert!(bars.len() >= 1000, "{backend:?}: demo data has KR bars");
        // (sector, month) → (volume, close, date) of each bar.
        type Rows = Vec<(i64, Decimal, String)>;
        let mut want: BTreeMap<(String, String), Rows> = BTreeMap::new();
        for (sector, date, v, c) in &bars {
            // NULL sectors sort last: a key that sorts after every sector name.
            let s = sector.clone().unwrap_or_else(|| "\u{10FFFF}".into());
            want.entry((s, format!("{}-01", &date[..7]))).or_default().push((*v, *c, date.clone()));
        }
        let before = app.statements().await;
        let got = app.data(BY_SECTOR_MONTH, json!({ "first": 1000 })).await;
        assert_eq!(app.statements().await - before, 1, "{backend:?}: one statement");
        let agg = &got["ohlcvDataAggregate"];
        assert_eq!(agg["totalCount"], want.len().to_string(), "{backend:?}");
        let nodes = agg["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), want.len(), "{backend:?}");
        for (node, ((sector, month), rows)) in nodes.iter().zip(&want) {
            let sector_key = if sector == "\u{10FFFF}" { Value::Null } else { json!(sector) };
            assert_eq!(node["keys"], json!([sector_key, month]), "{backend:?}: keys in order");
            let n = rows.len();
            let vol: i64 = rows.iter().map(|r| r.0).sum();
            let close: Decimal = rows.iter().map(|r| r.1).sum();
            assert_eq!(node["count"], n.to_string());
            assert_eq!(node["sum"]["volume"], vol.to_string(), "{backend:?} {sector} {month}");
            assert_eq!(node["sum"]["close"], format!("{close:.4}"), "{backend:?} {sector} {month}");
            let avg = |s: Decimal| (s / Decimal::from(n)).round_dp(10).normalize().to_string();
            assert_eq!(node["avg"]["volume"], avg(Decimal::from(vol)), "{backend:?} {sector} {month}");
            assert_eq!(node["avg"]["close"], avg(close), "{backend:?} {sector} {month}");
            let min = rows.iter().map(|r| r.1).min().unwrap();
            let max = rows.iter().map(|r| r.1).max().unwrap();
            assert_eq!(node["min"]["close"], format!("{min:.4}"));
            assert_eq!(node["max"]["close"], format!("{max:.4}"));
            assert_eq!(node["min"]["date"], rows.iter().map(|r| r.2.clone()).min().unwrap());
            let closes: Vec<f64> = rows.iter().map(|r| r.1.to_string().parse().unwrap()).collect();
            match stddev(&closes) {
                Some(sd) => {
                    let got = node["stddev"]["close"].as_f64().unwrap();
                    assert!((got - sd).abs() <= 1e-9 * sd.max(1.0), "{backend:?}: stddev {got} vs {sd}");
                }
                None => assert!(node["stddev"]["close"].is_null()),
            }
        }
        // Pages of 7 groups add up to the whole list.
        let mut paged = Vec::new();
        let mut after = Value::Null;
        loop {
            let p = app.data(BY_SECTOR_MONTH, json!({ "first": 7, "after": after })).await;
            paged.extend(p["ohlcvDataAggregate"]["nodes"].as_array().unwrap().iter().cloned());
            if p["ohlcvDataAggregate"]["pageInfo"]["hasNextPage"] != true {
                break;
            }
            after = p["ohlcvDataAggregate"]["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(&paged, nodes, "{backend:?}: paging");
    }
}

/// Per ticker, as a relation field: one statement for every parent; counts order groups.
#[tokio::test]
async fn nested_aggregates_are_batched_per_level() {
    for backend in backends() {
        let app = spawn(backend).await;
        let bars = kr_bars(&app).await;
        let before = app.statements().await;
        let got = app
            .data(
                r#"{ tickers(where: { region: { eq: "KR" } }, first: 50) { nodes { ticker
                     ohlcvAggregate(groupBy: [{ column: DATE, interval: YEAR }], orderBy: COUNT_DESC) {
                       totalCount nodes { keys count sum { volume } } }
                     all: ohlcvAggregate { nodes { keys count max { close } } } } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(app.statements().await - before, 3, "{backend:?}: the tickers, then one statement per aggregate");
        let tickers = got["tickers"]["nodes"].as_array().unwrap();
        assert!(tickers.len() >= 5);
        let mut total = 0;
        for t in tickers {
            let name = t["ticker"].as_str().unwrap();
            let per_year = app
                .data(
                    r#"query($t: String!) { ohlcvData(where: { ticker: { eq: $t }, region: { eq: "KR" } }, first: 1000) { nodes { date volume close } } }"#,
                    json!({ "t": name }),
                )
                .await;
            let rows = per_year["ohlcvData"]["nodes"].as_array().unwrap();
            let mut years: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            for r in rows {
                let e = years.entry(format!("{}-01-01", &r["date"].as_str().unwrap()[..4])).or_default();
                e.0 += 1;
                e.1 += r["volume"].as_str().unwrap().parse::<i64>().unwrap();
            }
            let mut want: Vec<(&String, &(i64, i64))> = years.iter().collect();
            want.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
            let nodes = t["ohlcvAggregate"]["nodes"].as_array().unwrap();
            assert_eq!(t["ohlcvAggregate"]["totalCount"], want.len().to_string(), "{backend:?} {name}");
            let got: Vec<(String, String, String)> = nodes
                .iter()
                .map(|n| {
                    (
                        n["keys"][0].as_str().unwrap().into(),
                        n["count"].as_str().unwrap().into(),
                        n["sum"]["volume"].as_str().unwrap().into(),
                    )
                })
                .collect();
            let want: Vec<(String, String, String)> =
                want.iter().map(|(y, (c, v))| ((*y).clone(), c.to_string(), v.to_string())).collect();
            assert_eq!(got, want, "{backend:?} {name}: per year, most rows first");
            let max = rows.iter().map(|r| Decimal::from_str(r["close"].as_str().unwrap()).unwrap()).max();
            assert_eq!(
                t["all"]["nodes"],
                json!([{ "keys": [], "count": rows.len().to_string(), "max": { "close": max.map(|m| format!("{m:.4}")) } }]),
                "{backend:?} {name}: one group without keys"
            );
            total += rows.len();
        }
        assert_eq!(total, bars.len(), "{backend:?}: every KR bar counted once");
    }
}

/// Access rules hold for aggregates and the rows they join; bad groupings are refused.
#[tokio::test]
async fn aggregates_keep_access_rules_and_refuse_bad_groupings() {
    for backend in backends() {
        let app = spawn(backend).await;
        let analyst = token(&app, Role::Analyst);
        let ok = as_role(&app, &analyst, "{ strategiesAggregate { nodes { count } } }", json!({})).await;
        let n = ok["data"]["strategiesAggregate"]["nodes"][0]["count"].as_str().unwrap_or_else(|| panic!("{ok}"));
        assert!(n.parse::<i64>().unwrap() > 0, "{backend:?}: an analyst counts strategies");
        assert_eq!(
            code(&app.gql("{ strategiesAggregate { nodes { count } } }", json!({})).await),
            Some("UNAUTHENTICATED")
        );
        let (user, id) = register(&app, "agg@example.com").await;
        let denied = as_role(&app, &user, "{ strategiesAggregate { nodes { count } } }", json!({})).await;
        assert_eq!(code(&denied), Some("FORBIDDEN"), "{backend:?}: {denied}");
        register(&app, "other@example.com").await;
        let mine = as_role(
            &app,
            &user,
            "{ usersAggregate(groupBy: [{ column: ID }]) { totalCount nodes { keys count } } }",
            json!({}),
        )
        .await;
        assert_eq!(
            mine["data"]["usersAggregate"]["nodes"],
            json!([{ "keys": [id], "count": "1" }]),
            "{backend:?}: {mine}"
        );
        for (q, code_) in [
            (
                r#"{ ohlcvDataAggregate(groupBy: [{ column: TICKER, interval: MONTH }]) { totalCount } }"#,
                "BAD_USER_INPUT",
            ),
            (r#"{ ohlcvDataAggregate(groupBy: [{ column: DATE, interval: M5 }]) { totalCount } }"#, "BAD_USER_INPUT"),
            (
                r#"{ ohlcvDataAggregate(groupBy: [{ column: DATE, tickerInfo: { column: NAME } }]) { totalCount } }"#,
                "BAD_USER_INPUT",
            ),
            (
                r#"{ ohlcvDataAggregate(groupBy: [{ tickerInfo: { stockDetails: { tickerInfo: { stockDetails: { column: SECTOR } } } } }]) { totalCount } }"#,
                "QUERY_TOO_COMPLEX",
            ),
            (r#"{ ohlcvDataAggregate(first: 5000) { totalCount } }"#, "QUERY_TOO_COMPLEX"),
            (r#"{ ohlcvDataAggregate(after: "nope") { totalCount } }"#, "BAD_USER_INPUT"),
        ] {
            assert_eq!(app.error_code(q, json!({})).await, code_, "{backend:?}: {q}");
        }
        // Minute candles by hour: DateTime buckets.
        let c = app
            .data(
                r#"{ marketCandlesAggregate(groupBy: [{ column: SYMBOL }, { column: TIME, interval: H1 }], first: 3) {
                     nodes { keys count min { low } max { high } } } }"#,
                json!({}),
            )
            .await;
        let groups = c["marketCandlesAggregate"]["nodes"].as_array().unwrap();
        assert_eq!(groups.len(), 3, "{backend:?}: {c}");
        // Each group against the rows of its hour, read as a plain list.
        for g in groups {
            let (symbol, hour) = (g["keys"][0].as_str().unwrap(), g["keys"][1].as_str().unwrap());
            assert!(hour.ends_with(":00:00Z"), "{backend:?}: {g}");
            let start = chrono::DateTime::parse_from_rfc3339(hour).unwrap();
            let end = (start + chrono::Duration::hours(1)).to_rfc3339();
            let rows = app
                .data(
                    "query($s: String!, $a: DateTime!, $b: DateTime!) { marketCandles(first: 100, \
                     where: { symbol: { eq: $s }, time: { gte: $a, lt: $b } }) { nodes { low high } } }",
                    json!({ "s": symbol, "a": hour, "b": end }),
                )
                .await;
            let rows = rows["marketCandles"]["nodes"].as_array().unwrap().clone();
            let f = |r: &Value, k: &str| r[k].as_f64().unwrap();
            let low = rows.iter().map(|r| f(r, "low")).fold(f64::INFINITY, f64::min);
            let high = rows.iter().map(|r| f(r, "high")).fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(g["count"], rows.len().to_string(), "{backend:?}: {g}");
            assert_eq!(
                (g["min"]["low"].as_f64(), g["max"]["high"].as_f64()),
                (Some(low), Some(high)),
                "{backend:?}: {g}"
            );
        }
        let keys: Vec<(String, String)> =
            groups.iter().map(|g| (g["keys"][0].to_string(), g["keys"][1].to_string())).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{backend:?}: groups in key order: {keys:?}");
    }
}
