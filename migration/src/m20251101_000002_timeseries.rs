//! Time-series objects: hypertables, continuous aggregates, refresh and compression policies
//! when TimescaleDB is available; plain views with the same names and columns otherwise.
use crate::{exec_all, timescaledb_available};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251101_000002_timeseries"
    }
}

/// The daily-bar aggregates: (view, bucket column, TimescaleDB width, PostgreSQL date_trunc unit).
const BAR_AGGREGATES: [(&str, &str, &str, &str); 3] = [
    ("ohlcv_monthly", "month", "1 month", "month"),
    ("ohlcv_quarterly", "quarter", "3 months", "quarter"),
    ("ohlcv_yearly", "year", "1 year", "year"),
];

fn timescale_up() -> Vec<String> {
    let mut sql = vec![
        "CREATE EXTENSION IF NOT EXISTS timescaledb".to_string(),
        "SELECT create_hypertable('ohlcv_data', 'date', chunk_time_interval => INTERVAL '1 month', migrate_data => true, if_not_exists => true)".into(),
        "SELECT create_hypertable('factor_scores', 'date', chunk_time_interval => INTERVAL '1 month', migrate_data => true, if_not_exists => true)".into(),
        "SELECT create_hypertable('market_candles', 'time', chunk_time_interval => INTERVAL '1 week', migrate_data => true, if_not_exists => true)".into(),
        "ALTER TABLE ohlcv_data SET (timescaledb.compress, timescaledb.compress_segmentby = 'ticker, region', timescaledb.compress_orderby = 'date DESC')".into(),
        "SELECT add_compression_policy('ohlcv_data', INTERVAL '365 days', if_not_exists => true)".into(),
        "ALTER TABLE factor_scores SET (timescaledb.compress, timescaledb.compress_segmentby = 'ticker, region', timescaledb.compress_orderby = 'date DESC')".into(),
        "SELECT add_compression_policy('factor_scores', INTERVAL '365 days', if_not_exists => true)".into(),
    ];
    for (view, col, width, _) in BAR_AGGREGATES {
        sql.push(format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {view} WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS \
             SELECT ticker, region, time_bucket(INTERVAL '{width}', date) AS {col}, first(open, date) AS open, max(high) AS high, \
             min(low) AS low, last(close, date) AS close, sum(volume)::bigint AS volume, count(*) AS trading_days \
             FROM ohlcv_data WHERE timeframe = 'D' GROUP BY ticker, region, {col} WITH NO DATA"
        ));
        sql.push(format!(
            "SELECT add_continuous_aggregate_policy('{view}', start_offset => NULL, end_offset => INTERVAL '1 day', \
             schedule_interval => INTERVAL '1 day', if_not_exists => true)"
        ));
    }
    sql.push(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS market_candles_1h WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS \
         SELECT symbol, time_bucket(INTERVAL '1 hour', time) AS bucket, first(open, time) AS open, max(high) AS high, \
         min(low) AS low, last(close, time) AS close, sum(volume)::bigint AS volume, count(*) AS minutes \
         FROM market_candles GROUP BY symbol, bucket WITH NO DATA"
            .into(),
    );
    sql.push(
        "SELECT add_continuous_aggregate_policy('market_candles_1h', start_offset => INTERVAL '7 days', \
         end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => true)"
            .into(),
    );
    sql
}

fn postgres_views() -> Vec<String> {
    let mut sql: Vec<String> = BAR_AGGREGATES
        .iter()
        .map(|(view, col, _, unit)| {
            format!(
                "CREATE OR REPLACE VIEW {view} AS SELECT ticker, region, date_trunc('{unit}', date::timestamp)::date AS {col}, \
                 (array_agg(open ORDER BY date))[1] AS open, max(high) AS high, min(low) AS low, \
                 (array_agg(close ORDER BY date DESC))[1] AS close, sum(volume)::bigint AS volume, count(*) AS trading_days \
                 FROM ohlcv_data WHERE timeframe = 'D' GROUP BY 1, 2, 3"
            )
        })
        .collect();
    sql.push(
        "CREATE OR REPLACE VIEW market_candles_1h AS SELECT symbol, \
         date_trunc('hour', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket, \
         (array_agg(open ORDER BY time))[1] AS open, max(high) AS high, min(low) AS low, \
         (array_agg(close ORDER BY time DESC))[1] AS close, sum(volume)::bigint AS volume, count(*) AS minutes \
         FROM market_candles GROUP BY 1, 2"
            .into(),
    );
    sql
}

