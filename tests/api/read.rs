//! The read API: connections, filters, ordering, keyset pages, batching, zones and errors.
use crate::common::*;
use serde_json::{json, Value};

fn tickers_of(v: &Value) -> Vec<String> {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("{}/{}", n["ticker"].as_str().unwrap(), n["region"].as_str().unwrap()))
        .collect()
}

#[tokio::test]
async fn pages_forward_and_backward_cover_the_list_once() {
    for backend in backends() {
        let app = spawn(backend).await;
        let q = r#"query($after: String, $before: String, $first: Int, $last: Int) {
            tickers(first: $first, after: $after, last: $last, before: $before, orderBy: [{ name: DESC }]) {
              totalCount nodes { ticker region name } edges { cursor }
              pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"#;
        let all = app.data(q, json!({ "first": 1000 })).await["tickers"].clone();
        let total: usize = all["totalCount"].as_str().unwrap().parse().unwrap();
        let expected = tickers_of(&all);
        assert_eq!(expected.len(), total);
        let names: Vec<&str> = all["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
        assert!(names.windows(2).all(|w| w[0] >= w[1]), "{backend:?}: not ordered by name DESC");
        let (mut seen, mut after) = (Vec::new(), Value::Null);
        loop {
            let page = app.data(q, json!({ "first": 5, "after": after })).await["tickers"].clone();
            seen.extend(tickers_of(&page));
            assert_eq!(page["edges"][0]["cursor"], page["pageInfo"]["startCursor"]);
            if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = page["pageInfo"]["endCursor"].clone();
        }
        assert_eq!(seen, expected, "{backend:?}: forward pages");
        let (mut back, mut before) = (Vec::new(), Value::Null);
        loop {
            let page = app.data(q, json!({ "last": 7, "before": before })).await["tickers"].clone();
            let mut rows = tickers_of(&page);
            rows.extend(back);
            back = rows;
            if !page["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
                break;
            }
            before = page["pageInfo"]["startCursor"].clone();
        }
        assert_eq!(back, expected, "{backend:?}: backward pages");
    }
}

#[tokio::test]
async fn where_operators_combine() {
    for backend in backends() {
        let app = spawn(backend).await;
        let count = |w: Value| {
            let app = &app;
            async move {
                let d = app
                    .data(
                        "query($w: TickerWhere) { tickers(where: $w, first: 1000) { totalCount nodes { ticker } } }",
                        json!({ "w": w }),
                    )
                    .await;
                let n: usize = d["tickers"]["totalCount"].as_str().unwrap().parse().unwrap();
                assert_eq!(n, d["tickers"]["nodes"].as_array().unwrap().len());
                n
            }
        };
        assert_eq!(count(json!({ "region": { "eq": "KR" } })).await, 8, "{backend:?}");
        assert_eq!(count(json!({ "region": { "in": ["KR", "VN"] }, "assetType": { "eq": "ETF" } })).await, 3);
        assert_eq!(count(json!({ "or": [{ "ticker": { "eq": "AAPL" } }, { "ticker": { "eq": "HPG" } }] })).await, 2);
        assert_eq!(count(json!({ "not": { "region": { "ne": "US" } } })).await, 8);
        assert_eq!(count(json!({ "name": { "like": "Hoa%" } })).await, 2);
        assert_eq!(count(json!({ "name": { "like": "hoa%" } })).await, 0, "{backend:?}: like is case-sensitive");
        assert_eq!(count(json!({ "name": { "ilike": "hoa%" } })).await, 2);
        assert_eq!(count(json!({ "symbol": { "isNull": true } })).await, 0);
        assert_eq!(count(json!({ "ticker": { "gte": "X", "lt": "Z" } })).await, 1);
        // Decimal comparisons are numeric on both backends, not textual: the filtered rows are
        // exactly those whose close is numerically above the bound (as text, "100.00" < "99.5").
        let all = app
            .data(r#"{ ohlcvData(first: 1000, where: { ticker: { eq: "AAPL" } }) { nodes { close } } }"#, json!({}))
            .await;
        let closes: Vec<f64> = all["ohlcvData"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["close"].as_str().unwrap().parse().unwrap())
            .collect();
        let want = closes.iter().filter(|c| **c > 99.5).count();
        assert!(want > 0, "{backend:?}: the demo data has AAPL closes above 99.5");
        let d = app
            .data(r#"{ ohlcvData(first: 1000, where: { ticker: { eq: "AAPL" }, close: { gt: "99.5" } }) { totalCount nodes { close } } }"#, json!({}))
            .await;
        let nodes = d["ohlcvData"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), want, "{backend:?}");
        assert_eq!(d["ohlcvData"]["totalCount"], want.to_string(), "{backend:?}");
        for n in nodes {
            assert!(n["close"].as_str().unwrap().parse::<f64>().unwrap() > 99.5);
        }
    }
}

#[tokio::test]
async fn relations_cost_one_statement_per_level_whatever_the_parents() {
    for backend in backends() {
        let app = spawn(backend).await;
        let q = r#"query($n: Int!) { tickers(first: $n) { nodes { ticker stockDetails { sector } etfDetails { aum
                     holdings(first: 3) { nodes { weight constituent { name ohlcv(last: 2) { nodes { close } } } } } }
                     ohlcv(last: 5, timeframe: "D") { nodes { date close } } } } }"#;
        let mut costs = Vec::new();
        for n in [1, 10, 24] {
            let before = app.statements().await;
            let d = app.data(q, json!({ "n": n })).await;
            costs.push(app.statements().await - before);
            let nodes = d["tickers"]["nodes"].as_array().unwrap();
            assert_eq!(nodes.len(), n as usize);
            for t in nodes {
                assert_eq!(
                    t["ohlcv"]["nodes"].as_array().unwrap().len(),
                    5,
                    "{backend:?}: last 5 bars of {}",
                    t["ticker"]
                );
            }
        }
        // tickers, stockDetails, etfDetails, ohlcv, holdings, constituent, constituent.ohlcv.
        assert_eq!(costs[1], costs[2], "{backend:?}: statements grew with parents: {costs:?}");
        assert!(costs[2] <= 7, "{backend:?}: {costs:?}");
    }
}

