//! The market snapshot cache: Redis key `market:snapshot:{market_type}` with a TTL, or an
//! in-process map with the same expiry when Redis is not configured.
pub mod bounded;
pub mod follow;
pub mod live;
pub mod responses;
use crate::error::{ApiError, ApiResult};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub enum SnapshotCache {
    Local(Arc<Mutex<HashMap<String, (Instant, String)>>>),
    Redis(ConnectionManager),
}

fn key(market_type: &str) -> String {
    format!("market:snapshot:{market_type}")
}

impl SnapshotCache {
    pub fn local() -> Self {
        SnapshotCache::Local(Default::default())
    }

    pub async fn redis(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
        Ok(SnapshotCache::Redis(
            ConnectionManager::new(client).await.map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?,
        ))
    }

    /// The stored JSON text, or `None` when missing or expired.
    pub async fn get(&self, market_type: &str) -> ApiResult<Option<String>> {
        match self {
            SnapshotCache::Local(m) => {
                let mut m = m.lock().expect("snapshot cache");
                match m.get(market_type) {
                    Some((until, v)) if *until > Instant::now() => Ok(Some(v.clone())),
                    Some(_) => {
                        m.remove(market_type);
                        Ok(None)
                    }
                    None => Ok(None),
                }
            }
            SnapshotCache::Redis(c) => {
                let mut c = c.clone();
                redis::cmd("GET").arg(key(market_type)).query_async::<Option<String>>(&mut c).await.map_err(unavailable)
            }
        }
    }

    pub async fn put(&self, market_type: &str, json: &str, ttl: Duration) -> ApiResult<()> {
        match self {
            SnapshotCache::Local(m) => {
                m.lock()
                    .expect("snapshot cache")
                    .insert(market_type.to_string(), (Instant::now() + ttl, json.to_string()));
                Ok(())
            }
            SnapshotCache::Redis(c) => {
                let mut c = c.clone();
                redis::cmd("SET")
                    .arg(key(market_type))
                    .arg(json)
                    .arg("PX")
                    .arg(ttl.as_millis() as u64)
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(unavailable)
            }
        }
    }
}

fn unavailable(e: redis::RedisError) -> ApiError {
    tracing::warn!(error = %e, "snapshot cache unavailable");
    ApiError::Unavailable("the snapshot cache is unavailable; try again shortly".into())
}
