//! Redis fan-out: one connection publishes, one pattern subscription feeds this replica's
//! local channels; both reconnect with backoff. Nothing is lost silently: an event Redis would
//! not take is delivered to this replica's subscribers and followed, once Redis takes messages
//! again, by a gap signal to every replica; a replica whose subscription dropped signals a gap
//! to its own subscribers when it is back.
use super::topic::{gap, Payload, GAP};
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::UnboundedSender<(String, Payload)>,
}

impl Publisher {
    pub fn publish(&self, topic: &str, payload: Payload) {
        let _ = self.tx.send((topic.to_string(), payload));
    }
}

/// Connects (failing fast when Redis is unreachable) and starts the two background tasks;
/// `deliver` hands what Redis brings to this replica's subscribers.
pub async fn start(
    url: &str,
    prefix: &str,
    deliver: impl Fn(&str, Payload) + Clone + Send + Sync + 'static,
) -> anyhow::Result<Publisher> {
    let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
    let mut manager =
        ConnectionManager::new(client.clone()).await.map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Payload)>();
    let out_prefix = prefix.to_string();
    let local = deliver.clone();
    tokio::spawn(async move {
        let mut lost = false;
        while let Some((topic, payload)) = rx.recv().await {
            if lost {
                let gap = gap("an event could not be published to Redis").to_string();
                lost = !publish(&mut manager, &format!("{out_prefix}{}", GAP), &gap).await;
            }
            if !publish(&mut manager, &format!("{out_prefix}{topic}"), &payload.to_string()).await {
                // The other replicas missed it; this one's subscribers still get it.
                tracing::warn!(topic, "event not published to Redis: delivered on this replica only");
                local(&topic, payload);
                lost = true;
            }
        }
    });
    let in_prefix = prefix.to_string();
    let mut pubsub = client.get_async_pubsub().await.map_err(|e| anyhow::anyhow!("cannot reach Redis: {e}"))?;
    pubsub.psubscribe(format!("{in_prefix}*")).await?;
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut stream = pubsub.into_on_message();
            while let Some(msg) = stream.next().await {
                let channel: String = msg.get_channel_name().to_string();
                let Some(topic) = channel.strip_prefix(&in_prefix) else { continue };
                let Ok(body) = msg.get_payload::<String>() else { continue };
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&body) {
                    deliver(topic, std::sync::Arc::new(v));
                }
            }
            tracing::warn!("Redis subscription lost; reconnecting");
            loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                if let Ok(mut p) = client.get_async_pubsub().await {
                    if p.psubscribe(format!("{in_prefix}*")).await.is_ok() {
                        pubsub = p;
                        backoff = Duration::from_millis(100);
                        break;
                    }
                }
            }
            // Whatever was published while this replica was not listening is lost to it.
            deliver(GAP, gap("redis subscription reconnected"));
        }
    });
    Ok(Publisher { tx })
}

/// One PUBLISH, tried a second time after the connection manager's reconnect.
async fn publish(manager: &mut ConnectionManager, channel: &str, body: &str) -> bool {
    for _ in 0..2 {
        match redis::cmd("PUBLISH").arg(channel).arg(body).query_async::<i64>(manager).await {
            Ok(_) => return true,
            Err(e) => tracing::debug!(error = %e, "PUBLISH failed"),
        }
    }
    false
}
