//! The part of the specification's FieldsInSetCanMerge that async-graphql's validator (7.2)
//! leaves out: SameResponseShape. Two fields answered under one response key, selected on
//! different types (`... on Ticker { name } ... on Strategy { name }` in a `Node` or
//! `_Entity` selection), must give values of one shape — `String` and `String!` do not — or
//! no client could type the key. A document breaking it is a validation error.
use super::schema_index::{root_type, FieldType, SchemaIndex};
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Name, Pos, Positioned, ServerError};
use std::collections::HashSet;

/// Deepest nesting followed, and most fields compared: the document already passed the depth
/// and size checks, these bounds keep the walk linear whatever fragments repeat.
const MAX_DEPTH: usize = 64;
const MAX_FIELDS: usize = 20_000;

/// A field as selected: its parent type (where it was written) and the field.
type Selected<'a> = (&'a str, &'a Positioned<Field>);

struct Walk<'a> {
    index: &'a SchemaIndex,
    doc: &'a ExecutableDocument,
    seen: usize,
    errors: Vec<ServerError>,
}

/// The SameResponseShape errors of `doc`, in document order.
pub fn check(index: &SchemaIndex, doc: &ExecutableDocument) -> Vec<ServerError> {
    let mut w = Walk { index, doc, seen: 0, errors: Vec::new() };
    // Every fragment is spread somewhere (the validator saw to it), so walking the operations
    // reaches every selection.
    for (_, op) in doc.operations.iter() {
        w.set(&[(root_type(op.node.ty), &op.node.selection_set.node)], 0);
    }
    w.errors
}

impl<'a> Walk<'a> {
    /// The fields of `set` (on `parent`) by response key, fragments flattened.
    fn fields(
        &mut self,
        parent: &'a str,
        set: &'a SelectionSet,
        out: &mut IndexMap<&'a Name, Vec<Selected<'a>>>,
        visited: &mut HashSet<&'a str>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(f) => {
                    self.seen += 1;
                    out.entry(&f.node.response_key().node).or_default().push((parent, f));
                }
                Selection::InlineFragment(i) => {
                    let on = i.node.type_condition.as_ref().map_or(parent, |c| c.node.on.node.as_str());
                    self.fields(on, &i.node.selection_set.node, out, visited, depth + 1);
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    if let Some(frag) = self.doc.fragments.get(name).filter(|_| visited.insert(name)) {
                        self.fields(
                            frag.node.type_condition.node.on.node.as_str(),
                            &frag.node.selection_set.node,
                            out,
                            visited,
                            depth + 1,
                        );
                    }
                }
            }
        }
    }

    /// The type of a selected field (`None` where the validator reported it unknown).
    fn type_of(&self, (parent, f): Selected<'_>) -> Option<FieldType> {
        match f.node.name.node.as_str() {
            "__typename" => {
                Some(FieldType { named: "String".into(), list: false, nullable: false, items_nullable: false })
            }
            name => self.index.field(parent, name).cloned(),
        }
    }

    /// Checks the fields selected together by `sets` (each on its parent type), then each
    /// field's own selection.
    fn set(&mut self, sets: &[(&'a str, &'a SelectionSet)], depth: usize) {
        if depth > MAX_DEPTH || self.seen > MAX_FIELDS {
            return;
        }
        let mut by_key = IndexMap::new();
        let mut visited = HashSet::new();
        for (parent, set) in sets {
            self.fields(parent, set, &mut by_key, &mut visited, 0);
        }
        for (key, fields) in by_key {
            let first = fields[0];
            let Some(shape) = self.type_of(first) else { continue };
            let mut same = true;
            for &other in &fields[1..] {
                let Some(t) = self.type_of(other) else { continue };
                if let Some((a, b)) = self.differ(&shape, &t) {
                    self.errors.push(conflict(key, &a, &b, first.1.pos, other.1.pos));
                    same = false;
                    break;
                }
            }
            // Merged fields answer one value: their sub-selections are checked as one set.
            if same && self.index.is_composite(&shape.named) {
                let subs: Vec<(&'a str, &'a SelectionSet)> =
                    fields.iter().filter_map(|&f| Some((self.named(f)?, &f.1.node.selection_set.node))).collect();
                self.set(&subs, depth + 1);
            }
        }
    }

    fn named(&self, f: Selected<'a>) -> Option<&'a str> {
        let (parent, field) = f;
        self.index.field(parent, field.node.name.node.as_str()).map(|t| t.named.as_str())
    }

    /// How two field types differ in shape, written as the schema writes them; `None` if not.
    fn differ(&self, a: &FieldType, b: &FieldType) -> Option<(String, String)> {
        let wrappers =
            (a.list, a.nullable, a.list && a.items_nullable) != (b.list, b.nullable, b.list && b.items_nullable);
        let (ca, cb) = (self.index.is_composite(&a.named), self.index.is_composite(&b.named));
        let leaves = !ca && !cb && a.named != b.named;
        (wrappers || ca != cb || leaves).then(|| (written(a), written(b)))
    }
}

fn written(t: &FieldType) -> String {
    let named =
        if t.list { format!("[{}{}]", t.named, if t.items_nullable { "" } else { "!" }) } else { t.named.clone() };
    format!("{named}{}", if t.nullable { "" } else { "!" })
}

fn conflict(key: &Name, a: &str, b: &str, at: Pos, other: Pos) -> ServerError {
    let mut e = ServerError::new(
        format!(
            "Fields \"{key}\" conflict because they return conflicting types \"{a}\" and \"{b}\". Use different aliases on the fields to fetch both if this was intentional."
        ),
        Some(at),
    );
    e.locations.push(other);
    e
}
