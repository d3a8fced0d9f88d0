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

pub use m20251123_000004_gateway_origin::ORIGIN_SETTING;
pub use m20261130_000005_large_events::event_row_query;
pub use m20261207_000008_change_capture::CHANGES_CHANNEL;

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
