//! A fuzzer over the HTTP API: documents from the differential generator, mangled (cut, spliced,
//! repeated, sprinkled with hostile tokens, nested past every limit) and sent with hostile
//! variables, operation names and extensions. Every answer must be a well-formed refusal or
//! answer — JSON, a known status, every error with a code and none `INTERNAL` — and the gateway
//! must keep serving. `QG_FUZZ_CASES` sets the count (tests/run.sh: 50,000; 1,000,000 by hand),
//! `QG_FUZZ_SEED` the seed; a failure prints the case.
use crate::common::*;
use crate::differential::{row_keys, Gen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

pub(crate) const TOKENS: [&str; 24] = [
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "...",
    "... on Query",
    "fragment F on Query { ...F }",
    "...F",
    "@skip(if: $x)",
    "@include(if: true)",
    "$",
    "\"",
    "\"\"\"",
    "#",
    "\\u0000",
    ":",
    "first: -1",
    "first: 99999999999",
    "__schema { types { fields { type { ofType { ofType { name } } } } } }",
    "__typename",
    "query",
    "mutation { deleteUser(id: 1) }",
];

fn mangle(rng: &mut ChaCha8Rng, doc: &str) -> String {
    let mut s = doc.to_string();
    for _ in 0..rng.gen_range(1..=4) {
        let len = s.len();
        let at = |rng: &mut ChaCha8Rng| {
            let mut i = rng.gen_range(0..=len);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        let (a, b) = (at(rng), at(rng));
        let (a, b) = (a.min(b), a.max(b));
        s = match rng.gen_range(0..8) {
            0 => format!("{}{}", &s[..a], &s[b..]),
            1 => format!("{}{}{}", &s[..b], &s[a..b], &s[b..]),
            2 => format!("{}{}{}", &s[..a], TOKENS[rng.gen_range(0..TOKENS.len())], &s[a..]),
            3 => s[..a].to_string(),
            4 => format!("{}{}{}", "{ a ".repeat(rng.gen_range(50..3000)), &s[..a], "}".repeat(rng.gen_range(0..3000))),
            5 => format!(
                "{} {}",
                s,
                (0..rng.gen_range(100..5000)).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" ")
            ),
            6 => s
                .chars()
                .map(|c| if rng.gen_bool(0.05) { char::from(rng.gen_range(0x20u8..0x7f)) } else { c })
                .collect(),
            _ => format!("{}{}", &s[..a], s[a..].to_uppercase()),
        };
    }
    s
}

fn hostile_value(rng: &mut ChaCha8Rng) -> Value {
    match rng.gen_range(0..8) {
        0 => json!(null),
        1 => json!(rng.gen::<i64>()),
        2 => json!(1e308),
        3 => json!("x".repeat(rng.gen_range(0..2000))),
        4 => json!([1, "a", null, {"b": []}]),
        5 => json!({ "eq": { "nested": [[[]]] } }),
        6 => json!(true),
        _ => json!("2026-13-45T99:99:99Z"),
    }
}

/// What a refusal may say: the codes of DESIGN.md that a reader can earn (not `INTERNAL`).
const CODES: [&str; 7] = [
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "QUERY_TOO_COMPLEX",
    "PERSISTED_QUERY_NOT_FOUND",
    "RATE_LIMITED",
];

#[tokio::test]
async fn fuzzed_requests_get_coded_answers_and_the_gateway_keeps_serving() {
    let cases: usize = std::env::var("QG_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let seed: u64 = std::env::var("QG_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261130);
    for backend in backends() {
        // PostgreSQL runs a tenth of the cases: the parser, validator and limits are shared.
        let n = if backend == Backend::Sqlite { cases } else { cases / 10 };
        let app = spawn_with(backend, true, |c| c.rate_limit = 0).await;
        let auth = token(&app, quantgraph::auth::Role::Analyst);
        let mut gen = Gen::new(seed, row_keys(&app, &auth).await);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let mut batch = Vec::new();
        let (mut answered, mut refused) = (0usize, 0usize);
        for i in 0..n {
            let (doc, mut vars) = gen.document();
            let doc = if rng.gen_bool(0.9) { mangle(&mut rng, &doc) } else { doc };
            if rng.gen_bool(0.3) {
                vars = json!({ "x": hostile_value(&mut rng), "v0": hostile_value(&mut rng) });
            }
            let mut body = json!({ "query": doc, "variables": vars });
            if rng.gen_bool(0.1) {
                body["operationName"] = json!(["Q", "", "Nope", "__proto__"][rng.gen_range(0..4)]);
            }
            if rng.gen_bool(0.05) {
                body["extensions"] =
                    json!({ "persistedQuery": { "version": rng.gen_range(0..3), "sha256Hash": "zz" } });
            }
            batch.push((i, body));
            if batch.len() == 16 || i + 1 == n {
                let sent = futures_util::future::join_all(batch.drain(..).map(|(i, body)| {
                    let (http, url, auth) = (app.http.clone(), app.url.clone(), auth.clone());
                    async move {
                        let resp = http.post(&url).header("Authorization", auth).json(&body).send().await;
                        let resp = resp
                            .unwrap_or_else(|e| panic!("{backend:?} case {i} (seed {seed}): no answer: {e}\n{body}"));
                        (i, body, resp.status().as_u16(), resp.text().await.unwrap_or_default())
                    }
                }))
                .await;
                for (i, body, status, text) in sent {
                    let case = || format!("{backend:?} case {i} (seed {seed}): {status} {text}\n{body}");
                    assert!(matches!(status, 200 | 400 | 413), "{}", case());
                    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {}", case()));
                    match v.get("errors").and_then(Value::as_array) {
                        None => answered += 1,
                        Some(errors) => {
                            refused += 1;
                            for e in errors {
                                let code =
                                    e["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code: {}", case()));
                                assert!(CODES.contains(&code), "code {code}: {}", case());
                                assert!(
                                    !e["message"].as_str().unwrap_or("").contains("SELECT"),
                                    "SQL text: {}",
                                    case()
                                );
                            }
                        }
                    }
                }
            }
        }
        eprintln!("{backend:?}: {n} fuzzed requests, {answered} answered, {refused} refused");
        assert!(answered > n / 50 && refused > n / 2, "{backend:?}: {answered} answered, {refused} refused of {n}");
        // Still serving.
        let ok = app.gql("{ tickers(first: 1) { nodes { ticker } } }", json!({})).await;
        assert_eq!(ok["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(1), "{ok}");
    }
}
