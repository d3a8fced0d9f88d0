//! The direct writer's cost per answer, apart from the database and the HTTP server: each bench
//! query is read once from PostgreSQL (its rows kept as PostgreSQL sent them, as the gateway
//! keeps them), then written again and again. A regression of the writer shows here without a
//! sitting of the whole bench.
//!
//! `bash bench/writer.sh` (on the harness's database), or
//! `QG_BENCH_DATABASE_URL=postgres://… cargo bench --bench writer` on any database holding the
//! bench's rows.
use async_graphql::{Request, Variables};
use quantgraph::auth::{Role, Viewer};
use quantgraph::graphql::pipeline::Recorded;
use sha2::Digest;
use std::sync::OnceLock;

// The gateway's allocator (src/main.rs), so allocation costs as much as in the gateway.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const QUERIES: [&str; 3] = ["q1_screen", "q2_chart", "q3_strategies"];

/// Each bench query's reads, recorded before the first measurement.
static RECORDED: OnceLock<Vec<(&'static str, Recorded)>> = OnceLock::new();

fn recorded(query: &str) -> &'static Recorded {
    let all = RECORDED.get().expect("recorded before the benches run");
    &all.iter().find(|(q, _)| *q == query).expect("a bench query").1
}

/// Reads each bench query once through the gateway's own pipeline, as the bench's unauthenticated
/// role (`analyst`), and prints the size and SHA-256 of its answer (bench/README lists them, so
/// a changed answer shows at once).
fn record(url: &str) -> Vec<(&'static str, Recorded)> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut config = quantgraph::config::Config::for_database(url);
        config.bind = "127.0.0.1:0".parse().expect("address");
        let startup = quantgraph::startup::Startup { migrate: false, seed_if_empty: false };
        let app = quantgraph::App::build(&config, startup).await.expect("the gateway on the bench database");
        let pipeline =
            quantgraph::graphql::pipeline::Pipeline::new(&config, Some(app.state.clone())).expect("pipeline");
        let viewer = Viewer { user: None, role: Role::Analyst };
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/queries");
        let mut out = Vec::new();
        for q in QUERIES {
            let text = std::fs::read_to_string(format!("{dir}/{q}.graphql")).expect("query");
            let vars = std::fs::read_to_string(format!("{dir}/{q}.variables.json")).expect("variables");
            let vars = Variables::from_json(serde_json::from_str(&vars).expect("variables are JSON"));
            let req = Request::new(text).variables(vars);
            let rec = pipeline.record(&app.state, req, viewer).await.unwrap_or_else(|e| panic!("{q}: {e}"));
            let answer = rec.write(chrono_tz::UTC).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert!(!answer.contains("\"errors\""), "{q}: {answer}");
            let sha: String =
                sha2::Sha256::digest(answer.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
            println!("{q}: {} bytes, sha256 {sha}…", answer.len());
            out.push((q, rec));
        }
        out
    })
}

fn main() {
    let url = std::env::var("QG_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:55433/quantgraph".to_string());
    if RECORDED.set(record(&url)).is_err() {
        unreachable!("recorded once");
    }
    divan::main();
}

/// One answer written from its recorded rows, in UTC.
#[divan::bench(args = QUERIES)]
fn write(bencher: divan::Bencher, query: &str) {
    let rec = recorded(query);
    let bytes = rec.write(chrono_tz::UTC).expect("answer").len();
    bencher.counter(divan::counter::BytesCount::new(bytes)).bench(|| rec.write(chrono_tz::UTC).expect("answer"));
}

/// As `write`, in a time zone other than UTC (times are converted as they are written).
#[divan::bench(args = QUERIES)]
fn write_in_seoul(bencher: divan::Bencher, query: &str) {
    let rec = recorded(query);
    bencher.bench(|| rec.write(chrono_tz::Asia::Seoul).expect("answer"));
}
