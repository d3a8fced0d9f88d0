//! `asOf:` reads: per key, the version known latest by a day — compared with the same choice
//! made here from every stored row, at the root and under a ticker, one statement per level.
use crate::common::*;
use quantgraph::auth::Role;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DAYS: [&str; 7] =
    ["2020-01-01", "2023-03-30", "2023-03-31", "2024-06-30", "2025-05-15", "2025-08-01", "2030-01-01"];

/// Per key, the rows whose `known` day is the latest at or before `day`.
fn latest<'a>(
    rows: &'a [Value],
    key: &dyn Fn(&Value) -> String,
    known: &dyn Fn(&Value) -> String,
    day: &str,
) -> Vec<&'a Value> {
    let mut best: BTreeMap<String, String> = BTreeMap::new();
    for r in rows {
        let k = known(r);
        if k.as_str() <= day {
            let e = best.entry(key(r)).or_default();
            if k > *e {
                *e = k;
            }
        }
    }
    rows.iter().filter(|r| best.get(&key(r)) == Some(&known(r))).collect()
}

fn fiscal_known(r: &Value) -> String {
    let y = r["fiscalYear"].as_i64().unwrap();
    match r["periodType"].as_str().unwrap() {
        "Q1" => format!("{y:04}-05-15"),
        "Q2" => format!("{y:04}-08-14"),
        "Q3" => format!("{y:04}-11-14"),
        _ => format!("{:04}-03-31", y + 1),
    }
}

fn sorted(mut v: Vec<Value>) -> Vec<Value> {
    v.sort_by_key(|x| x.to_string());
    v
}

