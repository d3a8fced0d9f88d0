//! A fuzzer over the HTTP API, driven by proptest, against the real binary: documents from the
//! differential generator, mangled (cut, spliced, repeated, sprinkled with hostile tokens,
//! nested and aliased past every limit), filters with every operator on every column of every
//! table and hostile values, hostile variables, operation names and persisted-query extensions.
//! Every answer must be a well-formed refusal or answer — JSON, a known status, every error with
//! a code and none `INTERNAL`, no SQL text — within the client's timeout; the gateway must keep
//! serving, log no panic, and its memory must come back to where it was after the warm-up.
//! `QG_FUZZ_CASES` sets the count of requests (tests/run.sh: 50,000; 1,000,000 by hand),
//! `QG_FUZZ_SEED` the seed; a failure is shrunk to a smallest failing batch and printed.
use crate::common::*;
use crate::differential::{raw, row_keys, Gen};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use quantgraph::data::catalog::Catalog;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
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
    "mutation { deleteUser(rowId: 1) }",
];

/// One change to a document; positions are fractions of its length (`u16::MAX` = the end).
#[derive(Debug, Clone)]
enum Mangle {
    Cut(u16, u16),
    Repeat(u16, u16),
    Insert(u16, usize),
    Truncate(u16),
    /// Wrapped in this many unclosed `{ a` and followed by this many `}`.
    Nest(u16, u16, u16),
    /// This many aliases of `__typename` appended.
    Aliases(u16),
    /// Every character replaced by a random printable one with 5% chance (from this seed).
    Noise(u64),
    Upper(u16),
}

fn mangle() -> impl Strategy<Value = Mangle> {
    prop_oneof![
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Mangle::Cut(a, b)),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Mangle::Repeat(a, b)),
        (any::<u16>(), 0..TOKENS.len()).prop_map(|(a, t)| Mangle::Insert(a, t)),
        any::<u16>().prop_map(Mangle::Truncate),
        (any::<u16>(), 50u16..3000, 0u16..3000).prop_map(|(a, o, c)| Mangle::Nest(a, o, c)),
        (100u16..5000).prop_map(Mangle::Aliases),
        any::<u64>().prop_map(Mangle::Noise),
        any::<u16>().prop_map(Mangle::Upper),
    ]
}

/// The char boundary at or before the fraction `f` of `s`.
fn at(s: &str, f: u16) -> usize {
    let mut i = s.len() * f as usize / u16::MAX as usize;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(s: String, m: &Mangle) -> String {
    let span = |a: u16, b: u16| (at(&s, a.min(b)), at(&s, a.max(b)));
    match *m {
        Mangle::Cut(a, b) => {
            let (a, b) = span(a, b);
            format!("{}{}", &s[..a], &s[b..])
        }
        Mangle::Repeat(a, b) => {
            let (a, b) = span(a, b);
            format!("{}{}{}", &s[..b], &s[a..b], &s[b..])
        }
        Mangle::Insert(a, t) => {
            let a = at(&s, a);
            format!("{}{}{}", &s[..a], TOKENS[t], &s[a..])
        }
        Mangle::Truncate(a) => s[..at(&s, a)].to_string(),
        Mangle::Nest(a, open, close) => {
            format!("{}{}{}", "{ a ".repeat(open as usize), &s[..at(&s, a)], "}".repeat(close as usize))
        }
        Mangle::Aliases(n) => {
            format!("{s} {}", (0..n).map(|i| format!("a{i}: __typename")).collect::<Vec<_>>().join(" "))
        }
        Mangle::Noise(seed) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            s.chars().map(|c| if rng.gen_bool(0.05) { char::from(rng.gen_range(0x20u8..0x7f)) } else { c }).collect()
        }
        Mangle::Upper(a) => {
            let a = at(&s, a);
            format!("{}{}", &s[..a], s[a..].to_uppercase())
        }
    }
}

/// JSON no argument of the schema expects, or expects at its edge.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(|i| json!(i)),
        Just(json!(1e308)),
        Just(json!(-0.0)),
        (0usize..2000).prop_map(|n| json!("x".repeat(n))),
        Just(json!([1, "a", null, {"b": []}])),
        Just(json!({ "eq": { "nested": [[[]]] } })),
        Just(json!(true)),
        Just(json!("2026-13-45T99:99:99Z")),
        Just(json!("99999999999999999999999999999.99999")),
        Just(json!("%_\\' OR 1=1 --")),
        Just(json!("00000000-0000-0000-0000-000000000000")),
    ]
}

