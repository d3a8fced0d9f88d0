//! The embedded memory store: one qdrant-edge shard per user under `{data_dir}/memories/`.
//!
//! qdrant-edge calls block, so each runs on tokio's blocking pool. A shard's writes, flushes and
//! index builds take its `gate` (qdrant-edge's flush expects no concurrent writer); searches and
//! scrolls do not. Each write is flushed before it is acknowledged, so memories survive a
//! restart. After writes the HNSW index is brought up to date in the background.
use super::{
    collection, filter_json, from_payload, payload, ListRequest, Memory, MemoryFilter, MemoryHit, MemoryPage,
    MemoryStore, SearchRequest as Search, DIMENSION, INDEXED_DATETIME, INDEXED_KEYWORDS,
};
use crate::error::{ApiError, ApiResult};
use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeVectorParamsBuilder, Filter, JsonPath,
    NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStructPersisted, QueryEnum, ScrollRequest, SearchParams, SearchRequest, UpdateOperation,
    VectorStructPersisted, WithPayloadInterface, WithVector,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The index is built once writes pause this long, so a bulk load builds it once instead of
/// again after every batch; …
const QUIET: Duration = Duration::from_millis(1000);
/// … but no later than this after the first unindexed write, so a steady trickle of writes
/// cannot leave it stale. Unindexed memories are still found: they are searched exhaustively.
const MAX_WAIT: Duration = Duration::from_secs(30);

struct UserShard {
    shard: EdgeShard,
    gate: Mutex<()>,
    optimize_scheduled: AtomicBool,
    last_write: Mutex<Instant>,
}

struct Shards {
    root: PathBuf,
    search_ef: usize,
    /// Held for the store's life: one process per directory (replicas share memories through a
    /// Qdrant server instead).
    _lock: std::fs::File,
    shards: Mutex<HashMap<Uuid, Arc<UserShard>>>,
    /// Users whose memories were dropped (or are being dropped): a call that got past the
    /// account check before the user was deleted must not open, or make anew, the directory
    /// being deleted. Ids are never reused, and it holds only this process's deletions.
    dropped: Mutex<std::collections::HashSet<Uuid>>,
    /// Index builds scheduled or running, for `settle`.
    pending: AtomicUsize,
}

fn edge_err(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "embedded memory store");
    ApiError::Internal(e.to_string())
}

fn point_uuid(id: &PointId) -> Option<Uuid> {
    match id {
        PointId::Uuid(u) => Some(*u),
        PointId::NumId(_) => None,
    }
}

fn edge_filter(f: &MemoryFilter) -> ApiResult<Option<Filter>> {
    filter_json(f).map(|v| serde_json::from_value(v).map_err(edge_err)).transpose()
}

/// The store; a cheap handle that calls move to a blocking thread.
pub struct EmbeddedStore(Arc<Shards>);

impl EmbeddedStore {
    pub fn open(root: PathBuf, search_ef: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&root)
            .map_err(|e| anyhow::anyhow!("cannot create the memory directory {}: {e}", root.display()))?;
        let lock = std::fs::File::create(root.join(".lock"))?;
        // A gateway restarted in the same process may still be closing the previous store.
        let mut tries = 0;
        while let Err(e) = lock.try_lock() {
            if tries == 100 {
                anyhow::bail!(
                    "{} is in use by another QuantGraph process ({e}); give each its own QUANTGRAPH_DATA_DIR, \
                     or share memories through a Qdrant server (QDRANT_URL)",
                    root.display()
                );
            }
            tries += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(EmbeddedStore(Arc::new(Shards {
            root,
            search_ef,
            _lock: lock,
            shards: Mutex::default(),
            dropped: Mutex::default(),
            pending: AtomicUsize::new(0),
        })))
    }
}

impl Shards {
    fn dir(&self, user: Uuid) -> PathBuf {
        self.root.join(collection(user))
    }

