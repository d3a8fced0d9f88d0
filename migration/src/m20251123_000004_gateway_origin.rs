//! PostgreSQL only: the notify triggers skip rows the gateway writes itself. The gateway
//! publishes its own committed writes (as it does on SQLite) and marks its connections with
//! `quantgraph.origin = gateway`, so each event is published once, and ingest does not pay a
//! `pg_notify` per row — nor serialise its commits on NOTIFY's commit-time lock.
use crate::exec_all;
use crate::m20251101_000003_events::TABLES;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20251123_000004_gateway_origin"
    }
}

/// The setting the gateway's connections carry (see the gateway's database module).
pub const ORIGIN_SETTING: &str = "quantgraph.origin";

fn triggers(when: &str) -> Vec<String> {
    TABLES
        .iter()
        .flat_map(|t| {
            [
                format!("DROP TRIGGER IF EXISTS {t}_notify ON {t}"),
                format!(
                    "CREATE TRIGGER {t}_notify AFTER INSERT OR UPDATE ON {t} FOR EACH ROW {when} \
                     EXECUTE FUNCTION quantgraph_notify_{t}()"
                ),
            ]
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let when = format!("WHEN (current_setting('{ORIGIN_SETTING}', true) IS DISTINCT FROM 'gateway')");
        exec_all(manager, &triggers(&when)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        exec_all(manager, &triggers("")).await
    }
}
