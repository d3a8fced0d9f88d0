//! Migrations, seed data, exact storage, the schema file and start-up failures.
use crate::common::*;
use migration::{Migrator, MigratorTrait};
use quantgraph::auth::Role;
use quantgraph::data::db::Db;
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use std::str::FromStr;

const TABLES: [&str; 20] = [
    "tickers",
    "stock_details",
    "etf_details",
    "etf_holdings",
    "ohlcv_data",
    "ticker_fundamentals",
    "factor_scores",
    "strategies",
    "backtest_results",
    "portfolio_transactions",
    "portfolio_holdings",
    "walk_forward_results",
    "optimization_history",
    "market_candles",
    "users",
    "workflows",
    "workflow_execution_logs",
    "value_chain_nodes",
    "value_chain_edges",
    "portfolio_allocations",
];
const VIEWS: [&str; 4] = ["ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly", "market_candles_1h"];
const INDEXES: [&str; 23] = [
    "idx_tickers_region_asset_type",
    "idx_tickers_active",
    "idx_stock_details_sector",
    "idx_stock_details_industry",
    "idx_etf_details_category",
    "idx_ohlcv_ticker_region_timeframe_date",
    "idx_factor_scores_date",
    "idx_backtest_results_strategy_id",
    "idx_transactions_strategy",
    "idx_transactions_ticker",
    "idx_holdings_ticker",
    "idx_walkforward_strategy",
    "idx_walkforward_ratio",
    "idx_optimization_history_date",
    "market_candles_symbol_time_idx",
    "market_candles_time_idx",
    "workflows_user_id_is_active_idx",
    "workflow_execution_logs_workflow_id_executed_at_idx",
    "value_chain_nodes_sector_node_type_idx",
    "value_chain_nodes_symbol_idx",
    "value_chain_edges_source_id_idx",
    "value_chain_edges_target_id_idx",
    "portfolio_allocations_user_id_idx",
];
/// (child, parent) of every foreign key, all ON DELETE CASCADE.
const FOREIGN_KEYS: [(&str, &str); 14] = [
    ("stock_details", "tickers"),
    ("etf_details", "tickers"),
    ("etf_holdings", "etf_details"),
    ("etf_holdings", "tickers"),
    ("ticker_fundamentals", "tickers"),
    ("backtest_results", "strategies"),
    ("portfolio_transactions", "strategies"),
    ("portfolio_holdings", "strategies"),
    ("walk_forward_results", "strategies"),
    ("workflows", "users"),
    ("workflow_execution_logs", "workflows"),
    ("value_chain_edges", "value_chain_nodes"),
    ("value_chain_edges", "value_chain_nodes"),
    ("portfolio_allocations", "users"),
];
const CHECKS: [(&str, &str); 5] = [
    ("portfolio_transactions", "BUY"),
    ("portfolio_allocations", "allocation_pct"),
    ("value_chain_edges", "correlation_coeff"),
    ("users", "role"),
    ("workflow_execution_logs", "pending"),
];

async fn strings(db: &impl ConnectionTrait, sql: &str) -> Vec<String> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_string())).await.unwrap();
    rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect()
}

