//! The direct JSON writer against async-graphql's own executor: random valid documents over
//! the whole catalog (aliases, nested and inline fragments, `@skip`/`@include` with variables
//! and defaults, repeated fields, nested relations with arguments), sent to two gateways on one
//! database — one with direct reads, one without — must get byte-identical answers.
//!
//! Seeded and reproducible: `QG_DIFFERENTIAL_SEED` picks the seed, `QG_DIFFERENTIAL_DOCS` the
//! number of documents (a few hundred by default; `10000` for the full run).
use crate::common::*;
use quantgraph::data::catalog::{Catalog, Table};
use quantgraph::data::values::Kind;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write as _;

pub(crate) struct Gen {
    rng: ChaCha8Rng,
    /// Fragment definitions used by the document so far: (name, type, body).
    fragments: Vec<(String, String, String)>,
    /// Declared variables: (name, type, default) and the values sent.
    vars: Vec<(String, &'static str, Option<String>)>,
    values: serde_json::Map<String, Value>,
    /// Key arguments of one existing row per table, for one-row root fields.
    keys: HashMap<&'static str, String>,
}

/// A deterministic alias for a field with arguments, so that equal keys always mean equal
/// fields (the document then always passes OverlappingFieldsCanBeMerged).
fn alias_for(name: &str, args: &str) -> String {
    let h = args.bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
    format!("{name}_{:x}", h % 0xffff)
}

impl Gen {
    pub(crate) fn new(seed: u64, keys: HashMap<&'static str, String>) -> Gen {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            fragments: Vec::new(),
            vars: Vec::new(),
            values: Default::default(),
            keys,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn variable(&mut self, ty: &'static str, default: Option<String>, value: Option<Value>) -> String {
        let name = format!("v{}", self.vars.len());
        self.vars.push((name.clone(), ty, default));
        if let Some(v) = value {
            self.values.insert(name.clone(), v);
        }
        format!("${name}")
    }

    /// `@skip`/`@include` that may or may not leave the selection out.
    fn directive(&mut self) -> String {
        if !self.chance(0.2) {
            return String::new();
        }
        let which = if self.chance(0.5) { "skip" } else { "include" };
        let cond = match self.rng.gen_range(0..3) {
            0 => self.rng.gen_bool(0.5).to_string(),
            1 => {
                let d = self.rng.gen_bool(0.5);
                let sent = self.chance(0.5).then(|| json!(self.rng.gen_bool(0.5)));
                self.variable("Boolean", Some(d.to_string()), sent)
            }
            _ => {
                let v = self.rng.gen_bool(0.5);
                self.variable("Boolean!", None, Some(json!(v)))
            }
        };
        format!(" @{which}(if: {cond})")
    }

    fn page_args(&mut self, t: &Table, max: u32) -> String {
        let mut args = Vec::new();
        match self.rng.gen_range(0..4) {
            0 => {}
            1 => args.push(format!("first: {}", self.rng.gen_range(0..=max))),
            2 => args.push(format!("last: {}", self.rng.gen_range(1..=max))),
            _ => {
                let d = self.rng.gen_range(1..=max);
                let sent = self.chance(0.5).then(|| json!(self.rng.gen_range(0..=max)));
                let v = self.variable("Int", Some(d.to_string()), sent);
                args.push(format!("first: {v}"));
            }
        }
        if self.chance(0.4) {
            let cols: Vec<_> = t.columns.iter().filter(|c| c.kind != Kind::Json).collect();
            let c = cols[self.rng.gen_range(0..cols.len())];
            let dir = if self.chance(0.5) { "ASC" } else { "DESC" };
            args.push(format!("orderBy: [{{ {}: {dir} }}]", c.field));
        }
        if self.chance(0.3) {
            let cols: Vec<_> = t.columns.iter().filter(|c| c.nullable && c.kind != Kind::Json).collect();
            if !cols.is_empty() {
                let c = cols[self.rng.gen_range(0..cols.len())];
                args.push(format!("where: {{ {}: {{ isNull: {} }} }}", c.field, !self.chance(0.8)));
            }
        }
        if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        }
    }