    /// The user's shard; with `create`, made (with its payload indexes) on first use.
    fn shard(&self, user: Uuid, create: bool) -> ApiResult<Option<Arc<UserShard>>> {
        let mut shards = self.shards.lock().expect("shard map");
        if let Some(s) = shards.get(&user) {
            return Ok(Some(s.clone()));
        }
        if self.dropped.lock().expect("dropped users").contains(&user) {
            return if create { Err(ApiError::NotFound("no such user".into())) } else { Ok(None) };
        }
        let dir = self.dir(user);
        let shard = if dir.join("edge_config.json").exists() {
            EdgeShard::load(&dir, None).map_err(edge_err)?
        } else if create {
            std::fs::create_dir_all(&dir).map_err(edge_err)?;
            let config = EdgeConfigBuilder::new()
                .vector("", EdgeVectorParamsBuilder::new(DIMENSION, Distance::Cosine).on_disk(true).build())
                .build();
            let shard = EdgeShard::new(&dir, config).map_err(edge_err)?;
            let indexes = INDEXED_KEYWORDS
                .iter()
                .map(|k| (*k, PayloadSchemaType::Keyword))
                .chain([(INDEXED_DATETIME, PayloadSchemaType::Datetime)]);
            for (field, ty) in indexes {
                shard
                    .update(UpdateOperation::FieldIndexOperation(qdrant_edge::FieldIndexOperations::CreateIndex(
                        CreateIndex {
                            field_name: field.parse::<JsonPath>().map_err(|_| edge_err(field))?,
                            field_schema: Some(PayloadFieldSchema::FieldType(ty)),
                        },
                    )))
                    .map_err(edge_err)?;
            }
            shard.flush();
            shard
        } else {
            return Ok(None);
        };
        let s = Arc::new(UserShard {
            shard,
            gate: Mutex::new(()),
            optimize_scheduled: AtomicBool::new(false),
            last_write: Mutex::new(Instant::now()),
        });
        shards.insert(user, s.clone());
        Ok(Some(s))
    }

    /// Applies one write under the gate and flushes it, then schedules an index build.
    fn write(self: &Arc<Self>, s: &Arc<UserShard>, op: UpdateOperation) -> ApiResult<()> {
        {
            let _g = s.gate.lock().expect("shard gate");
            s.shard.update(op).map_err(edge_err)?;
            s.shard.flush();
        }
        *s.last_write.lock().expect("last write") = Instant::now();
        if !s.optimize_scheduled.swap(true, Ordering::AcqRel) {
            self.pending.fetch_add(1, Ordering::AcqRel);
            // The task holds the store, so its directory lock outlives the build.
            let (s, store) = (s.clone(), self.clone());
            tokio::task::spawn_blocking(move || {
                let first = Instant::now();
                while s.last_write.lock().expect("last write").elapsed() < QUIET && first.elapsed() < MAX_WAIT {
                    std::thread::sleep(QUIET / 10);
                }
                s.optimize_scheduled.store(false, Ordering::Release);
                let _g = s.gate.lock().expect("shard gate");
                if let Err(e) = s.shard.optimize() {
                    tracing::error!(error = %e, "memory index build failed");
                }
                s.shard.flush();
                store.pending.fetch_sub(1, Ordering::AcqRel);
            });
        }
        Ok(())
    }
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    store: &Arc<Shards>,
    f: impl FnOnce(&Arc<Shards>) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store)).await.map_err(edge_err)?
}

