//! PostgreSQL only: NOTIFY refuses payloads over 8,000 bytes, so another program's INSERT of a
//! workflow execution with a large `result` failed in the notify trigger. A row whose event
//! would not fit is now announced by its id alone, and the gateway reads the row itself: an
//! event never makes a writer fail. (The other event tables hold fixed-size rows — numbers,
//! dates and short codes — far below the limit.)
use crate::exec_all;
use crate::m20251101_000003_events::tables;
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000005_large_events"
    }
}

const TABLE: &str = "workflow_execution_logs";
/// Largest payload sent whole: NOTIFY's limit of 8,000 bytes, less a margin.
const MAX_PAYLOAD: usize = 7_900;

fn row_expression() -> String {
    tables().into_iter().find(|(t, _)| *t == TABLE).map(|(_, row)| row).expect("an event table")
}

pub(crate) fn function(oversize: bool) -> String {
    let row = row_expression();
    let fallback = if oversize {
        format!(
            "IF octet_length(payload) > {MAX_PAYLOAD} THEN \
             payload := json_build_object('table', '{TABLE}', 'id', NEW.id::text)::text; END IF; "
        )
    } else {
        String::new()
    };
    format!(
        "CREATE OR REPLACE FUNCTION quantgraph_notify_{TABLE}() RETURNS trigger LANGUAGE plpgsql AS $$ \
         DECLARE payload text := json_build_object('table', '{TABLE}', 'row', {row})::text; BEGIN {fallback}\
         PERFORM pg_notify('quantgraph_events', payload); RETURN NULL; END $$"
    )
}

/// The statement that reads the event row of an execution announced by id (`$1`, text), as
/// the trigger would have sent it; `None` for a table whose events always carry their row.
pub fn event_row_query(table: &str) -> Option<String> {
    (table == TABLE)
        .then(|| format!("SELECT ({})::text FROM {TABLE} AS new WHERE new.id = CAST($1 AS uuid)", row_expression()))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        exec_all(manager, &[function(true)]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        exec_all(manager, &[function(false)]).await
    }
}
