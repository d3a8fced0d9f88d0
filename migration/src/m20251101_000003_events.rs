//! PostgreSQL only: row triggers that `pg_notify` committed changes of the live tables, so a
//! write by any program reaches subscribers. Values travel as text to stay exact.
use crate::exec_all;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251101_000003_events"
    }
}

const UTC: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"#;

/// The tables whose changes are events.
pub const TABLES: [&str; 3] = ["market_candles", "ohlcv_data", "workflow_execution_logs"];

/// (table, trigger function body building the row object)
pub(crate) fn tables() -> [(&'static str, String); 3] {
    [
        (
            "market_candles",
            format!(
                "json_build_object('time', to_char(NEW.time AT TIME ZONE 'UTC', {UTC}), 'symbol', NEW.symbol, \
                 'open', NEW.open::text, 'high', NEW.high::text, 'low', NEW.low::text, 'close', NEW.close::text, \
                 'volume', NEW.volume::text)"
            ),
        ),
        (
            "ohlcv_data",
            "json_build_object('id', NEW.id::text, 'ticker', NEW.ticker, 'region', NEW.region, 'date', NEW.date::text, \
             'timeframe', NEW.timeframe, 'open', NEW.open::text, 'high', NEW.high::text, 'low', NEW.low::text, \
             'close', NEW.close::text, 'volume', NEW.volume::text)"
                .to_string(),
        ),
        (
            "workflow_execution_logs",
            format!(
                "json_build_object('id', NEW.id::text, 'workflow_id', NEW.workflow_id::text, 'status', NEW.status, \
                 'executed_at', to_char(NEW.executed_at AT TIME ZONE 'UTC', {UTC}), 'result', NEW.result::text, \
                 'error_message', NEW.error_message, 'duration_ms', NEW.duration_ms::text, \
                 'claimed_by', NEW.claimed_by, \
                 'lease_expires_at', to_char(NEW.lease_expires_at AT TIME ZONE 'UTC', {UTC}), \
                 'attempts', NEW.attempts::text)"
            ),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let mut sql = Vec::new();
        for (table, row) in tables() {
            sql.push(format!(
                "CREATE OR REPLACE FUNCTION quantgraph_notify_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 PERFORM pg_notify('quantgraph_events', json_build_object('table', '{table}', 'row', {row})::text); \
                 RETURN NULL; END $$"
            ));
            sql.push(format!("DROP TRIGGER IF EXISTS {table}_notify ON {table}"));
            sql.push(format!(
                "CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE ON {table} FOR EACH ROW EXECUTE FUNCTION quantgraph_notify_{table}()"
            ));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let mut sql = Vec::new();
        for (table, _) in tables() {
            sql.push(format!("DROP TRIGGER IF EXISTS {table}_notify ON {table}"));
            sql.push(format!("DROP FUNCTION IF EXISTS quantgraph_notify_{table}()"));
        }
        exec_all(manager, &sql).await
    }
}
