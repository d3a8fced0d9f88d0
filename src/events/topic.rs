//! The bus's topics and messages: the one place channel names are spelled, for publishers
//! (writes, the database listener, snapshots) and subscribers alike.
use serde_json::{Map, Value};
use std::sync::Arc;

/// An event: a row of a table, as text per column (exact for decimals and times).
pub type Payload = Arc<Value>;

/// A channel of the event bus.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// Minute candles of one symbol.
    Candle { symbol: String },
    /// Daily bars of one ticker.
    Bar { ticker: String, region: String },
    /// Status changes of one workflow's runs.
    Execution { workflow: String },
    /// Workflow runs waiting for a worker.
    PendingRuns,
    /// Market snapshots of one market type.
    Snapshot { market_type: String },
    /// Changes of any table (`changes::Change`).
    Changes,
}

/// The channel of gap signals, delivered to every topic's subscribers.
pub(super) const GAP: &str = "__gap";

/// A gap signal saying why.
pub(super) fn gap(why: &str) -> Payload {
    Arc::new(serde_json::json!({ "gap": why }))
}

impl Topic {
    /// The channel name (after the Redis prefix, when shared).
    pub fn channel(&self) -> String {
        match self {
            Topic::Candle { symbol } => format!("candle:{symbol}"),
            Topic::Bar { ticker, region } => format!("bar:{ticker}:{region}"),
            Topic::Execution { workflow } => format!("exec:{workflow}"),
            Topic::PendingRuns => "exec:pending".into(),
            Topic::Snapshot { market_type } => format!("snapshot:{market_type}"),
            Topic::Changes => "changes".into(),
        }
    }

    /// The topics of a row event of `table` (from its payload's row); none when the table
    /// has no live feeds. A pending workflow run is also news to the workers waiting for work.
    pub fn of_row(table: &str, row: &Map<String, Value>) -> Vec<Topic> {
        let s = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match table {
            "market_candles" => vec![Topic::Candle { symbol: s("symbol") }],
            "ohlcv_data" => vec![Topic::Bar { ticker: s("ticker"), region: s("region") }],
            "workflow_execution_logs" => {
                let mut out = vec![Topic::Execution { workflow: s("workflow_id") }];
                if s("status") == "pending" {
                    out.push(Topic::PendingRuns);
                }
                out
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Topic;
    use serde_json::json;

    #[test]
    fn rows_name_their_channels() {
        let of = |table: &str, row: serde_json::Value| -> Vec<String> {
            Topic::of_row(table, row.as_object().unwrap()).iter().map(Topic::channel).collect()
        };
        assert_eq!(of("market_candles", json!({"symbol": "VCB"})), ["candle:VCB"]);
        assert_eq!(of("ohlcv_data", json!({"ticker": "AAPL", "region": "US"})), ["bar:AAPL:US"]);
        assert_eq!(
            of("workflow_execution_logs", json!({"workflow_id": "w1", "status": "pending"})),
            ["exec:w1", "exec:pending"]
        );
        assert_eq!(of("workflow_execution_logs", json!({"workflow_id": "w1", "status": "done"})), ["exec:w1"]);
        assert!(of("tickers", json!({})).is_empty());
        assert_eq!(Topic::Snapshot { market_type: "VN".into() }.channel(), "snapshot:VN");
    }
}
