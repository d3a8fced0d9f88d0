//! The change log behind table streams: every inserted, updated and deleted row of every table,
//! in commit order.
//!
//! PostgreSQL: triggers copy each changed row (`to_jsonb`, exact for decimals and times) into
//! `quantgraph_change_log` under the writing transaction's id, and note the transaction in
//! `quantgraph_commits`. A deferred constraint trigger on that note runs as the transaction
//! commits: it takes a transaction-scoped advisory lock and draws the transaction's `seq`. The
//! lock is held until the commit is visible, so sequence numbers are drawn in commit order and
//! a reader that sees `seq` N sees every committed `seq` below N: a cursor on `seq` never skips
//! a transaction that committed late, as a cursor on a timestamp or a serial would. (The cost:
//! writers of logged tables serialize their commit step.) Statement-level triggers read the
//! statement's transition table; TimescaleDB hypertables refuse those and log row by row.
//!
//! SQLite: one writer at a time, so the log's own autoincrement id is commit order.
use crate::{exec_all, hypertables, logged_tables};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000009_change_log"
    }
}

/// The advisory lock (two-key form) that orders commits of logged transactions.
const COMMIT_LOCK: &str = "pg_advisory_xact_lock(7167, 9)";

fn postgres_objects() -> Vec<String> {
    let note = "IF current_setting('quantgraph.logged', true) IS DISTINCT FROM pg_current_xact_id()::text THEN \
                  INSERT INTO quantgraph_commits (txid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING; \
                  PERFORM set_config('quantgraph.logged', pg_current_xact_id()::text, true); \
                END IF;";
    let log = |rows: &str| {
        format!(
            "INSERT INTO quantgraph_change_log (txid, tbl, op, row) \
             SELECT pg_current_xact_id(), TG_TABLE_NAME, left(TG_OP, 1), to_jsonb(r) FROM {rows} r;"
        )
    };
    vec![
        "CREATE SEQUENCE IF NOT EXISTS quantgraph_commit_seq".into(),
        "CREATE TABLE IF NOT EXISTS quantgraph_commits (txid xid8 PRIMARY KEY, seq bigint UNIQUE, \
         noted_at timestamptz NOT NULL DEFAULT now())"
            .into(),
        "CREATE TABLE IF NOT EXISTS quantgraph_change_log (id bigserial PRIMARY KEY, txid xid8 NOT NULL, \
         tbl text NOT NULL, op text NOT NULL, row jsonb NOT NULL)"
            .into(),
        "CREATE INDEX IF NOT EXISTS quantgraph_change_log_txid ON quantgraph_change_log (txid)".into(),
        "CREATE INDEX IF NOT EXISTS quantgraph_commits_noted_at ON quantgraph_commits (noted_at)".into(),
        // Streams older than this were pruned: their cursors have expired.
        "CREATE TABLE IF NOT EXISTS quantgraph_change_horizon (seq bigint NOT NULL)".into(),
        "INSERT INTO quantgraph_change_horizon SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM quantgraph_change_horizon)"
            .into(),
        format!(
            "CREATE OR REPLACE FUNCTION quantgraph_commit_order() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             PERFORM {COMMIT_LOCK}; \
             UPDATE quantgraph_commits SET seq = nextval('quantgraph_commit_seq') WHERE txid = NEW.txid; \
             RETURN NULL; END $$"
        ),
        "DROP TRIGGER IF EXISTS quantgraph_commit_order ON quantgraph_commits".into(),
        "CREATE CONSTRAINT TRIGGER quantgraph_commit_order AFTER INSERT ON quantgraph_commits \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION quantgraph_commit_order()"
            .into(),
        format!(
            "CREATE OR REPLACE FUNCTION quantgraph_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {note} \
             IF TG_LEVEL = 'ROW' THEN \
               INSERT INTO quantgraph_change_log (txid, tbl, op, row) VALUES (pg_current_xact_id(), TG_TABLE_NAME, \
                 left(TG_OP, 1), to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END)); \
             ELSIF TG_OP = 'DELETE' THEN {} \
             ELSE {} END IF; \
             RETURN NULL; END $$",
            log("old_rows"),
            log("new_rows")
        ),
    ]
}

