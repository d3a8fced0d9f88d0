//! The fast path: a query that only reads tables, columns, relations and connections is
//! planned from the parsed document and answered by writing JSON straight from the rows.
//! Anything else (introspection, mutations, buckets, directives, errors) goes to the general
//! executor, which gives the same answers more slowly.
use super::args::{list_query, one_query};
use super::catalog::Catalog;
use super::plan::{self, Bail, Ctx, Json, Sel};
use super::read::{self, CountBy, Page};
use crate::auth::Viewer;
use crate::AppState;
use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::{Name, Positioned, Variables};
use async_graphql_value::ConstValue;
use chrono_tz::Tz;
use std::sync::Arc;

pub struct AstSel<'a> {
    f: &'a Field,
    doc: &'a ExecutableDocument,
    vars: &'a Variables,
    defs: &'a [Positioned<VariableDefinition>],
}

fn flatten<'a>(
    set: &'a SelectionSet,
    doc: &'a ExecutableDocument,
    vars: &'a Variables,
    defs: &'a [Positioned<VariableDefinition>],
    out: &mut Vec<AstSel<'a>>,
) -> Result<(), Bail> {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                if !f.node.directives.is_empty() {
                    return Err(Bail::Unsupported);
                }
                out.push(AstSel { f: &f.node, doc, vars, defs });
            }
            Selection::FragmentSpread(s) => {
                let frag = doc.fragments.get(&s.node.fragment_name.node).ok_or(Bail::Unsupported)?;
                if !s.node.directives.is_empty() || !frag.node.directives.is_empty() {
                    return Err(Bail::Unsupported);
                }
                flatten(&frag.node.selection_set.node, doc, vars, defs, out)?;
            }
            Selection::InlineFragment(i) => {
                if !i.node.directives.is_empty() {
                    return Err(Bail::Unsupported);
                }
                flatten(&i.node.selection_set.node, doc, vars, defs, out)?;
            }
        }
    }
    Ok(())
}

impl Sel for AstSel<'_> {
    fn name(&self) -> &str {
        self.f.name.node.as_str()
    }

    fn out(&self) -> &str {
        self.f.alias.as_ref().map(|a| a.node.as_str()).unwrap_or_else(|| self.name())
    }

    fn args(&self) -> Result<IndexMap<Name, ConstValue>, Bail> {
        let mut map = IndexMap::new();
        for (n, v) in &self.f.arguments {
            let c = v.node.clone().into_const_with(|var| -> Result<ConstValue, ()> {
                if let Some(v) = self.vars.get(&var) {
                    return Ok(v.clone());
                }
                let def = self.defs.iter().find(|d| d.node.name.node == var).ok_or(())?;
                Ok(def.node.default_value.as_ref().map(|d| d.node.clone()).unwrap_or(ConstValue::Null))
            });
            map.insert(n.node.clone(), c.map_err(|_| Bail::Unsupported)?);
        }
        Ok(map)
    }

    fn children(&self) -> Result<Vec<Self>, Bail> {
        let mut out = Vec::new();
        flatten(&self.f.selection_set.node, self.doc, self.vars, self.defs, &mut out)?;
        Ok(out)
    }
}

/// The root fields of the chosen operation, if it is of type `ty` and carries no directives.
fn roots<'a>(
    doc: &'a ExecutableDocument,
    operation: Option<&str>,
    vars: &'a Variables,
    ty: OperationType,
) -> Result<Vec<AstSel<'a>>, Bail> {
    let op = match (&doc.operations, operation) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(m), Some(name)) => m.get(name).ok_or(Bail::Unsupported)?,
        // A document with one named operation needs no operationName.
        (DocumentOperations::Multiple(m), None) if m.len() == 1 => m.values().next().ok_or(Bail::Unsupported)?,
        _ => return Err(Bail::Unsupported),
    };
    let op = &op.node;
    if op.ty != ty || !op.directives.is_empty() {
        return Err(Bail::Unsupported);
    }
    let mut roots = Vec::new();
    flatten(&op.selection_set.node, doc, vars, &op.variable_definitions, &mut roots)?;
    Ok(roots)
}