/// SQLite keeps decimals as TEXT: highs and lows are picked by numeric rank so the text stays exact.
fn sqlite_views() -> Vec<String> {
    let buckets = [
        ("ohlcv_monthly", "month", "strftime('%Y-%m-01', date)"),
        (
            "ohlcv_quarterly",
            "quarter",
            "printf('%s-%02d-01', strftime('%Y', date), ((CAST(strftime('%m', date) AS INTEGER) - 1) / 3) * 3 + 1)",
        ),
        ("ohlcv_yearly", "year", "strftime('%Y-01-01', date)"),
    ];
    let mut sql: Vec<String> = buckets
        .iter()
        .map(|(view, col, expr)| {
            format!(
                "CREATE VIEW IF NOT EXISTS {view} AS SELECT ticker, region, b AS {col}, \
                 MAX(CASE WHEN r_first = 1 THEN open END) AS open, MAX(CASE WHEN r_high = 1 THEN high END) AS high, \
                 MAX(CASE WHEN r_low = 1 THEN low END) AS low, MAX(CASE WHEN r_last = 1 THEN close END) AS close, \
                 SUM(volume) AS volume, COUNT(*) AS trading_days FROM (SELECT *, {expr} AS b, \
                 ROW_NUMBER() OVER (PARTITION BY ticker, region, {expr} ORDER BY date) AS r_first, \
                 ROW_NUMBER() OVER (PARTITION BY ticker, region, {expr} ORDER BY date DESC) AS r_last, \
                 ROW_NUMBER() OVER (PARTITION BY ticker, region, {expr} ORDER BY CAST(high AS REAL) DESC) AS r_high, \
                 ROW_NUMBER() OVER (PARTITION BY ticker, region, {expr} ORDER BY CAST(low AS REAL)) AS r_low \
                 FROM ohlcv_data WHERE timeframe = 'D') GROUP BY ticker, region, b"
            )
        })
        .collect();
    sql.push(
        "CREATE VIEW IF NOT EXISTS market_candles_1h AS SELECT symbol, b AS bucket, \
         MAX(CASE WHEN r_first = 1 THEN open END) AS open, MAX(high) AS high, MIN(low) AS low, \
         MAX(CASE WHEN r_last = 1 THEN close END) AS close, SUM(volume) AS volume, COUNT(*) AS minutes \
         FROM (SELECT *, strftime('%Y-%m-%dT%H:00:00+00:00', time) AS b, \
         ROW_NUMBER() OVER (PARTITION BY symbol, strftime('%Y-%m-%dT%H', time) ORDER BY time) AS r_first, \
         ROW_NUMBER() OVER (PARTITION BY symbol, strftime('%Y-%m-%dT%H', time) ORDER BY time DESC) AS r_last \
         FROM market_candles) GROUP BY symbol, b"
            .into(),
    );
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres if timescaledb_available(manager.get_connection()).await? => timescale_up(),
            DbBackend::Postgres => postgres_views(),
            _ => sqlite_views(),
        };
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let timescale = crate::timescaledb_installed(db).await?;
        let mut sql = Vec::new();
        for view in ["ohlcv_monthly", "ohlcv_quarterly", "ohlcv_yearly", "market_candles_1h"] {
            sql.push(if timescale {
                format!("DROP MATERIALIZED VIEW IF EXISTS {view}")
            } else {
                format!("DROP VIEW IF EXISTS {view}")
            });
        }
        // Hypertables become plain tables again when the previous migration drops and recreates them.
        exec_all(manager, &sql).await
    }
}
