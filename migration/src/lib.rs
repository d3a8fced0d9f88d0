//! Schema migrations for SQLite, PostgreSQL and PostgreSQL + TimescaleDB.
//!
//! Tables are generated from the entities (`ddl`), so a column is declared only in `entity/`;
//! the migrations add what entities cannot say: checks, named indexes, generated columns and
//! the time-series objects.

pub use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

mod ddl;
mod m20251101_000001_tables;
mod m20251101_000002_timeseries;
mod m20251101_000003_events;
mod m20251123_000004_gateway_origin;
mod m20261130_000005_large_events;
mod m20261201_000006_workflow_claims;
mod m20261201_000007_trading_calendar;
mod m20261207_000008_change_capture;
mod m20261208_000009_change_log;

pub use m20251123_000004_gateway_origin::ORIGIN_SETTING;
pub use m20261130_000005_large_events::event_row_query;
pub use m20261207_000008_change_capture::CHANGES_CHANNEL;

/// A table whose changes are captured: its name, change key and columns.
pub struct Logged {
    pub name: &'static str,
    pub change_key: Option<&'static str>,
    /// Column names, and whether each is a UUID (SQLite stores those as blobs, which JSON
    /// cannot hold: the log keeps them as hex).
    pub columns: Vec<(String, bool)>,
}

fn logged<E: sea_orm_migration::sea_orm::EntityTrait + Default>() -> Logged {
    use sea_orm_migration::sea_orm::{ColumnTrait, ColumnType, Iden, Iterable};
    Logged {
        name: E::default().table_name(),
        change_key: entity::change_key::<E>(),
        columns: E::Column::iter()
            .map(|c| (c.to_string(), matches!(c.def().get_column_type(), ColumnType::Uuid)))
            .collect(),
    }
}

/// Every table of the catalog (the bucket views change with theirs).
pub fn logged_tables() -> Vec<Logged> {
    use entity::*;
    vec![
        logged::<tickers::Entity>(),
        logged::<stock_details::Entity>(),
        logged::<etf_details::Entity>(),
        logged::<etf_holdings::Entity>(),
        logged::<ohlcv_data::Entity>(),
        logged::<ticker_fundamentals::Entity>(),
        logged::<factor_scores::Entity>(),
        logged::<strategies::Entity>(),
        logged::<backtest_results::Entity>(),
        logged::<portfolio_transactions::Entity>(),
        logged::<portfolio_holdings::Entity>(),
        logged::<walk_forward_results::Entity>(),
        logged::<optimization_history::Entity>(),
        logged::<market_candles::Entity>(),
        logged::<users::Entity>(),
        logged::<workflows::Entity>(),
        logged::<workflow_execution_logs::Entity>(),
        logged::<value_chain_nodes::Entity>(),
        logged::<value_chain_edges::Entity>(),
        logged::<portfolio_allocations::Entity>(),
        logged::<trading_holidays::Entity>(),
    ]
}

/// The tables TimescaleDB made hypertables of.
async fn hypertables(manager: &SchemaManager<'_>) -> Result<Vec<String>, DbErr> {
    let db = manager.get_connection();
    if !timescaledb_installed(db).await? {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT hypertable_name::text AS name FROM timescaledb_information.hypertables",
        ))
        .await?;
    rows.iter().map(|r| r.try_get::<String>("", "name")).collect()
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20251101_000001_tables::Migration),
            Box::new(m20251101_000002_timeseries::Migration),
            Box::new(m20251101_000003_events::Migration),
            Box::new(m20251123_000004_gateway_origin::Migration),
            Box::new(m20261130_000005_large_events::Migration),
            Box::new(m20261201_000006_workflow_claims::Migration),
            Box::new(m20261201_000007_trading_calendar::Migration),
            Box::new(m20261207_000008_change_capture::Migration),
            Box::new(m20261208_000009_change_log::Migration),
        ]
    }
}

/// True when TimescaleDB can be used here: installed on the server and preloaded (it cannot
/// be created otherwise), or already created in this database.
pub async fn timescaledb_available<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT (EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') \
             OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') \
                 AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'))::int4 AS ok",
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i32>("", "ok").unwrap_or(0) == 1).unwrap_or(false))
}

/// True when the `timescaledb` extension is created in the connected database.
pub async fn timescaledb_installed<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'",
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n").unwrap_or(0) > 0).unwrap_or(false))
}

/// Runs each statement in order on the migration's connection.
pub(crate) async fn exec_all(manager: &SchemaManager<'_>, sqls: &[String]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for sql in sqls {
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