/// Answers `doc` when it is a pure read of the catalog; `Err` sends it to the general executor.
pub async fn execute(
    state: &AppState,
    viewer: &Viewer,
    tz: Tz,
    doc: &ExecutableDocument,
    operation: Option<&str>,
    vars: &Variables,
) -> Result<String, Bail> {
    let roots = roots(doc, operation, vars, OperationType::Query)?;
    let cx = Ctx { db: &state.db.read, viewer, limits: state.limits, strict: true };
    let cat = Catalog::get();
    let mut out = Json { buf: String::with_capacity(16 * 1024), tz };
    out.buf.push_str("{\"data\":{");
    let mut first = true;
    for f in roots {
        if f.name() == "__typename" {
            out.key(&mut first, f.out());
            out.str("Query");
        } else if let Some(t) = cat.tables.iter().find(|t| t.list_field == f.name()) {
            let args = f.args()?;
            plan::known_args(&cx, &args, &plan::LIST_ARGS)?;
            let q = list_query(t, &args, None, state.limits, viewer)?;
            let conn = plan::connection(&cx, t, f.children()?)?.ok_or(Bail::Unsupported)?;
            let node = plan::merged_nodes(t, &conn);
            let cursor_cols = if conn.needs_cursor() { &q.order[..] } else { &[] };
            let mut rows = read::list(&state.db.read, t, &q, Some(&node.needed(cursor_cols))).await?;
            plan::prefetch(&state.db.read, &node, &mut rows).await?;
            let total = if conn.fields.iter().any(|c| matches!(c, plan::CField::TotalCount { .. })) {
                Some(read::count(&state.db.read, t, &q.base).await?)
            } else {
                None
            };
            let page = Page::new(t, Arc::new(rows), &q, CountBy::Root(q.base.clone()));
            out.key(&mut first, f.out());
            out.page(&conn, &page, total);
        } else if let Some(t) = cat.tables.iter().find(|t| t.one_field == f.name()) {
            let args = f.args()?;
            let keys: Vec<&str> = t.key.iter().map(|k| t.columns[*k].field.as_str()).collect();
            plan::known_args(&cx, &args, &keys)?;
            let q = one_query(t, &args, viewer)?;
            let obj = plan::obj(&cx, t, f.children()?)?;
            let mut rows = read::list(&state.db.read, t, &q, Some(&obj.needed(&[]))).await?;
            rows.truncate(1);
            plan::prefetch(&state.db.read, &obj, &mut rows).await?;
            out.key(&mut first, f.out());
            match rows.first() {
                Some(r) => out.row(&obj, r),
                None => out.buf.push_str("null"),
            }
        } else {
            return Err(Bail::Unsupported);
        }
    }
    out.buf.push_str("}}");
    Ok(out.buf)
}

/// Ingest mutations (`ingestCandles`, `ingestOhlcv`, …) answered without the general executor:
/// the rows are validated by the same rules, so only async-graphql's second pass over
/// thousands of input objects is saved.
pub async fn ingest(
    state: &AppState,
    viewer: &Viewer,
    doc: &ExecutableDocument,
    operation: Option<&str>,
    vars: &Variables,
) -> Result<String, Bail> {
    let roots = roots(doc, operation, vars, OperationType::Mutation)?;
    let [f] = roots.as_slice() else { return Err(Bail::Unsupported) };
    let (t, arg) = Catalog::get()
        .tables
        .iter()
        .find_map(|t| {
            t.mutations.iter().find_map(|m| match m {
                super::catalog::Mutation::Upsert(name, arg) if *name == f.name() => Some((t, *arg)),
                _ => None,
            })
        })
        .ok_or(Bail::Unsupported)?;
    let fields = f.children()?;
    if fields.iter().any(|c| !matches!(c.name(), "inserted" | "updated" | "__typename")) {
        return Err(Bail::Unsupported);
    }
    let [(name, value)] = f.f.arguments.as_slice() else { return Err(Bail::Unsupported) };
    if name.node.as_str() != arg {
        return Err(Bail::Unsupported);
    }
    // The rows usually come as a variable: read them in place rather than copying thousands.
    let owned;
    let rows = match &value.node {
        async_graphql_value::Value::Variable(v) => vars.get(v),
        _ => {
            owned = f.args()?.swap_remove(arg);
            owned.as_ref()
        }
    };
    let (inserted, updated) = super::mutations::upsert_rows(state, viewer, t, arg, rows).await?;
    let mut out = Json { buf: String::with_capacity(128), tz: Tz::UTC };
    out.buf.push_str("{\"data\":{");
    let mut first = true;
    out.key(&mut first, f.out());
    out.buf.push('{');
    let mut inner = true;
    for c in fields {
        out.key(&mut inner, c.out());
        match c.name() {
            "inserted" => out.buf.push_str(&inserted.to_string()),
            "updated" => out.buf.push_str(&updated.to_string()),
            _ => out.str("IngestResult"),
        }
    }
    out.buf.push_str("}}}");
    Ok(out.buf)
}