#[tokio::test]
async fn nested_windows_match_the_raw_rows() {
    for backend in backends() {
        let app = spawn(backend).await;
        let d = app
            .data(r#"{ tickers(where: { region: { eq: "VN" } }) { nodes { ticker ohlcv(last: 3, from: "2025-01-01") { totalCount nodes { date close } pageInfo { hasPreviousPage hasNextPage } } } } }"#, json!({}))
            .await;
        let db = app.sql().await;
        use sea_orm::ConnectionTrait;
        let vn = d["tickers"]["nodes"].as_array().unwrap();
        assert!(vn.len() >= 3, "{backend:?}: the VN tickers to compare: {d}");
        for t in vn {
            let sym = t["ticker"].as_str().unwrap();
            let rows = db
                .query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    format!("SELECT CAST(date AS TEXT) FROM ohlcv_data WHERE ticker = '{sym}' AND region = 'VN' AND date >= '2025-01-01' ORDER BY date DESC LIMIT 3"),
                ))
                .await
                .unwrap();
            let mut want: Vec<String> = rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect();
            want.reverse();
            let got: Vec<String> = t["ohlcv"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["date"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(got, want, "{backend:?} {sym}");
            assert_eq!(t["ohlcv"]["pageInfo"]["hasPreviousPage"], true);
            assert!(t["ohlcv"]["totalCount"].as_str().unwrap().parse::<i64>().unwrap() > 3);
        }
    }
}

#[tokio::test]
async fn datetimes_render_in_the_requested_zone() {
    for backend in backends() {
        let app = spawn(backend).await;
        let q = r#"{ ticker(ticker: "HPG", region: "VN") { createdAt } }"#;
        let utc = app.data(q, json!({})).await;
        assert_eq!(utc["ticker"]["createdAt"], "2025-10-21T00:00:00Z");
        let hcm = app.gql_with(q, json!({}), &[("Time-Zone", "Asia/Ho_Chi_Minh")]).await;
        assert_eq!(hcm["data"]["ticker"]["createdAt"], "2025-10-21T07:00:00+07:00");
        let bad = app.gql_with(q, json!({}), &[("Time-Zone", "Mars/Olympus")]).await;
        assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    }
}

#[tokio::test]
async fn bad_arguments_are_user_errors_without_sql() {
    for backend in backends() {
        let app = spawn(backend).await;
        let cases = [
            (r#"{ tickers(first: 2, last: 2) { nodes { ticker } } }"#, "BAD_USER_INPUT"),
            (r#"{ tickers(after: "not-a-cursor") { nodes { ticker } } }"#, "BAD_USER_INPUT"),
            (r#"{ tickers(first: -1) { nodes { ticker } } }"#, "BAD_USER_INPUT"),
            (r#"{ ticker(ticker: "005930", region: "XX") { name } }"#, "BAD_USER_INPUT"),
            (r#"{ tickers(where: { region: { eq: "Korea" } }) { nodes { ticker } } }"#, "BAD_USER_INPUT"),
            (r#"{ ohlcvData(where: { close: { gt: "abc" } }) { nodes { close } } }"#, "BAD_USER_INPUT"),
            (r#"{ tickers(first: 100000) { nodes { ticker } } }"#, "QUERY_TOO_COMPLEX"),
            (r#"{ strategies { nodes { name } } }"#, "UNAUTHENTICATED"),
            (r#"{ workflows { nodes { name } } }"#, "UNAUTHENTICATED"),
        ];
        for (q, code) in cases {
            assert_eq!(app.error_code(q, json!({})).await, code, "{backend:?}: {q}");
        }
    }
}

#[tokio::test]
async fn oversized_queries_are_refused_before_any_sql() {
    for backend in backends() {
        let app = spawn_with(backend, true, |c| {
            c.max_depth = 6;
            c.max_complexity = 5_000;
        })
        .await;
        let deep = r#"{ tickers { nodes { etfDetails { holdings { nodes { constituent { etfDetails { holdings { nodes { weight } } } } } } } } } }"#;
        let wide = r#"{ tickers(first: 100) { nodes { ticker ohlcv(first: 100) { nodes { date close } } } } }"#;
        let huge_page = r#"query($n: Int) { ticker(ticker: "AAPL", region: "US") { name } tickers(first: $n) { nodes { ticker } } }"#;
        for (q, vars) in [(deep, json!({})), (wide, json!({})), (huge_page, json!({ "n": 5000 }))] {
            let before = app.statements().await;
            assert_eq!(app.error_code(q, vars).await, "QUERY_TOO_COMPLEX", "{backend:?}: {q}");
            assert_eq!(app.statements().await, before, "{backend:?}: SQL ran for a refused query");
        }
        // Within the limits the same shapes answer.
        app.data(r#"{ tickers(first: 10) { nodes { ticker ohlcv(first: 10) { nodes { date } } } } }"#, json!({})).await;
        assert_eq!(app.error_code("{ tickers { nodes { nope } } }", json!({})).await, "BAD_USER_INPUT");
    }
}
