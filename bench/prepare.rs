//! What reading a document costs the gateway before any SQL: parse, validate, collect (a plan
//! cache miss), a cache hit, and the per-request binding of variables, for the bench queries and
//! a fragment-heavy Relay-style query. No database: `cargo run --release --example prepare_bench`.
use async_graphql::Variables;
use quantgraph::auth::Viewer;
use quantgraph::graphql::args::Limits;
use quantgraph::graphql::collect::{self, SchemaIndex};
use quantgraph::graphql::cost::Budget;
use quantgraph::graphql::pipeline::{DocumentCache, Pipeline};
use quantgraph::graphql::plan::{self, BindContext};
use std::time::Instant;

const RELAY: &str = r#"query Chart($t: String!, $r: String!, $n: Int = 60) {
  ticker(ticker: $t, region: $r) { ...Header ohlcv(last: $n) { edges { cursor node { ...Bar } } pageInfo { ...Page } } }
}
fragment Header on Ticker { ticker region name ... on Ticker { stockDetails { ...Details } } }
fragment Details on StockDetails { sector industry marketCap }
fragment Bar on OhlcvBar { date open high low close volume }
fragment Page on PageInfo { hasPreviousPage startCursor }"#;

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = quantgraph::config::Config::for_database("sqlite::memory:");
    let schema = quantgraph::graphql::build_schema(None, quantgraph::schema_limits(&config)).expect("schema");
    let pipeline = |entries: usize, bytes: usize| Pipeline {
        index: SchemaIndex::from_sdl(&schema.sdl()).expect("index"),
        schema: schema.clone(),
        cache: DocumentCache::new(entries, bytes),
        budget: Budget { max_depth: 12, max_page: 1000, default_page: 100, max_complexity: 250_000, max_aliases: 1000 },
        direct_reads: true,
        direct_answers: Default::default(),
    };
    let cold = pipeline(1, 0);
    let warm = pipeline(1000, 32 << 20);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/queries");
    let mut docs: Vec<(String, String, Variables)> = ["q1_screen", "q2_chart", "q3_strategies"]
        .iter()
        .map(|q| {
            let text = std::fs::read_to_string(format!("{dir}/{q}.graphql")).expect("query");
            let vars = std::fs::read_to_string(format!("{dir}/{q}.variables.json")).expect("variables");
            (q.to_string(), text, Variables::from_json(serde_json::from_str(&vars).expect("json")))
        })
        .collect();
    docs.push(("relay".into(), RELAY.into(), Variables::from_json(serde_json::json!({ "t": "HPG", "r": "VN" }))));
    let viewer = Viewer::ANONYMOUS;
    let n = 2000;
    println!("| document | miss: parse + validate + collect | hit | bind variables + plan | miss / hit |");
    println!("|---|---|---|---|---|");
    rt.block_on(async {
        for (name, text, vars) in &docs {
            let time = |f: &dyn Fn()| {
                let t = Instant::now();
                for _ in 0..n {
                    f();
                }
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            };
            // Warm both once (the cold cache keeps nothing).
            let prepared = warm.prepare(text, None).await.expect("prepared");
            assert!(prepared.errors.is_empty(), "{name}: {:?}", prepared.errors);
            let t = Instant::now();
            for _ in 0..n {
                cold.prepare(text, None).await.expect("prepared");
            }
            let miss = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            let t = Instant::now();
            for _ in 0..n {
                warm.prepare(text, None).await.expect("prepared");
            }
            let hit = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            let collected = prepared.collected.clone().expect("collected");
            let bind = time(&|| {
                let mut v = vars.clone();
                let def = collect::operation(&prepared.doc, None).expect("operation");
                assert!(warm.index.check_variables(def, &v).is_empty());
                collect::apply_variable_defaults(&prepared.doc, None, &mut v);
                let b = BindContext { viewer: &viewer, limits: Limits { default_page: 100, max_page: 1000 }, vars: &v };
                std::hint::black_box(plan::bind(&b, &collected));
            });
            println!("| {name} | {miss:.1} µs | {hit:.1} µs | {bind:.1} µs | {:.0}× |", miss / hit);
        }
    });
    println!("\n{n} iterations each, one thread; `miss` is what every request would pay without the plan cache.");
}
