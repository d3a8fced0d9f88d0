//! Users, roles and validated, transactional writes.
use crate::common::*;
use quantgraph::auth::Role;
use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

#[tokio::test]
async fn register_login_me_and_secrets_never_leave() {
    for backend in backends() {
        let key = fernet::Fernet::generate_key();
        let app = spawn_with(backend, true, |c| c.fernet_key = Some(quantgraph::config::Secret(key.clone()))).await;
        let (auth, id) = register(&app, "Ana@Example.com").await;
        let me = as_role(&app, &auth, "{ me { rowId email hasBrokerConnection } }", json!({})).await;
        assert_eq!(me["data"]["me"]["email"], "ana@example.com");
        assert_eq!(me["data"]["me"]["hasBrokerConnection"], false);
        let again = app
            .gql(r#"mutation { register(email: "ana@example.com", password: "another one") { token } }"#, json!({}))
            .await;
        assert_eq!(code(&again), Some("CONFLICT"));
        let bad = app
            .gql(r#"mutation { login(email: "ana@example.com", password: "wrong password") { token } }"#, json!({}))
            .await;
        assert_eq!(code(&bad), Some("UNAUTHENTICATED"));
        let ok = app
            .gql(
                r#"mutation { login(email: "ana@example.com", password: "correct horse") { token user { rowId } } }"#,
                json!({}),
            )
            .await;
        assert_eq!(ok["data"]["login"]["user"]["rowId"], id.as_str());
        let c = as_role(
            &app,
            &auth,
            r#"mutation { connectBroker(clientId: "064C123456", token: "dnse-secret-token") { hasBrokerConnection } }"#,
            json!({}),
        )
        .await;
        assert_eq!(c["data"]["connectBroker"]["hasBrokerConnection"], true, "{c}");
        // At rest the token is Fernet ciphertext that decrypts with the key.
        let db = app.sql().await;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT dnse_token, password_hash FROM users WHERE email = 'ana@example.com'",
            ))
            .await
            .unwrap()
            .unwrap();
        let sealed: String = row.try_get_by_index(0).unwrap();
        let hash: String = row.try_get_by_index(1).unwrap();
        assert!(!sealed.contains("dnse-secret-token"));
        assert_eq!(fernet::Fernet::new(&key).unwrap().decrypt(&sealed).unwrap(), b"dnse-secret-token");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let sdl = quantgraph::export_schema();
        assert!(!sdl.contains("passwordHash") && !sdl.contains("dnseToken"));

        // The derived field filters and orders like a column (for admins, who list users).
        register(&app, "bo@example.com").await;
        let admin = token(&app, quantgraph::auth::Role::Admin);
        let q = r#"query($b: Boolean) { users(where: { email: { like: "%example.com" }, hasBrokerConnection: { eq: $b } }, orderBy: [{ hasBrokerConnection: DESC }, { email: ASC }]) { totalCount nodes { email hasBrokerConnection } } }"#;
        let with = as_role(&app, &admin, q, json!({ "b": true })).await;
        assert_eq!(
            with["data"]["users"]["nodes"],
            json!([{ "email": "ana@example.com", "hasBrokerConnection": true }]),
            "{backend:?}: {with}"
        );
        let without = as_role(&app, &admin, q, json!({ "b": false })).await;
        assert_eq!(
            without["data"]["users"]["nodes"],
            json!([{ "email": "bo@example.com", "hasBrokerConnection": false }]),
            "{backend:?}: {without}"
        );
        let all = as_role(&app, &admin, q, json!({ "b": null })).await;
        let emails: Vec<&str> =
            all["data"]["users"]["nodes"].as_array().unwrap().iter().map(|n| n["email"].as_str().unwrap()).collect();
        assert_eq!(emails, ["ana@example.com", "bo@example.com"], "{backend:?}: {all}");
    }
}