    /// A selection of a row of `t`, `depth` relation levels deep at most.
    fn object(&mut self, t: &'static Table, depth: u32) -> String {
        let cat = Catalog::get();
        let mut out = String::new();
        let n = self.rng.gen_range(1..=4);
        for _ in 0..n {
            match self.rng.gen_range(0..10) {
                0 => out.push_str(" __typename"),
                1..=5 => {
                    let c = &t.columns[self.rng.gen_range(0..t.columns.len())];
                    let d = self.directive();
                    if self.chance(0.3) {
                        let _ = write!(out, " {}_a: {}{d}", c.field, c.field);
                    } else {
                        let _ = write!(out, " {}{d}", c.field);
                    }
                }
                6 | 7 if depth > 0 && !t.relations.is_empty() => {
                    let rel = &t.relations[self.rng.gen_range(0..t.relations.len())];
                    let target = cat.table(rel.target);
                    let (args, body) = if rel.many {
                        (self.page_args(target, 4), self.connection(target, depth - 1))
                    } else {
                        (String::new(), self.object(target, depth - 1))
                    };
                    let d = self.directive();
                    let name = if args.is_empty() && self.chance(0.5) {
                        rel.field.to_string()
                    } else {
                        format!("{}: {}", alias_for(rel.field, &args), rel.field)
                    };
                    let _ = write!(out, " {name}{args}{d} {{{body} }}");
                }
                8 => {
                    // Inline fragment, with or without a type condition.
                    let inner = self.object(t, depth.saturating_sub(1));
                    let cond = if self.chance(0.5) { format!(" on {}", t.type_name) } else { String::new() };
                    let d = self.directive();
                    let _ = write!(out, " ...{cond}{d} {{{inner} }}");
                }
                _ => {
                    let name = self.fragment(t, depth.saturating_sub(1));
                    let d = self.directive();
                    let _ = write!(out, " ...{name}{d}");
                }
            }
        }
        if self.chance(0.2) {
            // A field repeated under the same key: merged into one.
            let c = &t.columns[0];
            let _ = write!(out, " {}", c.field);
        }
        out
    }

    /// A named fragment on `t` (reused when one exists, so spreads nest and repeat).
    fn fragment(&mut self, t: &'static Table, depth: u32) -> String {
        // Only finished fragments: one still being written must not spread itself.
        let existing: Vec<String> = self
            .fragments
            .iter()
            .filter(|(_, ty, body)| ty == t.type_name && !body.is_empty())
            .map(|(n, _, _)| n.clone())
            .collect();
        if !existing.is_empty() && self.chance(0.5) {
            return existing[self.rng.gen_range(0..existing.len())].clone();
        }
        let name = format!("F{}", self.fragments.len());
        // Reserve the name first: the body may spread earlier fragments, never this one.
        self.fragments.push((name.clone(), t.type_name.to_string(), String::new()));
        let body = self.object(t, depth);
        let i = self.fragments.iter().position(|(n, _, _)| *n == name).unwrap();
        self.fragments[i].2 = body;
        name
    }

    fn connection(&mut self, t: &'static Table, depth: u32) -> String {
        let mut out = String::new();
        let n = self.rng.gen_range(1..=3);
        for _ in 0..n {
            let d = self.directive();
            match self.rng.gen_range(0..6) {
                0 | 1 => {
                    let body = self.object(t, depth);
                    let _ = write!(out, " nodes{d} {{{body} }}");
                }
                2 => {
                    let body = self.object(t, depth);
                    let cursor = if self.chance(0.5) { " cursor" } else { "" };
                    let _ = write!(out, " edges{d} {{{cursor} node {{{body} }} }}");
                }
                3 => {
                    let _ = write!(out, " pageInfo{d} {{ hasNextPage hasPreviousPage startCursor endCursor }}");
                }
                4 => {
                    let _ = write!(out, " totalCount{d}");
                }
                _ => {
                    let _ = write!(out, " __typename{d}");
                }
            }
        }
        out
    }

