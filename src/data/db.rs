//! Database connections (primary and optional read replica), backend facts and migrations.
use super::exec::{pg::PgReads, standby::Standby, ReadPool};
use super::sql::dialect::{self, Dialect};
use crate::config::{Config, ReadDriver};
use anyhow::{anyhow, Context};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct Db {
    /// Writes and anything that must see its own writes.
    pub write: DatabaseConnection,
    /// ReadPool; the replica when one is configured.
    pub read: ReadPool,
    /// The primary's pool for background work (returning lapsed workflow runs to the queue),
    /// left out of the statement count, which counts what requests cost.
    pub housekeeping: DatabaseConnection,
    pub backend: DbBackend,
    /// Where this backend's SQL differs.
    pub dialect: &'static dyn Dialect,
    /// The continuous aggregates exist (TimescaleDB is installed in this database).
    pub timescale: bool,
    /// SQL statements sent so far (both pools): exported in `/metrics`.
    pub statements: Arc<AtomicU64>,
}

async fn connect_one(url: &str, pool: u32) -> anyhow::Result<DatabaseConnection> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:")) {
        return Err(anyhow!("unsupported database URL scheme (use postgres://… or sqlite://…)"));
    }
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(pool)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        // Ping only connections idle long enough to have been dropped by the server or a proxy:
        // the default pings on every checkout, one extra round trip per statement.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        // Marks the gateway's own writes: the notify triggers skip them, the gateway publishes them.
        .map_sqlx_postgres_opts(|o| o.options([(migration::ORIGIN_SETTING, "gateway")]));
    let db = Database::connect(opts).await.map_err(|e| anyhow!("{}", one_line(&e.to_string())))?;
    if let Some(setup) = dialect::of(db.get_database_backend()).session_setup() {
        db.execute_unprepared(setup).await.map_err(|e| anyhow!("{}", one_line(&e.to_string())))?;
    }
    Ok(db)
}

/// Keeps the first line of a driver error, without credentials from the URL.
fn one_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}

impl Db {
    pub async fn connect(config: &Config) -> anyhow::Result<Db> {
        let statements = Arc::new(AtomicU64::new(0));
        let counted = |mut db: DatabaseConnection| {
            let n = statements.clone();
            db.set_metric_callback(move |info| {
                n.fetch_add(1, Ordering::Relaxed);
                super::exec::observe(&info.statement.sql, info.elapsed);
            });
            db
        };
        let primary = connect_one(&config.database_url, config.db_pool)
            .await
            .context("cannot open the database (DATABASE_URL)")?;
        // A handle without the callback: housekeeping is not a request's statement.
        let housekeeping = primary.clone();
        let write = counted(primary);
        let read_url = config.database_read_url.as_deref().unwrap_or(&config.database_url);
        let read = match &config.database_read_url {
            Some(url) => counted(
                connect_one(url, config.db_pool).await.context("cannot open the read replica (DATABASE_READ_URL)")?,
            ),
            None => write.clone(),
        };
        let backend = write.get_database_backend();
        let pg = match (backend, config.pg_read_driver) {
            (DbBackend::Postgres, ReadDriver::TokioPostgres) => {
                PgReads::new(read_url, config.db_pool as usize, statements.clone())?.map(Arc::new)
            }
            _ => None,
        };
        // A standby is read only once it has replayed what this replica knows has changed.
        let standby = match (&config.database_read_url, backend) {
            (Some(_), DbBackend::Postgres) => {
                let primary_pg = match config.pg_read_driver {
                    ReadDriver::TokioPostgres => {
                        PgReads::new(&config.database_url, config.db_pool as usize, statements.clone())?.map(Arc::new)
                    }
                    ReadDriver::Sqlx => None,
                };
                Some(Standby::new(write.clone(), primary_pg, read.clone()))
            }
            _ => None,
        };
        let read = ReadPool { conn: read, pg, standby, pinned: None };
        let timescale = migration::timescaledb_installed(&write).await.unwrap_or(false);
        Ok(Db { write, read, housekeeping, backend, dialect: dialect::of(backend), timescale, statements })
    }

    /// Applies pending migrations; refuses a database migrated by a newer QuantGraph.
    pub async fn migrate(&mut self) -> anyhow::Result<()> {
        Migrator::up(&self.write, None).await.map_err(|e| anyhow!("migration failed: {}", one_line(&e.to_string())))?;
        self.timescale = migration::timescaledb_installed(&self.write).await.unwrap_or(false);
        Ok(())
    }
}
