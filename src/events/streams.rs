//! Table streams' reads, shared: the subscribers of one table and filter follow one tail reader,
//! which reads the change log when a change of its table is heard and hands each batch to all of
//! them, so a thousand subscribers cost one read per batch, not a thousand. A subscriber behind
//! the tail (resuming from an old cursor, lagging, or joining between two batches) reads the
//! log itself from its own cursor until it meets the tail. Batches carry the position they
//! start after, so a subscriber takes from a batch exactly the changes after its cursor: none
//! skipped, none repeated.
use super::changes::Heard;
use super::{EventBus, Payload, Topic};
use crate::data::catalog::Table;
use crate::data::exec::ReadPool;
use crate::data::query::Cond;
use crate::data::stream::{self, Changed, Cursor};
use crate::error::{ApiError, ApiResult};
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::broadcast;

/// Batches a tail keeps for subscribers that have not taken them yet; one further behind reads
/// for itself.
const KEPT: usize = 64;

/// Changes in commit order: those after `start`, up to and including `end`.
pub struct Batch {
    pub start: Cursor,
    pub changes: Vec<Changed>,
    pub end: Cursor,
    /// Renderings made for its subscribers, by the renderer's key and the first change taken:
    /// a thousand subscribers with one selection render a batch once. They live as long as it.
    renders: Mutex<HashMap<(String, usize), Rendering>>,
}

/// A batch rendered for some subscribers, made by the first of them that needs it.
pub type Rendering = Arc<tokio::sync::OnceCell<Arc<dyn Any + Send + Sync>>>;

impl Batch {
    fn new(start: Cursor, changes: Vec<Changed>, end: Cursor) -> Batch {
        Batch { start, changes, end, renders: Mutex::default() }
    }
}

/// What one subscriber receives: the changes of `batch` from `from` on.
pub struct Delivery {
    pub batch: Arc<Batch>,
    pub from: usize,
}

impl Delivery {
    pub fn changes(&self) -> &[Changed] {
        &self.batch.changes[self.from..]
    }

    pub fn cursor(&self) -> Cursor {
        self.batch.end
    }

    /// The rendering of this delivery shared by every subscriber whose renderer's key is `key`.
    pub fn rendering(&self, key: &str) -> Rendering {
        let mut renders = self.batch.renders.lock().expect("batch renders");
        renders.entry((key.to_string(), self.from)).or_default().clone()
    }
}

struct Tail {
    batches: broadcast::Sender<Arc<Batch>>,
    /// Where the tail has read to.
    position: Mutex<Cursor>,
}

/// The tails of this replica, by table, filter and batch size.
#[derive(Default)]
pub struct TableStreams {
    /// Held across a new tail's first read, so subscribers arriving together share one tail.
    tails: tokio::sync::Mutex<HashMap<String, Weak<Tail>>>,
    /// Reads of the change log by streams and their tails (`/metrics`): an idle stream adds none.
    pub reads: Arc<AtomicU64>,
    /// Batches rendered for subscribers (by the GraphQL layer): once per selection, however
    /// many subscribers share it.
    pub renders: AtomicU64,
}

/// One subscriber's stream.
pub struct Feed {
    db: ReadPool,
    reads: Arc<AtomicU64>,
    t: &'static Table,
    cond: Cond,
    batch: u64,
    cursor: Cursor,
    /// Held: a tail lives as long as a subscriber does.
    _tail: Arc<Tail>,
    batches: broadcast::Receiver<Arc<Batch>>,
    /// Reading the log itself until it meets the tail.
    catching_up: bool,
    /// The starting position still to be sent (a subscriber that gave no cursor).
    announce: bool,
}

async fn read(
    (db, reads): (&ReadPool, &AtomicU64),
    t: &'static Table,
    cond: &Cond,
    after: Cursor,
    limit: u64,
) -> ApiResult<Batch> {
    reads.fetch_add(1, Relaxed);
    let changes = stream::after(db, t, cond, after, limit).await?;
    tracing::debug!(table = t.name, ?after, rows = changes.len(), "change log read");
    let end = changes.last().map_or(after, |c| c.cursor);
    Ok(Batch::new(after, changes, end))
}

