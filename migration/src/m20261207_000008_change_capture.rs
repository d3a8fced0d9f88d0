//! PostgreSQL only: every table reports its changes. One statement-level trigger per table and
//! operation sends `{table, op, keys}` on channel `quantgraph_changes` after the statement, for
//! writes by the gateway and by any other program alike (and for cascaded deletes, which run as
//! statements of their own). `keys` are the distinct values of the table's change key (ticker or
//! symbol, see `entity::change_key`), read from the statement's transition table; null when
//! there are more than `MAX_KEYS`, when the table has no such column, and on TimescaleDB
//! hypertables, which refuse transition tables: such a change concerns the whole table.
//!
//! Statement-level, so a bulk insert of a million rows sends one notification, not a million.
use crate::{exec_all, hypertables, logged_tables};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000008_change_capture"
    }
}

/// The channel of change events.
pub const CHANGES_CHANNEL: &str = "quantgraph_changes";
/// More distinct keys than this in one statement: the change concerns the whole table.
const MAX_KEYS: usize = 100;

/// The trigger function. With a key column (its argument) it reads the distinct keys from the
/// transition tables the trigger names `new_rows`/`old_rows`, and stays silent for a statement
/// that changed no row.
fn function() -> String {
    let distinct = |from: &str| {
        format!(
            "'SELECT array_agg(k) FILTER (WHERE k IS NOT NULL), count(*) FROM \
             (SELECT DISTINCT k FROM ({from}) r LIMIT {}) s'",
            MAX_KEYS + 1
        )
    };
    let new_rows = "SELECT %1$I::text AS k FROM new_rows";
    let old_rows = "SELECT %1$I::text AS k FROM old_rows";
    let both = format!("{new_rows} UNION ALL {old_rows}");
    format!(
        "CREATE OR REPLACE FUNCTION quantgraph_change() RETURNS trigger LANGUAGE plpgsql AS $$ \
         DECLARE keys text[]; n bigint; BEGIN \
         IF TG_NARGS > 0 THEN \
           EXECUTE format(CASE TG_OP WHEN 'INSERT' THEN {} WHEN 'DELETE' THEN {} ELSE {} END, TG_ARGV[0]) INTO keys, n; \
           IF n = 0 THEN RETURN NULL; END IF; \
           IF n > {MAX_KEYS} THEN keys := NULL; END IF; \
         END IF; \
         PERFORM pg_notify('{CHANGES_CHANNEL}', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP, 'keys', keys)::text); \
         RETURN NULL; END $$",
        distinct(new_rows),
        distinct(old_rows),
        distinct(&both),
    )
}

/// The triggers of one table: keyed through transition tables where it can be.
fn triggers(table: &str, key: Option<&str>, hypertable: bool) -> Vec<String> {
    let mut sql = drops(table);
    let name = |op: &str| format!("{table}_change_{op}");
    match key.filter(|_| !hypertable) {
        Some(key) => {
            for (op, event, referencing) in [
                ("i", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
                ("u", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                ("d", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
            ] {
                sql.push(format!(
                    "CREATE TRIGGER {} AFTER {event} ON {table} {referencing} FOR EACH STATEMENT \
                     EXECUTE FUNCTION quantgraph_change('{key}')",
                    name(op)
                ));
            }
            sql.push(format!(
                "CREATE TRIGGER {} AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION quantgraph_change()",
                name("t")
            ));
        }
        None => sql.push(format!(
            "CREATE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT \
             EXECUTE FUNCTION quantgraph_change()",
            name("all")
        )),
    }
    sql
}

fn drops(table: &str) -> Vec<String> {
    ["i", "u", "d", "t", "all"]
        .iter()
        .map(|op| format!("DROP TRIGGER IF EXISTS {table}_change_{op} ON {table}"))
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let hyper = hypertables(manager).await?;
        let mut sql = vec![function()];
        for t in logged_tables() {
            sql.extend(triggers(t.name, t.change_key, hyper.iter().any(|h| h == t.name)));
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let mut sql: Vec<String> = logged_tables().into_iter().flat_map(|t| drops(t.name)).collect();
        sql.push("DROP FUNCTION IF EXISTS quantgraph_change()".into());
        exec_all(manager, &sql).await
    }
}
