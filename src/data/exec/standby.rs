//! Reads on a streaming standby (`DATABASE_READ_URL`) that never go back in time. The gateway
//! knows the primary's WAL position of every change it has heard of (change events carry it)
//! and of its own writes; a read goes to the standby only once the standby has replayed past
//! all of them (`pg_last_wal_replay_lsn()`), and to the primary until then. So a write this
//! replica acknowledged is seen by its next read, and an answer evicted by a change is never
//! refilled from a standby that has not replayed the change.
use super::pg::PgReads;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct Standby {
    /// The primary's pools, for reads while the standby is behind.
    pub primary: DatabaseConnection,
    pub primary_pg: Option<Arc<PgReads>>,
    /// The WAL position the standby must have replayed before it is read.
    required: AtomicU64,
    /// The standby's replay position when last asked.
    replayed: AtomicU64,
    wake: Notify,
    /// Statements sent to the standby and, while it was behind, to the primary.
    pub on_standby: AtomicU64,
    pub on_primary: AtomicU64,
}

/// A `pg_lsn` in its text form (`16/B374D848`) as a number.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

async fn lsn(db: &DatabaseConnection, sql: &str) -> Option<u64> {
    let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.ok()??;
    parse_lsn(&row.try_get_by_index::<Option<String>>(0).ok()??)
}

impl Standby {
    /// Starts following the standby's replay position.
    pub fn new(
        primary: DatabaseConnection,
        primary_pg: Option<Arc<PgReads>>,
        standby: DatabaseConnection,
    ) -> Arc<Self> {
        let s = Arc::new(Standby {
            primary,
            primary_pg,
            // Nothing is read from the standby before the start-up asks for the primary's
            // position (`require_primary_now`), once migrations ran.
            required: AtomicU64::new(u64::MAX),
            replayed: AtomicU64::new(0),
            wake: Notify::new(),
            on_standby: AtomicU64::new(0),
            on_primary: AtomicU64::new(0),
        });
        let watcher = s.clone();
        tokio::spawn(async move { watcher.watch(standby).await });
        s
    }

    /// Whether the standby has replayed everything required.
    pub fn fresh(&self) -> bool {
        self.replayed.load(Ordering::SeqCst) >= self.required.load(Ordering::SeqCst)
    }

    /// Reads must see the primary's WAL up to `lsn` from now on.
    pub fn require(&self, lsn: u64) {
        self.required.fetch_max(lsn, Ordering::SeqCst);
        if !self.fresh() {
            self.wake.notify_one();
        }
    }

    /// Reads must see everything the primary holds now: after this replica's own write, or
    /// when change events may have been lost. Until the primary answers, reads go to it.
    pub async fn require_primary_now(&self) {
        match lsn(&self.primary, "SELECT pg_current_wal_insert_lsn()::text").await {
            Some(now) if self.required.load(Ordering::SeqCst) == u64::MAX => {
                self.required.store(now, Ordering::SeqCst);
                self.wake.notify_one();
            }
            Some(now) => self.require(now),
            None => self.require(u64::MAX),
        }
    }

    /// Asks the standby for its replay position while it is behind; idle otherwise.
    async fn watch(&self, standby: DatabaseConnection) {
        loop {
            if self.fresh() {
                let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
                continue;
            }
            // A read URL that is not in recovery is the primary itself (or nothing to compare).
            let sql = "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                       ELSE pg_current_wal_insert_lsn() END)::text";
            if let Some(at) = lsn(&standby, sql).await {
                self.replayed.fetch_max(at, Ordering::SeqCst);
            }
            if !self.fresh() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }

    /// The Prometheus text of where reads went.
    pub fn metrics(&self) -> String {
        format!(
            "# HELP quantgraph_standby_statements_total Read statements by where they ran: the standby, or the primary while the standby had not replayed every known change.\n\
             # TYPE quantgraph_standby_statements_total counter\n\
             quantgraph_standby_statements_total{{to=\"standby\"}} {}\n\
             quantgraph_standby_statements_total{{to=\"primary\"}} {}\n",
            self.on_standby.load(Ordering::Relaxed),
            self.on_primary.load(Ordering::Relaxed)
        )
    }

    /// Counts a statement's destination.
    pub fn count(&self, fresh: bool) {
        let n = if fresh { &self.on_standby } else { &self.on_primary };
        n.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lsns_order_as_numbers() {
        assert_eq!(super::parse_lsn("0/16B3748"), Some(0x16B3748));
        assert_eq!(super::parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374D848));
        assert!(super::parse_lsn("1/0") > super::parse_lsn("0/FFFFFFFF"));
        assert_eq!(super::parse_lsn("nope"), None);
    }
}