#[tokio::test]
async fn as_of_reads_the_version_known_by_a_day() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (svc, admin) = (token(&app, Role::Service), token(&app, Role::Admin));
        // History beside the demo data: scores over two years, fundamentals by year and quarter,
        // two holdings snapshots of one ETF.
        let scores: Vec<Value> = [
            ("2023-01-02", "momentum"),
            ("2024-01-02", "momentum"),
            ("2025-07-01", "momentum"),
            ("2023-06-01", "quality"),
        ]
        .iter()
        .map(|(d, f)| json!({ "ticker": "HPG", "region": "VN", "date": d, "factorName": f, "score": "1.5" }))
        .collect();
        let r = as_role(
            &app,
            &svc,
            "mutation($r: [FactorScoreInput!]!) { ingestFactorScores(rows: $r) { inserted } }",
            json!({ "r": scores }),
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
        let funds: Vec<Value> = [(2021, "FY"), (2022, "FY"), (2023, "FY"), (2025, "Q1"), (2025, "Q2")]
            .iter()
            .map(|(y, p)| json!({ "ticker": "HPG", "region": "VN", "fiscalYear": y, "periodType": p, "revenue": "1000" }))
            .collect();
        let r = as_role(
            &app,
            &svc,
            "mutation($r: [TickerFundamentalsInput!]!) { ingestFundamentals(rows: $r) { inserted } }",
            json!({ "r": funds }),
        )
        .await;
        assert!(r.get("errors").is_none(), "{r}");
        for (day, names) in [("2023-03-31", vec!["HPG", "VNM", "FPT"]), ("2025-05-15", vec!["HPG", "VNM"])] {
            let h: Vec<Value> = names
                .iter()
                .map(|c| json!({ "etfTicker": "E1VFVN30", "region": "VN", "constituentTicker": c, "constituentRegion": "VN", "asOfDate": day, "weight": "10" }))
                .collect();
            let r = as_role(
                &app,
                &admin,
                "mutation($h: [EtfHoldingInput!]!) { recordEtfHoldings(holdings: $h) { rowId } }",
                json!({ "h": h }),
            )
            .await;
            assert!(r.get("errors").is_none(), "{r}");
        }

        let all_scores = app
            .data(
                r#"{ factorScores(where: { ticker: { eq: "HPG" } }, first: 1000) { nodes { date factorName } } }"#,
                json!({}),
            )
            .await;
        let all_scores = all_scores["factorScores"]["nodes"].as_array().unwrap().clone();
        let all_funds = app.data(r#"{ tickerFundamentals(where: { ticker: { eq: "HPG" } }, first: 1000) { nodes { fiscalYear periodType } } }"#, json!({})).await;
        let all_funds = all_funds["tickerFundamentals"]["nodes"].as_array().unwrap().clone();
        let all_holdings = app.data(r#"{ etfHoldings(where: { etfTicker: { eq: "E1VFVN30" } }, first: 1000) { nodes { asOfDate constituentTicker } } }"#, json!({})).await;
        let all_holdings = all_holdings["etfHoldings"]["nodes"].as_array().unwrap().clone();
        let mut checked = 0;
        for day in DAYS {
            let got = app
                .data(
                    r#"query($d: Date) {
                      factorScores(where: { ticker: { eq: "HPG" } }, asOf: $d, first: 1000) { totalCount nodes { date factorName } }
                      tickerFundamentals(where: { ticker: { eq: "HPG" } }, asOf: $d, first: 1000) { nodes { fiscalYear periodType } }
                      etfHoldings(where: { etfTicker: { eq: "E1VFVN30" } }, asOf: $d, first: 1000) { nodes { asOfDate constituentTicker } } }"#,
                    json!({ "d": day }),
                )
                .await;
            let want =
                latest(&all_scores, &|r| r["factorName"].to_string(), &|r| r["date"].as_str().unwrap().into(), day);
            assert_eq!(got["factorScores"]["totalCount"], want.len().to_string(), "{backend:?} {day}");
            assert_eq!(
                sorted(got["factorScores"]["nodes"].as_array().unwrap().clone()),
                sorted(want.into_iter().cloned().collect()),
                "{backend:?} {day}"
            );
            let want = latest(&all_funds, &|r| r["periodType"].to_string(), &fiscal_known, day);
            assert_eq!(
                sorted(got["tickerFundamentals"]["nodes"].as_array().unwrap().clone()),
                sorted(want.into_iter().cloned().collect()),
                "{backend:?} {day}"
            );
            let want = latest(&all_holdings, &|_| String::new(), &|r| r["asOfDate"].as_str().unwrap().into(), day);
            assert_eq!(
                sorted(got["etfHoldings"]["nodes"].as_array().unwrap().clone()),
                sorted(want.into_iter().cloned().collect()),
                "{backend:?} {day}"
            );
            // The same under a ticker, batched: the ticker level, then one statement per relation.
            let before = app.statements().await;
            let nested = app
                .data(
                    r#"query($d: Date) { tickers(where: { region: { eq: "VN" } }, first: 50) { nodes { ticker
                         factorScores(asOf: $d, first: 100) { nodes { date factorName } }
                         fundamentals(asOf: $d, first: 100) { nodes { fiscalYear periodType } } } } }"#,
                    json!({ "d": day }),
                )
                .await;
            assert_eq!(app.statements().await - before, 3, "{backend:?}: one statement per level");
            let hpg = nested["tickers"]["nodes"].as_array().unwrap().iter().find(|t| t["ticker"] == "HPG").unwrap();
            assert_eq!(
                sorted(hpg["factorScores"]["nodes"].as_array().unwrap().clone()),
                sorted(got["factorScores"]["nodes"].as_array().unwrap().clone()),
                "{backend:?} {day}"
            );
            assert_eq!(
                sorted(hpg["fundamentals"]["nodes"].as_array().unwrap().clone()),
                sorted(got["tickerFundamentals"]["nodes"].as_array().unwrap().clone()),
                "{backend:?} {day}"
            );
            checked += 1;
        }
        assert_eq!(checked, DAYS.len());
        // Some days see nothing, some see older versions: the test days do tell versions apart.
        let early = app
            .data(
                r#"{ factorScores(where: { ticker: { eq: "HPG" } }, asOf: "2023-03-30") { nodes { date } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(early["factorScores"]["nodes"], json!([{ "date": "2023-01-02" }]), "{backend:?}");
        // Details have no history: a row updated after the day is not known then.
        let d = app
            .data(
                r#"{ past: ticker(ticker: "HPG", region: "VN") { stockDetails(asOf: "2001-01-01") { sector } }
                     now: ticker(ticker: "HPG", region: "VN") { stockDetails(asOf: "2999-01-01") { sector } } }"#,
                json!({}),
            )
            .await;
        assert!(d["now"]["stockDetails"]["sector"].is_string(), "{backend:?}: {d}");
        assert!(d["past"]["stockDetails"].is_null(), "{backend:?}: {d}");
        assert_eq!(
            app.error_code(r#"{ factorScores(asOf: "2024-13-01") { totalCount } }"#, json!({})).await,
            "BAD_USER_INPUT"
        );
    }
}
