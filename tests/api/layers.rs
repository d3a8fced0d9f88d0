//! The house's rules, read off the source: no import cycle between modules, and the layers below
//! GraphQL (`data/`, `service/`, `events/`) import nothing of it. DEVELOPMENT.md's map says why.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every module of `src/` (as `a::b`) with its source, tests modules left out.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(concat!(env!("CARGO_MANIFEST_DIR"), "/src")).expect("under src");
                let mut parts: Vec<String> =
                    rel.with_extension("").iter().map(|p| p.to_string_lossy().into_owned()).collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    parts.pop();
                }
                let text = std::fs::read_to_string(&path).expect("source");
                // Unit tests may reach anywhere; they sit at the end of their file.
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(at) => text[..at].to_string(),
                    None => text,
                };
                let code: String =
                    text.lines().filter(|l| !l.trim_start().starts_with("//")).map(|l| format!("{l}\n")).collect();
                out.insert(parts.join("::"), code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")), &mut out);
    out
}

/// The paths written in `code`: `a::b::c`, with `a::{b, c::d}` groups expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    fn chain(s: &[char], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
        let mut path = prefix;
        loop {
            let start = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            if i > start {
                path.push(s[start..i].iter().collect());
            }
            if i + 2 < s.len() && s[i] == ':' && s[i + 1] == ':' {
                i += 2;
                if s[i] == '{' {
                    i += 1;
                    loop {
                        while i < s.len() && (s[i].is_whitespace() || s[i] == ',') {
                            i += 1;
                        }
                        if i >= s.len() || s[i] == '}' {
                            out.push(path.clone());
                            return i + 1;
                        }
                        i = chain(s, i, path.clone(), out);
                        // Skip an `as name` rename.
                        while i < s.len() && !matches!(s[i], ',' | '}') {
                            i += 1;
                        }
                    }
                }
                continue;
            }
            out.push(path);
            return i;
        }
    }
    let s: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let boundary = i == 0 || !(s[i - 1].is_alphanumeric() || s[i - 1] == '_' || s[i - 1] == ':');
        if boundary && (s[i].is_alphabetic() || s[i] == '_') {
            i = chain(&s, i, Vec::new(), &mut out);
        } else {
            i += 1;
        }
    }
    out.retain(|p| p.len() > 1);
    out
}

/// The modules each module imports (parent and child modules aside).
fn imports(mods: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges = BTreeMap::new();
    for (m, code) in mods {
        let here: Vec<String> = if m.is_empty() { vec![] } else { m.split("::").map(String::from).collect() };
        let mut to = BTreeSet::new();
        for p in paths(code) {
            let (mut base, rest): (Vec<String>, &[String]) = match p[0].as_str() {
                "crate" => (vec![], &p[1..]),
                "self" => (here.clone(), &p[1..]),
                "super" => {
                    let mut b = here.clone();
                    let mut rest = &p[..];
                    while rest.first().is_some_and(|s| s == "super") {
                        b.pop();
                        rest = &rest[1..];
                    }
                    (b, rest)
                }
                _ => (here.clone(), &p[..]),
            };
            // The longest prefix that names a module.
            let mut found = None;
            for seg in rest {
                base.push(seg.clone());
                if mods.contains_key(&base.join("::")) {
                    found = Some(base.join("::"));
                }
            }
            if let Some(t) = found {
                let related = t == *m || t.starts_with(&format!("{m}::")) || m.starts_with(&format!("{t}::"));
                if !related {
                    to.insert(t);
                }
            }
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// Modules on a cycle, each cycle as the set of its modules.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for n in edges.get(&m).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = edges.keys().map(|m| (m, reach(m))).collect();
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for (m, r) in &reached {
        let scc: BTreeSet<String> =
            r.iter().filter(|n| reached.get(n).is_some_and(|back| back.contains(*m))).cloned().collect();
        if !scc.is_empty() && !out.contains(&scc) {
            out.push(scc);
        }
    }
    out
}

#[test]
fn no_import_cycles_and_no_graphql_below_it() {
    let mods = modules();
    let edges = imports(&mods);
    // The reader sees what the rule stands on: the read path's rooms import each other.
    assert!(edges["graphql::direct"].contains("data::fetch"), "{:?}", edges["graphql::direct"]);
    assert!(edges["data::fetch"].contains("data::read"), "{:?}", edges["data::fetch"]);
    let found = cycles(&edges);
    assert!(found.is_empty(), "import cycles: {found:?}");
    for (m, code) in &mods {
        if ["data", "service", "events"].iter().any(|l| m == l || m.starts_with(&format!("{l}::"))) {
            let up: Vec<&String> =
                edges[m].iter().filter(|t| t.starts_with("graphql") || t.starts_with("http")).collect();
            assert!(up.is_empty(), "{m} imports {up:?}");
            assert!(!code.contains("async_graphql"), "{m} uses async_graphql");
        }
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut mods = BTreeMap::new();
    mods.insert("a".to_string(), "use crate::b::{x, y::z};".to_string());
    mods.insert("b".to_string(), "fn f() { super::c::g() }".to_string());
    mods.insert("b::y".to_string(), String::new());
    mods.insert("c".to_string(), "use crate::a::Thing as Other;".to_string());
    mods.insert("d".to_string(), "use crate::a;".to_string());
    let edges = imports(&mods);
    assert_eq!(edges["a"], BTreeSet::from(["b".to_string(), "b::y".to_string()]));
    assert_eq!(cycles(&edges), vec![BTreeSet::from(["a".to_string(), "b".to_string(), "c".to_string()])]);
}
