//! Change events: which table changed, and which values of its change key (a ticker, a
//! symbol) when they are known. On PostgreSQL the change triggers send them for every write by
//! anyone (the listener forwards them); on SQLite a watcher notices commits by any connection
//! through `PRAGMA data_version`. Whatever holds derived answers listens on `Topic::Changes`
//! and treats a gap signal as "anything may have changed".
use super::{EventBus, Payload, Topic};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A change of one table: the values of its change key, or `None` for "any row".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The table, or `*` for "any table" (a commit seen without its tables).
    pub table: String,
    pub keys: Option<Vec<String>>,
}

/// What a change event (or a gap signal) means for derived answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    Change(Change),
    /// Events may have been lost, or something changed that is not known: assume anything did.
    Anything,
}

impl Change {
    /// The event form: `{ "table": …, "keys": [… ] | null }`.
    pub fn payload(&self) -> Payload {
        Arc::new(serde_json::json!({ "table": self.table, "keys": self.keys }))
    }
}

/// The meaning of a payload heard on `Topic::Changes`.
pub fn heard(p: &Value) -> Heard {
    if super::is_gap(p) {
        return Heard::Anything;
    }
    let Some(table) = p["table"].as_str().filter(|t| *t != "*") else { return Heard::Anything };
    let keys = p["keys"].as_array().map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect());
    Heard::Change(Change { table: table.to_string(), keys })
}

/// How often the SQLite watcher looks for commits by other connections.
pub const SQLITE_POLL: Duration = Duration::from_millis(50);

/// Tells this replica's listeners of a change of any table whenever another connection commits
/// to the SQLite file. Each replica on the file watches for itself, so the news is delivered
/// here only, never through Redis (where an outage would hold up other events behind it).
/// (Whether this process's own commits move `data_version` depends on the connection; the
/// gateway's writes evict what they change themselves either way.)
pub fn watch_sqlite(pool: sqlx::SqlitePool, bus: EventBus) {
    tokio::spawn(async move {
        let mut conn = None;
        let mut seen: Option<i64> = None;
        loop {
            tokio::time::sleep(SQLITE_POLL).await;
            if conn.is_none() {
                conn = pool.acquire().await.ok().map(|c| c.detach());
            }
            let Some(c) = conn.as_mut() else { continue };
            match sqlx::query_scalar::<_, i64>("PRAGMA data_version").fetch_one(&mut *c).await {
                Ok(v) => {
                    if seen.is_some_and(|s| s != v) {
                        anything(&bus);
                    }
                    seen = Some(v);
                }
                Err(e) => {
                    // A new connection starts a new count: what happened in between is unknown.
                    tracing::warn!(error = %e, "the SQLite change watcher lost its connection");
                    conn = None;
                    seen = None;
                    anything(&bus);
                }
            }
        }
    });
}

fn anything(bus: &EventBus) {
    bus.deliver(&Topic::Changes.channel(), Change { table: "*".into(), keys: None }.payload());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_mean_changes_or_anything() {
        let c = Change { table: "ohlcv_data".into(), keys: Some(vec!["AAPL".into()]) };
        assert_eq!(heard(&c.payload()), Heard::Change(c));
        let trigger = json!({"table": "strategies", "op": "DELETE", "keys": null});
        assert_eq!(heard(&trigger), Heard::Change(Change { table: "strategies".into(), keys: None }));
        assert_eq!(heard(&json!({"gap": "redis subscription reconnected"})), Heard::Anything);
        assert_eq!(heard(&json!({"table": "*", "keys": null})), Heard::Anything);
    }
}
