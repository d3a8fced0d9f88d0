//! Row feeds with a replay: a subscriber that passes `since` first gets the stored rows after
//! that point, a page at a time, then live rows, with nothing lost or repeated at the switch;
//! one that falls behind, or whose events may have been lost, is told so and closed.
use super::{row_of_payload, Payload, Topic};
use crate::data::catalog::Table;
use crate::data::query::{keyset, Cond, ListQuery};
use crate::data::read::{self, Row};
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use futures_util::stream::{self, BoxStream, StreamExt};
use std::collections::HashSet;
use std::sync::Arc;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

/// Most rows a `since` replay sends before switching to live rows.
const MAX_REPLAY: u64 = 100_000;

/// The identity of a row (its primary key), for de-duplicating replayed and live rows.
fn key_of(row: &Row) -> String {
    format!("{:?}", row.table.pk.iter().map(|i| &row.cells[*i]).collect::<Vec<_>>())
}

type Item = ApiResult<Row>;

/// What tells a row apart from a changed version of it.
fn identity(r: &Row) -> String {
    format!("{}{:?}", key_of(r), r.cells)
}

type Seen = Arc<std::sync::Mutex<HashSet<String>>>;

/// Live rows of `topics` after `head` (the replay). Live rows equal to a replayed one (noted in
/// `seen`) are dropped, so the switch neither repeats nor loses a row.
fn feed(
    t: &'static Table,
    receivers: Vec<tokio::sync::broadcast::Receiver<Payload>>,
    head: BoxStream<'static, Item>,
    seen: Seen,
) -> BoxStream<'static, Item> {
    let live = stream::select_all(receivers.into_iter().map(BroadcastStream::new)).boxed();
    let tail = live
        .scan(false, move |ended, ev: Result<Payload, BroadcastStreamRecvError>| {
            let out = if *ended {
                None
            } else {
                match ev {
                    Ok(p) if super::is_gap(&p) => {
                        *ended = true;
                        Some(Some(Err(ApiError::Unavailable(format!(
                            "events may have been missed ({}); resubscribe with `since` to catch up from the database",
                            p["gap"].as_str().unwrap_or("the event feed reconnected")
                        )))))
                    }
                    Ok(p) => {
                        let row = p["row"].as_object().and_then(|r| row_of_payload(t, r));
                        let seen = seen.lock().expect("seen");
                        Some(row.filter(|r| !seen.contains(&identity(r))).map(Ok))
                    }
                    Err(BroadcastStreamRecvError::Lagged(n)) => {
                        crate::telemetry::METRICS.events.with_label_values(&["dropped"]).inc_by(n);
                        *ended = true;
                        Some(Some(Err(ApiError::TooComplex(format!(
                            "subscriber fell {n} events behind and was closed; resubscribe with `since` to catch up from the database"
                        )))))
                    }
                }
            };
            futures_util::future::ready(out)
        })
        .filter_map(futures_util::future::ready);
    head.chain(tail).boxed()
}

/// Rows a replay reads per statement, as the subscriber takes them.
const PAGE: u64 = 1000;

/// The rows of `t` matching `cond` in `order` (ending in the primary key), at most
/// `MAX_REPLAY`, read a page at a time; each noted in `seen`.
fn replay(
    state: AppState,
    t: &'static Table,
    cond: Cond,
    order: Vec<(usize, bool)>,
    seen: Seen,
) -> BoxStream<'static, Item> {
    let pages = stream::unfold(Some((Vec::<Cell>::new(), 0u64)), move |at| {
        let (state, cond, order, seen) = (state.clone(), cond.clone(), order.clone(), seen.clone());
        async move {
            let (cursor, sent) = at?;
            let cond = if cursor.is_empty() { cond } else { Cond::All(vec![cond, keyset(t, &order, &cursor, true)]) };
            let want = PAGE.min(MAX_REPLAY - sent);
            let q = ListQuery::matching(cond, order.clone(), want);
            let mut rows = match read::list(&state.db.read, t, &q, None).await {
                Ok(rows) => rows,
                Err(e) => return Some((vec![Err(e)], None)),
            };
            rows.truncate(want as usize);
            seen.lock().expect("seen").extend(rows.iter().map(identity));
            let sent = sent + rows.len() as u64;
            let next = match rows.last() {
                Some(last) if rows.len() as u64 == want && sent < MAX_REPLAY => {
                    Some((order.iter().map(|(c, _)| last.cells[*c].clone()).collect(), sent))
                }
                _ => None,
            };
            Some((rows.into_iter().map(Ok).collect::<Vec<Item>>(), next))
        }
    });
    pages.flat_map(stream::iter).boxed()
}

/// The rows of `t` published on `topics` from now on, after (when `cond` is given) the stored
/// rows matching `cond` in `order`.
pub async fn subscribe_with_replay(
    state: &AppState,
    t: &'static Table,
    topics: Vec<Topic>,
    cond: Option<Cond>,
    order: Vec<(usize, bool)>,
) -> Result<BoxStream<'static, Item>, ApiError> {
    // Receivers exist from here on; the replay read after may overlap them, never miss.
    let receivers: Vec<_> = topics.iter().map(|tp| state.events.subscribe(tp)).collect();
    let seen = Seen::default();
    let head = match cond {
        Some(cond) => replay(state.clone(), t, cond, order, seen.clone()),
        None => stream::empty().boxed(),
    };
    Ok(feed(t, receivers, head, seen))
}
