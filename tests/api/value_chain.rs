//! `valueChain` against a path search written here from the edges as created: same nodes, same
//! nearest depths, same strongest paths and exposures, one SQL statement per walk.
use crate::common::*;
use quantgraph::auth::Role;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;

const WALK: &str = "query($t: String!, $d: ValueChainDirection, $m: Int, $c: Float) { \
    valueChain(ticker: $t, direction: $d, maxDepth: $m, minCorrelation: $c) { depth exposure node { rowId symbol } path { rowId } } }";

struct Edge {
    from: usize,
    to: usize,
    corr: Option<f64>,
}

/// Per reachable node: (fewest edges, strongest exposure, strongest path) over simple paths.
fn expected(
    n: usize,
    edges: &[Edge],
    start: usize,
    dir: &str,
    max: usize,
    min: Option<f64>,
) -> HashMap<usize, (usize, Option<f64>, Vec<usize>)> {
    let mut steps: Vec<Vec<(usize, Option<f64>)>> = vec![Vec::new(); n];
    for e in edges {
        if min.is_some_and(|m| !e.corr.is_some_and(|c| c.abs() >= m)) {
            continue;
        }
        if dir != "UPSTREAM" {
            steps[e.from].push((e.to, e.corr));
        }
        if dir != "DOWNSTREAM" {
            steps[e.to].push((e.from, e.corr));
        }
    }
    let mut best: HashMap<usize, (usize, Option<f64>, Vec<usize>)> = HashMap::new();
    fn dfs(
        at: usize,
        path: &mut Vec<usize>,
        exp: Option<f64>,
        steps: &[Vec<(usize, Option<f64>)>],
        max: usize,
        best: &mut HashMap<usize, (usize, Option<f64>, Vec<usize>)>,
    ) {
        if path.len() > 1 {
            let depth = path.len() - 1;
            let e = best.entry(at).or_insert((depth, exp, path.clone()));
            e.0 = e.0.min(depth);
            let stronger = match (exp, e.1) {
                (Some(a), Some(b)) => a.abs() > b.abs(),
                (Some(_), None) => true,
                _ => false,
            };
            if stronger {
                (e.1, e.2) = (exp, path.clone());
            }
        }
        if path.len() > max {
            return;
        }
        for (next, c) in &steps[at] {
            if path.contains(next) {
                continue;
            }
            path.push(*next);
            dfs(*next, path, exp.zip(*c).map(|(a, b)| a * b), steps, max, best);
            path.pop();
        }
    }
    dfs(start, &mut vec![start], Some(1.0), &steps, max, &mut best);
    best
}

