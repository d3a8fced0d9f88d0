//! WebSocket liveness. A subscriber may stay silent for hours while it waits for events, and
//! graphql-ws clients send no keep-alive of their own unless configured to, so the server keeps
//! the connection alive: a WebSocket Ping frame every `every`, which browsers and client
//! libraries answer with a Pong without the application knowing. Proxies see traffic, and a
//! peer that has vanished (no frame of any kind for three intervals) is closed with 1001,
//! which releases its subscriptions. All writes go through one writer task, so pings and events
//! never interleave within a frame.
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::{SplitStream, Stream, StreamExt};
use futures_util::SinkExt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sending side of a connection: messages for its writer task.
pub type Outbox = futures_channel::mpsc::Sender<Message>;

/// Splits `socket` into an outbox (written by one task that also sends the pings) and the
/// incoming frames (each of which counts as a sign of life).
pub fn split(socket: WebSocket, every: Duration) -> (Outbox, impl Stream<Item = Result<Message, axum::Error>>) {
    let (mut sink, stream): (_, SplitStream<WebSocket>) = socket.split();
    let started = Instant::now();
    let last_seen = Arc::new(AtomicU64::new(0));
    let seen = last_seen.clone();
    // The writer's end ends the incoming frames too, so the connection's handler stops.
    let (writing, written) = tokio::sync::oneshot::channel::<()>();
    let incoming =
        stream.inspect(move |_| seen.store(started.elapsed().as_millis() as u64, Relaxed)).take_until(written);
    let (outbox, mut queued) = futures_channel::mpsc::channel::<Message>(16);
    tokio::spawn(async move {
        let _writing = writing;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                m = queued.next() => match m {
                    Some(m) => if sink.send(m).await.is_err() { break },
                    // Every sender is gone: the connection is over.
                    None => break,
                },
                _ = ticks.tick() => {
                    let silent = started.elapsed().saturating_sub(Duration::from_millis(last_seen.load(Relaxed)));
                    if silent > every * 3 {
                        let why = CloseFrame { code: 1001, reason: "no answer to pings".into() };
                        let _ = sink.send(Message::Close(Some(why))).await;
                        break;
                    }
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sink.close().await;
    });
    (outbox, incoming)
}
