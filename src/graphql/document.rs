//! Checks and one rewrite on a parsed document before async-graphql validates it, for two
//! places where its validator (7.2) departs from the specification:
//! - a fragment cycle is reported by its recursion-depth guard (as too complex) before the
//!   NoFragmentCycles rule runs; here it is the validation error the spec names;
//! - `__typename` fields are not visited, so a variable used only in their `@skip`/`@include`
//!   counts as unused (and an unknown directive there goes unseen). `__typename @d` becomes
//!   `... @d { __typename }`, which the spec answers identically and the validator visits.
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, InlineFragment, Selection, SelectionSet};
use async_graphql::{Name, Positioned, ServerError};
use std::collections::HashMap;

/// Deepest selection nesting walked (the parser refuses documents deeper than 64 sets).
const MAX_WALK: usize = 128;

/// Rewrites `__typename` fields that carry directives into inline fragments that carry them.
pub fn lift_typename_directives(doc: &mut ExecutableDocument) {
    fn set(s: &mut SelectionSet, depth: usize) {
        if depth > MAX_WALK {
            return;
        }
        for item in &mut s.items {
            let pos = item.pos;
            match &mut item.node {
                Selection::Field(f) if f.node.name.node == "__typename" && !f.node.directives.is_empty() => {
                    let directives = std::mem::take(&mut f.node.directives);
                    let field = f.clone();
                    let inner = SelectionSet { items: vec![Positioned::new(Selection::Field(field), pos)] };
                    let fragment =
                        InlineFragment { type_condition: None, directives, selection_set: Positioned::new(inner, pos) };
                    item.node = Selection::InlineFragment(Positioned::new(fragment, pos));
                }
                Selection::Field(f) => set(&mut f.node.selection_set.node, depth + 1),
                Selection::InlineFragment(i) => set(&mut i.node.selection_set.node, depth + 1),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    match &mut doc.operations {
        DocumentOperations::Single(op) => set(&mut op.node.selection_set.node, 0),
        DocumentOperations::Multiple(ops) => ops.values_mut().for_each(|op| set(&mut op.node.selection_set.node, 0)),
    }
    for f in doc.fragments.values_mut() {
        set(&mut f.node.selection_set.node, 0);
    }
}

/// The spread fragments of a selection set (through fields and inline fragments).
fn spreads<'a>(s: &'a SelectionSet, out: &mut Vec<&'a Name>, depth: usize) {
    if depth > MAX_WALK {
        return;
    }
    for item in &s.items {
        match &item.node {
            Selection::Field(f) => spreads(&f.node.selection_set.node, out, depth + 1),
            Selection::InlineFragment(i) => spreads(&i.node.selection_set.node, out, depth + 1),
            Selection::FragmentSpread(sp) => out.push(&sp.node.fragment_name.node),
        }
    }
}

/// The first fragment that spreads itself, directly or through others (NoFragmentCycles).
pub fn fragment_cycle(doc: &ExecutableDocument) -> Option<ServerError> {
    let edges: HashMap<&Name, (Vec<&Name>, async_graphql::Pos)> = doc
        .fragments
        .iter()
        .map(|(name, f)| {
            let mut out = Vec::new();
            spreads(&f.node.selection_set.node, &mut out, 0);
            (name, (out, f.pos))
        })
        .collect();
    // Iterative depth-first search: 0 = unseen, 1 = on the stack, 2 = done.
    let mut state: HashMap<&Name, u8> = HashMap::new();
    let mut names: Vec<&Name> = edges.keys().copied().collect();
    names.sort();
    for start in names {
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&Name, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some(&(name, next)) = stack.last() {
            let (targets, pos) = &edges[name];
            if let Some(target) = targets.get(next) {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
                match state.get(target).copied().unwrap_or(0) {
                    1 => {
                        return Some(ServerError::new(
                            format!("Cannot spread fragment \"{target}\" within itself."),
                            Some(*pos),
                        ));
                    }
                    0 if edges.contains_key(target) => {
                        state.insert(target, 1);
                        stack.push((target, 0));
                    }
                    _ => {}
                }
            } else {
                state.insert(name, 2);
                stack.pop();
            }
        }
    }
    None
}

/// The name the document gives its operation when it holds one (the parser keeps names only
/// when there are several): the first `query`/`mutation`/`subscription` keyword outside any
/// braces, strings and comments, and the name after it. Read without recursion.
pub fn single_operation_name(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                let block = b[i..].starts_with(b"\"\"\"");
                i += if block { 3 } else { 1 };
                while i < b.len() && !(if block { b[i..].starts_with(b"\"\"\"") } else { b[i] == b'"' }) {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += if block { 2 } else { 0 };
            }
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth = depth.saturating_sub(1),
            c if depth == 0 && is_name(c) => {
                let start = i;
                while i < b.len() && is_name(b[i]) {
                    i += 1;
                }
                if matches!(&text[start..i], "query" | "mutation" | "subscription") {
                    while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                        i += 1;
                    }
                    let name_start = i;
                    while i < b.len() && is_name(b[i]) {
                        i += 1;
                    }
                    return (i > name_start).then(|| text[name_start..i].to_string());
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::single_operation_name as name;

    #[test]
    fn the_operations_own_name() {
        assert_eq!(name("query BarsOpName { a }").as_deref(), Some("BarsOpName"));
        assert_eq!(
            name("fragment F on Query { q: a } # query Not\n subscription Live($x: Int) { b }").as_deref(),
            Some("Live")
        );
        assert_eq!(name("{ query { mutation } }"), None);
        assert_eq!(name("query { a(s: \"query X\") }"), None);
        assert_eq!(name("\"\"\"query Doc\"\"\" mutation M { a }").as_deref(), Some("M"));
    }
}