/// GraphQL literals for a filter operand: of every type, malformed, at the edges, or a variable.
const OPERANDS: [&str; 18] = [
    "1",
    "-1",
    "0.5",
    "1e400",
    "99999999999999999999999",
    "\"99999999999999999999999999999.99999\"",
    "\"abc\"",
    "\"%\"",
    "\"2026-01-31\"",
    "\"2026-13-45\"",
    "\"2026-01-31T00:00:00+07:00\"",
    "\"00000000-0000-0000-0000-000000000000\"",
    "true",
    "null",
    "[1, 2]",
    "[\"2026-01-31\", null]",
    "{ a: 1 }",
    "$x",
];

/// Every operator a filter input has, and one it has not.
const OPERATORS: [&str; 12] =
    ["eq", "ne", "lt", "lte", "gt", "gte", "in", "notIn", "like", "ilike", "isNull", "startsWith"];

#[derive(Debug, Clone)]
enum Doc {
    /// The differential generator's document of this seed.
    Generated(u64),
    /// `where: { column: { operator: operand } }` on a list of every table.
    Filter { table: usize, column: usize, op: usize, operand: usize, var: Value },
}

#[derive(Debug, Clone)]
struct Request {
    doc: Doc,
    mangles: Vec<Mangle>,
    variables: Option<Value>,
    operation: Option<&'static str>,
    persisted: Option<u8>,
}

fn request() -> impl Strategy<Value = Request> {
    let cat = Catalog::get();
    let widest = cat.tables.iter().map(|t| t.columns.len()).max().unwrap();
    let doc = prop_oneof![
        3 => any::<u64>().prop_map(Doc::Generated),
        1 => (0..cat.tables.len(), 0..widest, 0..OPERATORS.len(), 0..OPERANDS.len(), hostile_value())
            .prop_map(|(table, column, op, operand, var)| Doc::Filter { table, column, op, operand, var }),
    ];
    let mangles = prop_oneof![1 => Just(Vec::new()), 3 => prop::collection::vec(mangle(), 1..=4)];
    let variables = prop::option::weighted(0.3, (hostile_value(), hostile_value()));
    let operation = prop::option::weighted(0.1, prop::sample::select(vec!["Q", "", "Nope", "__proto__"]));
    let persisted = prop::option::weighted(0.05, 0u8..3);
    (doc, mangles, variables, operation, persisted).prop_map(|(doc, mangles, variables, operation, persisted)| {
        let variables = variables.map(|(x, v0)| json!({ "x": x, "v0": v0 }));
        Request { doc, mangles, variables, operation, persisted }
    })
}

