//! Vector memories: one Qdrant collection `user_memories_{user_id}` per user, kept either by
//! qdrant-edge in a local directory (the embedded default) or by a Qdrant server (`QDRANT_URL`).
//! Both backends speak the same payload and filter so their answers are interchangeable.
#[cfg(feature = "embedded-vectors")]
pub mod embedded;
pub mod remote;

use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// Dimension of the embeddings (OpenAI ada-002, as the QuantFlow design stores them).
pub const DIMENSION: usize = 1536;
pub const MEMORY_TYPES: [&str; 3] = ["audit_finding", "preference", "analysis"];
/// Payload fields with an index: the ones `where` filters on.
pub const INDEXED_KEYWORDS: [&str; 2] = ["memory_type", "company"];
pub const INDEXED_DATETIME: &str = "timestamp";

#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    pub id: Uuid,
    pub memory_type: String,
    pub company: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub content: String,
}

/// Conditions on the indexed payload fields; all given must hold.
#[derive(Clone, Debug, Default)]
pub struct MemoryFilter {
    pub memory_type: Option<String>,
    pub company: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl MemoryFilter {
    pub fn is_empty(&self) -> bool {
        self.memory_type.is_none() && self.company.is_none() && self.from.is_none() && self.to.is_none()
    }
}

/// A page request: memories matching `filter` after the cursor `after`, at most `limit`.
pub struct ListRequest {
    pub filter: MemoryFilter,
    pub after: Option<Uuid>,
    pub limit: usize,
}

/// The `limit` memories matching `filter` nearest to `embedding`.
pub struct SearchRequest {
    pub embedding: Vec<f32>,
    pub filter: MemoryFilter,
    pub limit: usize,
    /// Score every matching memory instead of walking the HNSW graph.
    pub exact: bool,
}

/// A filter matching at most this many memories is searched exactly: scoring them all costs about
/// what one graph search costs, and a graph walk restricted by a filter can miss neighbours.
pub const EXACT_BELOW: u64 = 10_000;

pub struct MemoryHit {
    pub score: f32,
    pub memory: Memory,
}

/// One page of a user's memories in id order (ids are time-ordered, see `memory_id`).
pub struct MemoryPage {
    pub memories: Vec<Memory>,
    pub has_next: bool,
}

/// A memory store. Every call names the user whose collection it touches; callers pass the
/// authenticated user only, so no path reaches another user's collection.
#[async_trait::async_trait]
pub trait MemoryStore: Send + Sync {
    /// Stores memories with their embeddings (validated by `check_embedding`), all or none.
    async fn add(&self, user: Uuid, items: Vec<(Memory, Vec<f32>)>) -> ApiResult<()>;
    /// Whether the memory existed.
    async fn delete(&self, user: Uuid, id: Uuid) -> ApiResult<bool>;
    /// One page in id order.
    async fn list(&self, user: Uuid, req: ListRequest) -> ApiResult<MemoryPage>;
    async fn count(&self, user: Uuid, filter: &MemoryFilter) -> ApiResult<u64>;
    /// The nearest memories by cosine similarity, best first.
    async fn search(&self, user: Uuid, req: SearchRequest) -> ApiResult<Vec<MemoryHit>>;
    /// Removes the user's whole collection (no-op when there is none).
    async fn drop_user(&self, user: Uuid) -> ApiResult<()>;
    /// Waits until background indexing has caught up (benches and tests measure the indexed state).
    async fn settle(&self) -> ApiResult<()> {
        Ok(())
    }
}

pub type Memories = Arc<dyn MemoryStore>;

/// The store a configuration asks for: the Qdrant server at `QDRANT_URL`, else the embedded one.
pub async fn connect(config: &crate::config::Config) -> anyhow::Result<Memories> {
    if let Some(url) = &config.qdrant_url {
        let key = config.qdrant_api_key.as_ref().map(|s| s.0.clone());
        return Ok(Arc::new(remote::RemoteStore::connect(url, key, config.memory_search_ef)?));
    }
    embedded_store(config)
}

#[cfg(feature = "embedded-vectors")]
fn embedded_store(config: &crate::config::Config) -> anyhow::Result<Memories> {
    Ok(Arc::new(embedded::EmbeddedStore::open(config.data_dir.join("memories"), config.memory_search_ef)?))
}

#[cfg(not(feature = "embedded-vectors"))]
fn embedded_store(_: &crate::config::Config) -> anyhow::Result<Memories> {
    anyhow::bail!("QDRANT_URL is required: this build has no embedded vector store (feature `embedded-vectors`)")
}

pub fn collection(user: Uuid) -> String {
    format!("user_memories_{}", user.simple())
}

/// A memory's id: a UUIDv7 carrying the memory's own timestamp, so id order is time order and
/// both backends page through a collection chronologically with their native id cursor.
pub fn memory_id(timestamp: DateTime<Utc>) -> ApiResult<Uuid> {
    let secs =
        u64::try_from(timestamp.timestamp()).map_err(|_| ApiError::bad("timestamp: must not be before 1970-01-01"))?;
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, secs, timestamp.timestamp_subsec_nanos());
    Ok(Uuid::new_v7(ts))
}

/// Rejects what cosine similarity cannot rank: a wrong length, NaN, infinity, the zero vector.
pub fn check_embedding(field: &str, v: &[f32]) -> ApiResult<()> {
    if v.len() != DIMENSION {
        return Err(ApiError::bad(format!("{field}: expected {DIMENSION} numbers, got {}", v.len())));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(ApiError::bad(format!("{field}[{i}]: not a finite number")));
    }
    if v.iter().all(|x| *x == 0.0) {
        return Err(ApiError::bad(format!("{field}: the zero vector has no direction")));
    }
    Ok(())
}

pub fn render_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The stored payload, as the QuantFlow design documents it (the embedding is the point's vector).
pub fn payload(user: Uuid, m: &Memory) -> Map<String, Value> {
    let v = json!({
        "user_id": user.to_string(),
        "memory_type": m.memory_type,
        "company": m.company,
        "timestamp": render_time(&m.timestamp),
        "content": m.content,
    });
    match v {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Reads a stored payload back; a point that is not one of ours is skipped, not an error.
pub fn from_payload(id: Uuid, p: &Map<String, Value>) -> Option<Memory> {
    Some(Memory {
        id,
        memory_type: p.get("memory_type")?.as_str()?.to_string(),
        company: p.get("company").and_then(Value::as_str).map(String::from),
        timestamp: DateTime::parse_from_rfc3339(p.get("timestamp")?.as_str()?).ok()?.with_timezone(&Utc),
        content: p.get("content").and_then(Value::as_str).unwrap_or_default().to_string(),
    })
}

/// The filter in Qdrant's JSON form (the REST API's and qdrant-edge's), `None` when empty.
pub fn filter_json(f: &MemoryFilter) -> Option<Value> {
    let mut must = Vec::new();
    if let Some(t) = &f.memory_type {
        must.push(json!({"key": "memory_type", "match": {"value": t}}));
    }
    if let Some(c) = &f.company {
        must.push(json!({"key": "company", "match": {"value": c}}));
    }
    if f.from.is_some() || f.to.is_some() {
        let mut range = Map::new();
        if let Some(t) = &f.from {
            range.insert("gte".into(), render_time(t).into());
        }
        if let Some(t) = &f.to {
            range.insert("lte".into(), render_time(t).into());
        }
        must.push(json!({"key": INDEXED_DATETIME, "range": range}));
    }
    (!must.is_empty()).then(|| json!({ "must": must }))
}
