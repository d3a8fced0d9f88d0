//! QuantGraph: a GraphQL gateway over quant market-data and research databases.
//!
//! `App::build` is the only way the service starts — the binary and every test use it.
pub mod auth;
pub mod cache;
pub mod config;
pub mod data;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod loaders;
pub mod seed;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod vector;

use crate::auth::Tokens;
use crate::config::Config;
use crate::data::db::Db;
use crate::data::query::Limits;
use chrono_tz::Tz;

/// Shared state every request sees.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub limits: Limits,
    pub tokens: Tokens,
    pub default_tz: Tz,
    /// Who a request without a token is.
    pub unauthenticated: auth::Viewer,
    /// Encrypts broker tokens at rest (`FERNET_KEY`); broker connections are off without it.
    pub fernet: Option<std::sync::Arc<fernet::Fernet>>,
    pub events: events::EventBus,
    pub snapshots: cache::SnapshotCache,
    /// How long a published market snapshot stays readable.
    pub snapshot_ttl: std::time::Duration,
    /// Users' vector memories (embedded qdrant-edge or a Qdrant server).
    pub memories: vector::Memories,
    /// Password hashing, capped so a burst of logins cannot take every core.
    pub passwords: std::sync::Arc<auth::PasswordWork>,
    /// Accounts recently seen to exist (a deleted account's token is refused).
    pub live_accounts: std::sync::Arc<auth::LiveAccounts>,
    /// Documents sent by hash: automatic persisted queries and the trusted documents.
    pub documents: std::sync::Arc<graphql::documents::Documents>,
    /// Claims of one workflow run before a lapsed lease fails it.
    pub workflow_max_attempts: u32,
    /// Closed bars a slow live-bar subscriber may fall behind before it is told to resubscribe.
    pub max_pending_closed_bars: usize,
    /// The seq base of live bars by (symbol, bucket seconds, bucket start), counted once.
    pub bar_bases: std::sync::Arc<BarBases>,
    /// Most events one live-bar subscription has held for a slow client (`/metrics`).
    pub live_queue_peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Answers to catalog reads, kept exact by change events; `None` when switched off.
    pub responses: Option<std::sync::Arc<cache::responses::ResponseCache>>,
    /// Live queries of this replica, re-run when what they read changes.
    pub live: std::sync::Arc<cache::live::LiveQueries>,
    /// Table streams' shared tail readers.
    pub streams: std::sync::Arc<events::streams::TableStreams>,
}

/// Seq bases of live bars, each counted once however many subscribers meet the bar.
pub type BarBases = cache::bounded::Bounded<(String, i64, i64), std::sync::Arc<tokio::sync::OnceCell<i64>>>;

pub use startup::App;

/// The schema limits a configuration asks for.
pub fn schema_limits(config: &Config) -> graphql::SchemaLimits {
    graphql::SchemaLimits {
        max_depth: config.max_depth,
        max_complexity: config.max_complexity,
        introspection: config.introspection,
    }
}

/// The SDL of the schema, as `export-schema` prints it and `schema.graphql` holds it.
pub fn export_schema() -> String {
    let c = Config::for_database("sqlite::memory:");
    graphql::build_schema(None, schema_limits(&c)).expect("schema builds").sdl()
}