fn postgres_triggers(table: &str, hypertable: bool) -> Vec<String> {
    let mut sql = postgres_drops(table);
    if hypertable {
        sql.push(format!(
            "CREATE TRIGGER {table}_log_r AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW \
             EXECUTE FUNCTION quantgraph_log()"
        ));
        return sql;
    }
    for (op, event, referencing) in [
        ("i", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
        ("u", "UPDATE", "REFERENCING NEW TABLE AS new_rows"),
        ("d", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ] {
        sql.push(format!(
            "CREATE TRIGGER {table}_log_{op} AFTER {event} ON {table} {referencing} FOR EACH STATEMENT \
             EXECUTE FUNCTION quantgraph_log()"
        ));
    }
    sql
}

fn postgres_drops(table: &str) -> Vec<String> {
    ["i", "u", "d", "r"].iter().map(|op| format!("DROP TRIGGER IF EXISTS {table}_log_{op} ON {table}")).collect()
}

fn sqlite_triggers(table: &str, cols: &[(String, bool)]) -> Vec<String> {
    let object = |row: &str| {
        let pairs: Vec<String> = cols
            .iter()
            .map(|(c, uuid)| match uuid {
                true => format!("'{c}', hex({row}.\"{c}\")"),
                false => format!("'{c}', {row}.\"{c}\""),
            })
            .collect();
        format!("json_object({})", pairs.join(", "))
    };
    let mut sql = sqlite_drops(table);
    for (op, event, row) in [("i", "INSERT", "NEW"), ("u", "UPDATE", "NEW"), ("d", "DELETE", "OLD")] {
        sql.push(format!(
            "CREATE TRIGGER {table}_log_{op} AFTER {event} ON \"{table}\" BEGIN \
             INSERT INTO quantgraph_change_log (tbl, op, row) VALUES ('{table}', '{}', {}); END",
            &event[..1],
            object(row)
        ));
    }
    sql
}

fn sqlite_drops(table: &str) -> Vec<String> {
    ["i", "u", "d"].iter().map(|op| format!("DROP TRIGGER IF EXISTS {table}_log_{op}")).collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut sql = Vec::new();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                let hyper = hypertables(manager).await?;
                sql.extend(postgres_objects());
                for t in logged_tables() {
                    sql.extend(postgres_triggers(t.name, hyper.iter().any(|h| h == t.name)));
                }
            }
            DbBackend::Sqlite => {
                sql.push(
                    "CREATE TABLE IF NOT EXISTS quantgraph_change_log (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                     tbl TEXT NOT NULL, op TEXT NOT NULL, row TEXT NOT NULL, noted_at INTEGER NOT NULL DEFAULT (unixepoch()))"
                        .into(),
                );
                sql.push("CREATE TABLE IF NOT EXISTS quantgraph_change_horizon (seq INTEGER NOT NULL)".into());
                sql.push(
                    "INSERT INTO quantgraph_change_horizon SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM quantgraph_change_horizon)"
                        .into(),
                );
                for t in logged_tables() {
                    sql.extend(sqlite_triggers(t.name, &t.columns));
                }
            }
            _ => {}
        }
        exec_all(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut sql = Vec::new();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                sql.extend(logged_tables().into_iter().flat_map(|t| postgres_drops(t.name)));
                sql.push(
                    "DROP TABLE IF EXISTS quantgraph_change_log, quantgraph_commits, quantgraph_change_horizon".into(),
                );
                sql.push("DROP FUNCTION IF EXISTS quantgraph_log(), quantgraph_commit_order()".into());
                sql.push("DROP SEQUENCE IF EXISTS quantgraph_commit_seq".into());
            }
            DbBackend::Sqlite => {
                sql.extend(logged_tables().into_iter().flat_map(|t| sqlite_drops(t.name)));
                sql.push("DROP TABLE IF EXISTS quantgraph_change_log".into());
                sql.push("DROP TABLE IF EXISTS quantgraph_change_horizon".into());
            }
            _ => {}
        }
        exec_all(manager, &sql).await
    }
}
