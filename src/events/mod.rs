//! The event bus behind subscriptions: topics of row events, fanned out in-process or, with
//! Redis, across every gateway replica.
use crate::data::catalog::Table;
use crate::data::read::Row;
use crate::data::values::{parse_date, parse_datetime, parse_decimal, Cell, Kind};
use crate::AppState;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;
use topic::{gap, GAP};
pub use topic::{Payload, Topic};

/// Events a topic keeps for its slowest subscriber; one further behind catches up from the
/// database (candles) or is told so. Kept small: every topic allocates it.
pub const BUFFER: usize = 256;

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
        let local = bus.clone();
        bus.redis = Some(redis_bus::start(url, prefix, move |topic, p| local.deliver(topic, p)).await?);
        Ok(bus)
    }

    pub fn is_shared(&self) -> bool {
        self.redis.is_some()
    }

    /// Sends `payload` to every subscriber of `topic`, on every replica.
    pub fn publish(&self, topic: &Topic, payload: Payload) {
        let topic = &topic.channel();
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

    /// Delivers to this process's subscribers of the channel `topic` only.
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

    pub fn subscribe(&self, topic: &Topic) -> broadcast::Receiver<Payload> {
        let mut channels = self.channels.lock().expect("event channels");
        // Drop channels nobody listens to any more, so topics do not accumulate.
        channels.retain(|_, tx| tx.receiver_count() > 0);
        channels.entry(topic.channel()).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe()
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

/// The row of an event payload (`payload`'s inverse); none when a value does not parse.
pub fn row_of_payload(t: &'static Table, row: &Map<String, Value>) -> Option<Row> {
    let mut cells = Vec::with_capacity(t.columns.len());
    for c in &t.columns {
        let cell = match row.get(&c.name) {
            None | Some(Value::Null) => Cell::Null,
            Some(Value::String(s)) => match c.kind {
                Kind::Int | Kind::BigInt => Cell::Int(s.parse().ok()?),
                Kind::Float => Cell::Float(s.parse().ok()?),
                Kind::Decimal => Cell::Decimal(parse_decimal(s).ok()?),
                Kind::Boolean => Cell::Bool(s == "true" || s == "t"),
                Kind::Date => Cell::Date(parse_date(s).ok()?),
                Kind::DateTime => Cell::DateTime(parse_datetime(s).ok()?),
                Kind::Json => Cell::Json(Box::new(serde_json::from_str(s).ok()?)),
                Kind::Uuid => Cell::Uuid(uuid::Uuid::parse_str(s).ok()?),
                Kind::String => Cell::Text(s.clone()),
            },
            Some(_) => return None,
        };
        cells.push(cell);
    }
    Some(Row { table: t, cells, wire: None, fetched: Vec::new() })
}

/// Whether changes of `t` are events.
pub fn is_live(t: &Table) -> bool {
    !Topic::of_row(t.name, &Map::new()).is_empty()
}

/// Publishes row events for rows the gateway itself wrote, after commit. On PostgreSQL the
/// notify triggers report everyone else's writes and skip the gateway's (its connections carry
/// `quantgraph.origin = gateway`), so each committed row is published once.
pub fn publish_rows(state: &AppState, t: &Table, rows: &[Row]) {
    for row in rows {
        let p = payload(t, row);
        for topic in p["row"].as_object().map(|r| Topic::of_row(t.name, r)).unwrap_or_default() {
            state.events.publish(&topic, p.clone());
        }
    }
}

/// An execution changed: its workflow's subscribers hear of it.
pub fn publish_execution(state: &AppState, row: &Row) {
    publish_rows(state, row.table, std::slice::from_ref(row));
}

pub mod bars;
pub mod changes;
pub mod live_bars;
pub mod pg_bridge;
pub mod redis_bus;
pub mod replay;
pub mod streams;
mod topic;
