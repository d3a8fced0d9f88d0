//! A map that forgets its least recently used entries, bounded in entries and in (estimated)
//! bytes: what the plan cache and the persisted documents both need.
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;

pub struct Bounded<K: Hash + Eq, V: Clone> {
    entries: Mutex<(lru::LruCache<K, V>, usize)>,
    max_bytes: usize,
    size: fn(&V) -> usize,
}

impl<K: Hash + Eq, V: Clone> Bounded<K, V> {
    /// At most `max_entries` (at least one) and `max_bytes` as `size` counts them.
    pub fn new(max_entries: usize, max_bytes: usize, size: fn(&V) -> usize) -> Self {
        let cap = NonZeroUsize::new(max_entries.max(1)).expect("at least one entry");
        Bounded { entries: Mutex::new((lru::LruCache::new(cap), 0)), max_bytes, size }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.entries.lock().expect("bounded cache").0.get(key).cloned()
    }

    /// Keeps `value` (nothing larger than the whole budget), forgetting the oldest to fit.
    pub fn put(&self, key: K, value: V) {
        let size = (self.size)(&value);
        if size > self.max_bytes {
            return;
        }
        let mut guard = self.entries.lock().expect("bounded cache");
        let (lru, bytes) = &mut *guard;
        if let Some((_, old)) = lru.push(key, value) {
            *bytes -= (self.size)(&old);
        }
        *bytes += size;
        while *bytes > self.max_bytes {
            match lru.pop_lru() {
                Some((_, old)) => *bytes -= (self.size)(&old),
                None => break,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().expect("bounded cache").0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Bounded;

    #[test]
    fn forgets_the_least_recently_used_to_stay_within_entries_and_bytes() {
        let c: Bounded<u32, String> = Bounded::new(3, 10, String::len);
        c.put(1, "aaaa".into());
        c.put(2, "bbbb".into());
        assert_eq!(c.get(&1).as_deref(), Some("aaaa")); // 1 is now the most recent
        c.put(3, "cccc".into()); // 12 bytes: 2 goes
        assert_eq!((c.get(&2), c.len()), (None, 2));
        c.put(4, "d".into());
        c.put(5, "e".into()); // 4 entries: the least recent (1) goes
        assert_eq!(c.get(&1), None);
        assert_eq!(c.get(&3).as_deref(), Some("cccc"));
        c.put(6, "x".repeat(11)); // larger than the budget: not kept, nothing forgotten
        assert_eq!((c.get(&6), c.len()), (None, 3));
        c.put(3, "cc".into()); // a replaced entry gives its bytes back
        c.put(7, "gggggg".into());
        assert_eq!(c.get(&3).as_deref(), Some("cc"));
    }
}