#[async_trait::async_trait]
impl MemoryStore for EmbeddedStore {
    async fn add(&self, user: Uuid, items: Vec<(Memory, Vec<f32>)>) -> ApiResult<()> {
        blocking(&self.0, move |st| {
            let s = st.shard(user, true)?.expect("created");
            let points = items
                .into_iter()
                .map(|(m, v)| PointStructPersisted {
                    id: PointId::Uuid(m.id),
                    vector: VectorStructPersisted::from(qdrant_edge::Vectors::from(v).0),
                    payload: Some(qdrant_edge::Payload(payload(user, &m))),
                })
                .collect();
            st.write(
                &s,
                UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(
                    points,
                ))),
            )
        })
        .await
    }

    async fn delete(&self, user: Uuid, id: Uuid) -> ApiResult<bool> {
        blocking(&self.0, move |st| {
            let Some(s) = st.shard(user, false)? else { return Ok(false) };
            let ids = [PointId::Uuid(id)];
            if s.shard.retrieve(&ids, Some(WithPayloadInterface::Bool(false)), None).map_err(edge_err)?.is_empty() {
                return Ok(false);
            }
            st.write(&s, UpdateOperation::PointOperation(PointOperations::DeletePoints { ids: ids.to_vec() }))?;
            Ok(true)
        })
        .await
    }

    async fn list(&self, user: Uuid, req: ListRequest) -> ApiResult<MemoryPage> {
        let (filter, after, limit) = (edge_filter(&req.filter)?, req.after, req.limit);
        blocking(&self.0, move |st| {
            let Some(s) = st.shard(user, false)? else { return Ok(MemoryPage { memories: vec![], has_next: false }) };
            // The offset is inclusive: ask for one more to step over the cursor's own row.
            let (records, _) = s
                .shard
                .scroll(ScrollRequest {
                    offset: after.map(PointId::Uuid),
                    limit: Some(limit + 2),
                    filter,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
                .map_err(edge_err)?;
            let mut memories: Vec<Memory> = records
                .iter()
                .filter_map(|r| {
                    let id = point_uuid(&r.id).filter(|id| Some(*id) != after)?;
                    from_payload(id, &r.payload.as_ref()?.0)
                })
                .collect();
            let has_next = memories.len() > limit;
            memories.truncate(limit);
            Ok(MemoryPage { memories, has_next })
        })
        .await
    }

    async fn count(&self, user: Uuid, filter: &MemoryFilter) -> ApiResult<u64> {
        let filter = edge_filter(filter)?;
        blocking(&self.0, move |st| {
            let Some(s) = st.shard(user, false)? else { return Ok(0) };
            Ok(s.shard.count(CountRequest { filter, exact: true }).map_err(edge_err)? as u64)
        })
        .await
    }

    async fn search(&self, user: Uuid, req: Search) -> ApiResult<Vec<MemoryHit>> {
        let (filter, embedding, limit, exact) = (edge_filter(&req.filter)?, req.embedding, req.limit, req.exact);
        blocking(&self.0, move |st| {
            let Some(s) = st.shard(user, false)? else { return Ok(vec![]) };
            let points = s
                .shard
                .search(SearchRequest {
                    query: QueryEnum::Nearest(NamedQuery::default_dense(embedding)),
                    filter,
                    params: Some(SearchParams { hnsw_ef: Some(st.search_ef.max(limit)), exact, ..Default::default() }),
                    limit,
                    offset: 0,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: None,
                    score_threshold: None,
                })
                .map_err(edge_err)?;
            Ok(points
                .into_iter()
                .filter_map(|p| {
                    let memory = from_payload(point_uuid(&p.id)?, &p.payload.as_ref()?.0)?;
                    Some(MemoryHit { score: p.score, memory })
                })
                .collect())
        })
        .await
    }

    async fn drop_user(&self, user: Uuid) -> ApiResult<()> {
        blocking(&self.0, move |st| {
            let shard = {
                // Under the map's lock, as `shard` checks: from here on no call opens it again.
                let mut shards = st.shards.lock().expect("shard map");
                st.dropped.lock().expect("dropped users").insert(user);
                shards.remove(&user)
            };
            if let Some(mut s) = shard {
                // Wait out calls still holding the shard, so it is flushed and closed before
                // its directory goes.
                let mut waited = Duration::ZERO;
                loop {
                    match Arc::try_unwrap(s) {
                        Ok(owned) => {
                            drop(owned);
                            break;
                        }
                        Err(back) if waited < Duration::from_secs(60) => {
                            s = back;
                            std::thread::sleep(Duration::from_millis(20));
                            waited += Duration::from_millis(20);
                        }
                        Err(back) => {
                            // Not dropped: the user stays, and so do their memories.
                            st.shards.lock().expect("shard map").insert(user, back);
                            st.dropped.lock().expect("dropped users").remove(&user);
                            return Err(ApiError::Internal("memory collection is busy".into()));
                        }
                    }
                }
            }
            match std::fs::remove_dir_all(st.dir(user)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    st.dropped.lock().expect("dropped users").remove(&user);
                    Err(edge_err(e))
                }
                _ => Ok(()),
            }
        })
        .await
    }

    async fn settle(&self) -> ApiResult<()> {
        while self.0.pending.load(Ordering::Acquire) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
