//! Memory-search bench: fills one user's collection on the embedded store with N random
//! 1536-d memories, waits for the index, then times `searchMemories` over HTTP (the whole
//! request: JSON, validation, search, payloads) and the store call alone, and checks recall@10
//! against an exact ranking. `bash bench/memories.sh` runs it at 10,000 and 100,000.
use quantgraph::config::Config;
use quantgraph::startup::{App, Startup};
use quantgraph::vector::{Memory, MemoryFilter, SearchRequest, DIMENSION};
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::time::Instant;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned()).unwrap_or_else(|| default.to_string())
}

fn vector(r: &mut impl Rng) -> Vec<f32> {
    (0..DIMENSION).map(|_| r.gen_range(-1.0f32..1.0)).collect()
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn summary(name: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    println!(
        "{name:<22} p50 {:>7.2} ms   p99 {:>7.2} ms   ({} searches)",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.len()
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = arg("--memories", "10000").parse()?;
    let queries: usize = arg("--queries", "300").parse()?;
    let dir = std::env::temp_dir().join(format!("quantgraph-memory-bench-{}", std::process::id()));
    let mut config = Config::for_database(&format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()));
    std::fs::create_dir_all(&dir)?;
    config.bind = "127.0.0.1:0".parse()?;
    config.data_dir = dir.clone();
    if let Ok(ef) = std::env::var("QUANTGRAPH_MEMORY_SEARCH_EF") {
        config.memory_search_ef = ef.parse()?;
    }
    let mut app = App::build(&config, Startup { migrate: true, seed_if_empty: false }).await?;
    let user = uuid::Uuid::new_v4();
    let store = app.state.memories.clone();
    let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(42);

    let t = Instant::now();
    let mut data = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(1000) {
        let items: Vec<(Memory, Vec<f32>)> = (chunk * 1000..((chunk + 1) * 1000).min(n))
            .map(|i| {
                let ts = chrono::Utc::now();
                let m = Memory {
                    id: quantgraph::vector::memory_id(ts).unwrap(),
                    memory_type: "analysis".into(),
                    company: Some(format!("C{}", i % 20)),
                    timestamp: ts,
                    content: format!("m{i}"),
                };
                (m, vector(&mut r))
            })
            .collect();
        data.extend(items.iter().map(|(m, v)| (m.id, unit(v))));
        store.add(user, items).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let loaded = t.elapsed();
    store.settle().await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!(
        "{n} memories of {DIMENSION} dimensions, search ef {}: stored in {:.1} s, indexed {:.1} s later",
        config.memory_search_ef,
        loaded.as_secs_f64(),
        (t.elapsed() - loaded).as_secs_f64()
    );

    let token = app.state.tokens.issue(&user.to_string(), quantgraph::auth::Role::User, 3600).unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://{}/graphql", app.addr);
    let q = "query($e: [Float!]!) { searchMemories(embedding: $e, limit: 10) { score memory { id content } } }";
    // Warm-up: the first searches fault the memory-mapped vectors into the page cache.
    for _ in 0..20 {
        let req = SearchRequest { embedding: vector(&mut r), filter: MemoryFilter::default(), limit: 10, exact: false };
        store.search(user, req).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let (mut over_http, mut in_store, mut found) = (Vec::new(), Vec::new(), 0usize);
    for k in 0..queries {
        let e = vector(&mut r);
        let t = Instant::now();
        let resp: serde_json::Value = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "query": q, "variables": { "e": e } }))
            .send()
            .await?
            .json()
            .await?;
        over_http.push(t.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(resp.get("errors").is_none(), "{resp}");
        let req = SearchRequest { embedding: e.clone(), filter: MemoryFilter::default(), limit: 10, exact: false };
        let t = Instant::now();
        let hits = store.search(user, req).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        in_store.push(t.elapsed().as_secs_f64() * 1e3);
        if k < 50 {
            let q = unit(&e);
            let mut exact: Vec<(f32, uuid::Uuid)> =
                data.iter().map(|(id, v)| (v.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>(), *id)).collect();
            exact.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
            found += exact[..10].iter().filter(|(_, id)| hits.iter().any(|h| h.memory.id == *id)).count();
        }
    }
    summary("searchMemories (HTTP)", over_http);
    summary("store search", in_store);
    println!(
        "recall@10 against an exact ranking: {:.3} (first 50 queries)",
        found as f64 / (10 * queries.min(50)) as f64
    );
    // The store flushes when its last handle goes, so it must go before its directory.
    app.stop().await;
    drop((store, app));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
