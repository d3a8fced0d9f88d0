//! Following change events: each first raises what a standby must have replayed, then evicts
//! the response cache, then re-runs the live queries it concerns.
use super::live::LiveQueries;
use super::responses::ResponseCache;
use crate::data::exec::standby::{parse_lsn, Standby};
use crate::events::changes::{heard, Heard};
use crate::events::{EventBus, Topic};
use std::sync::Arc;

/// Keeps derived reads exact from now on: each change event first raises the WAL position a
/// standby must have replayed to be read (a gap, a lagging listener or an event without one:
/// the primary's position now), then evicts what it affects from the cache (a gap or a lag
/// empties it), then marks the live queries it concerns for a re-run (after the eviction, so
/// their re-run reads past it).
pub fn follow_changes(
    bus: &EventBus,
    cache: Option<Arc<ResponseCache>>,
    standby: Option<Arc<Standby>>,
    live: Arc<LiveQueries>,
) {
    let mut rx = bus.subscribe(&Topic::Changes);
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let heard = match rx.recv().await {
                Ok(p) => {
                    if let Some(s) = &standby {
                        match p["lsn"].as_str().and_then(parse_lsn) {
                            Some(lsn) => s.require(lsn),
                            None => s.require_primary_now().await,
                        }
                    }
                    heard(&p)
                }
                Err(RecvError::Lagged(_)) => {
                    if let Some(s) = &standby {
                        s.require_primary_now().await;
                    }
                    Heard::Anything
                }
                Err(RecvError::Closed) => return,
            };
            match (&cache, &heard) {
                (Some(c), Heard::Change(change)) => c.apply(change),
                (Some(c), Heard::Anything) => c.flush(),
                (None, _) => {}
            }
            live.apply(&heard);
        }
    });
}