/// The body `r` is sent as.
fn body(r: &Request, keys: &HashMap<&'static str, String>) -> Value {
    let (doc, vars) = match &r.doc {
        Doc::Generated(seed) => Gen::new(*seed, keys.clone()).document(),
        Doc::Filter { table, column, op, operand, var } => {
            let t = &Catalog::get().tables[*table];
            let c = &t.columns[column % t.columns.len()];
            let key: Vec<&str> = t.key.iter().map(|k| t.columns[*k].field.as_str()).collect();
            let doc = format!(
                "query Q($x: String) {{ {}(first: 3, where: {{ {}: {{ {}: {} }} }}) {{ nodes {{ {} }} }} }}",
                t.list_field,
                c.field,
                OPERATORS[*op],
                OPERANDS[*operand],
                key.join(" ")
            );
            (doc, json!({ "x": var }))
        }
    };
    let doc = r.mangles.iter().fold(doc, apply);
    let mut body = json!({ "query": doc, "variables": r.variables.clone().unwrap_or(vars) });
    if let Some(op) = r.operation {
        body["operationName"] = json!(op);
    }
    if let Some(version) = r.persisted {
        body["extensions"] = json!({ "persistedQuery": { "version": version, "sha256Hash": "zz" } });
    }
    body
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

/// Whether the answer to `body` was data (`Ok(true)`), a refusal (`Ok(false)`) or a fault.
fn judge(body: &Value, status: u16, text: &str) -> Result<bool, String> {
    let case = || format!("{status} {text}\n{body}");
    if !matches!(status, 200 | 400 | 413) {
        return Err(format!("status: {}", case()));
    }
    let v: Value = serde_json::from_str(text).map_err(|_| format!("not JSON: {}", case()))?;
    let Some(errors) = v.get("errors").and_then(Value::as_array) else {
        // An answer without errors has its data: an object, never `{}`, null or a scalar.
        return match v.get("data") {
            Some(Value::Object(_)) => Ok(true),
            _ => Err(format!("an answer with neither data nor errors: {}", case())),
        };
    };
    for e in errors {
        let code = e["extensions"]["code"].as_str().ok_or_else(|| format!("no code: {}", case()))?;
        if !CODES.contains(&code) {
            return Err(format!("code {code}: {}", case()));
        }
        if leaks_sql(e["message"].as_str().unwrap_or("")) {
            return Err(format!("SQL text: {}", case()));
        }
    }
    Ok(false)
}

#[test]
fn fuzzed_requests_get_coded_answers_and_memory_returns() {
    let cases: u32 = std::env::var("QG_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    // A fresh seed each run, printed so that a failure can be replayed.
    let seed: u64 = std::env::var("QG_FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
    });
    eprintln!("API fuzzer: seed {seed} (replay with QG_FUZZ_SEED={seed})");
    const BATCH: usize = 16;
    let rt = tokio::runtime::Runtime::new().unwrap();
    for backend in backends() {
        // PostgreSQL runs a tenth of the requests (the parser, validator and limits are shared),
        // and enough to fill its connections' statement caches in the warm-up.
        let n = if backend == Backend::Sqlite { cases } else { (cases / 10).max(1_000) };
        let secret = uuid::Uuid::new_v4().simple().to_string();
        let mut env = vec![
            ("JWT_SECRET", secret.clone()),
            // Bounded caches far below their defaults, so that their filling is not taken for a leak.
            ("QUANTGRAPH_PLAN_CACHE_BYTES", (2 << 20).to_string()),
            ("QUANTGRAPH_PERSISTED_QUERY_BYTES", (1 << 20).to_string()),
            // SQLite keeps a page cache of up to 2 MiB per pooled connection, filled as requests
            // spread over the pool: a small pool keeps that from being taken for a leak.
            ("QUANTGRAPH_DB_POOL", "4".to_string()),
        ];
        if backend == Backend::Postgres {
            let url = rt.block_on(fresh_database(backend));
            Binary::seed(&url);
            env.push(("DATABASE_URL", url));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let gw = rt.block_on(Binary::start(&env));
        let tokens = quantgraph::auth::Tokens::new(&secret);
        let auth = format!("Bearer {}", tokens.issue("fuzz", quantgraph::auth::Role::Analyst, 86_400).unwrap());
        // A request the gateway does not answer in 30 s is a hang.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let keys = rt.block_on(row_keys(&http, &gw.url, &auth));
        assert!(!keys.is_empty(), "{backend:?}: no rows to key the generator with");

        let mut config = Config::with_cases(n.div_ceil(BATCH as u32));
        config.failure_persistence = None;
        config.max_shrink_iters = 200;
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
        let (sent, answered, refused, baseline) =
            (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0), AtomicU64::new(0));
        let warm_up = (n as usize / 10).max(500);
        let outcome = runner.run(&prop::collection::vec(request(), BATCH), |batch| {
            let before = sent.fetch_add(batch.len(), Ordering::Relaxed);
            if before < warm_up && before + batch.len() >= warm_up {
                baseline.store(gw.rss_kib(), Ordering::Relaxed);
            }
            let answers = rt.block_on(futures_util::future::join_all(batch.iter().map(|r| {
                let body = body(r, &keys);
                let req = http.post(&gw.url).header("Authorization", &auth).json(&body);
                async move {
                    let resp = req.send().await.map_err(|e| format!("no answer: {e}\n{body}"))?;
                    let status = resp.status().as_u16();
                    let text = resp.text().await.map_err(|e| format!("body cut: {e}\n{body}"))?;
                    judge(&body, status, &text)
                }
            })));
            for a in answers {
                let counter = if a.map_err(TestCaseError::fail)? { &answered } else { &refused };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
        if let Err(e) = outcome {
            panic!("{backend:?}, seed {seed}: {e}");
        }
        std::thread::sleep(Duration::from_secs(2));
        let (before, after) = (baseline.load(Ordering::Relaxed), gw.rss_kib());
        let (sent, answered, refused) = (sent.into_inner(), answered.into_inner(), refused.into_inner());
        eprintln!(
            "{backend:?}: {sent} fuzzed requests, {answered} answered, {refused} refused; \
             gateway RSS {before} KiB after the warm-up, {after} KiB at the end"
        );
        assert!(
            answered > sent / 50 && refused > sent / 2,
            "{backend:?}: {answered} answered, {refused} refused of {sent}"
        );
        assert!(after <= before + before / 4 + 8 * 1024, "{backend:?}: memory grew from {before} to {after} KiB");
        let logs = gw.logs.lock().unwrap().join("\n");
        assert!(!logs.contains("panicked"), "{backend:?}: the gateway panicked:\n{logs}");
        // Still serving.
        let ok = rt.block_on(raw(&http, &gw.url, &auth, "{ tickers(first: 1) { nodes { ticker } } }", &json!({})));
        let ok: Value = serde_json::from_str(&ok).unwrap();
        assert_eq!(ok["data"]["tickers"]["nodes"].as_array().map(Vec::len), Some(1), "{ok}");
    }
}
