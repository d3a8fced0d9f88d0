//! Configuration as data: flags with environment fallbacks, parsed once in `main`.
use clap::Args;
use std::{fmt, net::SocketAddr, path::PathBuf};

/// The JWT secret when none is configured: public, so accepted only on a loopback address.
pub const DEV_JWT_SECRET: &str = "dev-only-insecure-secret";

/// A secret that never prints.
#[derive(Clone, Default)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Primary database (PostgreSQL or SQLite URL).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://quantgraph.db?mode=rwc", global = true)]
    pub database_url: String,
    /// Optional read replica for queries.
    #[arg(long, env = "DATABASE_READ_URL", global = true)]
    pub database_read_url: Option<String>,
    /// Maximum connections per database pool.
    #[arg(long, env = "QUANTGRAPH_DB_POOL", default_value_t = 16, global = true)]
    pub db_pool: u32,
    /// Redis for pub/sub fan-out and the snapshot cache (in-process when unset).
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Prefix of this deployment's Redis channels and keys.
    #[arg(long, env = "QUANTGRAPH_REDIS_PREFIX", default_value = "quantgraph:", global = true)]
    pub redis_prefix: String,
    /// Seconds a published market snapshot stays readable.
    #[arg(long, env = "QUANTGRAPH_SNAPSHOT_TTL_SECS", default_value_t = 60, global = true)]
    pub snapshot_ttl_secs: u64,
    /// Qdrant server for vector memories (embedded store when unset).
    #[arg(long, env = "QDRANT_URL", global = true)]
    pub qdrant_url: Option<String>,
    /// API key of that Qdrant server, if it wants one.
    #[arg(long, env = "QDRANT_API_KEY", global = true)]
    pub qdrant_api_key: Option<Secret>,
    /// Candidates a memory search keeps while walking the HNSW graph (`ef`): higher finds more of
    /// the true nearest neighbours and costs more time (see bench/README.md for the trade-off).
    #[arg(long, env = "QUANTGRAPH_MEMORY_SEARCH_EF", default_value_t = 1024, global = true)]
    pub memory_search_ef: usize,
    /// Address to serve on.
    #[arg(long, env = "QUANTGRAPH_BIND", default_value = "127.0.0.1:8000", global = true)]
    pub bind: SocketAddr,
    /// Directory for embedded stores.
    #[arg(long, env = "QUANTGRAPH_DATA_DIR", default_value = "quantgraph-data", global = true)]
    pub data_dir: PathBuf,
    /// HS256 secret for access tokens.
    #[arg(
        long,
        env = "JWT_SECRET",
        default_value = DEV_JWT_SECRET,
        hide_default_value = true,
        global = true
    )]
    pub jwt_secret: Secret,
    /// Fernet key for broker tokens at rest.
    #[arg(long, env = "FERNET_KEY", global = true)]
    pub fernet_key: Option<Secret>,
    /// Role of requests without a token (like Hasura's unauthorized role): `anonymous` (public
    /// market data only) or, on a trusted internal network, `analyst`.
    #[arg(long, env = "QUANTGRAPH_UNAUTHENTICATED_ROLE", default_value = "anonymous", global = true)]
    pub unauthenticated_role: String,
    /// IANA zone in which DateTime values are rendered unless a request sends `Time-Zone`.
    #[arg(long, env = "QUANTGRAPH_TIMEZONE", default_value = "UTC", global = true)]
    pub timezone: String,
    /// Page size when a list gets neither `first` nor `last`.
    #[arg(long, env = "QUANTGRAPH_DEFAULT_PAGE_SIZE", default_value_t = 100, global = true)]
    pub default_page_size: u64,
    /// Largest `first`/`last` accepted.
    #[arg(long, env = "QUANTGRAPH_MAX_PAGE_SIZE", default_value_t = 1000, global = true)]
    pub max_page_size: u64,
    /// Deepest selection accepted.
    #[arg(long, env = "QUANTGRAPH_MAX_DEPTH", default_value_t = 12, global = true)]
    pub max_depth: usize,
    /// Largest query complexity accepted (fields, lists weighted by their page size).
    #[arg(long, env = "QUANTGRAPH_MAX_COMPLEXITY", default_value_t = 250_000, global = true)]
    pub max_complexity: usize,
    /// Most aliased fields in one operation.
    #[arg(long, env = "QUANTGRAPH_MAX_ALIASES", default_value_t = 1000, global = true)]
    pub max_aliases: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "QUANTGRAPH_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024, global = true)]
    pub max_body_bytes: usize,
    /// Browser origins allowed to call the API (comma-separated; `*` for any). None when unset.
    #[arg(long, env = "QUANTGRAPH_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// Requests per minute per account (or per client address without a valid token); 0 turns it off.
    #[arg(long, env = "QUANTGRAPH_RATE_LIMIT", default_value_t = 0, global = true)]
    pub rate_limit: u32,
    /// Proxies whose `X-Forwarded-For` is believed (comma-separated addresses or CIDR blocks);
    /// the client of a request from anywhere else is its peer address.
    #[arg(long, env = "QUANTGRAPH_TRUSTED_PROXIES", global = true)]
    pub trusted_proxies: Option<String>,
    /// Live subscriptions one WebSocket connection may hold.
    #[arg(long, env = "QUANTGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 100, global = true)]
    pub max_subscriptions_per_connection: usize,
    /// Live subscriptions the whole process may hold (of every kind, over all connections).
    #[arg(long, env = "QUANTGRAPH_MAX_SUBSCRIPTIONS", default_value_t = 100_000, global = true)]
    pub max_subscriptions: usize,
    /// Most operations in one batched POST (a JSON array of requests); each counts as a request
    /// in the rate limit.
    #[arg(long, env = "QUANTGRAPH_MAX_BATCH", default_value_t = 20, global = true)]
    pub max_batch: usize,
    /// Seconds between the server's WebSocket pings; a connection that answers nothing for three
    /// of them is closed.
    #[arg(long, env = "QUANTGRAPH_WS_PING_SECS", default_value_t = 20, global = true)]
    pub ws_ping_secs: u64,
    /// WebSocket connections one token (or one client address without a token) may hold.
    #[arg(long, env = "QUANTGRAPH_MAX_CONNECTIONS_PER_TOKEN", default_value_t = 1000, global = true)]
    pub max_connections_per_token: usize,
    /// Answer plain reads with the direct JSON writer (`false`: the general executor answers
    /// everything, with the same bytes, more slowly).
    #[arg(long, env = "QUANTGRAPH_DIRECT_READS", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub direct_reads: bool,
    /// The driver of reads on PostgreSQL: `tokio-postgres` (rows decoded straight from their
    /// binary form; about half the CPU per row) or `sqlx` (sea-orm's, as writes use).
    #[arg(long, env = "QUANTGRAPH_PG_READ_DRIVER", value_enum, default_value_t = ReadDriver::TokioPostgres, global = true)]
    pub pg_read_driver: ReadDriver,
    /// Bytes of query answers the response cache may hold on this replica (answers to catalog
    /// reads, evicted by change events; see README); 0 switches it off.
    #[arg(long, env = "QUANTGRAPH_RESPONSE_CACHE_BYTES", default_value_t = 0, global = true)]
    pub response_cache_bytes: usize,
    /// Hours the change log keeps changes for table streams; a stream cursor older than this
    /// has expired.
    #[arg(long, env = "QUANTGRAPH_STREAM_RETENTION_HOURS", default_value_t = 168, global = true)]
    pub stream_retention_hours: u64,
    /// Documents kept parsed, validated and planned.
    #[arg(long, env = "QUANTGRAPH_PLAN_CACHE_ENTRIES", default_value_t = 1000, global = true)]
    pub plan_cache_entries: usize,
    /// Estimated bytes the plan cache may hold.
    #[arg(long, env = "QUANTGRAPH_PLAN_CACHE_BYTES", default_value_t = 32 * 1024 * 1024, global = true)]
    pub plan_cache_bytes: usize,
    /// Documents kept for automatic persisted queries (sent once with their SHA-256, then by
    /// hash alone); 0 turns them off.
    #[arg(long, env = "QUANTGRAPH_PERSISTED_QUERIES", default_value_t = 10_000, global = true)]
    pub persisted_queries: usize,
    /// Bytes of document text the persisted queries may hold.
    #[arg(long, env = "QUANTGRAPH_PERSISTED_QUERY_BYTES", default_value_t = 16 * 1024 * 1024, global = true)]
    pub persisted_query_bytes: usize,
    /// A manifest of trusted documents (JSON: SHA-256 → document, as graphql-codegen's client
    /// preset writes it): only those run, unless the caller is an admin.
    #[arg(long, env = "QUANTGRAPH_TRUSTED_DOCUMENTS", global = true)]
    pub trusted_documents: Option<std::path::PathBuf>,
    /// Closed bars a slow live-bar subscriber may have waiting before it is closed and told to
    /// resubscribe with `since` (forming bars are conflated: latest wins).
    #[arg(long, env = "QUANTGRAPH_MAX_PENDING_CLOSED_BARS", default_value_t = 1000, global = true)]
    pub max_pending_closed_bars: usize,
    /// Times a workflow run may be claimed: a run whose worker's lease lapses goes back to the
    /// queue until then, and is marked failed after.
    #[arg(long, env = "QUANTGRAPH_WORKFLOW_MAX_ATTEMPTS", default_value_t = 3, global = true)]
    pub workflow_max_attempts: u32,
    /// Serve introspection and the playground (switch off in production if wanted).
    #[arg(long, env = "QUANTGRAPH_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
}

impl Config {
    /// The configuration a test or an embedding program starts from.
    pub fn for_database(url: &str) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let mut c = Wrapper::parse_from(["quantgraph"]).config;
        c.database_url = url.to_string();
        c
    }
}

/// Which driver runs reads on PostgreSQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadDriver {
    TokioPostgres,
    Sqlx,
}
