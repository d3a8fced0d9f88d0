//! The event bus behind subscriptions: topics of row events, fanned out in-process or, with
//! Redis, across every gateway replica.
use crate::data::catalog::Table;
use crate::data::read::Row;
use crate::data::values::Cell;
use crate::AppState;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events a topic keeps for its slowest subscriber; one further behind catches up from the
/// database (candles) or is told so. Kept small: every topic allocates it.
pub const BUFFER: usize = 256;

/// An event: a row of a table, as text per column (exact for decimals and times).
pub type Payload = Arc<Value>;

/// The topic of gap signals: delivered to every topic's subscribers.
const GAP: &str = "__gap";

/// A gap signal saying why.
fn gap(why: &str) -> Payload {
    Arc::new(serde_json::json!({ "gap": why }))
}

/// Whether `p` is a gap signal: events may have been lost before it (Redis or the database
/// listener reconnected), so a subscriber catches up from the database or asks its client to.
pub fn is_gap(p: &Value) -> bool {
    p.get("gap").is_some()
}

/// Topics and their local subscribers; with Redis, publishing goes through Redis so that
/// every replica (this one included) delivers to its own subscribers.
#[derive(Clone, Default)]
pub struct EventBus {
    channels: Arc<Mutex<HashMap<String, broadcast::Sender<Payload>>>>,
    redis: Option<redis_bus::Publisher>,
}

impl EventBus {
    /// An in-process bus.
    pub fn local() -> Self {
        EventBus::default()
    }

    /// A bus fanned out through Redis pub/sub on channels `{prefix}{topic}`.
    pub async fn with_redis(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let mut bus = EventBus::default();
        bus.redis = Some(redis_bus::start(url, prefix, bus.clone()).await?);
        Ok(bus)
    }

    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Sends `payload` to every subscriber of `topic`, on every replica.
    pub fn publish(&self, topic: &str, payload: Payload) {
        let _span = tracing::debug_span!("events.publish", otel.kind = "producer", topic).entered();
        crate::telemetry::METRICS.events.with_label_values(&["published"]).inc();
        match &self.redis {
            Some(r) => r.publish(topic, payload),
            None => self.deliver(topic, payload),
        }
    }

    /// Tells every subscriber on every replica that events may have been lost (`why` says how).
    pub fn signal_gap(&self, why: &str) {
        let payload = gap(why);
        match &self.redis {
            Some(r) => r.publish(GAP, payload),
            None => self.deliver(GAP, payload),
        }
    }

    /// Delivers to this process's subscribers only.
    pub fn deliver(&self, topic: &str, payload: Payload) {
        let channels = self.channels.lock().expect("event channels");
        if topic == GAP {
            crate::telemetry::METRICS.events.with_label_values(&["gap"]).inc();
            for tx in channels.values() {
                let _ = tx.send(payload.clone());
            }
            return;
        }
        if let Some(tx) = channels.get(topic) {
            let reached = tx.send(payload).unwrap_or(0);
            crate::telemetry::METRICS.events.with_label_values(&["delivered"]).inc_by(reached as u64);
        }
    }

    pub fn subscribe(&self, topic: &str) -> broadcast::Receiver<Payload> {
        let mut channels = self.channels.lock().expect("event channels");
        // Drop channels nobody listens to any more, so topics do not accumulate.
        channels.retain(|_, tx| tx.receiver_count() > 0);
        channels.entry(topic.to_string()).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe()
    }
}

/// The event form of a row: `{ "table": …, "row": { column: text | null } }`.
pub fn payload(t: &Table, row: &Row) -> Payload {
    let mut m = Map::new();
    for (c, v) in t.columns.iter().zip(&row.cells) {
        if c.expr.is_some() {
            continue;
        }
        m.insert(c.name.clone(), cell_text(v));
    }
    Arc::new(serde_json::json!({ "table": t.name, "row": m }))
}

fn cell_text(v: &Cell) -> Value {
    match v {
        Cell::Null => Value::Null,
        Cell::Int(i) => Value::String(i.to_string()),
        Cell::Float(f) => Value::String(f.to_string()),
        Cell::Decimal(d) => Value::String(d.to_string()),
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Bool(b) => Value::String(b.to_string()),
        Cell::Date(d) => Value::String(d.to_string()),
        Cell::DateTime(t) => Value::String(t.to_rfc3339()),
        Cell::Json(j) => Value::String(j.to_string()),
        Cell::Uuid(u) => Value::String(u.to_string()),
    }
}

/// The topics of a row event of `table` (from its payload's row); none when the table has no
/// live feeds. A pending workflow run is also news to the workers waiting for work.
pub fn topics(table: &str, row: &Map<String, Value>) -> Vec<String> {
    let s = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    match table {
        "market_candles" => vec![format!("candle:{}", s("symbol"))],
        "ohlcv_data" => vec![format!("bar:{}:{}", s("ticker"), s("region"))],
        "workflow_execution_logs" if s("status") == "pending" => {
            vec![format!("exec:{}", s("workflow_id")), PENDING_RUNS.to_string()]
        }
        "workflow_execution_logs" => vec![format!("exec:{}", s("workflow_id"))],
        _ => Vec::new(),
    }
}

/// The topic of workflow runs waiting for a worker.
pub const PENDING_RUNS: &str = "exec:pending";

/// Whether changes of `t` are events.
pub fn is_live(t: &Table) -> bool {
    !topics(t.name, &Map::new()).is_empty()
}

/// Publishes row events for rows the gateway itself wrote, after commit. On PostgreSQL the
/// notify triggers report everyone else's writes and skip the gateway's (its connections carry
/// `quantgraph.origin = gateway`), so each committed row is published once.
pub fn publish_rows(state: &AppState, t: &Table, rows: &[Row]) {
    for row in rows {
        let p = payload(t, row);
        for topic in p["row"].as_object().map(|r| topics(t.name, r)).unwrap_or_default() {
            state.events.publish(&topic, p.clone());
        }
    }
}

/// An execution changed: its workflow's subscribers hear of it.
pub fn publish_execution(state: &AppState, row: &Row) {
    publish_rows(state, row.table, std::slice::from_ref(row));
}

pub mod bars;
pub mod pg_bridge;
pub mod redis_bus;
