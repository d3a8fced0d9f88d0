//! The direct JSON writer against async-graphql's own executor, and every transport against
//! HTTP POST: random valid documents over the whole catalog (aliases, nested and inline
//! fragments, `@skip`/`@include` with variables and defaults, repeated fields, nested relations
//! with arguments, filters with stored values and every operator, cursors from earlier answers,
//! `asOf`, root aggregates), sent as every role and in three time zones to two gateways on one
//! database — one with direct reads, one without — must get byte-identical answers over POST,
//! and the same answer over GET and both WebSocket protocols; each answer is also held to the
//! specification itself (`check_spec`), and the direct writer's share of answers is counted.
//!
//! `QG_DIFFERENTIAL_SEED` replays a seed (a fresh one is printed each run),
//! `QG_DIFFERENTIAL_DOCS` sets the documents per backend (300 by default; CI 2,000).
use crate::common::*;
use quantgraph::data::catalog::{Catalog, Column, Table};
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
    vars: Vec<(String, String, Option<String>)>,
    values: serde_json::Map<String, Value>,
    /// Key arguments of one existing row per table, for one-row root fields.
    keys: HashMap<&'static str, String>,
    /// Rows read back per table (scalar columns), for filter values.
    samples: HashMap<&'static str, Vec<Value>>,
    /// Cursors taken from earlier answers, by table and `orderBy` text.
    cursors: HashMap<(&'static str, String), Vec<String>>,
}

/// What the generator knows of the stored rows: keys, sample values, cursors.
#[derive(Default, Clone)]
pub(crate) struct Corpus {
    pub keys: HashMap<&'static str, String>,
    pub samples: HashMap<&'static str, Vec<Value>>,
    pub cursors: HashMap<(&'static str, String), Vec<String>>,
}

/// A deterministic alias for a field with arguments, so that equal keys always mean equal
/// fields (the document then always passes OverlappingFieldsCanBeMerged).
fn alias_for(name: &str, args: &str) -> String {
    let h = args.bytes().fold(5381u32, |h, b| h.wrapping_mul(33) ^ b as u32);
    format!("{name}_{:x}", h % 0xffff)
}

impl Gen {
    pub(crate) fn new(seed: u64, keys: HashMap<&'static str, String>) -> Gen {
        Gen::with(seed, Corpus { keys, ..Default::default() })
    }