#[tokio::test]
async fn value_chain_walks_match_a_path_search() {
    for backend in backends() {
        let app = spawn_with(backend, false, |_| {}).await;
        let analyst = token(&app, Role::Analyst);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let n = 14;
        let mut ids = Vec::new();
        for i in 0..n {
            let r = as_role(
                &app,
                &analyst,
                "mutation($s: String) { createValueChainNode(input: { symbol: $s, name: \"n\", sector: \"s\", nodeType: \"Midstream\" }) { rowId } }",
                json!({ "s": format!("N{i}") }),
            )
            .await;
            ids.push(r["data"]["createValueChainNode"]["rowId"].as_str().unwrap_or_else(|| panic!("{r}")).to_string());
        }
        let mut edges = Vec::new();
        // A ring (a cycle through every node), then random chords; one edge in eight has no correlation.
        for i in 0..n {
            edges.push((i, (i + 1) % n));
        }
        for _ in 0..18 {
            let (a, b) = (rng.gen_range(0..n), rng.gen_range(0..n));
            if a != b {
                edges.push((a, b));
            }
        }
        let mut made = Vec::new();
        for (a, b) in edges {
            let corr: Option<f64> = if rng.gen_range(0..8) == 0 { None } else { Some(rng.gen_range(-1.0..1.0)) };
            let r = as_role(
                &app,
                &analyst,
                "mutation($a: UUID!, $b: UUID!, $c: Float) { createValueChainEdge(input: { sourceId: $a, targetId: $b, correlationCoeff: $c }) { rowId } }",
                json!({ "a": ids[a], "b": ids[b], "c": corr }),
            )
            .await;
            assert!(r.get("errors").is_none(), "{r}");
            made.push(Edge { from: a, to: b, corr });
        }
        // An integer literal in a Float column (bound as a float in PostgreSQL's bulk insert).
        let r = as_role(
            &app,
            &analyst,
            "mutation($a: UUID!, $b: UUID!) { createValueChainEdge(input: { sourceId: $a, targetId: $b, correlationCoeff: 1 }) { correlationCoeff } }",
            json!({ "a": ids[2], "b": ids[9] }),
        )
        .await;
        assert_eq!(r["data"]["createValueChainEdge"]["correlationCoeff"], 1.0, "{backend:?}: {r}");
        made.push(Edge { from: 2, to: 9, corr: Some(1.0) });
        let mut compared = 0;
        for (start, dir, max, min) in [
            (0, "DOWNSTREAM", 3, None),
            (0, "UPSTREAM", 2, None),
            (5, "BOTH", 4, None),
            (3, "DOWNSTREAM", 6, Some(0.3)),
            (7, "BOTH", 6, Some(0.5)),
            (11, "UPSTREAM", 5, Some(0.2)),
        ] {
            let before = app.statements().await;
            let got = app.data(WALK, json!({ "t": format!("N{start}"), "d": dir, "m": max, "c": min })).await
                ["valueChain"]
                .as_array()
                .unwrap()
                .clone();
            assert_eq!(app.statements().await - before, 1, "{backend:?}: one statement per walk");
            let want = expected(n, &made, start, dir, max, min);
            assert!(!want.is_empty());
            assert_eq!(got.len(), want.len(), "{backend:?} {dir} from N{start}: reached nodes");
            let mut depths = Vec::new();
            for g in &got {
                let at = ids.iter().position(|i| g["node"]["rowId"] == i.as_str()).unwrap();
                let (depth, exposure, path) = &want[&at];
                depths.push(g["depth"].as_u64().unwrap());
                assert_eq!(g["depth"], *depth, "{backend:?} {dir} N{start}→N{at}: {g}");
                assert_eq!(g["node"]["symbol"], format!("N{at}"));
                match exposure {
                    Some(e) => {
                        let got_e = g["exposure"].as_f64().unwrap_or_else(|| panic!("{g}"));
                        assert!((got_e - e).abs() < 1e-12, "{backend:?} {dir} N{start}→N{at}: {got_e} vs {e}");
                        let path: Vec<Value> = path.iter().map(|i| json!({ "rowId": ids[*i] })).collect();
                        assert_eq!(g["path"], json!(path), "{backend:?} {dir} N{start}→N{at}: the strongest path");
                        compared += 1;
                    }
                    None => assert!(g["exposure"].is_null(), "{g}"),
                }
                let p = g["path"].as_array().unwrap();
                assert_eq!(p.first().unwrap()["rowId"], ids[start].as_str());
                assert_eq!(p.last().unwrap()["rowId"], g["node"]["rowId"]);
            }
            assert!(depths.windows(2).all(|w| w[0] <= w[1]), "{backend:?}: nearest first");
        }
        assert!(compared > 20, "{backend:?}: only {compared} exposures compared");
        // Bounds and unknown tickers.
        assert_eq!(app.error_code(WALK, json!({ "t": "N0", "m": 7 })).await, "BAD_USER_INPUT");
        assert_eq!(app.error_code(WALK, json!({ "t": "N0", "m": 2, "c": 1.5 })).await, "BAD_USER_INPUT");
        assert_eq!(app.data(WALK, json!({ "t": "NOPE" })).await["valueChain"], json!([]));
        // The graph's region, named, walks the same; another region cannot be answered and says so.
        const IN: &str =
            "query($r: String) { valueChain(ticker: \"N0\", region: $r, maxDepth: 3) { node { symbol } } }";
        let vn = app.data(IN, json!({ "r": "VN" })).await;
        assert_eq!(vn["valueChain"].as_array().map(Vec::len), Some(expected(n, &made, 0, "DOWNSTREAM", 3, None).len()));
        let kr = app.gql(IN, json!({ "r": "KR" })).await;
        assert_eq!(code(&kr), Some("BAD_USER_INPUT"), "{backend:?}: {kr}");
        let msg = kr["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(msg.contains("`VN`") && msg.contains("`KR`"), "{backend:?}: names both regions: {msg}");
        assert_eq!(kr["errors"][0]["path"], json!(["valueChain"]), "{backend:?}: {kr}");
        assert_eq!(code(&app.gql(IN, json!({ "r": "ZZ" })).await), Some("BAD_USER_INPUT"));
    }
}
