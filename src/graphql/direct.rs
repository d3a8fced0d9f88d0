//! The direct executor: a validated query whose every root is a catalog read is answered from
//! its bound plan by writing JSON straight from the rows. It gives the general executor's bytes
//! (a differential test holds it to that); a database error is answered as one, never retried
//! on the other executor.
use super::collect::{CollectedField, CollectedOperation};
use super::plan::{self, BoundOperation, ConnectionPlan, Fetch, RootPlan};
use super::render::{JsonWriter, Shown};
use crate::auth::Viewer;
use crate::data::catalog::{Catalog, Mutation, Table};
use crate::data::read::{self, Row, WireRow};
use crate::error::ApiError;
use crate::graphql::connection::{CountBy, Page};
use crate::AppState;
use async_graphql::parser::types::OperationType;
use async_graphql::Variables;
use chrono_tz::Tz;
use std::sync::Arc;

/// A failed direct read: the error and the response key of the root it happened under.
pub struct DirectError {
    pub key: String,
    pub error: ApiError,
}

/// A root list's rows: as PostgreSQL sent them, or decoded (with their relations prefetched).
enum Rows {
    Wire(Vec<WireRow>),
    Decoded(Vec<Row>),
}

fn write_page<R: Shown>(out: &mut JsonWriter, connection: &ConnectionPlan, fetch: &Fetch, page: Page<R>) {
    // About 20 bytes per cell written: one allocation instead of a doubling series.
    out.buf.reserve(page.rows.len() * (fetch.cols.len() + 1) * 20);
    out.page(connection, &page);
}

/// Answers a bound query whose `direct()` is true.
pub async fn execute(state: &AppState, op: &BoundOperation, tz: Tz) -> Result<String, DirectError> {
    let db = &state.db.read;
    let mut out = JsonWriter::new(16 * 1024, tz);
    out.put("{\"data\":{");
    let mut first = true;
    for (key, root) in &op.roots {
        let fail = |error: ApiError| DirectError { key: key.to_string(), error };
        out.key(&mut first, key);
        match root {
            RootPlan::Typename => out.str("Query"),
            RootPlan::List { table, query, connection, fetch } => {
                // Rows without relations to prefetch are written from PostgreSQL's bytes.
                let wire = match fetch.reads.is_empty() {
                    true => read::list_wire(db, table, query, Some(&fetch.cols)).await.transpose().map_err(fail)?,
                    false => None,
                };
                let rows = match wire {
                    Some(rows) => Rows::Wire(rows),
                    None => {
                        let mut rows = read::list(db, table, query, Some(&fetch.cols)).await.map_err(fail)?;
                        plan::prefetch(db, fetch, &mut rows).await.map_err(fail)?;
                        Rows::Decoded(rows)
                    }
                };
                let count = if connection.needs_count() {
                    CountBy::Known(read::count(db, table, &query.base).await.map_err(fail)?)
                } else {
                    CountBy::NotPlanned
                };
                match rows {
                    Rows::Wire(rows) => {
                        write_page(&mut out, connection, fetch, Page::new(table, Arc::new(rows), query, count))
                    }
                    Rows::Decoded(rows) => {
                        write_page(&mut out, connection, fetch, Page::new(table, Arc::new(rows), query, count))
                    }
                }
                if let Some(fault) = out.fault.take() {
                    return Err(fail(ApiError::Internal(fault)));
                }
            }
            RootPlan::One { table, query, node, fetch } => {
                let mut rows = read::list(db, table, query, Some(&fetch.cols)).await.map_err(fail)?;
                rows.truncate(1);
                plan::prefetch(db, fetch, &mut rows).await.map_err(fail)?;
                match rows.first() {
                    Some(r) => out.row(node, r),
                    None => out.put("null"),
                }
            }
            RootPlan::Series { query, fields } => {
                let series = query.read(&state.db).await.map_err(fail)?;
                out.buf.reserve(series.buckets.len() * fields.len() * 12);
                out.series(query, fields, &series);
            }
            RootPlan::Other => return Err(fail(ApiError::Internal("not a direct read".into()))),
        }
    }
    out.put("}}");
    let key = op.roots.first().map(|(k, _)| k.to_string()).unwrap_or_default();
    out.finish().map_err(|error| DirectError { key, error })
}

/// An ingest mutation (`ingestCandles`, `ingestOhlcv`, …): the field, its table and the
/// argument holding the rows.
pub struct Ingest<'a> {
    field: &'a CollectedField,
    table: &'static Table,
    arg: &'static str,
}

/// The ingest mutation an operation consists of, if any.
pub fn ingest_root(op: &CollectedOperation) -> Option<Ingest<'_>> {
    if op.ty != OperationType::Mutation {
        return None;
    }
    let [field] = op.roots.as_slice() else { return None };
    if !field.children.iter().all(|c| matches!(c.name.as_str(), "inserted" | "updated" | "__typename")) {
        return None;
    }
    Catalog::get().tables.iter().find_map(|table| {
        table.mutations.iter().find_map(|m| match m {
            Mutation::Upsert(name, arg) if *name == field.name.as_str() => Some(Ingest { field, table, arg }),
            _ => None,
        })
    })
}

/// Runs an ingest mutation of a validated document without the general executor: the rows are
/// checked by the same rules, and read in place from the variables rather than copied into a
/// value tree once more.
pub async fn ingest(
    state: &AppState,
    viewer: &Viewer,
    ingest: Ingest<'_>,
    vars: &Variables,
) -> Result<String, DirectError> {
    let Ingest { field: f, table: t, arg } = ingest;
    let fail = |error: ApiError| DirectError { key: f.key.to_string(), error };
    let owned;
    let rows = match f.arguments.iter().find(|(n, _)| n.node.as_str() == arg).map(|(_, v)| &v.node) {
        Some(async_graphql_value::Value::Variable(v)) => vars.get(v),
        _ => {
            owned = f.bound_args(vars).swap_remove(arg);
            owned.as_ref()
        }
    };
    let (inserted, updated) = super::mutations::upsert_rows(state, viewer, t, arg, rows).await.map_err(fail)?;
    let mut out = JsonWriter::new(128, Tz::UTC);
    out.put("{\"data\":{");
    let mut first = true;
    out.key(&mut first, &f.key);
    out.buf.push(b'{');
    let mut inner = true;
    for c in &f.children {
        out.key(&mut inner, &c.key);
        match c.name.as_str() {
            "inserted" => out.put(&inserted.to_string()),
            "updated" => out.put(&updated.to_string()),
            _ => out.str("IngestResult"),
        }
    }
    out.put("}}}");
    out.finish().map_err(fail)
}
