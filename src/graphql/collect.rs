//! Field collection as the GraphQL specification defines it (CollectFields): response keys,
//! fragment spreads, inline fragments with type conditions, `@skip`/`@include` and repeated
//! fields merged under one key in document order. It runs on a validated document only, so
//! fragments are acyclic; it still counts what it expands and stops past a bound.
pub use super::schema_index::{root_type, FieldType, SchemaIndex};
use crate::error::ApiError;
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{Name, Pos, Positioned, Variables};
use async_graphql_value::{ConstValue, Value};
use std::collections::HashSet;

/// One response key of a selection set, with every selection merged into it.
#[derive(Debug, Clone)]
pub struct CollectedField {
    /// The response key: the alias, or the field name.
    pub key: Name,
    pub name: Name,
    /// Arguments as written (variables unresolved); validation made them equal across merges.
    pub arguments: Vec<(Positioned<Name>, Positioned<Value>)>,
    /// The named return type (`None` for `__typename` and introspection fields).
    pub ty: Option<FieldType>,
    /// Where the field is written first (errors point there).
    pub pos: Pos,
    /// Whether the field has a selection set (an object, even when every selection in it was
    /// skipped: it is then answered as `{}`).
    pub composite: bool,
    pub children: Vec<CollectedField>,
    /// Introspection's selections as written (their types are not indexed; async-graphql
    /// answers them), merged across the field's occurrences.
    pub written: Option<SelectionSet>,
}

/// A written value with `vars` (defaults already applied) substituted; a missing one is null.
pub fn bind_value(v: &Value, vars: &Variables) -> ConstValue {
    v.clone().into_const_with(|var| Ok::<_, ()>(vars.get(&var).cloned().unwrap_or_default())).unwrap_or_default()
}

impl CollectedField {
    /// The arguments with `vars` (defaults already applied) substituted.
    pub fn bound_args(&self, vars: &Variables) -> IndexMap<Name, ConstValue> {
        self.arguments.iter().map(|(n, v)| (n.node.clone(), bind_value(&v.node, vars))).collect()
    }
}

/// The collected root fields of one operation.
#[derive(Debug)]
pub struct CollectedOperation {
    pub ty: OperationType,
    pub roots: Vec<CollectedField>,
    /// Whether it selects into introspection (`__schema`, `__type`), whose types are not indexed.
    pub introspection: bool,
}

/// Most fields a collected operation may expand to (validation's complexity limit comes first).
const MAX_FIELDS: usize = 1_000_000;
/// Deepest selection nesting followed (the document passed the depth checks already).
const MAX_NESTING: usize = 256;

struct Collector<'a> {
    doc: &'a ExecutableDocument,
    schema: &'a SchemaIndex,
    vars: &'a Variables,
    fields: usize,
}

/// Whether `@skip`/`@include` of a selection reads a variable (then a collected plan depends on
/// the request's variables and is not cached).
pub fn directives_use_variables(doc: &ExecutableDocument) -> bool {
    fn set_uses(set: &SelectionSet) -> bool {
        set.items.iter().any(|s| {
            let own = s
                .node
                .directives()
                .iter()
                .any(|d| d.node.arguments.iter().any(|(_, v)| v.node.clone().into_const().is_none()));
            own || match &s.node {
                Selection::Field(f) => set_uses(&f.node.selection_set.node),
                Selection::InlineFragment(i) => set_uses(&i.node.selection_set.node),
                Selection::FragmentSpread(_) => false,
            }
        })
    }
    doc.operations.iter().any(|(_, op)| set_uses(&op.node.selection_set.node))
        || doc.fragments.values().any(|f| set_uses(&f.node.selection_set.node))
}

/// Whether a selection is left out by `@skip(if: true)` or `@include(if: false)`.
fn skipped(directives: &[Positioned<Directive>], vars: &Variables) -> bool {
    directives.iter().any(|d| {
        let include = match d.node.name.node.as_str() {
            "skip" => false,
            "include" => true,
            _ => return false,
        };
        let cond = d.node.get_argument("if").map(|v| bind_value(&v.node, vars));
        let value = matches!(cond, Some(ConstValue::Boolean(true)));
        value != include
    })
}

impl<'a> Collector<'a> {
    /// CollectFields(objectType, selectionSet, variableValues, visitedFragments).
    fn group(
        &mut self,
        ty: &str,
        set: &'a SelectionSet,
        visited: &mut HashSet<&'a str>,
        out: &mut IndexMap<Name, Vec<&'a Positioned<Field>>>,
    ) {
        for item in &set.items {
            if skipped(item.node.directives(), self.vars) {
                continue;
            }
            match &item.node {
                Selection::Field(f) => {
                    out.entry(f.node.response_key().node.clone()).or_default().push(f);
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    if !visited.insert(name) {
                        continue;
                    }
                    let Some(frag) = self.doc.fragments.get(name) else { continue };
                    if !self.schema.applies(frag.node.type_condition.node.on.node.as_str(), ty) {
                        continue;
                    }
                    self.group(ty, &frag.node.selection_set.node, visited, out);
                }
                Selection::InlineFragment(i) => {
                    if let Some(cond) = &i.node.type_condition {
                        if !self.schema.applies(cond.node.on.node.as_str(), ty) {
                            continue;
                        }
                    }
                    self.group(ty, &i.node.selection_set.node, visited, out);
                }
            }
        }
    }

