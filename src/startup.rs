//! Start-up: connects the stores, migrates and seeds, wires the shared state and the request
//! pipeline, binds and serves. `App::build` is the only way the service starts — the binary and
//! every test use it.
use crate::auth::{Role, Tokens, Viewer};
use crate::config::Config;
use crate::data::db::Db;
use crate::data::query::Limits;
use crate::graphql::pipeline::Pipeline;
use crate::graphql::scalars::parse_tz;
use crate::{graphql, http, AppState};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Sign-ins waiting for a password-hashing slot before more are refused with `RATE_LIMITED`.
const PASSWORD_QUEUE: usize = 32;
/// How long an account seen to exist is trusted before its tokens' next look-up.
const LIVE_ACCOUNT_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// The public development secret lets anyone mint admin tokens: it is accepted only on loopback,
/// and a secret for any other address must be at least 32 bytes.
fn check_secret(config: &Config) -> anyhow::Result<()> {
    let secret = &config.jwt_secret.0;
    if config.bind.ip().is_loopback() {
        return Ok(());
    }
    if secret == crate::config::DEV_JWT_SECRET {
        anyhow::bail!(
            "JWT_SECRET is not set: with the public development secret anyone could mint admin tokens. \
             Set JWT_SECRET to 32 or more random bytes (e.g. `openssl rand -base64 48`) to serve on {}",
            config.bind
        );
    }
    if secret.split(',').next().unwrap_or("").trim().len() < 32 {
        anyhow::bail!("JWT_SECRET is shorter than 32 bytes: use 32 or more random bytes to serve on {}", config.bind);
    }
    Ok(())
}

/// A started gateway: bound to `addr`, serving until dropped or `stop`ped.
pub struct App {
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
}

/// Returns workflow runs whose worker stopped renewing to the queue, on every replica (the
/// update is atomic per run, so replicas sweeping at once do not double up).
async fn sweep_runs(state: AppState) {
    let mut every = tokio::time::interval(graphql::workflow_runs::SWEEP_EVERY);
    loop {
        every.tick().await;
        if let Err(e) = graphql::workflow_runs::sweep(&state).await {
            tracing::warn!(error = ?e, "lapsed workflow runs could not be returned to the queue");
        }
    }
}

/// Drops changes older than `hours` from the change log, every few minutes (any replica may:
/// the statement is idempotent).
async fn prune_change_log(db: sea_orm::DatabaseConnection, hours: u64) {
    let period = std::time::Duration::from_secs(300);
    // Not at start-up, where it would race the seed and the first writes for SQLite's lock.
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        every.tick().await;
        if let Err(e) = crate::data::stream::prune(&db, (hours * 3600) as i64).await {
            tracing::warn!(error = ?e, "the change log could not be pruned");
        }
    }
}

/// What `App::build` does to the database before serving.
#[derive(Clone, Copy, Debug)]
pub struct Startup {
    pub migrate: bool,
    /// Fill an empty database with the demo data set.
    pub seed_if_empty: bool,
}

impl App {
    /// Connects, migrates, builds the schema and binds `config.bind` (port 0 picks a free port).
    pub async fn build(config: &Config, startup: Startup) -> anyhow::Result<App> {
        check_secret(config)?;
        let default_tz =
            parse_tz(&config.timezone).map_err(|e| anyhow::anyhow!("QUANTGRAPH_TIMEZONE: {}", e.message()))?;
        let mut db = Db::connect(config).await?;
        if startup.migrate {
            db.migrate().await?;
        }
        if startup.seed_if_empty && crate::seed::is_empty(&db).await? {
            tracing::info!("empty database: writing the demo data set");
            crate::seed::run(&db, 1, false).await?;
        }
        let state = AppState {
            db,
            limits: Limits { default_page: config.default_page_size, max_page: config.max_page_size },
            tokens: Tokens::new(&config.jwt_secret.0),
            default_tz,
            fernet: match &config.fernet_key {
                Some(k) => Some(Arc::new(
                    fernet::Fernet::new(&k.0).ok_or_else(|| anyhow::anyhow!("FERNET_KEY is not a valid Fernet key"))?,
                )),
                None => None,
            },
            snapshots: match &config.redis_url {
                Some(url) => crate::cache::SnapshotCache::redis(url).await?,
                None => crate::cache::SnapshotCache::local(),
            },
            snapshot_ttl: std::time::Duration::from_secs(config.snapshot_ttl_secs),
            memories: crate::vector::connect(config).await?,
            events: match &config.redis_url {
                Some(url) => crate::events::EventBus::with_redis(url, &config.redis_prefix).await?,
                None => crate::events::EventBus::local(),
            },
            passwords: Arc::new(crate::auth::PasswordWork::new(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                PASSWORD_QUEUE,
            )),
            live_accounts: Arc::new(crate::auth::LiveAccounts::new(100_000, LIVE_ACCOUNT_TTL)),
            documents: Arc::new(crate::graphql::documents::Documents::new(
                config.persisted_queries,
                config.persisted_query_bytes,
                config.trusted_documents.as_deref(),
            )?),
            workflow_max_attempts: config.workflow_max_attempts.max(1),
            max_pending_closed_bars: config.max_pending_closed_bars.max(1),
            bar_bases: Arc::new(crate::cache::bounded::Bounded::new(100_000, 16 * 1024 * 1024, |_| 96)),
            live_queue_peak: Default::default(),
            responses: (config.response_cache_bytes > 0)
                .then(|| Arc::new(crate::cache::responses::ResponseCache::new(config.response_cache_bytes))),
            live: Default::default(),
            streams: Default::default(),
            unauthenticated: match config.unauthenticated_role.as_str() {
                "anonymous" => Viewer::ANONYMOUS,
                "analyst" => Viewer { user: None, role: Role::Analyst },
                other => anyhow::bail!("QUANTGRAPH_UNAUTHENTICATED_ROLE must be anonymous or analyst, not `{other}`"),
            },
        };
        // Change events are followed before the first request can fill the cache.
        if let Some(standby) = &state.db.read.standby {
            // The standby is read once it has replayed what the primary holds now (migrations
            // and seed included).
            standby.require_primary_now().await;
        }
        crate::cache::follow::follow_changes(
            &state.events,
            state.responses.clone(),
            state.db.read.standby.clone(),
            state.live.clone(),
        );
        crate::events::pg_bridge::start(&state.db.write, state.events.clone());
        if state.db.backend == sea_orm::DbBackend::Sqlite {
            crate::events::changes::watch_sqlite(
                state.db.write.get_sqlite_connection_pool().clone(),
                state.events.clone(),
            );
        }
        let sweeper = tokio::spawn({
            let prune = prune_change_log(state.db.write.clone(), config.stream_retention_hours);
            let sweep = sweep_runs(state.clone());
            async move {
                tokio::join!(sweep, prune);
            }
        });
        let pipeline = Pipeline::new(config, Some(state.clone()))?;
        let (router, closing) = http::router(config, state.clone(), pipeline)?;
        let listener =
            TcpListener::bind(config.bind).await.map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", config.bind))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router.into_make_service_with_connect_info::<crate::http::client::Peer>())
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                    // Open WebSockets are told and closed, so the graceful shutdown can finish.
                    closing.send_replace(true);
                })
                .await;
        });
        Ok(App { addr, state, shutdown: Some(tx), server, sweeper })
    }

    /// Serves until the process gets Ctrl-C or SIGTERM.
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        #[cfg(unix)]
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        self.stop().await;
        Ok(())
    }

    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        self.sweeper.abort();
    }
}