    pub(crate) fn with(seed: u64, corpus: Corpus) -> Gen {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            fragments: Vec::new(),
            vars: Vec::new(),
            values: Default::default(),
            keys: corpus.keys,
            samples: corpus.samples,
            cursors: corpus.cursors,
        }
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.gen_range(0..xs.len())]
    }

    /// One column condition on `t` with a value some stored row has (or a null test).
    fn condition(&mut self, t: &'static Table) -> Option<String> {
        let rows = self.samples.get(t.name).cloned().unwrap_or_default();
        let cols: Vec<&Column> = t.columns.iter().filter(|c| c.kind != Kind::Json).collect();
        let c = *self.pick(&cols);
        if rows.is_empty() || self.chance(0.2) {
            return c.nullable.then(|| format!("{}: {{ isNull: {} }}", c.field, self.chance(0.3)));
        }
        let v = self.pick(&rows)[&c.field].clone();
        let lit = literal(c, &v)?;
        let ops: &[&str] = match c.kind {
            Kind::Boolean => &["eq", "ne"],
            Kind::Uuid => &["eq", "ne", "in", "notIn"],
            _ if c.words.is_some() => &["eq", "ne", "in", "notIn"],
            _ => &["eq", "ne", "lt", "lte", "gt", "gte", "in", "notIn"],
        };
        let op = *self.pick(ops);
        if c.kind == Kind::String && c.words.is_none() && self.chance(0.2) {
            let prefix: String = v.as_str().unwrap_or_default().chars().take(2).collect();
            let (op, pat) =
                if self.chance(0.5) { ("like", prefix + "%") } else { ("ilike", prefix.to_lowercase() + "%") };
            return Some(format!("{}: {{ {op}: {} }}", c.field, serde_json::to_string(&pat).unwrap()));
        }
        let list = op == "in" || op == "notIn";
        let value = if self.chance(0.25) {
            // As a typed variable: the column's scalar or enum, a list of them for in/notIn.
            let ty = if list { format!("[{}!]", c.type_name()) } else { format!("{}!", c.type_name()) };
            let sent = if list { json!([v, self.pick(&rows)[&c.field].clone()]) } else { v.clone() };
            if sent.is_null() || (list && sent.as_array().is_some_and(|a| a.iter().any(Value::is_null))) {
                return None;
            }
            self.variable(&ty, None, Some(sent))
        } else if list {
            let other = literal(c, &self.pick(&rows)[&c.field].clone()).unwrap_or_else(|| lit.clone());
            format!("[{lit}, {other}]")
        } else {
            lit
        };
        Some(format!("{}: {{ {op}: {value} }}", c.field))
    }

    /// A `where:` of one to three conditions, sometimes combined with `and`/`or`/`not`.
    fn filter(&mut self, t: &'static Table) -> Option<String> {
        let mut conds: Vec<String> = (0..self.rng.gen_range(1..=3)).filter_map(|_| self.condition(t)).collect();
        if conds.is_empty() {
            return None;
        }
        Some(match self.rng.gen_range(0..5) {
            0 if conds.len() > 1 => {
                format!("{{ or: [{}] }}", conds.iter().map(|c| format!("{{ {c} }}")).collect::<Vec<_>>().join(", "))
            }
            1 => format!("{{ not: {{ {} }} }}", conds.pop().unwrap()),
            2 if conds.len() > 1 => {
                format!("{{ and: [{}] }}", conds.iter().map(|c| format!("{{ {c} }}")).collect::<Vec<_>>().join(", "))
            }
            _ => format!("{{ {} }}", conds.join(", ")),
        })
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn variable(&mut self, ty: &str, default: Option<String>, value: Option<Value>) -> String {
        let name = format!("v{}", self.vars.len());
        self.vars.push((name.clone(), ty.to_string(), default));
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

    fn page_args(&mut self, t: &'static Table, max: u32) -> String {
        let mut args = Vec::new();
        let backwards = match self.rng.gen_range(0..4) {
            0 => false,
            1 => {
                args.push(format!("first: {}", self.rng.gen_range(0..=max)));
                false
            }
            2 => {
                args.push(format!("last: {}", self.rng.gen_range(1..=max)));
                true
            }
            _ => {
                let d = self.rng.gen_range(1..=max);
                // Sent, left to its default, or an explicit null (the default page then).
                let sent = match self.rng.gen_range(0..4) {
                    0 => Some(Value::Null),
                    1 | 2 => Some(json!(self.rng.gen_range(0..=max))),
                    _ => None,
                };
                let v = self.variable("Int", Some(d.to_string()), sent);
                args.push(format!("first: {v}"));
                false
            }
        };
        // Now and then what a client gets wrong: both ends at once, or past the page limit.
        if self.chance(0.02) {
            args.push(if backwards { "first: 2".into() } else { format!("last: {}", self.rng.gen_range(1..=3)) });
        } else if self.chance(0.01) && args.is_empty() {
            args.push("first: 100000".into());
        }
        let mut order = String::new();
        if self.chance(0.4) {
            let cols: Vec<_> = t.columns.iter().filter(|c| c.kind != Kind::Json).collect();
            let c = cols[self.rng.gen_range(0..cols.len())];
            let dir = if self.chance(0.5) { "ASC" } else { "DESC" };
            order = format!("{}: {dir}", c.field);
            if self.chance(0.3) {
                // Two columns: the cursor pools hold single-column orders, so these page from the start.
                let c2 = cols[self.rng.gen_range(0..cols.len())];
                if c2.field != c.field {
                    let dir2 = if self.chance(0.5) { "ASC" } else { "DESC" };
                    args.push(format!("orderBy: [{{ {order} }}, {{ {}: {dir2} }}]", c2.field));
                    order = format!("{order}, {}", c2.field);
                }
            }
            if !order.contains(',') {
                args.push(format!("orderBy: [{{ {order} }}]"));
            }
        }
        // A cursor an earlier answer gave for this order (sometimes one of another order).
        let pool = self.cursors.get(&(t.name, order)).cloned().unwrap_or_default();
        if !pool.is_empty() && self.chance(0.3) {
            let c = self.pick(&pool).clone();
            let which = if backwards { "before" } else { "after" };
            if self.chance(0.5) {
                args.push(format!("{which}: {}", serde_json::to_string(&c).unwrap()));
            } else {
                let v = self.variable("String", None, Some(json!(c)));
                args.push(format!("{which}: {v}"));
            }
        }
        if self.chance(0.35) {
            if let Some(f) = self.filter(t) {
                args.push(format!("where: {f}"));
            }
        }
        if t.as_of.is_some() && self.chance(0.3) {
            let day = *self.pick(&["2020-01-01", "2024-06-30", "2025-12-31", "2030-01-01"]);
            args.push(format!("asOf: \"{day}\""));
        }
        if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        }
    }

    /// A market root: daily-bar buckets or series of a stored ticker, or candle buckets or
    /// series of a stored symbol, with a random interval, range, fill and derived columns.
    fn market(&mut self, d: &str) -> Option<String> {
        const BUCKET: &[&str] =
            &["bucket", "symbol", "open", "high", "low", "close", "volume", "count", "closed", "filled", "seq"];
        const DERIVED: &[&str] = &[
            "simpleReturn",
            "logReturn",
            "sma(length: 3)",
            "ema(length: 2)",
            "rsi(length: 3)",
            "volatility(length: 3)",
            "vwap(length: 2)",
        ];
        const SERIES: &[&str] = &["t", "o", "h", "l", "c", "v", "noData", "nextTime"];
        let pick_n = |g: &mut Gen, xs: &[&str], n: usize| -> String {
            (0..n).map(|_| *g.pick(xs)).collect::<Vec<_>>().join(" ")
        };
        let bars = self.rng.gen_bool(0.5);
        let (subject, intervals, from, to): (String, &[&str], [&str; 3], [&str; 3]) = if bars {
            let rows = self.samples.get("tickers").cloned().unwrap_or_default();
            if rows.is_empty() {
                return None;
            }
            let r = self.pick(&rows).clone();
            (
                format!("ticker: {}, region: {}", r["ticker"], r["region"]),
                &["DAY", "WEEK", "MONTH", "QUARTER", "YEAR"],
                ["2024-01-01", "2025-03-15", "2025-12-01"],
                ["2025-06-30", "2026-01-31", "2026-12-31"],
            )
        } else {
            let rows = self.samples.get("market_candles").cloned().unwrap_or_default();
            if rows.is_empty() {
                return None;
            }
            let r = self.pick(&rows).clone();
            (
                format!("symbol: {}", r["symbol"]),
                &["M1", "M5", "M15", "M30", "H1", "H4", "D1"],
                ["2025-01-01T00:00:00Z", "2026-01-05T02:00:00Z", "2026-01-05T03:30:00+07:00"],
                ["2026-01-05T04:00:00Z", "2026-01-06T00:00:00Z", "2026-12-31T00:00:00Z"],
            )
        };
        let mut args = vec![subject, format!("interval: {}", self.pick(intervals))];
        if self.chance(0.6) {
            args.push(format!("from: \"{}\"", self.pick(&from)));
        }
        if self.chance(0.6) {
            args.push(format!("to: \"{}\"", self.pick(&to)));
        }
        let series = self.chance(0.3);
        let (field, body) = if series {
            if self.chance(0.3) {
                args.push(format!("countBack: {}", self.rng.gen_range(1..=5)));
            }
            let n = self.rng.gen_range(1..=4);
            (if bars { "ohlcvSeries" } else { "candleSeries" }, pick_n(self, SERIES, n))
        } else {
            if self.chance(0.2) {
                args.push(format!("fill: {}", self.pick(&["NONE", "NULL", "PREVIOUS"])));
            }
            let n = self.rng.gen_range(1..=4);
            let mut body = pick_n(self, BUCKET, n);
            if self.chance(0.3) {
                let f: &str = self.pick::<&str>(DERIVED);
                let name = f.split('(').next().unwrap_or(f);
                body = format!("{body} {name}_d: {f}");
            }
            (if bars { "ohlcvBars" } else { "candles" }, body)
        };
        let args = args.join(", ");
        Some(format!(" {}: {field}({args}){d} {{ {body} }}", alias_for(field, &args)))
    }

    /// A root `…Aggregate` field: groups by a column, counts, and extremes of a column.
    fn aggregate(&mut self, t: &'static Table, d: &str) -> Option<String> {
        self.aggregate_field("Query", format!("{}Aggregate", t.list_field), t, d)
    }

    /// `name` of `parent` (a root `…Aggregate` or a relation's, such as `Ticker.ohlcvAggregate`)
    /// grouping rows of `t`.
    fn aggregate_field(&mut self, parent: &str, name: String, t: &'static Table, d: &str) -> Option<String> {
        let sdl = sdl();
        if !sdl_has(parent, &name) {
            return None;
        }
        let mut args = vec![format!("first: {}", self.rng.gen_range(1..=6))];
        let group: Vec<&Column> =
            t.columns.iter().filter(|c| sdl_has(&format!("{}Column", t.type_name), &screaming(&c.name))).collect();
        if !group.is_empty() && self.chance(0.7) {
            let g = *self.pick(&group);
            let interval = match g.kind {
                Kind::Date if self.chance(0.5) => ", interval: MONTH",
                Kind::DateTime if self.chance(0.5) => ", interval: H1",
                _ => "",
            };
            args.push(format!("groupBy: [{{ column: {}{interval} }}]", screaming(&g.name)));
        }
        if self.chance(0.3) {
            if let Some(f) = self.filter(t) {
                args.push(format!("where: {f}"));
            }
        }
        let mut body = String::from(" keys count");
        if let Some(ext) = sdl.get(&format!("{}Extremes", t.type_name)).filter(|e| !e.is_empty()) {
            if self.chance(0.6) {
                let c = self.pick(ext).clone();
                let m = *self.pick(&["min", "max"]);
                let _ = write!(body, " {m} {{ {c} }}");
            }
        }
        let args = args.join(", ");
        Some(format!(" {}: {name}({args}){d} {{ totalCount nodes {{{body} }} }}", alias_for(&name, &args)))
    }

    /// A selection of a row of `t`, `depth` relation levels deep at most.
    fn object(&mut self, t: &'static Table, depth: u32) -> String {
        let cat = Catalog::get();
        let mut out = String::new();
        let n = self.rng.gen_range(1..=4);
        for _ in 0..n {
            match self.rng.gen_range(0..10) {
                0 if self.chance(0.5) => out.push_str(" __typename"),
                // The global object id, plain or through a fragment on the `Node` interface.
                0 => {
                    let d = self.directive();
                    match self.rng.gen_range(0..4) {
                        0 => out.push_str(" id"),
                        1 => {
                            let _ = write!(out, " nid: id{d}");
                        }
                        2 => {
                            let _ = write!(out, " ... on Node{d} {{ id __typename }}");
                        }
                        _ => {
                            let name = self.node_fragment();
                            let _ = write!(out, " ...{name}{d}");
                        }
                    }
                }
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
                    if rel.many && self.chance(0.15) {
                        let d = self.directive();
                        if let Some(a) =
                            self.aggregate_field(t.type_name, format!("{}Aggregate", rel.field), target, &d)
                        {
                            out.push_str(&a);
                            continue;
                        }
                    }
                    let (args, body) = if rel.many {
                        let mut args = self.page_args(target, 4);
                        // The relation's own arguments (`from`, `to`, `timeframe` on `ohlcv`), with stored values.
                        let rows = self.samples.get(target.name).cloned().unwrap_or_default();
                        if !rel.shortcuts.is_empty() && !rows.is_empty() && self.chance(0.3) {
                            let (arg, col, _) = *self.pick(&rel.shortcuts);
                            let c = &target.columns[target.col(col).expect("shortcut column")];
                            if let Some(lit) = literal(c, &self.pick(&rows)[&c.field].clone()) {
                                args = if args.is_empty() {
                                    format!("({arg}: {lit})")
                                } else {
                                    format!("{}, {arg}: {lit})", args.trim_end_matches(')'))
                                };
                            }
                        }
                        (args, self.connection(target, depth - 1))
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

    /// A named fragment on the `Node` interface (one per document, spread wherever a row is).
    fn node_fragment(&mut self) -> String {
        if let Some((name, _, _)) = self.fragments.iter().find(|(_, ty, _)| ty == "Node") {
            return name.clone();
        }
        let name = format!("F{}", self.fragments.len());
        self.fragments.push((name.clone(), "Node".to_string(), " id gid: id".to_string()));
        name
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
            let agg = match self.rng.gen_range(0..40) {
                0..=3 => self.aggregate(t, &d),
                4..=7 => self.market(&d),
                8 => Some(format!(" me{d} {{ rowId email role hasBrokerConnection }}")),
                9 => {
                    let rows = self.samples.get("value_chain_nodes").cloned().unwrap_or_default();
                    let sym = rows.first().map(|r| r["symbol"].to_string()).unwrap_or_else(|| "\"HPG\"".into());
                    let dir = *self.pick(&["UPSTREAM", "DOWNSTREAM", "BOTH"]);
                    let depth = self.rng.gen_range(1..=3);
                    let args = format!("ticker: {sym}, direction: {dir}, maxDepth: {depth}");
                    Some(format!(
                        " {}: valueChain({args}){d} {{ depth exposure node {{ symbol }} }}",
                        alias_for("valueChain", &args)
                    ))
                }
                10 => {
                    let args = format!("name: \"{}\"", t.type_name);
                    Some(format!(
                        " {}: __type({args}){d} {{ name kind fields {{ name }} }}",
                        alias_for("__type", &args)
                    ))
                }
                _ => None,
            };
            if let Some(a) = agg {
                body.push_str(&a);
            } else if self.chance(0.2) && self.keys.contains_key(t.type_name) {
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

/// A stored value as a GraphQL literal for `c` (an enum's word bare), or `None` for null.
fn literal(c: &Column, v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if c.words.is_some() => Some(s.clone()),
        Value::String(s) => Some(serde_json::to_string(s).unwrap()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

fn screaming(snake: &str) -> String {
    snake.to_uppercase()
}

/// Fields of each object and input type and values of each enum in `schema.graphql`.
pub(crate) fn sdl() -> &'static HashMap<String, Vec<String>> {
    static SDL: std::sync::LazyLock<HashMap<String, Vec<String>>> = std::sync::LazyLock::new(|| {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
        let doc = async_graphql::parser::parse_schema(text).expect("schema.graphql parses");
        let mut out = HashMap::new();
        for d in doc.definitions {
            let TypeSystemDefinition::Type(t) = d else { continue };
            let names = match &t.node.kind {
                TypeKind::Object(o) => o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
                TypeKind::Enum(e) => e.values.iter().map(|v| v.node.value.node.to_string()).collect(),
                TypeKind::InputObject(o) => o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
                _ => continue,
            };
            out.insert(t.node.name.node.to_string(), names);
        }
        out
    });
    &SDL
}

fn sdl_has(ty: &str, name: &str) -> bool {
    sdl().get(ty).is_some_and(|v| v.iter().any(|n| n == name))
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

/// Rows of every table (scalar columns) and cursors of the first rows in every single-column
/// order, read as `auth`: what the generator draws filter values and cursors from.
pub(crate) async fn corpus(http: &reqwest::Client, url: &str, auth: &str) -> Corpus {
    let mut c = Corpus { keys: row_keys(http, url, auth).await, ..Default::default() };
    for t in &Catalog::get().tables {
        let cols: Vec<&str> = t.columns.iter().filter(|c| c.kind != Kind::Json).map(|c| c.field.as_str()).collect();
        let q = format!("{{ {}(first: 12) {{ nodes {{ {} }} }} }}", t.list_field, cols.join(" "));
        let r: Value = serde_json::from_str(&raw(http, url, auth, &q, &json!({})).await).unwrap();
        let rows = r["data"][t.list_field]["nodes"].as_array().cloned().unwrap_or_default();
        c.samples.insert(t.name, rows);
        let mut orders = vec![String::new()];
        for col in t.columns.iter().filter(|c| c.kind != Kind::Json) {
            orders.push(format!("{}: ASC", col.field));
            orders.push(format!("{}: DESC", col.field));
        }
        for order in orders {
            let by = if order.is_empty() { String::new() } else { format!(", orderBy: [{{ {order} }}]") };
            let q = format!("{{ {}(first: 3{by}) {{ edges {{ cursor }} }} }}", t.list_field);
            let r: Value = serde_json::from_str(&raw(http, url, auth, &q, &json!({})).await).unwrap();
            let cursors: Vec<String> = r["data"][t.list_field]["edges"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["cursor"].as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            c.cursors.insert((t.name, order), cursors);
        }
    }
    c
}

/// What the specification demands of any answer: every response key the document selects
/// (after `@skip`/`@include`) is present under a non-null parent, and no other; every error
/// has a message and a code, and a field error a `path` at which (or above which) the answer is null.
fn check_spec(doc: &str, vars: &Value, body: &Value) -> Result<(), String> {
    use async_graphql::parser::types::{DocumentOperations, Selection, SelectionSet};
    let parsed = async_graphql::parser::parse_query(doc).map_err(|e| e.to_string())?;
    let frags = &parsed.fragments;
    let op = match &parsed.operations {
        DocumentOperations::Single(op) => &op.node,
        DocumentOperations::Multiple(ops) => &ops.values().next().unwrap().node,
    };
    let mut values = vars.as_object().cloned().unwrap_or_default();
    for d in &op.variable_definitions {
        let name = d.node.name.node.to_string();
        if !values.contains_key(&name) {
            if let Some(def) = &d.node.default_value {
                values.insert(name, def.node.clone().into_json().unwrap());
            }
        }
    }
    let included = |dirs: &[async_graphql::Positioned<async_graphql::parser::types::Directive>]| {
        dirs.iter().all(|d| {
            let Some(arg) = d.node.get_argument("if").map(|v| v.node.to_string()) else { return true };
            let cond = match arg.strip_prefix('$') {
                Some(var) => values.get(var).and_then(Value::as_bool).unwrap_or(false),
                None => arg == "true",
            };
            match d.node.name.node.as_str() {
                "skip" => !cond,
                "include" => cond,
                _ => true,
            }
        })
    };
    // Response keys of a selection set, with their sub-selections (fragments flattened).
    fn keys<'a>(
        set: &'a SelectionSet,
        frags: &'a HashMap<
            async_graphql::Name,
            async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>,
        >,
        included: &dyn Fn(&[async_graphql::Positioned<async_graphql::parser::types::Directive>]) -> bool,
        out: &mut Vec<(String, Vec<&'a SelectionSet>)>,
        depth: usize,
    ) {
        assert!(depth < 64, "fragment nesting");
        for item in &set.items {
            match &item.node {
                Selection::Field(f) if included(&f.node.directives) => {
                    let key = f.node.response_key().node.to_string();
                    let sub = &f.node.selection_set.node;
                    match out.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, subs)) => subs.push(sub),
                        None => out.push((key, vec![sub])),
                    }
                }
                Selection::FragmentSpread(s) if included(&s.node.directives) => {
                    keys(&frags[&s.node.fragment_name.node].node.selection_set.node, frags, included, out, depth + 1)
                }
                Selection::InlineFragment(i) if included(&i.node.directives) => {
                    keys(&i.node.selection_set.node, frags, included, out, depth + 1)
                }
                _ => {}
            }
        }
    }
    fn walk(
        sets: &[&SelectionSet],
        v: &Value,
        path: &str,
        frags: &HashMap<
            async_graphql::Name,
            async_graphql::Positioned<async_graphql::parser::types::FragmentDefinition>,
        >,
        included: &dyn Fn(&[async_graphql::Positioned<async_graphql::parser::types::Directive>]) -> bool,
    ) -> Result<(), String> {
        match v {
            Value::Null => Ok(()),
            Value::Array(items) => {
                items.iter().enumerate().try_for_each(|(i, x)| walk(sets, x, &format!("{path}/{i}"), frags, included))
            }
            Value::Object(m) => {
                let mut want = Vec::new();
                for s in sets {
                    keys(s, frags, included, &mut want, 0);
                }
                let got: Vec<&String> = m.keys().collect();
                let names: Vec<&String> = want.iter().map(|(k, _)| k).collect();
                if got.len() != names.len() || names.iter().any(|k| !m.contains_key(*k)) {
                    return Err(format!("at {path}: keys {got:?}, selected {names:?}"));
                }
                for (k, subs) in &want {
                    if subs.iter().any(|s| !s.items.is_empty()) {
                        walk(subs, &m[k], &format!("{path}/{k}"), frags, included)?;
                    }
                }
                Ok(())
            }
            _ if sets.iter().all(|s| s.items.is_empty()) => Ok(()),
            other => Err(format!("at {path}: a leaf {other} where an object was selected")),
        }
    }
    if let Some(errors) = body.get("errors") {
        for e in errors.as_array().ok_or("errors is not a list")? {
            if !e["message"].is_string() || !e["extensions"]["code"].is_string() {
                return Err(format!("error without a message or a code: {e}"));
            }
            if body.get("data").is_none() {
                continue; // a request error: no execution, no path
            }
            let path = e["path"].as_array().ok_or_else(|| format!("field error without a path: {e}"))?;
            // The answer is null at the path or at one of its ancestors (null propagation).
            let mut at = &body["data"];
            let mut nulled = at.is_null();
            for seg in path {
                if nulled {
                    break;
                }
                at = match seg {
                    Value::String(k) => at.get(k).ok_or_else(|| format!("error path {path:?} leaves the answer"))?,
                    Value::Number(n) => at.get(n.as_u64().unwrap() as usize).ok_or("error path index")?,
                    _ => return Err(format!("bad path segment in {e}")),
                };
                nulled = at.is_null();
            }
            if !nulled {
                return Err(format!("error at {path:?} but the answer there is not null: {e}"));
            }
        }
    }
    match body.get("data") {
        None | Some(Value::Null) => Ok(()),
        Some(d) => walk(&[&op.selection_set.node], d, "", frags, &included),
    }
}

/// The roles a document is sent as: (label, `Authorization`), each with rows of its own to see.
async fn callers(app: &TestApp) -> Vec<(&'static str, Option<String>)> {
    use quantgraph::auth::Role;
    let (user, _) = register(app, "differential@example.com").await;
    workflow_with_runs(app, &user, "diff", 1).await;
    // Operator tokens that outlast a long run (`token` gives 10 minutes; 100,000 documents take longer).
    let long = |role| format!("Bearer {}", app.app.state.tokens.issue("differential", role, 12 * 3600).unwrap());
    vec![
        ("anonymous", None),
        ("user", Some(user)),
        ("analyst", Some(long(Role::Analyst))),
        ("service", Some(long(Role::Service))),
        ("admin", Some(long(Role::Admin))),
    ]
}

async fn direct_answers(app: &TestApp) -> u64 {
    let body = app.http.get(app.url.replace("/graphql", "/metrics")).send().await.unwrap().text().await.unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix("quantgraph_direct_answers_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("direct answer counter in /metrics")
}

/// Random documents over the whole catalog, as every role and in several time zones, each sent
/// to the direct writer and to the general executor over POST (byte-identical answers), and to
/// them over GET and both WebSocket protocols (the same answer); every answer is also held to
/// the specification (`check_spec`). The seed is fresh each run and printed.
#[tokio::test]
async fn direct_writer_and_general_executor_give_the_same_bytes() {
    use crate::transports::{over_get, over_post, over_ws, Caller};
    let docs: usize = std::env::var("QG_DIFFERENTIAL_DOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let seed: u64 = std::env::var("QG_DIFFERENTIAL_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 % 1_000_000_007
    });
    eprintln!("differential test: seed {seed} (replay with QG_DIFFERENTIAL_SEED={seed}), {docs} documents per backend");
    for backend in backends() {
        let direct = spawn_with(backend, true, |c| c.direct_reads = true).await;
        let mut c = config(&direct.database_url);
        c.direct_reads = false;
        let general = TestApp::start(&c, backend).await;
        let callers = callers(&direct).await;
        let admin = callers.last().unwrap().1.clone().unwrap();
        let corpus = corpus(&direct.http, &direct.url, &admin).await;
        assert!(corpus.keys.contains_key("Ticker"), "{backend:?}: no ticker to read");
        let cursors = corpus.cursors.values().filter(|c| !c.is_empty()).count();
        assert!(cursors > 50, "{backend:?}: only {cursors} cursor pools");
        let mut g = Gen::with(seed, corpus);
        let mut pick = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let (mut with_data, mut with_errors, mut field_errors) = (0, 0, 0);
        let mut by_role: HashMap<&str, usize> = HashMap::new();
        use futures_util::StreamExt;
        let before = (direct_answers(&direct).await, direct_answers(&general).await);
        // Documents are drawn in order (so a seed replays them), then sent a few at a time.
        let cases: Vec<_> = (0..docs)
            .map(|i| {
                let (doc, vars) = g.document();
                let caller = pick.gen_range(0..callers.len());
                let tz = [None, Some("Asia/Ho_Chi_Minh"), Some("America/New_York")][pick.gen_range(0..3)];
                (i, doc, vars, caller, tz)
            })
            .collect();
        // The generator reaches every kind of argument it knows.
        for part in [
            "after:",
            "before:",
            "where:",
            "Aggregate(",
            "asOf:",
            "in: [",
            "{ or: [",
            "@skip",
            "...F",
            "ohlcvBars(",
            "candles(",
            "Series(",
        ] {
            let n = cases.iter().filter(|c| c.1.contains(part)).count();
            assert!(n * 100 >= docs, "{backend:?}: only {n} of {docs} documents have `{part}`");
        }
        let (direct, general, callers) = (&direct, &general, &callers);
        let answers: Vec<(&str, Value)> = futures_util::stream::iter(cases)
            .map(|(i, doc, vars, who, tz)| async move {
                let (role, auth) = &callers[who];
                let caller = Caller { token: auth.as_deref(), tz };
                let at = || {
                    format!("{backend:?}: document {i} as {role}, Time-Zone {tz:?} (seed {seed}):\n{doc}\nvariables: {vars}")
                };
                let a = over_post(direct, caller, &doc, &vars).await;
                let b = over_post(general, caller, &doc, &vars).await;
                assert_eq!(a, b, "direct writer and executor differ, {}", at());
                let get = over_get(direct, caller, &doc, &vars).await;
                assert_eq!(a, get, "GET differs from POST, {}", at());
                let v: Value = serde_json::from_str(&a.1).unwrap();
                for (app, legacy) in [(direct, false), (general, true)] {
                    let ws = over_ws(app, caller, &doc, &vars, legacy).await;
                    assert_eq!(ws, v, "WebSocket (legacy: {legacy}) differs from POST, {}", at());
                }
                if let Err(e) = check_spec(&doc, &vars, &v) {
                    panic!("{e}\nanswer: {}\n{}", a.1, at());
                }
                for e in v["errors"].as_array().into_iter().flatten() {
                    assert_ne!(e["extensions"]["code"], "INTERNAL", "{}\n{}", a.1, at());
                }
                (*role, v)
            })
            .buffer_unordered(6)
            .collect()
            .await;
        for (role, v) in &answers {
            *by_role.entry(role).or_default() += 1;
            if v.get("errors").is_none() {
                with_data += 1;
            } else {
                with_errors += 1;
                if v.get("data").is_some() {
                    field_errors += 1;
                }
            }
        }
        let answered = (direct_answers(direct).await - before.0, direct_answers(general).await - before.1);
        eprintln!(
            "{backend:?}: {docs} documents ({by_role:?}), {with_data} answered without errors, {with_errors} with \
             errors ({field_errors} of them field errors beside data); the direct writer answered {} of the {} \
             sent to it (POST, GET, graphql-transport-ws)",
            answered.0,
            3 * docs
        );
        assert_eq!(answered.1, 0, "{backend:?}: the gateway without direct reads answered directly");
        // About two in five documents are plain reads the direct writer takes (the rest hold an
        // aggregate, introspection or another root it leaves to the executor): a silent fall-back
        // to the executor shows here.
        assert!(answered.0 * 4 >= 3 * docs as u64, "{backend:?}: the direct writer answered only {}", answered.0);
        // Nearly every role and document is answered: a generator that only produced errors
        // would compare nothing.
        assert!(with_data * 3 >= docs, "{backend:?}: only {with_data} of {docs} documents answered without errors");
        assert!(field_errors > 0, "{backend:?}: no document met a field error");
    }
}
