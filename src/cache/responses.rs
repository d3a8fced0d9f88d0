//! The response cache: answers to queries, per replica, bounded in bytes, keyed by everything
//! that decides an answer (the caller builds the key) and tagged by what its plan read — a table,
//! or a table restricted to one value of its change key (a ticker, a symbol). A change evicts
//! the entries it can affect; after a possible loss of change events everything goes.
//!
//! Races: a fill remembers the cache's clock from before its read (`begin`), and is refused when
//! any of its tags changed after that — so a read that overlapped a write never stores the
//! answer from before it, even when the write's eviction came first.
pub use crate::data::depends::Tag;
use crate::events::changes::Change;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A query's answer: its bytes, their strong entity tag, and whether it has no errors (only
/// those are cached).
#[derive(Debug)]
pub struct Cached {
    /// Shared, so a hit answers without copying it.
    pub body: bytes::Bytes,
    pub etag: String,
    pub ok: bool,
}

impl Cached {
    pub fn new(body: String, ok: bool) -> Self {
        let etag = etag(body.as_bytes());
        Cached { body: body.into(), etag, ok }
    }
}

/// A strong entity tag of `bytes`: their 128-bit XXH3 hash.
pub fn etag(bytes: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// Why entries left the cache (the `cause` label of the evictions metric).
#[derive(Clone, Copy, Debug)]
pub enum Cause {
    /// A change of what they read.
    Change,
    /// Change events may have been lost.
    Flush,
    /// Room for newer entries.
    Size,
}

const CAUSES: [Cause; 3] = [Cause::Change, Cause::Flush, Cause::Size];

/// Keys whose last change is remembered; past it, everything is flushed and forgotten.
const MAX_REMEMBERED_KEYS: usize = 100_000;

struct Entry {
    answer: Arc<Cached>,
    tags: Vec<Tag>,
    size: usize,
}

struct Inner {
    entries: HashMap<Arc<str>, Entry>,
    /// Keys by last use (`touch` order), oldest first.
    order: lru::LruCache<Arc<str>, ()>,
    bytes: usize,
    /// Ticks once per change and flush; changes remember their tick.
    clock: u64,
    flushed: u64,
    /// Last change of any row, of any unkeyed change, and of each key, per table.
    any: HashMap<String, u64>,
    unkeyed: HashMap<String, u64>,
    keys: HashMap<(String, String), u64>,
    /// Entries by what they read: any of a table's rows, a table's unkeyed reads, one key.
    by_table: HashMap<String, HashSet<Arc<str>>>,
    by_unkeyed: HashMap<String, HashSet<Arc<str>>>,
    by_key: HashMap<(String, String), HashSet<Arc<str>>>,
}

impl Inner {
    fn new(clock: u64, flushed: u64) -> Self {
        Inner {
            entries: HashMap::new(),
            order: lru::LruCache::unbounded(),
            bytes: 0,
            clock,
            flushed,
            any: HashMap::new(),
            unkeyed: HashMap::new(),
            keys: HashMap::new(),
            by_table: HashMap::new(),
            by_unkeyed: HashMap::new(),
            by_key: HashMap::new(),
        }
    }

    /// The tick of the last change that can affect `tag`.
    fn changed(&self, tag: &Tag) -> u64 {
        let flushed = self.flushed;
        match tag {
            Tag::Table(t) => self.any.get(*t).copied().unwrap_or(0).max(flushed),
            Tag::Key(t, k) => {
                let unkeyed = self.unkeyed.get(*t).copied().unwrap_or(0);
                let key = self.keys.get(&(t.to_string(), k.clone())).copied().unwrap_or(0);
                unkeyed.max(key).max(flushed)
            }
        }
    }

    fn remove(&mut self, key: &Arc<str>) -> bool {
        let Some(e) = self.entries.remove(key) else { return false };
        self.order.pop(key);
        self.bytes -= e.size;
        for tag in &e.tags {
            let (table, set) = match tag {
                Tag::Table(t) => (*t, self.by_unkeyed.get_mut(*t)),
                Tag::Key(t, k) => (*t, self.by_key.get_mut(&(t.to_string(), k.clone()))),
            };
            if let Some(s) = set {
                s.remove(key);
            }
            if let Some(s) = self.by_table.get_mut(table) {
                s.remove(key);
            }
        }
        true
    }

    fn clear(&mut self) -> usize {
        let n = self.entries.len();
        *self = Inner::new(self.clock, self.flushed);
        n
    }
}

pub struct ResponseCache {
    inner: Mutex<Inner>,
    max_bytes: usize,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Fills refused because what they read changed while they read it.
    pub raced: AtomicU64,
    evicted: [AtomicU64; 3],
}

impl ResponseCache {
    /// A cache of at most `max_bytes` of answers (with their keys).
    pub fn new(max_bytes: usize) -> Self {
        ResponseCache {
            inner: Mutex::new(Inner::new(0, 0)),
            max_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            raced: AtomicU64::new(0),
            evicted: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("response cache")
    }

    /// The answer stored under `key`, if any.
    pub fn get(&self, key: &str) -> Option<Arc<Cached>> {
        let mut inner = self.lock();
        let found = inner.entries.get(key).map(|e| e.answer.clone());
        match found {
            Some(answer) => {
                inner.order.get(key);
                drop(inner);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(answer)
            }
            None => {
                drop(inner);
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// The clock before a read whose answer may be stored with `put`.
    pub fn begin(&self) -> u64 {
        self.lock().clock
    }

    /// Stores `answer` under `key` unless a change of `tags` (or a flush) came after `began`;
    /// whether it was stored.
    pub fn put(&self, key: &str, tags: Vec<Tag>, began: u64, answer: Arc<Cached>) -> bool {
        let size = key.len() * 2 + answer.body.len() + answer.etag.len() + 64 * (tags.len() + 2);
        if size > self.max_bytes {
            return false;
        }
        let mut inner = self.lock();
        if tags.iter().any(|t| inner.changed(t) > began) {
            drop(inner);
            self.raced.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let key: Arc<str> = Arc::from(key);
        inner.remove(&key);
        for tag in &tags {
            let table = match tag {
                Tag::Table(t) => {
                    inner.by_unkeyed.entry(t.to_string()).or_default().insert(key.clone());
                    *t
                }
                Tag::Key(t, k) => {
                    inner.by_key.entry((t.to_string(), k.clone())).or_default().insert(key.clone());
                    *t
                }
            };
            inner.by_table.entry(table.to_string()).or_default().insert(key.clone());
        }
        inner.entries.insert(key.clone(), Entry { answer, tags, size });
        inner.order.put(key, ());
        inner.bytes += size;
        let mut dropped = 0;
        while inner.bytes > self.max_bytes {
            let Some((oldest, ())) = inner.order.pop_lru() else { break };
            inner.remove(&oldest);
            dropped += 1;
        }
        drop(inner);
        self.count(Cause::Size, dropped);
        true
    }

    /// Evicts what `change` can affect, and refuses fills that began before it.
    pub fn apply(&self, change: &Change) {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        let table = change.table.clone();
        inner.any.insert(table.clone(), now);
        let doomed: Vec<Arc<str>> = match &change.keys {
            None => {
                inner.unkeyed.insert(table.clone(), now);
                inner.by_table.get(&table).map(|s| s.iter().cloned().collect()).unwrap_or_default()
            }
            Some(keys) => {
                let mut doomed: Vec<Arc<str>> =
                    inner.by_unkeyed.get(&table).map(|s| s.iter().cloned().collect()).unwrap_or_default();
                for k in keys {
                    let tk = (table.clone(), k.clone());
                    if let Some(s) = inner.by_key.get(&tk) {
                        doomed.extend(s.iter().cloned());
                    }
                    inner.keys.insert(tk, now);
                }
                doomed
            }
        };
        let removed = doomed.iter().filter(|k| inner.remove(k)).count();
        let forget = inner.keys.len() > MAX_REMEMBERED_KEYS;
        drop(inner);
        self.count(Cause::Change, removed);
        if forget {
            self.flush();
        }
    }

    /// Empties the cache and refuses every fill that began before: change events may have been
    /// lost, so nothing held can be trusted.
    pub fn flush(&self) {
        let mut inner = self.lock();
        inner.clock += 1;
        inner.flushed = inner.clock;
        let n = inner.clear();
        drop(inner);
        self.count(Cause::Flush, n);
    }

    fn count(&self, cause: Cause, n: usize) {
        if n > 0 {
            self.evicted[cause as usize].fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Entries held and their bytes.
    pub fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    /// The Prometheus text of the cache's figures.
    pub fn metrics(&self) -> String {
        let (entries, bytes) = self.size();
        let mut out = format!(
            "# HELP quantgraph_response_cache_hits_total Query answers served from the response cache.\n\
             # TYPE quantgraph_response_cache_hits_total counter\nquantgraph_response_cache_hits_total {}\n\
             # HELP quantgraph_response_cache_misses_total Cacheable query answers read from the database.\n\
             # TYPE quantgraph_response_cache_misses_total counter\nquantgraph_response_cache_misses_total {}\n\
             # HELP quantgraph_response_cache_raced_total Answers not stored: what they read changed while they read it.\n\
             # TYPE quantgraph_response_cache_raced_total counter\nquantgraph_response_cache_raced_total {}\n\
             # HELP quantgraph_response_cache_entries Answers held.\n\
             # TYPE quantgraph_response_cache_entries gauge\nquantgraph_response_cache_entries {entries}\n\
             # HELP quantgraph_response_cache_bytes Bytes held by answers and their keys.\n\
             # TYPE quantgraph_response_cache_bytes gauge\nquantgraph_response_cache_bytes {bytes}\n\
             # HELP quantgraph_response_cache_evictions_total Answers evicted, by cause.\n\
             # TYPE quantgraph_response_cache_evictions_total counter\n",
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
            self.raced.load(Ordering::Relaxed),
        );
        for cause in CAUSES {
            let label = format!("{cause:?}").to_lowercase();
            let n = self.evicted[cause as usize].load(Ordering::Relaxed);
            out.push_str(&format!("quantgraph_response_cache_evictions_total{{cause=\"{label}\"}} {n}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(s: &str) -> Arc<Cached> {
        Arc::new(Cached::new(s.to_string(), true))
    }

    fn change(table: &str, keys: Option<&[&str]>) -> Change {
        Change { table: table.into(), keys: keys.map(|k| k.iter().map(|s| s.to_string()).collect()) }
    }

    #[test]
    fn a_change_evicts_exactly_what_it_can_affect() {
        let c = ResponseCache::new(1 << 20);
        let t0 = c.begin();
        assert!(c.put("aapl", vec![Tag::Key("ohlcv_data", "AAPL".into())], t0, answer("a")));
        assert!(c.put("msft", vec![Tag::Key("ohlcv_data", "MSFT".into())], t0, answer("m")));
        assert!(c.put("all", vec![Tag::Table("ohlcv_data")], t0, answer("*")));
        assert!(c.put("other", vec![Tag::Table("strategies")], t0, answer("s")));
        c.apply(&change("ohlcv_data", Some(&["AAPL"])));
        assert!(c.get("aapl").is_none());
        assert!(c.get("all").is_none());
        assert_eq!(c.get("msft").map(|a| a.body.clone()).as_deref(), Some(&b"m"[..]));
        assert!(c.get("other").is_some());
        // A change of unknown rows evicts every read of the table, keyed or not.
        c.apply(&change("ohlcv_data", None));
        assert!(c.get("msft").is_none());
        assert!(c.get("other").is_some());
        assert_eq!(c.size().0, 1);
    }

    #[test]
    fn a_fill_that_overlapped_a_change_is_refused() {
        let c = ResponseCache::new(1 << 20);
        let began = c.begin();
        c.apply(&change("ohlcv_data", Some(&["AAPL"])));
        assert!(!c.put("aapl", vec![Tag::Key("ohlcv_data", "AAPL".into())], began, answer("old")));
        assert!(c.get("aapl").is_none());
        // Another key's change does not refuse it; a flush refuses everything begun before it.
        assert!(c.put("msft", vec![Tag::Key("ohlcv_data", "MSFT".into())], began, answer("m")));
        let began = c.begin();
        c.flush();
        assert!(c.get("msft").is_none());
        assert!(!c.put("msft", vec![Tag::Table("strategies")], began, answer("m")));
        assert!(c.put("msft", vec![Tag::Table("strategies")], c.begin(), answer("m")));
    }

    #[test]
    fn stays_within_its_bytes_dropping_the_least_recently_used() {
        let c = ResponseCache::new(1000);
        let t = c.begin();
        for i in 0..20 {
            c.put(&format!("k{i}"), vec![Tag::Table("tickers")], t, answer(&"x".repeat(100)));
            assert!(c.size().1 <= 1000);
        }
        let (n, _) = c.size();
        assert!((2..20).contains(&n), "{n} entries");
        assert!(c.get("k19").is_some());
        assert!(c.get("k0").is_none());
        assert!(c.metrics().contains("quantgraph_response_cache_evictions_total{cause=\"size\"}"));
    }
}