impl TableStreams {
    /// A stream of `t`'s changes matching `cond` after `after` (from now on when `None`).
    pub async fn follow(
        &self,
        db: &ReadPool,
        bus: &EventBus,
        t: &'static Table,
        cond: Cond,
        batch: u64,
        after: Option<Cursor>,
    ) -> ApiResult<Feed> {
        let key = format!("{}\0{:?}\0{batch}", t.name, cond);
        let mut tails = self.tails.lock().await;
        let existing = tails.get(&key).and_then(Weak::upgrade);
        let tail = match existing {
            Some(tail) => tail,
            None => {
                // Listening before reading where the log ends: no change between goes unheard.
                let heard = bus.subscribe(&Topic::Changes);
                let head = stream::head(db).await?;
                let tail = Arc::new(Tail { batches: broadcast::channel(KEPT).0, position: Mutex::new(head) });
                tails.retain(|_, w| w.strong_count() > 0);
                tails.insert(key, Arc::downgrade(&tail));
                let db = (db.clone(), self.reads.clone());
                tokio::spawn(run_tail(db, t, cond.clone(), batch, Arc::downgrade(&tail), heard));
                tail
            }
        };
        drop(tails);
        let batches = tail.batches.subscribe();
        let position = *tail.position.lock().expect("tail position");
        let (cursor, announce, catching_up) = match after {
            Some(c) => (c, false, true),
            // Everything up to the tail's position has been handed out: follow from there.
            None => (position, true, false),
        };
        Ok(Feed {
            db: db.clone(),
            reads: self.reads.clone(),
            t,
            cond,
            batch,
            cursor,
            _tail: tail,
            batches,
            catching_up,
            announce,
        })
    }
}

/// A tail: reads after its position each time its table changes (or anything may have), and
/// hands the batches out, until no subscriber holds it.
async fn run_tail(
    (db, reads): (ReadPool, Arc<AtomicU64>),
    t: &'static Table,
    cond: Cond,
    limit: u64,
    tail: Weak<Tail>,
    mut heard: broadcast::Receiver<Payload>,
) {
    loop {
        if !changed(&mut heard, t).await {
            return;
        }
        loop {
            let Some(tail) = tail.upgrade() else { return };
            tracing::debug!(table = t.name, "tail woken");
            let after = *tail.position.lock().expect("tail position");
            let Ok(batch) = read((&db, &reads), t, &cond, after, limit).await else {
                // The database is away: try again shortly (subscribers wait, nothing is lost).
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            };
            let (full, end) = (batch.changes.len() as u64 == limit, batch.end);
            if !batch.changes.is_empty() {
                let _ = tail.batches.send(Arc::new(batch));
                *tail.position.lock().expect("tail position") = end;
            }
            if !full {
                break;
            }
        }
    }
}

/// Waits for a change of `t` (or a possible loss of one); false when the bus is gone.
async fn changed(heard: &mut broadcast::Receiver<Payload>, t: &Table) -> bool {
    use broadcast::error::RecvError;
    loop {
        match heard.recv().await {
            Ok(p) => match super::changes::heard(&p) {
                Heard::Change(c) if c.table != t.name => continue,
                _ => return true,
            },
            Err(RecvError::Lagged(_)) => return true,
            Err(RecvError::Closed) => return false,
        }
    }
}

impl Feed {
    /// The next changes (the starting position first, for a subscriber that gave no cursor).
    pub async fn next(&mut self) -> ApiResult<Delivery> {
        if std::mem::take(&mut self.announce) {
            let empty = Batch::new(self.cursor, Vec::new(), self.cursor);
            return Ok(Delivery { batch: Arc::new(empty), from: 0 });
        }
        loop {
            if self.catching_up {
                let batch = read((&self.db, &self.reads), self.t, &self.cond, self.cursor, self.batch).await?;
                if batch.changes.is_empty() {
                    self.catching_up = false;
                    continue;
                }
                self.cursor = batch.end;
                return Ok(Delivery { batch: Arc::new(batch), from: 0 });
            }
            match self.batches.recv().await {
                Ok(b) if b.end <= self.cursor => continue,
                // Changes between this subscriber's cursor and the batch: read them first.
                Ok(b) if b.start > self.cursor => self.catching_up = true,
                Ok(b) => {
                    let from = b.changes.iter().position(|c| c.cursor > self.cursor).unwrap_or(b.changes.len());
                    self.cursor = b.end;
                    return Ok(Delivery { batch: b, from });
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(ApiError::Unavailable("the server is shutting down".into()))
                }
            }
        }
    }
}
