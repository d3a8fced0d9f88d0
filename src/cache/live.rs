//! Live queries: any query kept current for its subscribers. Subscribers of the same query
//! (the same key: document, variables, role, caller where it matters, time zone) form one
//! group with one execution and one rendering. A change of a table or key the group's plan read
//! marks it dirty; its task re-runs the query and hands the answer to every subscriber when its
//! bytes differ. Re-runs are conflated: at most one in flight per group, and changes heard
//! meanwhile cost one more run, not one per change, so the latest state is always delivered.
//! A gap signal (events may have been lost) re-runs every group.
//!
//! How stale an answer may be: it reflects every change whose event had been heard before its
//! run began; a change is heard as soon as the database listener (or Redis) delivers it.
use crate::cache::responses::Cached;
use crate::data::depends::Tag;
use crate::events::changes::{Change, Heard};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::sync::{watch, Notify};

/// One execution of a group's query: its answer as the query would answer it.
pub type Run = Arc<dyn Fn() -> BoxFuture<'static, Arc<Cached>> + Send + Sync>;

/// The latest answer of a group (`None` until its first run ends).
pub type Latest = watch::Receiver<Option<Arc<Cached>>>;

struct Group {
    /// What its answers read; `None`: it is re-run on any change.
    tags: Option<Vec<Tag>>,
    dirty: Notify,
    latest: watch::Sender<Option<Arc<Cached>>>,
}

impl Group {
    fn touched_by(&self, heard: &Heard) -> bool {
        match (heard, &self.tags) {
            (Heard::Anything, _) | (_, None) => true,
            (Heard::Change(c), Some(tags)) => tags.iter().any(|t| touches(t, c)),
        }
    }
}

/// Whether `change` may change what `tag` read.
pub fn touches(tag: &Tag, change: &Change) -> bool {
    match tag {
        Tag::Table(t) => *t == change.table,
        Tag::Key(t, k) => *t == change.table && change.keys.as_ref().is_none_or(|keys| keys.contains(k)),
    }
}

/// The live queries of this replica.
#[derive(Default)]
pub struct LiveQueries {
    groups: Mutex<HashMap<String, Arc<Group>>>,
    executions: AtomicU64,
    updates: AtomicU64,
}

impl LiveQueries {
    /// The latest answer of the group `key`, which is started (running `run` at once) when it
    /// has no subscriber yet. The group ends when its last receiver is dropped.
    pub fn join(self: &Arc<Self>, key: String, tags: Option<Vec<Tag>>, run: Run) -> Latest {
        let mut groups = self.groups.lock().expect("live groups");
        if let Some(g) = groups.get(&key) {
            return g.latest.subscribe();
        }
        let (latest, rx) = watch::channel(None);
        let group = Arc::new(Group { tags, dirty: Notify::new(), latest });
        groups.insert(key.clone(), group.clone());
        tokio::spawn(self.clone().serve(key, group, run));
        rx
    }

    async fn serve(self: Arc<Self>, key: String, group: Arc<Group>, run: Run) {
        loop {
            self.executions.fetch_add(1, Relaxed);
            let answer = run().await;
            let differs = group.latest.borrow().as_ref().is_none_or(|old| old.body != answer.body);
            if differs {
                group.latest.send_replace(Some(answer));
                self.updates.fetch_add(1, Relaxed);
            }
            tokio::select! {
                // A change heard while the run was in flight left its permit: one more run.
                _ = group.dirty.notified() => {}
                _ = group.latest.closed() => {
                    let mut groups = self.groups.lock().expect("live groups");
                    if group.latest.receiver_count() == 0 {
                        groups.remove(&key);
                        return;
                    }
                    // Someone joined as the last one left: run again for them.
                }
            }
        }
    }

    /// Marks every group `heard` concerns as dirty.
    pub fn apply(&self, heard: &Heard) {
        for g in self.groups.lock().expect("live groups").values() {
            if g.touched_by(heard) {
                g.dirty.notify_one();
            }
        }
    }

    /// Prometheus text of the groups, their subscribers and their runs.
    pub fn metrics(&self) -> String {
        let (groups, subscribers) = {
            let g = self.groups.lock().expect("live groups");
            (g.len(), g.values().map(|g| g.latest.receiver_count()).sum::<usize>())
        };
        format!(
            "# HELP quantgraph_live_query_groups Live queries executed for their subscribers (identical ones share one).\n# TYPE quantgraph_live_query_groups gauge\nquantgraph_live_query_groups {groups}\n\
             # HELP quantgraph_live_query_subscribers Subscribers of live queries.\n# TYPE quantgraph_live_query_subscribers gauge\nquantgraph_live_query_subscribers {subscribers}\n\
             # HELP quantgraph_live_query_runs_total Executions of live queries (first answers and re-runs after changes).\n# TYPE quantgraph_live_query_runs_total counter\nquantgraph_live_query_runs_total {}\n\
             # HELP quantgraph_live_query_updates_total New answers of live queries handed to their subscribers.\n# TYPE quantgraph_live_query_updates_total counter\nquantgraph_live_query_updates_total {}\n",
            self.executions.load(Relaxed),
            self.updates.load(Relaxed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn counting(runs: Arc<AtomicUsize>, gate: Arc<tokio::sync::Semaphore>) -> Run {
        Arc::new(move || {
            let (runs, gate) = (runs.clone(), gate.clone());
            Box::pin(async move {
                let _pass = gate.acquire().await.expect("gate");
                let n = runs.fetch_add(1, Relaxed) + 1;
                Arc::new(Cached::new(format!("{{\"data\":{{\"n\":{}}}}}", n.min(3)), true))
            })
        })
    }

    #[tokio::test]
    async fn a_burst_of_changes_costs_one_more_run_and_unrelated_ones_none() {
        let live = Arc::new(LiveQueries::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Semaphore::new(1));
        let tags = Some(vec![Tag::Key("ohlcv_data", "AAPL".into())]);
        let mut a = live.join("q".into(), tags.clone(), counting(runs.clone(), gate.clone()));
        let mut b = live.join("q".into(), tags, counting(runs.clone(), gate.clone()));
        a.wait_for(Option::is_some).await.unwrap();
        b.wait_for(Option::is_some).await.unwrap();
        assert_eq!(runs.load(Relaxed), 1, "two subscribers of one query share its run");
        let change =
            |t: &str, k: Option<&str>| Heard::Change(Change { table: t.into(), keys: k.map(|k| vec![k.to_string()]) });
        live.apply(&change("ohlcv_data", Some("MSFT")));
        live.apply(&change("tickers", None));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Relaxed), 1, "changes of other keys and tables run nothing");
        // Hold the run in flight while 100 changes arrive: they cost one more run after it.
        let held = gate.clone().acquire_owned().await.unwrap();
        live.apply(&change("ohlcv_data", Some("AAPL")));
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..100 {
            live.apply(&change("ohlcv_data", None));
        }
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(runs.load(Relaxed), 3, "one run for the first change, one for the 100 heard during it");
        assert!(a.has_changed().unwrap());
        assert_eq!(a.borrow_and_update().as_ref().unwrap().body.as_ref(), b"{\"data\":{\"n\":3}}");
        // A run that answers the same bytes sends nothing.
        live.apply(&Heard::Anything);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(runs.load(Relaxed), 4);
        assert!(!a.has_changed().unwrap(), "run 4 answered the same bytes: nothing sent");
        drop((a, b));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(live.groups.lock().unwrap().is_empty(), "the group ends with its last subscriber");
    }
}