    pub(crate) fn document(&mut self) -> (String, Value) {
        self.fragments.clear();
        self.vars.clear();
        self.values.clear();
        let cat = Catalog::get();
        let mut body = String::new();
        let roots = self.rng.gen_range(1..=3);
        for _ in 0..roots {
            let t = &cat.tables[self.rng.gen_range(0..cat.tables.len())];
            let d = self.directive();
            if self.chance(0.2) && self.keys.contains_key(t.type_name) {
                let args = self.keys[t.type_name].clone();
                let inner = self.object(t, 2);
                let _ = write!(body, " {}: {}({args}){d} {{{inner} }}", alias_for(&t.one_field, &args), t.one_field);
            } else {
                let args = self.page_args(t, 8);
                let inner = self.connection(t, 2);
                let name = if args.is_empty() {
                    t.list_field.to_string()
                } else {
                    format!("{}: {}", alias_for(t.list_field, &args), t.list_field)
                };
                let _ = write!(body, " {name}{args}{d} {{{inner} }}");
                if self.chance(0.2) {
                    // The same root field again under its key, with another selection: merged.
                    let more = self.connection(t, 1);
                    let _ = write!(body, " {name}{args} {{{more} }}");
                }
            }
        }
        if self.chance(0.1) {
            body.push_str(" __typename");
        }
        let mut doc = String::from("query Q");
        if !self.vars.is_empty() {
            let defs: Vec<String> = self
                .vars
                .iter()
                .map(|(n, ty, d)| match d {
                    Some(d) => format!("${n}: {ty} = {d}"),
                    None => format!("${n}: {ty}"),
                })
                .collect();
            let _ = write!(doc, "({})", defs.join(", "));
        }
        let _ = write!(doc, " {{{body} }}");
        for (name, ty, frag) in &self.fragments {
            let _ = write!(doc, "\nfragment {name} on {ty} {{{frag} }}");
        }
        (doc, Value::Object(self.values.clone()))
    }
}

/// The body a gateway at `url` answers, as bytes-exact text.
pub(crate) async fn raw(http: &reqwest::Client, url: &str, auth: &str, q: &str, vars: &Value) -> String {
    let resp = http
        .post(url)
        .header("Authorization", auth)
        .json(&json!({ "query": q, "variables": vars }))
        .send()
        .await
        .expect("request sent");
    resp.text().await.expect("body")
}

/// Key arguments of the first row of each table with a one-row field.
pub(crate) async fn row_keys(http: &reqwest::Client, url: &str, auth: &str) -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    for t in &Catalog::get().tables {
        let fields: Vec<&str> = t.key.iter().map(|k| t.columns[*k].field.as_str()).collect();
        let q = format!("{{ {}(first: 1) {{ nodes {{ {} }} }} }}", t.list_field, fields.join(" "));
        let r: Value = serde_json::from_str(&raw(http, url, auth, &q, &json!({})).await).unwrap();
        let Some(row) = r["data"][t.list_field]["nodes"].get(0) else { continue };
        let args: Vec<String> = fields.iter().map(|f| format!("{f}: {}", row[*f])).collect();
        out.insert(t.type_name, args.join(", "));
    }
    out
}

#[tokio::test]
async fn direct_writer_and_general_executor_give_the_same_bytes() {
    let docs: usize = std::env::var("QG_DIFFERENTIAL_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 = std::env::var("QG_DIFFERENTIAL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(20261130);
    for backend in backends() {
        let direct = spawn_with(backend, true, |c| c.direct_reads = true).await;
        let mut c = config(&direct.database_url);
        c.direct_reads = false;
        let general = TestApp::start(&c, backend).await;
        let auth = token(&direct, quantgraph::auth::Role::Admin);
        let keys = row_keys(&direct.http, &direct.url, &auth).await;
        assert!(keys.contains_key("Ticker"), "{backend:?}: no ticker to read");
        let mut g = Gen::new(seed, keys);
        let n = docs;
        let (mut with_data, mut with_errors) = (0, 0);
        for i in 0..n {
            let (doc, vars) = g.document();
            let a = raw(&direct.http, &direct.url, &auth, &doc, &vars).await;
            let b = raw(&general.http, &general.url, &auth, &doc, &vars).await;
            assert_eq!(a, b, "{backend:?}: document {i} (seed {seed}) answers differ:\n{doc}\nvariables: {vars}");
            let v: Value = serde_json::from_str(&a).unwrap();
            if v.get("errors").is_some() {
                with_errors += 1;
                assert_ne!(v["errors"][0]["extensions"]["code"], "INTERNAL", "{backend:?}: {doc}\n{a}");
            } else {
                with_data += 1;
            }
        }
        eprintln!("{backend:?}: {n} documents, {with_data} answered with data, {with_errors} with user errors");
        // Nearly every generated document is valid and answered: a generator that only
        // produced errors would compare nothing.
        assert!(with_data * 10 >= n * 9, "{backend:?}: only {with_data} of {n} documents answered");
    }
}
