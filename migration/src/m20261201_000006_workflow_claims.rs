//! Workers claim workflow runs: `workflow_execution_logs` gains the claimant, its lease and an
//! attempt count (declared in the entity, so new databases already have them from the first
//! migration), an index for finding the oldest pending run, and — on PostgreSQL — a notify
//! trigger function that carries the new columns.
use crate::exec_all;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000006_workflow_claims"
    }
}

const TABLE: &str = "workflow_execution_logs";

fn columns(backend: DbBackend) -> [(&'static str, String); 3] {
    let time = if backend == DbBackend::Postgres { "TIMESTAMPTZ" } else { "TEXT" };
    [
        ("claimed_by", "VARCHAR(255) NULL".to_string()),
        ("lease_expires_at", format!("{time} NULL")),
        ("attempts", "INTEGER NOT NULL DEFAULT 0".to_string()),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut sqls = Vec::new();
        for (col, ty) in columns(backend) {
            if !manager.has_column(TABLE, col).await? {
                sqls.push(format!("ALTER TABLE {TABLE} ADD COLUMN {col} {ty}"));
            }
        }
        sqls.push(format!(
            "CREATE INDEX IF NOT EXISTS idx_workflow_execution_logs_status ON {TABLE} (status, executed_at)"
        ));
        if backend == DbBackend::Postgres {
            sqls.push(crate::m20261130_000005_large_events::function(true));
        }
        exec_all(manager, &sqls).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut sqls = vec!["DROP INDEX IF EXISTS idx_workflow_execution_logs_status".to_string()];
        for (col, _) in columns(manager.get_database_backend()) {
            sqls.push(format!("ALTER TABLE {TABLE} DROP COLUMN {col}"));
        }
        exec_all(manager, &sqls).await
    }
}
