//! The response cache: answers to queries, per replica, bounded in bytes, keyed by everything
//! that decides an answer (the caller builds the key) and tagged by what its plan read — a table,
//! or a table restricted to one value of its change key (a ticker, a symbol). A change evicts
//! the entries it can affect; after a possible loss of change events everything goes.
//!
//! Races: a fill remembers the cache's clock from before its read (`begin`), and is refused when
//! any of its tags changed after that — so a read that overlapped a write never stores the
//! answer from before it, even when the write's eviction came first. Nor is it stored when
//! another read of the same key that finished after it began answered differently: that one
//! may have seen a write this one did not (its event still on the way) and shown it already,
//! and an older answer stored now would take it back. Then neither is kept, and the next read
//! goes to the database; so on one replica, an answer once shown is never followed by an
//! older one. Overlapping reads that agree (a herd of misses) store as before.
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

/// Reads of one key under way: how many, the last one finished (its tick and entity tag; `None`
/// for an answer not kept), and the tick of the last finish that disagreed with the one before.
struct Flight {
    open: usize,
    last: Option<(u64, Option<String>)>,
    diverged: u64,
}

struct Inner {
    entries: HashMap<Arc<str>, Entry>,
    /// Kept across a flush: the reads are still under way.
    flights: HashMap<Arc<str>, Flight>,
    /// Keys by last use (`touch` order), oldest first.
    order: lru::LruCache<Arc<str>, ()>,
    bytes: usize,
    /// Ticks once per change, flush and finished read; changes and reads remember their tick.
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
            flights: HashMap::new(),
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
        let flights = std::mem::take(&mut self.flights);
        *self = Inner::new(self.clock, self.flushed);
        self.flights = flights;
        n
    }

    /// Ends one read of `key` that answered `etag`; whether one that finished after `began`
    /// answered otherwise.
    fn land(&mut self, key: &Arc<str>, began: u64, etag: Option<&str>) -> bool {
        self.clock += 1;
        let now = self.clock;
        let Some(f) = self.flights.get_mut(key) else { return false };
        let differs = matches!(&f.last, Some((_, last)) if last.as_deref() != etag || etag.is_none());
        let overtaken = f.diverged > began || (differs && f.last.as_ref().is_some_and(|(t, _)| *t > began));
        if differs {
            f.diverged = now;
        }
        f.last = Some((now, etag.map(str::to_string)));
        self.leave(key);
        overtaken
    }

    /// One read of `key` is no longer under way; its flight goes with the last of them.
    fn leave(&mut self, key: &Arc<str>) {
        if let Some(f) = self.flights.get_mut(key) {
            f.open -= 1;
            if f.open == 0 {
                self.flights.remove(key);
            }
        }
    }
}

/// A read of one key under way. Dropped unfinished (the request went away), it leaves no trace.
pub struct Fill<'a> {
    cache: &'a ResponseCache,
    key: Arc<str>,
    began: u64,
    open: bool,
}

impl Fill<'_> {
    /// The read has answered (`None`: not with a body that could be kept): stores an answer
    /// without errors unless something it read changed while it read; whether it was stored.
    /// An answer not kept takes out what is held under its key.
    pub fn finish(mut self, tags: Vec<Tag>, answer: Option<Arc<Cached>>) -> bool {
        self.open = false;
        let mut inner = self.cache.lock();
        let answer = answer.filter(|a| a.ok);
        let overtaken = inner.land(&self.key, self.began, answer.as_ref().map(|a| a.etag.as_str()));
        match answer {
            Some(a) => self.cache.put(inner, self.key.clone(), tags, self.began, overtaken, a),
            // Shown, but not kept: what is held may be older than it.
            None => {
                inner.remove(&self.key);
                false
            }
        }
    }
}

