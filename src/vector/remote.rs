//! The remote memory store: a Qdrant server through qdrant-client (gRPC). Collections are made
//! on first write; transient failures are retried with backoff, then reported as UNAVAILABLE
//! while the rest of the API keeps working.
use super::{
    collection, from_payload, payload, ListRequest, Memory, MemoryFilter, MemoryHit, MemoryPage, MemoryStore,
    SearchRequest, DIMENSION, INDEXED_DATETIME, INDEXED_KEYWORDS,
};
use crate::error::{ApiError, ApiResult};
use qdrant_client::qdrant::{
    point_id::PointIdOptions, Condition, CountPointsBuilder, CreateCollectionBuilder,
    CreateFieldIndexCollectionBuilder, DatetimeRange, DeletePointsBuilder, Distance, FieldType, Filter,
    GetPointsBuilder, PointId, PointStruct, PointsIdsList, QueryPointsBuilder, ScrollPointsBuilder,
    SearchParamsBuilder, UpsertPointsBuilder, VectorParamsBuilder,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// Attempts per call; waits double from `FIRST_BACKOFF` between them.
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

pub struct RemoteStore {
    client: Qdrant,
    search_ef: usize,
    /// Collections known to exist, so a call does not ask each time.
    known: Mutex<HashSet<String>>,
    /// Users this replica dropped: an add that passed the account check just before the
    /// deletion must not make the collection anew (ids are never reused).
    dropped: Mutex<HashSet<Uuid>>,
}

fn transient(e: &QdrantError) -> bool {
    use tonic::Code;
    match e {
        QdrantError::ResponseError { status } => {
            matches!(
                status.code(),
                Code::Unavailable | Code::DeadlineExceeded | Code::Aborted | Code::ResourceExhausted | Code::Cancelled
            )
            // qdrant-client reports a refused or dropped connection as an internal status.
            || status.code() == Code::Internal && status.message().starts_with("Failed to connect")
        }
        QdrantError::ResourceExhaustedError { .. } => true,
        _ => false,
    }
}

fn not_found(e: &QdrantError) -> bool {
    matches!(e, QdrantError::ResponseError { status } if status.code() == tonic::Code::NotFound)
}

fn unavailable(what: &str, e: QdrantError) -> ApiError {
    tracing::warn!(error = %e, "{what}: Qdrant");
    if transient(&e) {
        ApiError::Unavailable("the memory store is unavailable; try again shortly".into())
    } else {
        ApiError::Internal(format!("{what}: {e}"))
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts.
async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, QdrantError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QdrantError>>,
{
    let mut wait = FIRST_BACKOFF;
    for attempt in 1.. {
        match call().await {
            Err(e) if transient(&e) && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "{what}: retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

fn point_uuid(id: Option<&PointId>) -> Option<Uuid> {
    match id?.point_id_options.as_ref()? {
        PointIdOptions::Uuid(s) => Uuid::parse_str(s).ok(),
        PointIdOptions::Num(_) => None,
    }
}

fn to_memory(
    id: Option<&PointId>,
    p: std::collections::HashMap<String, qdrant_client::qdrant::Value>,
) -> Option<Memory> {
    let json: serde_json::Map<String, serde_json::Value> = Payload::from(p).into();
    from_payload(point_uuid(id)?, &json)
}

fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> qdrant_client::qdrant::Timestamp {
    qdrant_client::qdrant::Timestamp { seconds: t.timestamp(), nanos: t.timestamp_subsec_nanos() as i32 }
}

fn remote_filter(f: &MemoryFilter) -> Option<Filter> {
    let mut must = Vec::new();
    if let Some(t) = &f.memory_type {
        must.push(Condition::matches("memory_type", t.clone()));
    }
    if let Some(c) = &f.company {
        must.push(Condition::matches("company", c.clone()));
    }
    if f.from.is_some() || f.to.is_some() {
        must.push(Condition::datetime_range(
            INDEXED_DATETIME,
            DatetimeRange {
                gte: f.from.as_ref().map(timestamp),
                lte: f.to.as_ref().map(timestamp),
                ..Default::default()
            },
        ));
    }
    (!must.is_empty()).then(|| Filter::must(must))
}

impl RemoteStore {
    pub fn connect(url: &str, api_key: Option<String>, search_ef: usize) -> anyhow::Result<Self> {
        let client = Qdrant::from_url(url)
            .api_key(api_key)
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .skip_compatibility_check()
            .build()
            .map_err(|e| anyhow::anyhow!("QDRANT_URL: {e}"))?;
        Ok(RemoteStore { client, search_ef, known: Mutex::default(), dropped: Mutex::default() })
    }

    /// The user's collection, if it exists; with `create`, made (with its indexes) if not.
    async fn collection(&self, user: Uuid, create: bool) -> ApiResult<Option<String>> {
        if self.dropped.lock().expect("dropped users").contains(&user) {
            return if create { Err(ApiError::NotFound("no such user".into())) } else { Ok(None) };
        }
        let name = collection(user);
        if self.known.lock().expect("collections").contains(&name) {
            return Ok(Some(name));
        }
        // Twice: a collection deleted between its look-up and its indexes is made again (or,
        // reading, found gone).
        for _ in 0..2 {
            match self.open(&name, create).await {
                Ok(false) => return Ok(None),
                Ok(true) => {
                    self.known.lock().expect("collections").insert(name.clone());
                    return Ok(Some(name));
                }
                Err((_, e)) if not_found(&e) && !create => return Ok(None),
                Err((_, e)) if not_found(&e) => {}
                Err((what, e)) => return Err(unavailable(what, e)),
            }
        }
        Err(ApiError::Unavailable("the memory store is unavailable; try again shortly".into()))
    }

    /// Finds (with `create`, makes) the collection `name` and its payload indexes; false when
    /// there is none.
    async fn open(&self, name: &str, create: bool) -> Result<bool, (&'static str, QdrantError)> {
        let exists = retry("collection_exists", || self.client.collection_exists(name))
            .await
            .map_err(|e| ("collection_exists", e))?;
        if !exists {
            if !create {
                return Ok(false);
            }
            let made = retry("create_collection", || {
                self.client.create_collection(
                    CreateCollectionBuilder::new(name)
                        .vectors_config(VectorParamsBuilder::new(DIMENSION as u64, Distance::Cosine).on_disk(true)),
                )
            })
            .await;
            // Another replica may have made it a moment ago.
            if let Err(e) = made {
                if !retry("collection_exists", || self.client.collection_exists(name)).await.unwrap_or(false) {
                    return Err(("create_collection", e));
                }
            }
        }
        // Its payload indexes, made now where they are missing: a replica (or an earlier call)
        // that made the collection may have failed before making them all.
        let info =
            retry("collection_info", || self.client.collection_info(name)).await.map_err(|e| ("collection_info", e))?;
        let have: HashSet<String> = info.result.map(|r| r.payload_schema.into_keys().collect()).unwrap_or_default();
        let indexes =
            INDEXED_KEYWORDS.iter().map(|k| (*k, FieldType::Keyword)).chain([(INDEXED_DATETIME, FieldType::Datetime)]);
        for (field, ty) in indexes.filter(|(f, _)| !have.contains(*f)) {
            retry("create_field_index", || {
                self.client.create_field_index(CreateFieldIndexCollectionBuilder::new(name, field, ty).wait(true))
            })
            .await
            .map_err(|e| ("create_field_index", e))?;
        }
        Ok(true)
    }

    /// Runs `call` on the user's collection (made first with `create`); `None` when there is
    /// none. A collection this replica knew but another deleted (`deleteUser` there) answers
    /// NotFound: it is forgotten and looked up once more, so a read finds nothing and an add
    /// makes it anew.
    async fn on<T, F, Fut>(&self, user: Uuid, create: bool, what: &str, call: F) -> ApiResult<Option<T>>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, QdrantError>>,
    {
        for again in [false, true] {
            let Some(name) = self.collection(user, create).await? else { return Ok(None) };
            match retry(what, || call(name.clone())).await {
                Ok(v) => return Ok(Some(v)),
                Err(e) if not_found(&e) && !again => {
                    self.known.lock().expect("collections").remove(&name);
                }
                Err(e) if not_found(&e) && !create => return Ok(None),
                Err(e) => return Err(unavailable(what, e)),
            }
        }
        unreachable!("the second pass returns")
    }
}

#[async_trait::async_trait]
impl MemoryStore for RemoteStore {
    async fn add(&self, user: Uuid, items: Vec<(Memory, Vec<f32>)>) -> ApiResult<()> {
        let points: Vec<PointStruct> = items
            .into_iter()
            .map(|(m, v)| PointStruct::new(m.id.to_string(), v, Payload::from(payload(user, &m))))
            .collect();
        self.on(user, true, "upsert", |name| {
            self.client.upsert_points(UpsertPointsBuilder::new(name, points.clone()).wait(true))
        })
        .await?;
        Ok(())
    }

    async fn delete(&self, user: Uuid, id: Uuid) -> ApiResult<bool> {
        let ids: Vec<PointId> = vec![id.to_string().into()];
        let found =
            self.on(user, false, "get", |name| self.client.get_points(GetPointsBuilder::new(name, ids.clone())));
        if found.await?.is_none_or(|f| f.result.is_empty()) {
            return Ok(false);
        }
        let deleted = self.on(user, false, "delete", |name| {
            self.client
                .delete_points(DeletePointsBuilder::new(name).points(PointsIdsList { ids: ids.clone() }).wait(true))
        });
        Ok(deleted.await?.is_some())
    }

    async fn list(&self, user: Uuid, req: ListRequest) -> ApiResult<MemoryPage> {
        let ListRequest { filter, after, limit } = req;
        let scroll = |name: String| {
            let mut req = ScrollPointsBuilder::new(name).limit((limit + 2) as u32).with_payload(true);
            if let Some(f) = remote_filter(&filter) {
                req = req.filter(f);
            }
            if let Some(a) = after {
                // Inclusive: the cursor's own point comes back first and is dropped below.
                req = req.offset(PointId::from(a.to_string()));
            }
            self.client.scroll(req.build())
        };
        let Some(res) = self.on(user, false, "scroll", scroll).await? else {
            return Ok(MemoryPage { memories: vec![], has_next: false });
        };
        let mut memories: Vec<Memory> = res
            .result
            .into_iter()
            .filter_map(|p| to_memory(p.id.as_ref(), p.payload))
            .filter(|m| Some(m.id) != after)
            .collect();
        let has_next = memories.len() > limit;
        memories.truncate(limit);
        Ok(MemoryPage { memories, has_next })
    }

    async fn count(&self, user: Uuid, filter: &MemoryFilter) -> ApiResult<u64> {
        let count = |name: String| {
            let mut req = CountPointsBuilder::new(name).exact(true);
            if let Some(f) = remote_filter(filter) {
                req = req.filter(f);
            }
            self.client.count(req.build())
        };
        let res = self.on(user, false, "count", count).await?;
        Ok(res.and_then(|r| r.result).map_or(0, |r| r.count))
    }

    async fn search(&self, user: Uuid, req: SearchRequest) -> ApiResult<Vec<MemoryHit>> {
        let SearchRequest { embedding, filter, limit, exact } = req;
        let query = |name: String| {
            let mut req = QueryPointsBuilder::new(name)
                .query(embedding.clone())
                .limit(limit as u64)
                .params(SearchParamsBuilder::default().hnsw_ef(self.search_ef.max(limit) as u64).exact(exact))
                .with_payload(true);
            if let Some(f) = remote_filter(&filter) {
                req = req.filter(f);
            }
            self.client.query(req.build())
        };
        let Some(res) = self.on(user, false, "query", query).await? else { return Ok(vec![]) };
        Ok(res
            .result
            .into_iter()
            .filter_map(|p| Some(MemoryHit { score: p.score, memory: to_memory(p.id.as_ref(), p.payload)? }))
            .collect())
    }

    async fn drop_user(&self, user: Uuid) -> ApiResult<()> {
        let name = collection(user);
        // From here on this replica neither reads nor makes it again (`collection`).
        self.dropped.lock().expect("dropped users").insert(user);
        self.known.lock().expect("collections").remove(&name);
        match retry("delete_collection", || self.client.delete_collection(&name)).await {
            Err(e) if !not_found(&e) => {
                // Not dropped: the user stays, and so do their memories.
                self.dropped.lock().expect("dropped users").remove(&user);
                Err(unavailable("delete_collection", e))
            }
            _ => Ok(()),
        }
    }
}