/// Each role against each root list and a mutation per writer class.
#[tokio::test]
async fn roles_are_enforced_on_every_path() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (user, _) = register(&app, "u1@example.com").await;
        let roles = [
            ("anonymous", String::new()),
            ("user", user),
            ("analyst", token(&app, Role::Analyst)),
            ("service", token(&app, Role::Service)),
            ("admin", token(&app, Role::Admin)),
        ];
        // (query, allowed roles)
        let cases: [(&str, &[&str]); 8] = [
            ("{ tickers(first: 1) { nodes { ticker } } }", &["anonymous", "user", "analyst", "service", "admin"]),
            ("{ marketCandles(first: 1) { nodes { symbol } } }", &["anonymous", "user", "analyst", "service", "admin"]),
            ("{ strategies(first: 1) { nodes { name } } }", &["analyst", "admin"]),
            ("{ backtestResults(first: 1) { nodes { rowId } } }", &["analyst", "admin"]),
            ("{ workflows(first: 1) { nodes { name } } }", &["user", "analyst", "service", "admin"]),
            (r#"mutation { createStrategy(input: { name: "S-$ROLE" }) { rowId } }"#, &["analyst", "admin"]),
            (
                r#"mutation { ingestCandles(candles: [{ time: "2025-10-20T02:15:00Z", symbol: "T$ROLE", open: 1, high: 2, low: 1, close: 2, volume: "10" }]) { inserted } }"#,
                &["service", "admin"],
            ),
            (r#"mutation { createTicker(input: { ticker: "N$ROLE", region: "VN" }) { rowId } }"#, &["admin"]),
        ];
        for (q, allowed) in cases {
            for (role, auth) in &roles {
                let q = q.replace("$ROLE", role);
                let r = if auth.is_empty() {
                    app.gql(&q, json!({})).await
                } else {
                    as_role(&app, auth, &q, json!({})).await
                };
                if allowed.contains(role) {
                    assert!(r.get("errors").is_none(), "{backend:?} {role}: {q}: {r}");
                } else {
                    let c = code(&r).unwrap_or_else(|| panic!("{backend:?} {role} allowed: {q}"));
                    assert!(c == "FORBIDDEN" || c == "UNAUTHENTICATED", "{backend:?} {role}: {q}: {c}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_user_never_sees_another_users_rows() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (a, _) = register(&app, "a@example.com").await;
        let (b, b_id) = register(&app, "b@example.com").await;
        let w = as_role(
            &app,
            &a,
            r#"mutation { createWorkflow(input: { name: "alpha", jsonGraph: { nodes: [], edges: [] } }) { rowId } }"#,
            json!({}),
        )
        .await;
        let wid = w["data"]["createWorkflow"]["rowId"].as_str().unwrap().to_string();
        let run =
            as_role(&app, &a, "mutation($id: UUID!) { runWorkflow(rowId: $id) { status } }", json!({ "id": wid }))
                .await;
        assert_eq!(run["data"]["runWorkflow"]["status"], "pending", "{backend:?}: {run}");
        let set = as_role(
            &app,
            &a,
            r#"mutation { setPortfolioAllocations(allocations: [{ symbol: "HPG", allocationPct: 60 }]) { rowId } }"#,
            json!({}),
        )
        .await;
        assert_eq!(set["data"]["setPortfolioAllocations"].as_array().map(Vec::len), Some(1), "{backend:?}: {set}");
        let paths = [
            "{ workflows { totalCount nodes { rowId } } }",
            "{ workflowExecutionLogs { totalCount } }",
            "{ portfolioAllocations { totalCount } }",
            "{ users { totalCount nodes { rowId } } }",
        ];
        // The owner sees each of its rows (and only its own account)…
        for q in paths {
            let r = as_role(&app, &a, q, json!({})).await;
            let root = r["data"].as_object().unwrap().values().next().unwrap();
            let n: i64 = root["totalCount"].as_str().unwrap().parse().unwrap();
            assert_eq!(n, 1, "{backend:?}: the owner's own rows: {q}: {r}");
        }
        // …and the other user none of them.
        for q in paths {
            let r = as_role(&app, &b, q, json!({})).await;
            let root = r["data"].as_object().unwrap().values().next().unwrap();
            let n: i64 = root["totalCount"].as_str().unwrap().parse().unwrap();
            let want = if q.contains("users") { 1 } else { 0 };
            assert_eq!(n, want, "{backend:?}: {q}: {r}");
        }
        let one = as_role(&app, &b, "query($id: UUID!) { workflow(rowId: $id) { name } }", json!({ "id": wid })).await;
        assert_eq!(one["data"]["workflow"], Value::Null);
        let nested = as_role(
            &app,
            &b,
            "{ me { rowId workflows { nodes { rowId } } allocations { nodes { rowId } } } }",
            json!({}),
        )
        .await;
        assert_eq!(nested["data"]["me"]["rowId"], b_id.as_str());
        assert_eq!(nested["data"]["me"]["workflows"]["nodes"], json!([]));
        for m in [
            "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId } }",
            "mutation($id: UUID!) { deleteWorkflow(rowId: $id) }",
            r#"mutation($id: UUID!) { updateWorkflow(rowId: $id, patch: { name: "stolen" }) { rowId } }"#,
        ] {
            assert_eq!(code(&as_role(&app, &b, m, json!({ "id": wid })).await), Some("NOT_FOUND"), "{backend:?}: {m}");
        }
    }
}

fn bars(n: usize, bad_at: Option<usize>) -> Value {
    let day0 = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    Value::Array(
        (0..n)
            .map(|i| {
                let high = if Some(i) == bad_at { "90.0000" } else { "110.5000" };
                json!({ "ticker": "BULK", "region": "US", "date": (day0 + chrono::Duration::days(i as i64)).to_string(), "timeframe": "D",
                        "open": "100.0000", "high": high, "low": "95.2500", "close": "105.1000", "volume": "1000000000000" })
            })
            .collect(),
    )
}

#[tokio::test]
async fn ingest_is_all_or_nothing_and_idempotent() {
    for backend in backends() {
        let app = spawn(backend).await;
        let svc = token(&app, Role::Service);
        let q = "mutation($b: [OhlcvInput!]!) { ingestOhlcv(bars: $b) { inserted updated } }";
        let count = || async {
            let d = app.data(r#"{ ohlcvData(where: { ticker: { eq: "BULK" } }) { totalCount } }"#, json!({})).await;
            d["ohlcvData"]["totalCount"].as_str().unwrap().parse::<i64>().unwrap()
        };
        let r = as_role(&app, &svc, q, json!({ "b": bars(1000, Some(500)) })).await;
        assert_eq!(code(&r), Some("BAD_USER_INPUT"));
        let msg = r["errors"][0]["message"].as_str().unwrap();
        assert!(msg.contains("bars[500]") && msg.contains("high"), "{msg}");
        assert_eq!(count().await, 0, "{backend:?}: a bad row let others land");
        let r = as_role(&app, &svc, q, json!({ "b": bars(1000, None) })).await;
        assert_eq!(r["data"]["ingestOhlcv"], json!({ "inserted": 1000, "updated": 0 }), "{backend:?}: {r}");
        let r = as_role(&app, &svc, q, json!({ "b": bars(1000, None) })).await;
        assert_eq!(r["data"]["ingestOhlcv"], json!({ "inserted": 0, "updated": 1000 }), "{backend:?}: {r}");
        assert_eq!(count().await, 1000);
        let dup = Value::Array(vec![bars(1, None)[0].clone(), bars(1, None)[0].clone()]);
        assert_eq!(code(&as_role(&app, &svc, q, json!({ "b": dup })).await), Some("BAD_USER_INPUT"));
    }
}

#[tokio::test]
async fn documented_constraints_are_checked_before_sql() {
    for backend in backends() {
        let app = spawn(backend).await;
        let analyst = token(&app, Role::Analyst);
        let (user, _) = register(&app, "c@example.com").await;
        let cases: [(&str, &str, &str); 7] = [
            (
                &analyst,
                r#"mutation { recordTransactions(transactions: [{ strategyId: 1, ticker: "HPG", region: "VN", date: "2025-01-02", transactionType: "HOLD", shares: "1", price: "1" }]) { rowId } }"#,
                "transactionType",
            ),
            (
                &analyst,
                r#"mutation { recordTransactions(transactions: [{ strategyId: 1, ticker: "HPG", region: "VN", date: "2025-01-02", transactionType: "BUY", shares: "-5", price: "1" }]) { rowId } }"#,
                "shares",
            ),
            (
                &analyst,
                r#"mutation { recordTransactions(transactions: [{ strategyId: 1, ticker: "HPG", region: "XX", date: "2025-01-02", transactionType: "BUY", shares: "5", price: "1" }]) { rowId } }"#,
                "region",
            ),
            (
                &analyst,
                r#"mutation { createValueChainEdge(input: { sourceId: "5eed0000-0000-4000-8000-000000040000", targetId: "5eed0000-0000-4000-8000-000000040002", correlationCoeff: 1.5 }) { rowId } }"#,
                "correlationCoeff",
            ),
            (&analyst, r#"mutation { createStrategy(input: { name: "  " }) { rowId } }"#, "name"),
            (
                &user,
                r#"mutation { setPortfolioAllocations(allocations: [{ symbol: "A", allocationPct: 70 }, { symbol: "B", allocationPct: 40 }]) { rowId } }"#,
                "100",
            ),
            (
                &user,
                r#"mutation { createWorkflow(input: { name: "x", jsonGraph: { nodes: 1 } }) { rowId } }"#,
                "jsonGraph",
            ),
        ];
        for (auth, q, field) in cases {
            let r = as_role(&app, auth, q, json!({})).await;
            assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{backend:?}: {q}: {r}");
            assert!(r["errors"][0]["message"].as_str().unwrap().contains(field), "{r}");
        }
        let dup = as_role(
            &app,
            &analyst,
            r#"mutation { createStrategy(input: { name: "Momentum-Value" }) { rowId } }"#,
            json!({}),
        )
        .await;
        assert_eq!(code(&dup), Some("CONFLICT"));
        // A good transaction gets its exact total on both backends.
        let ok = as_role(&app, &analyst, r#"mutation { recordTransactions(transactions: [{ strategyId: 1, ticker: "HPG", region: "VN", date: "2025-01-02", transactionType: "BUY", shares: "12345678.9012", price: "100000000", commission: "3456.7891", slippage: "0" }]) { totalValue price } }"#, json!({})).await;
        assert_eq!(ok["data"]["recordTransactions"][0]["totalValue"], "1234567890123456.7891", "{backend:?}: {ok}");
    }
}

#[tokio::test]
async fn workflow_executions_follow_their_life_cycle() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (user, _) = register(&app, "w@example.com").await;
        let svc = token(&app, Role::Service);
        let w = as_role(
            &app,
            &user,
            r#"mutation { createWorkflow(input: { name: "flow", jsonGraph: { nodes: [], edges: [] } }) { rowId } }"#,
            json!({}),
        )
        .await;
        let wid = w["data"]["createWorkflow"]["rowId"].as_str().unwrap().to_string();
        let run = as_role(
            &app,
            &user,
            "mutation($id: UUID!) { runWorkflow(rowId: $id) { rowId status } }",
            json!({ "id": wid }),
        )
        .await;
        assert_eq!(run["data"]["runWorkflow"]["status"], "pending");
        let eid = run["data"]["runWorkflow"]["rowId"].as_str().unwrap().to_string();
        let upd = "mutation($id: UUID!, $s: WorkflowRunStatus!) { updateWorkflowExecution(rowId: $id, status: $s, durationMs: 12) { status durationMs } }";
        assert_eq!(code(&as_role(&app, &user, upd, json!({ "id": eid, "s": "running" })).await), Some("FORBIDDEN"));
        assert_eq!(code(&as_role(&app, &svc, upd, json!({ "id": eid, "s": "success" })).await), Some("BAD_USER_INPUT"));
        let r = as_role(&app, &svc, upd, json!({ "id": eid, "s": "running" })).await;
        assert_eq!(r["data"]["updateWorkflowExecution"]["status"], "running", "{r}");
        let r = as_role(&app, &svc, upd, json!({ "id": eid, "s": "success" })).await;
        assert_eq!(r["data"]["updateWorkflowExecution"]["durationMs"], 12);
        assert_eq!(code(&as_role(&app, &svc, upd, json!({ "id": eid, "s": "running" })).await), Some("BAD_USER_INPUT"));
        // The status is an enum: filters take its words, and a word outside it fails validation.
        let by = "query($s: [WorkflowRunStatus!]) { workflowExecutionLogs(where: { status: { in: $s } }) { nodes { rowId status } } }";
        let done = as_role(&app, &user, by, json!({ "s": ["success", "failed"] })).await;
        assert_eq!(
            done["data"]["workflowExecutionLogs"]["nodes"],
            json!([{ "rowId": eid, "status": "success" }]),
            "{done}"
        );
        let waiting = as_role(&app, &user, by, json!({ "s": ["pending"] })).await;
        assert_eq!(waiting["data"]["workflowExecutionLogs"]["nodes"], json!([]), "{waiting}");
        let lit = "{ workflowExecutionLogs(where: { status: { eq: success } }) { totalCount } }";
        assert_eq!(as_role(&app, &user, lit, json!({})).await["data"]["workflowExecutionLogs"]["totalCount"], "1");
        for bad in [json!({ "id": eid, "s": "done" }), json!({ "id": eid, "s": "SUCCESS" })] {
            let r = as_role(&app, &svc, upd, bad).await;
            assert!(r["data"].is_null() && code(&r).is_some(), "{r}");
            assert!(r["errors"][0]["message"].as_str().unwrap_or("").contains("WorkflowRunStatus"), "{r}");
        }
        let r = as_role(
            &app,
            &user,
            "{ workflowExecutionLogs(where: { status: { eq: \"success\" } }) { totalCount } }",
            json!({}),
        )
        .await;
        assert!(
            r.get("data").is_none() && r["errors"][0]["message"].is_string(),
            "a string is not an enum literal: {r}"
        );
    }
}

#[tokio::test]
async fn endpoint_guards_rate_limit_cors_and_body_size() {
    let app = spawn_with(Backend::Sqlite, true, |c| {
        c.rate_limit = 5;
        c.cors_origins = Some("https://dash.example.com".into());
        c.max_body_bytes = 4096;
    })
    .await;
    let q = "{ tickers(first: 1) { nodes { ticker } } }";
    let mut codes = Vec::new();
    for _ in 0..7 {
        let r = app.http.post(&app.url).json(&json!({ "query": q })).send().await.unwrap();
        codes.push(r.status().as_u16());
    }
    assert_eq!(&codes[..5], &[200; 5]);
    assert_eq!(codes[6], 429, "{codes:?}");
    // Another token has its own allowance.
    let other = token(&app, Role::User);
    let r = app.http.post(&app.url).header("Authorization", &other).json(&json!({ "query": q })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let pre = app
        .http
        .request(reqwest::Method::OPTIONS, &app.url)
        .header("Origin", "https://dash.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.headers().get("access-control-allow-origin").unwrap(), "https://dash.example.com");
    let evil = app
        .http
        .request(reqwest::Method::OPTIONS, &app.url)
        .header("Origin", "https://evil.example.com")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let big = format!("{{ tickers(where: {{ name: {{ eq: \"{}\" }} }}) {{ totalCount }} }}", "x".repeat(8000));
    let r = app
        .http
        .post(&app.url)
        .header("Authorization", token(&app, Role::Analyst))
        .json(&json!({ "query": big }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

#[tokio::test]
async fn introspection_and_playground_can_be_switched_off() {
    let app = spawn_with(Backend::Sqlite, false, |c| c.introspection = false).await;
    // Introspection refused before execution: a validation error, no `data`, and the rest still served.
    let r = app.gql("{ __schema { types { name } } }", json!({})).await;
    assert!(r.get("data").is_none() && code(&r).is_some(), "{r}");
    assert!(r["errors"][0]["message"].as_str().unwrap_or("").contains("__schema"), "{r}");
    assert!(app.gql("{ tickers(first: 1) { nodes { ticker } } }", json!({})).await.get("errors").is_none());
    let page = app.http.get(&app.url).header("Accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 404);
    let on = spawn_with(Backend::Sqlite, false, |_| {}).await;
    let page = on.http.get(&on.url).header("Accept", "text/html").send().await.unwrap().text().await.unwrap();
    assert!(page.contains("QuantGraph") && page.contains("tickers"), "the playground opens with an example query");
}

/// `totalValue` follows one rule on both backends: exact, halves rounded away from zero at the
/// fourth place (as PostgreSQL's generated column stores it), and a total past DECIMAL(20,4) is
/// a clear error with nothing stored.
#[tokio::test]
async fn transaction_totals_round_and_overflow_by_one_rule() {
    for backend in backends() {
        let app = spawn(backend).await;
        let analyst = token(&app, Role::Analyst);
        let record = |shares: &str, price: &str| {
            format!(
                r#"mutation {{ recordTransactions(transactions: [{{ strategyId: 1, ticker: "HPG", region: "VN", date: "2025-01-02",
                   transactionType: "BUY", shares: "{shares}", price: "{price}", commission: "0", slippage: "0" }}]) {{ totalValue }} }}"#
            )
        };
        let r = as_role(&app, &analyst, &record("0.5", "0.0001"), json!({})).await;
        assert_eq!(r["data"]["recordTransactions"][0]["totalValue"], "0.0001", "{backend:?}: {r}");
        let stored =
            "{ portfolioTransactions(where: { price: { eq: \"0.0001\" } }) { totalCount nodes { totalValue } } }";
        let r = as_role(&app, &analyst, stored, json!({})).await;
        assert_eq!(
            r["data"]["portfolioTransactions"]["nodes"],
            json!([{ "totalValue": "0.0001" }]),
            "{backend:?}: {r}"
        );

        let r = as_role(&app, &analyst, &record("100000000", "1000000000"), json!({})).await;
        assert_eq!(code(&r), Some("BAD_USER_INPUT"), "{backend:?}: {r}");
        assert!(r["errors"][0]["message"].as_str().unwrap().contains("totalValue"), "{r}");
        let big = "{ portfolioTransactions(where: { price: { eq: \"1000000000\" } }) { totalCount } }";
        let r = as_role(&app, &analyst, big, json!({})).await;
        assert_eq!(r["data"]["portfolioTransactions"]["totalCount"], "0", "{backend:?}: {r}");
    }
}

/// Explicit nulls and literals of another numeric form are stored as written, alone or mixed
/// with values in one batch (PostgreSQL binds each column of a batch as one array).
#[tokio::test]
async fn nulls_and_numeric_literals_are_stored_as_written() {
    for backend in backends() {
        let app = spawn(backend).await;
        let admin = token(&app, Role::Admin);
        let analyst = token(&app, Role::Analyst);
        let s = as_role(
            &app,
            &analyst,
            r#"mutation { createStrategy(input: { name: "nulls", description: null, factorWeights: null }) { name description factorWeights } }"#,
            json!({}),
        )
        .await;
        assert_eq!(
            s["data"]["createStrategy"],
            json!({ "name": "nulls", "description": null, "factorWeights": null }),
            "{backend:?}: {s}"
        );
        let h = as_role(
            &app,
            &admin,
            r#"mutation { recordEtfHoldings(holdings: [
                { etfTicker: "E1VFVN30", region: "VN", constituentTicker: "HPG", constituentRegion: "VN", asOfDate: "2026-01-02", weight: 5, shares: null },
                { etfTicker: "E1VFVN30", region: "VN", constituentTicker: "VNM", constituentRegion: "VN", asOfDate: "2026-01-02", weight: null, shares: 1200.5 }
            ]) { constituentTicker weight shares } }"#,
            json!({}),
        )
        .await;
        assert_eq!(
            h["data"]["recordEtfHoldings"],
            json!([
                { "constituentTicker": "HPG", "weight": "5.0000", "shares": null },
                { "constituentTicker": "VNM", "weight": null, "shares": "1200.5000" }
            ]),
            "{backend:?}: {h}"
        );
    }
}

/// Admins mint operator tokens: the token carries its role (a service token may ingest, an
/// analyst's may not), others may not mint, and a role or lifetime outside the set is refused.
#[tokio::test]
async fn admins_issue_tokens_that_carry_their_role() {
    for backend in backends() {
        let app = spawn_with(backend, false, |_| {}).await;
        let admin = token(&app, Role::Admin);
        const ISSUE: &str =
            "mutation($r: String!, $h: Int) { issueToken(role: $r, subject: \"ingest-1\", ttlHours: $h) }";
        let minted = as_role(&app, &admin, ISSUE, json!({ "r": "service", "h": 1 })).await;
        let svc = format!("Bearer {}", minted["data"]["issueToken"].as_str().unwrap_or_else(|| panic!("{minted}")));
        let candle = json!([{ "time": "2026-01-05T02:00:00Z", "symbol": "TOK", "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": "1" }]);
        const INGEST: &str = "mutation($c: [CandleInput!]!) { ingestCandles(candles: $c) { inserted } }";
        let r = as_role(&app, &svc, INGEST, json!({ "c": candle })).await;
        assert_eq!(r["data"]["ingestCandles"]["inserted"], 1, "{backend:?}: the minted service token ingests: {r}");
        let analyst = as_role(&app, &admin, ISSUE, json!({ "r": "analyst" })).await;
        let analyst = format!("Bearer {}", analyst["data"]["issueToken"].as_str().unwrap());
        assert_eq!(code(&as_role(&app, &analyst, INGEST, json!({ "c": candle })).await), Some("FORBIDDEN"));
        assert_eq!(code(&as_role(&app, &analyst, ISSUE, json!({ "r": "admin" })).await), Some("FORBIDDEN"));
        assert_eq!(code(&app.gql(ISSUE, json!({ "r": "service" })).await), Some("UNAUTHENTICATED"));
        for bad in [json!({ "r": "root" }), json!({ "r": "service", "h": 0 })] {
            assert_eq!(code(&as_role(&app, &admin, ISSUE, bad.clone()).await), Some("BAD_USER_INPUT"), "{bad}");
        }
    }
}