impl Drop for Fill<'_> {
    fn drop(&mut self) {
        if self.open {
            self.cache.lock().leave(&self.key);
        }
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

    /// A read of `key` begins: its answer may be stored with `Fill::finish`.
    pub fn begin(&self, key: &str) -> Fill<'_> {
        let key: Arc<str> = Arc::from(key);
        let mut inner = self.lock();
        let began = inner.clock;
        inner.flights.entry(key.clone()).or_insert(Flight { open: 0, last: None, diverged: 0 }).open += 1;
        Fill { cache: self, key, began, open: true }
    }

    /// Stores `answer` under `key`, unless a change of `tags` (or a flush) came after `began`
    /// or `overtaken`; whether it was stored.
    fn put(
        &self,
        mut inner: std::sync::MutexGuard<'_, Inner>,
        key: Arc<str>,
        tags: Vec<Tag>,
        began: u64,
        overtaken: bool,
        answer: Arc<Cached>,
    ) -> bool {
        if overtaken {
            // Which of the two is newer is not known: neither stays.
            inner.remove(&key);
        }
        if overtaken || tags.iter().any(|t| inner.changed(t) > began) {
            drop(inner);
            self.raced.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let size = key.len() * 2 + answer.body.len() + answer.etag.len() + 64 * (tags.len() + 2);
        if size > self.max_bytes {
            return false;
        }
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
             # HELP quantgraph_response_cache_raced_total Answers not stored: what they read changed, or another read of the same query finished, while they read it.\n\
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

    /// Reads `key` (tagged `tags`) to `body` and offers it; whether it was stored.
    fn fill(c: &ResponseCache, key: &str, tags: Vec<Tag>, body: &str) -> bool {
        c.begin(key).finish(tags, Some(answer(body)))
    }

    fn aapl() -> Vec<Tag> {
        vec![Tag::Key("ohlcv_data", "AAPL".into())]
    }

    #[test]
    fn a_change_evicts_exactly_what_it_can_affect() {
        let c = ResponseCache::new(1 << 20);
        assert!(fill(&c, "aapl", aapl(), "a"));
        assert!(fill(&c, "msft", vec![Tag::Key("ohlcv_data", "MSFT".into())], "m"));
        assert!(fill(&c, "all", vec![Tag::Table("ohlcv_data")], "*"));
        assert!(fill(&c, "other", vec![Tag::Table("strategies")], "s"));
        assert_eq!(c.size().0, 4);
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
        let (aapl_read, msft_read) = (c.begin("aapl"), c.begin("msft"));
        c.apply(&change("ohlcv_data", Some(&["AAPL"])));
        assert!(!aapl_read.finish(aapl(), Some(answer("old"))));
        assert!(c.get("aapl").is_none());
        // Another key's change does not refuse it; a flush refuses everything begun before it.
        assert!(msft_read.finish(vec![Tag::Key("ohlcv_data", "MSFT".into())], Some(answer("m"))));
        let read = c.begin("s");
        c.flush();
        assert!(c.get("msft").is_none());
        assert!(!read.finish(vec![Tag::Table("strategies")], Some(answer("s"))));
        assert!(fill(&c, "s", vec![Tag::Table("strategies")], "s"));
        assert_eq!(c.raced.load(Ordering::Relaxed), 2);
    }

    /// Two reads of one key overlap, the one that began first finishes last, and they disagree:
    /// it may be the older (its snapshot taken first) while the other's answer has been shown.
    /// It is not stored, nor is the other's kept; a read begun after both stores again.
    #[test]
    fn a_read_overtaken_by_a_different_answer_keeps_neither() {
        let c = ResponseCache::new(1 << 20);
        let (first, second) = (c.begin("aapl"), c.begin("aapl"));
        assert!(second.finish(aapl(), Some(answer("new"))));
        assert!(c.get("aapl").is_some());
        assert!(!first.finish(aapl(), Some(answer("old"))));
        assert!(c.get("aapl").is_none(), "an answer was kept though a later one may be older");
        // Three overlapping reads: the last to finish agrees with the one before it, but the
        // one before that showed something else.
        let (first, second, third) = (c.begin("aapl"), c.begin("aapl"), c.begin("aapl"));
        assert!(third.finish(aapl(), Some(answer("new"))));
        assert!(!second.finish(aapl(), Some(answer("old"))));
        assert!(!first.finish(aapl(), Some(answer("old"))));
        assert!(c.get("aapl").is_none());
        // A read that began after both finished is newer than either: it stores.
        assert!(fill(&c, "aapl", aapl(), "newer"));
        // Overlapping reads that agree (a herd of misses) keep their answer.
        let herd: Vec<Fill> = (0..3).map(|_| c.begin("aapl")).collect();
        assert!(herd.into_iter().all(|f| f.finish(aapl(), Some(answer("same")))));
        assert_eq!(c.get("aapl").map(|a| a.body.clone()).as_deref(), Some(&b"same"[..]));
        // An answer with errors is shown, not kept, and takes out what is held.
        c.begin("aapl").finish(aapl(), Some(Arc::new(Cached::new("partial".into(), false))));
        assert!(c.get("aapl").is_none());
        // A read dropped unfinished (its request went away) overtakes nothing.
        let (gone, second) = (c.begin("aapl"), c.begin("aapl"));
        drop(gone);
        assert!(second.finish(aapl(), Some(answer("new"))));
        assert_eq!(c.get("aapl").map(|a| a.body.clone()).as_deref(), Some(&b"new"[..]));
        // Nothing is remembered once no read of the key is under way.
        assert!(c.lock().flights.is_empty());
    }

    #[test]
    fn stays_within_its_bytes_dropping_the_least_recently_used() {
        let c = ResponseCache::new(1000);
        for i in 0..20 {
            fill(&c, &format!("k{i}"), vec![Tag::Table("tickers")], &"x".repeat(100));
            assert!(c.size().1 <= 1000);
        }
        let (n, _) = c.size();
        assert!((2..20).contains(&n), "{n} entries");
        assert!(c.get("k19").is_some());
        assert!(c.get("k0").is_none());
        assert!(c.metrics().contains("quantgraph_response_cache_evictions_total{cause=\"size\"}"));
    }
}