/// Checks every table, view, index, foreign key, unique key and check constraint by introspection.
async fn assert_schema(db: &impl ConnectionTrait) {
    let pg = db.get_database_backend() == DbBackend::Postgres;
    let (tables, views, indexes) = if pg {
        (
            strings(db, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'").await,
            strings(db, "SELECT viewname::text FROM pg_views WHERE schemaname = 'public' UNION SELECT matviewname::text FROM pg_matviews").await,
            strings(db, "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public'").await,
        )
    } else {
        (
            strings(db, "SELECT name FROM sqlite_master WHERE type = 'table'").await,
            strings(db, "SELECT name FROM sqlite_master WHERE type = 'view'").await,
            strings(db, "SELECT name FROM sqlite_master WHERE type = 'index'").await,
        )
    };
    for t in TABLES {
        assert!(tables.contains(&t.to_string()), "table {t} missing");
    }
    for v in VIEWS {
        assert!(views.contains(&v.to_string()) || tables.contains(&v.to_string()), "aggregate {v} missing");
    }
    for i in INDEXES {
        assert!(indexes.contains(&i.to_string()), "index {i} missing");
    }
    let fks: Vec<String> = if pg {
        strings(db, "SELECT conrelid::regclass::text || '>' || confrelid::regclass::text || '>' || confdeltype::text FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace").await
    } else {
        let mut v = Vec::new();
        for t in TABLES {
            v.extend(strings(db, &format!("SELECT DISTINCT '{t}>' || \"table\" || '>' || CASE on_delete WHEN 'CASCADE' THEN 'c' ELSE 'a' END, id FROM pragma_foreign_key_list('{t}')")).await);
        }
        v
    };
    for (child, parent) in FOREIGN_KEYS {
        let want = format!("{child}>{parent}>c");
        assert!(fks.iter().filter(|f| **f == want).count() >= 1, "foreign key {want} missing in {fks:?}");
    }
    assert_eq!(fks.len(), FOREIGN_KEYS.len(), "unexpected foreign keys: {fks:?}");
    let checks: Vec<String> = if pg {
        strings(db, "SELECT conrelid::regclass::text || ':' || pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c'").await
    } else {
        strings(db, "SELECT name || ':' || sql FROM sqlite_master WHERE type = 'table' AND sql LIKE '%CHECK%'").await
    };
    for (t, word) in CHECKS {
        assert!(
            checks.iter().any(|c| c.starts_with(&format!("{t}:")) && c.contains(word)),
            "check on {t} ({word}) missing"
        );
    }
    // Primary and unique keys, by their effect: a duplicate is refused.
    for sql in
        ["INSERT INTO tickers (ticker, region) VALUES ('DUP', 'KR')", "INSERT INTO strategies (name) VALUES ('dup')"]
    {
        db.execute_unprepared(sql).await.unwrap();
        assert!(db.execute_unprepared(sql).await.is_err(), "duplicate accepted: {sql}");
    }
    // The allocation bound, by its effect on a user who exists: 100 is stored, 101 refused.
    let user = "'00000000-0000-0000-0000-0000000000a1'";
    db.execute_unprepared(&format!(
        "INSERT INTO users (id, email, password_hash) VALUES ({user}, 'bound@example.com', 'x')"
    ))
    .await
    .unwrap();
    let allocation = |id: u8, pct: u32| {
        format!("INSERT INTO portfolio_allocations (id, user_id, symbol, allocation_pct) VALUES ('00000000-0000-0000-0000-0000000000{id:02x}', {user}, 'X{id}', {pct})")
    };
    db.execute_unprepared(&allocation(1, 100)).await.expect("an allocation of 100 is stored");
    assert!(db.execute_unprepared(&allocation(2, 101)).await.is_err(), "allocation above 100 accepted");
    db.execute_unprepared(&format!("DELETE FROM portfolio_allocations WHERE user_id = {user}")).await.unwrap();
    db.execute_unprepared(&format!("DELETE FROM users WHERE id = {user}")).await.unwrap();
    db.execute_unprepared("DELETE FROM tickers WHERE ticker = 'DUP'").await.unwrap();
    db.execute_unprepared("DELETE FROM strategies WHERE name = 'dup'").await.unwrap();
}

#[tokio::test]
async fn migrations_up_down_up_leave_the_documented_schema() {
    for backend in backends() {
        let url = fresh_database(backend).await;
        let mut db = Db::connect(&config(&url)).await.unwrap();
        db.migrate().await.unwrap();
        assert_schema(&db.write).await;
        db.migrate().await.expect("a second migrate is a no-op");
        Migrator::down(&db.write, None).await.unwrap();
        let left = if backend == Backend::Postgres {
            strings(&db.write, "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'").await
        } else {
            strings(
                &db.write,
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'",
            )
            .await
        };
        assert!(left.iter().all(|t| t == "seaql_migrations"), "{backend:?}: left after down: {left:?}");
        db.migrate().await.unwrap();
        assert_schema(&db.write).await;
    }
}

#[tokio::test]
async fn demo_seed_fills_every_table_with_exact_values() {
    for backend in backends() {
        let app = spawn(backend).await;
        let db = app.sql().await;
        for t in TABLES {
            let n = strings(&db, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {t}")).await;
            assert!(n[0].parse::<i64>().unwrap() > 0, "{backend:?}: {t} is empty");
        }
        let bars = strings(&db, "SELECT CAST(COUNT(*) AS TEXT) FROM ohlcv_data").await;
        assert_eq!(bars[0], "6000", "{backend:?}: 24 tickers x 250 days");
        // A BIGINT above 2^31 and a DECIMAL(15,4) price, through the API.
        let d = app
            .data(r#"{ ticker(ticker: "005930", region: "KR") { stockDetails { marketCap } ohlcv(first: 1) { nodes { date close } } } }"#, json!({}))
            .await;
        let cap: i64 = d["ticker"]["stockDetails"]["marketCap"].as_str().unwrap().parse().unwrap();
        assert!(cap > i32::MAX as i64);
        let stored =
            strings(&db, "SELECT CAST(close AS TEXT) FROM ohlcv_data WHERE ticker = '005930' ORDER BY date LIMIT 1")
                .await;
        let close = d["ticker"]["ohlcv"]["nodes"][0]["close"].as_str().unwrap();
        assert_eq!(Decimal::from_str(close).unwrap(), Decimal::from_str(&stored[0]).unwrap());
        assert!(close.ends_with(".0000"), "{backend:?}: DECIMAL(15,4) keeps its scale: {close}");
    }
}

#[tokio::test]
async fn money_is_exact_on_both_backends() {
    for backend in backends() {
        let app = spawn(backend).await;
        let db = app.sql().await;
        let (shares, price, commission) = ("12345678.9012", "100000000.0000", "3456.7891");
        let total = Decimal::from_str(shares).unwrap() * Decimal::from_str(price).unwrap()
            + Decimal::from_str(commission).unwrap();
        let total = total.round_dp(4);
        assert_eq!(total.to_string(), "1234567890123456.7891");
        // PostgreSQL generates total_value; on SQLite the gateway stores the exact sum as text.
        let sql = if backend == Backend::Postgres {
            format!("INSERT INTO portfolio_transactions (strategy_id, ticker, region, date, transaction_type, shares, price, commission, slippage) VALUES (1, '005930', 'KR', '2025-10-20', 'BUY', {shares}, {price}, {commission}, 0)")
        } else {
            format!("INSERT INTO portfolio_transactions (strategy_id, ticker, region, date, transaction_type, shares, price, commission, slippage, total_value) VALUES (1, '005930', 'KR', '2025-10-20', 'BUY', '{shares}', '{price}', '{commission}', '0', '{total}')")
        };
        db.execute_unprepared(&sql).await.unwrap();
        let q = if backend == Backend::Postgres { "99999999999.9999" } else { "'99999999999.9999'" };
        db.execute_unprepared(&format!("INSERT INTO ohlcv_data (ticker, region, date, timeframe, close, volume) VALUES ('ZZZ', 'US', '2025-10-20', 'D', {q}, 1000000000000000)")).await.unwrap();
        let token = app.app.state.tokens.issue(&uuid::Uuid::new_v4().to_string(), Role::Analyst, 60).unwrap();
        let r = app
            .gql_with(
                r#"{ portfolioTransactions(where: { commission: { eq: "3456.7891" } }) { nodes { totalValue shares price } }
                     ohlcvData(where: { ticker: { eq: "ZZZ" } }) { nodes { close volume } } }"#,
                json!({}),
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await;
        assert!(r.get("errors").is_none(), "{r}");
        let tx = &r["data"]["portfolioTransactions"]["nodes"][0];
        assert_eq!(tx["totalValue"], "1234567890123456.7891", "{backend:?}");
        assert_eq!(tx["price"], "100000000.0000", "{backend:?}");
        assert_eq!(r["data"]["ohlcvData"]["nodes"][0]["close"], "99999999999.9999", "{backend:?}");
        assert_eq!(r["data"]["ohlcvData"]["nodes"][0]["volume"], "1000000000000000", "{backend:?}");
    }
}

#[test]
fn schema_file_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        committed == quantgraph::export_schema(),
        "schema.graphql is stale: run `cargo run -- export-schema > schema.graphql`"
    );
}

/// Start-up failures end with one clear line and a non-zero exit, never a panic.
#[tokio::test]
async fn bad_database_urls_fail_cleanly() {
    let future = fresh_database(Backend::Sqlite).await;
    {
        let mut db = Db::connect(&config(&future)).await.unwrap();
        db.migrate().await.unwrap();
        db.write
            .execute_unprepared(
                "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_future', 0)",
            )
            .await
            .unwrap();
    }
    for url in [
        "mysql://nobody@127.0.0.1/x",
        "postgres://nobody@127.0.0.1:1/x",
        "sqlite:///proc/no/such/dir/x.db?mode=rwc",
        future.as_str(),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantgraph"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: started");
        assert!(!err.contains("panicked"), "{url}: {err}");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("quantgraph:")).collect();
        assert_eq!(lines.len(), 1, "{url}: {err}");
    }
}
