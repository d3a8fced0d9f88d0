//! PostgreSQL LISTEN bridge: triggers `pg_notify` each committed row change of the live tables
//! on channel `quantgraph_events`, and each statement's change of any table on
//! `quantgraph_changes`; one dedicated connection listens and publishes onto the bus,
//! reconnecting after a drop. With Redis, only the replica holding an advisory lock
//! forwards, so an event is published once however many replicas run.
use super::{EventBus, Topic};
use sea_orm::DatabaseConnection;
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;

pub const CHANNEL: &str = "quantgraph_events";
const LEADER_LOCK: i64 = 0x5147_4556; // "QGEV"

pub fn start(db: &DatabaseConnection, bus: EventBus) {
    if !crate::data::sql::dialect::of(db.get_database_backend()).notifies() {
        return;
    }
    let pool = db.get_postgres_connection_pool().clone();
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        let mut restarted = false;
        loop {
            match run(&pool, &bus, restarted).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "event listener stopped; reconnecting"),
            }
            restarted = true;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    });
}

/// The row of an event announced by `{table, id}`, read as the trigger would have sent it.
async fn read_announced(pool: &sqlx::PgPool, v: &serde_json::Value) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let (Some(table), Some(id)) = (v["table"].as_str(), v["id"].as_str()) else { return Ok(None) };
    let Some(sql) = migration::event_row_query(table) else { return Ok(None) };
    let text: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Forwards notifications until the connection fails. `restarted`: a listener ran before, and
/// whatever was written while none listened is lost to subscribers, who are told so.
async fn run(pool: &sqlx::PgPool, bus: &EventBus, restarted: bool) -> Result<(), sqlx::Error> {
    // The lock lives on a connection held for as long as this replica forwards, taken out of
    // the pool: when forwarding stops, the connection closes and the lock goes with it (back
    // in the pool it would keep the lock, and no replica would forward again).
    let mut lock_conn = pool.acquire().await?.detach();
    // Taking over from another replica: writes between its end and this LISTEN reached no one.
    let mut took_over = false;
    if bus.is_shared() {
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LEADER_LOCK)
                .fetch_one(&mut lock_conn)
                .await?;
            if got {
                break;
            }
            took_over = true;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([CHANNEL, migration::CHANGES_CHANNEL]).await?;
    tracing::info!("forwarding database events");
    if restarted || took_over {
        bus.signal_gap("the database event listener reconnected");
    }
    loop {
        // `try_recv` reports a lost connection instead of reconnecting behind our back: the
        // caller listens again and only then signals the gap, so no write falls between the
        // signal (on which candle feeds re-read the database) and the new LISTEN.
        let Some(n) = listener.try_recv().await? else {
            return Err(sqlx::Error::Protocol("the listener's connection was lost".into()));
        };
        let Ok(mut v) = serde_json::from_str::<serde_json::Value>(n.payload()) else { continue };
        if n.channel() == migration::CHANGES_CHANNEL {
            // The primary's WAL position now is past the change's commit: a standby that has
            // replayed it shows the change.
            let lsn: Option<String> =
                sqlx::query_scalar("SELECT pg_current_wal_insert_lsn()::text").fetch_one(pool).await.ok();
            v["lsn"] = lsn.into();
            bus.publish(&Topic::Changes, Arc::new(v));
            continue;
        }
        if v["row"].is_null() {
            // Too large to travel in the notification: announced by id, read here.
            match read_announced(pool, &v).await {
                Ok(Some(row)) => v["row"] = row,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "an announced event row could not be read");
                    continue;
                }
            }
        }
        let (Some(table), Some(row)) = (v["table"].as_str(), v["row"].as_object()) else { continue };
        let topics = Topic::of_row(table, row);
        let payload = Arc::new(v.clone());
        for t in topics {
            bus.publish(&t, payload.clone());
        }
    }
}