    fn collect(
        &mut self,
        ty: &str,
        sets: &[&'a SelectionSet],
        nesting: usize,
    ) -> Result<Vec<CollectedField>, ApiError> {
        if nesting > MAX_NESTING {
            return Err(ApiError::TooComplex(format!("query is nested deeper than {MAX_NESTING} levels")));
        }
        let mut groups: IndexMap<Name, Vec<&'a Positioned<Field>>> = IndexMap::new();
        let mut visited = HashSet::new();
        for set in sets {
            self.group(ty, set, &mut visited, &mut groups);
        }
        let mut out = Vec::with_capacity(groups.len());
        for (key, fields) in groups {
            self.fields += 1;
            if self.fields > MAX_FIELDS {
                return Err(ApiError::TooComplex(format!("query expands to more than {MAX_FIELDS} fields")));
            }
            let (pos, first) = (fields[0].pos, &fields[0].node);
            let field_ty = self.schema.field(ty, first.name.node.as_str()).cloned();
            let sub: Vec<&'a SelectionSet> = fields.iter().map(|f| &f.node.selection_set.node).collect();
            let composite = sub.iter().any(|s| !s.items.is_empty());
            // Introspection's types are not indexed, and an abstract type's selection depends on
            // each item's type (`_entities`, `node`): both are taken as written, and the
            // executor answers them.
            let opaque = field_ty.as_ref().is_none_or(|t| self.schema.is_abstract(&t.named));
            let children = match &field_ty {
                Some(ft) if composite && !opaque => self.collect(&ft.named, &sub, nesting + 1)?,
                _ => Vec::new(),
            };
            let written = (opaque && composite)
                .then(|| SelectionSet { items: sub.iter().flat_map(|s| s.items.iter().cloned()).collect() });
            out.push(CollectedField {
                key,
                name: first.name.node.clone(),
                arguments: first.arguments.clone(),
                ty: field_ty,
                pos,
                composite,
                children,
                written,
            });
        }
        Ok(out)
    }
}

/// The operation a request runs: the named one, or the only one.
pub fn operation<'a>(doc: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(&op.node),
        (DocumentOperations::Multiple(m), Some(n)) => m.get(n).map(|o| &o.node),
        (DocumentOperations::Multiple(m), None) if m.len() == 1 => m.values().next().map(|o| &o.node),
        _ => None,
    }
}

/// Collects the root fields of the operation `name` of a validated document.
pub fn collect(
    doc: &ExecutableDocument,
    name: Option<&str>,
    schema: &SchemaIndex,
    vars: &Variables,
) -> Result<CollectedOperation, ApiError> {
    let op = operation(doc, name).ok_or_else(|| ApiError::bad("unknown operation"))?;
    let mut c = Collector { doc, schema, vars, fields: 0 };
    let roots = c.collect(root_type(op.ty), &[&op.selection_set.node], 0)?;
    let introspection = roots.iter().any(|f| f.composite && f.ty.is_none());
    Ok(CollectedOperation { ty: op.ty, roots, introspection })
}

/// Adds the declared defaults of the operation's variables that the request left out, as the
/// specification's CoerceVariableValues does, so every later step sees one set of values.
pub fn apply_variable_defaults(doc: &ExecutableDocument, name: Option<&str>, vars: &mut Variables) {
    let Some(op) = operation(doc, name) else { return };
    for def in &op.variable_definitions {
        let n = &def.node.name.node;
        if vars.get(n).is_none() {
            if let Some(d) = def.node.default_value() {
                vars.insert(n.clone(), d.clone());
            }
        }
    }
}

/// Response key under which an object whose every selection was skipped asks for its
/// `__typename`, so the general executor tells an empty object from a null one.
const EMPTY_MARKER: &str = "__qgEmpty";

impl CollectedOperation {
    /// The operation as a document of plain fields — aliases explicit, no fragments, no
    /// directives, each response key once — for the general executor. async-graphql's executor
    /// resolves and completes values; field collection stays here, written once.
    pub fn to_document(&self, doc: &ExecutableDocument, def: &OperationDefinition) -> ExecutableDocument {
        fn set(fields: &[CollectedField], pos: Pos) -> Positioned<SelectionSet> {
            let mut items: Vec<Positioned<Selection>> = fields
                .iter()
                .map(|f| {
                    let alias = (f.key != f.name).then(|| Positioned::new(f.key.clone(), f.pos));
                    let field = Field {
                        alias,
                        name: Positioned::new(f.name.clone(), f.pos),
                        arguments: f.arguments.clone(),
                        directives: Vec::new(),
                        selection_set: match &f.written {
                            Some(w) => Positioned::new(w.clone(), f.pos),
                            None if f.composite => set(&f.children, f.pos),
                            None => Default::default(),
                        },
                    };
                    Positioned::new(Selection::Field(Positioned::new(field, f.pos)), f.pos)
                })
                .collect();
            if items.is_empty() {
                let marker = Field {
                    alias: Some(Positioned::new(Name::new(EMPTY_MARKER), pos)),
                    name: Positioned::new(Name::new("__typename"), pos),
                    arguments: Vec::new(),
                    directives: Vec::new(),
                    selection_set: Default::default(),
                };
                items.push(Positioned::new(Selection::Field(Positioned::new(marker, pos)), pos));
            }
            Positioned::new(SelectionSet { items }, pos)
        }
        let op = OperationDefinition {
            ty: self.ty,
            variable_definitions: def.variable_definitions.clone(),
            directives: Vec::new(),
            selection_set: set(&self.roots, Pos::default()),
        };
        // Fragments stay for the introspection selections that spread them (GraphiQL's `FullType`).
        let introspected = self.roots.iter().any(|f| f.written.is_some());
        ExecutableDocument {
            operations: DocumentOperations::Single(Positioned::new(op, Pos::default())),
            fragments: if introspected { doc.fragments.clone() } else { Default::default() },
        }
    }
}
