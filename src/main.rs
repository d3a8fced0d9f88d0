//! The `quantgraph` command: parses the CLI and calls the library.
use clap::{Parser, Subcommand};
use quantgraph::config::Config;
use quantgraph::data::db::Db;
use quantgraph::startup::{App, Startup};

// Responses are built from many small allocations (rows, cells, strings); mimalloc serves
// them markedly faster than the system allocator under concurrency.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "quantgraph", version, about = "GraphQL gateway over quant market-data and research databases")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Serve GraphQL (the default): migrates first unless --no-migrate.
    Serve {
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply pending migrations (or --down to roll all back).
    Migrate {
        #[arg(long)]
        down: bool,
    },
    /// Fill an empty database with deterministic demo data (--scale 100 is bench size).
    Seed {
        #[arg(long, default_value_t = 1)]
        scale: u32,
    },
    /// Print the GraphQL schema (SDL).
    ExportSchema,
    /// Print an access token signed with JWT_SECRET (e.g. for an ingest worker).
    Token {
        #[arg(long, default_value = "service")]
        role: String,
        /// The token's subject (a user id, or a worker's name).
        #[arg(long, default_value = "worker")]
        subject: String,
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve { no_migrate: false }) {
        Command::Serve { no_migrate } => {
            let sqlite = config.database_url.starts_with("sqlite:");
            let app =
                App::build(&config, Startup { migrate: !no_migrate, seed_if_empty: sqlite && !no_migrate }).await?;
            tracing::info!("QuantGraph serving GraphQL at http://{}/graphql", app.addr);
            app.run_until_signal().await
        }
        Command::Migrate { down } => {
            let mut db = Db::connect(&config).await?;
            if down {
                use migration::MigratorTrait;
                migration::Migrator::down(&db.write, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            } else {
                db.migrate().await?;
            }
            Ok(())
        }
        Command::Seed { scale } => {
            let mut db = Db::connect(&config).await?;
            db.migrate().await?;
            if !quantgraph::seed::is_empty(&db).await? {
                anyhow::bail!("the database already holds data; seed only fills an empty one");
            }
            let t = std::time::Instant::now();
            quantgraph::seed::run(&db, scale.max(1), true).await?;
            eprintln!("seeded in {:.1} s", t.elapsed().as_secs_f64());
            Ok(())
        }
        Command::Token { role, subject, ttl_hours } => {
            let role = quantgraph::auth::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role: user, analyst, service or admin"))?;
            let tokens = quantgraph::auth::Tokens::new(&config.jwt_secret.0);
            println!("{}", tokens.issue(&subject, role, ttl_hours * 3600)?);
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", quantgraph::export_schema());
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() {
    if let Err(e) = quantgraph::telemetry::traces::init() {
        eprintln!("quantgraph: logging and tracing: {e:#}");
        std::process::exit(1);
    }
    let result = run(Cli::parse()).await;
    quantgraph::telemetry::traces::flush();
    if let Err(e) = result {
        eprintln!("quantgraph: {}", format!("{e:#}").replace('\n', " "));
        std::process::exit(1);
    }
}
