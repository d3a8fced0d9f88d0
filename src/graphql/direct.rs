//! The direct executor: a validated query whose every root is a catalog read is answered from
//! its bound plan by writing JSON straight from the rows. It gives the general executor's bytes
//! (a differential test holds it to that); a database error is answered as one, never retried
//! on the other executor.
use super::collect::{CollectedField, CollectedOperation};
use super::plan::{BoundOperation, RootPlan};
use super::render::JsonWriter;
use crate::auth::Viewer;
use crate::data::catalog::{Catalog, Mutation, Table};
use crate::data::fetch::{self, Keep};
use crate::data::read::{self, Row};
use crate::data::series::Series;
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

/// What one root read, before anything is written.
pub enum RootRead {
    Typename,
    Page(Page),
    One(Option<Row>),
    Series(Series),
}

/// What every root of a direct answer read (or the error it met): all of the answer's I/O,
/// done before its first byte is written.
pub struct Reads(Vec<Result<RootRead, ApiError>>);

/// Reads every root of a bound query whose `direct()` is true. A root that fails keeps its
/// error; the other roots are still read, so the answer reports the same errors as the
/// general executor's.
pub async fn read(state: &AppState, op: &BoundOperation) -> Reads {
    let mut out = Vec::with_capacity(op.roots.len());
    for (_, root) in &op.roots {
        out.push(read_root(state, root).await);
    }
    Reads(out)
}

async fn read_root(state: &AppState, root: &RootPlan) -> Result<RootRead, ApiError> {
    let db = &state.db.read;
    Ok(match root {
        RootPlan::Typename => RootRead::Typename,
        RootPlan::List { table, query, connection, fetch } => {
            // Rows are kept as PostgreSQL sent them where reads run on tokio-postgres.
            let rows = fetch::page(db, query, fetch, Keep::Wire).await?;
            let count = if connection.needs_count() {
                CountBy::Known(read::count(db, table, &query.base).await?)
            } else {
                CountBy::NotPlanned
            };
            RootRead::Page(Page::new(table, Arc::new(rows), query, count))
        }
        RootPlan::One { query, fetch, .. } => RootRead::One(fetch::one(db, query, fetch, Keep::Wire).await?),
        RootPlan::Series { query, .. } => RootRead::Series(query.read(&state.db).await?),
        RootPlan::Other => return Err(ApiError::Internal("not a direct read".into())),
    })
}

/// Answers a bound query whose `direct()` is true: its reads, then their JSON.
pub async fn execute(
    state: &AppState,
    op: &BoundOperation,
    collected: &CollectedOperation,
    tz: Tz,
) -> Result<String, DirectError> {
    write(op, collected, &read(state, op).await, tz)
}

/// The answer to `op` from its `reads`. A root that failed is `null` at its key with its error
/// (or, being non-null, makes `data` null), as the general executor's completed answer has it.
pub fn write(
    op: &BoundOperation,
    collected: &CollectedOperation,
    reads: &Reads,
    tz: Tz,
) -> Result<String, DirectError> {
    let mut out = JsonWriter::new(16 * 1024, tz);
    out.put("{\"data\":{");
    let (mut first, mut errors, mut data_null) = (true, Vec::new(), false);
    for (((key, root), field), read) in op.roots.iter().zip(&collected.roots).zip(&reads.0) {
        out.key(&mut first, key);
        let mark = out.buf.len();
        let written = match read {
            Ok(read) => write_root(&mut out, root, read),
            Err(e) => Err(e.clone()),
        };
        if let Err(error) = written {
            out.buf.truncate(mark);
            out.put("null");
            data_null |= !matches!(root, RootPlan::One { .. });
            errors.push(field_error(error, key, field.pos));
        }
    }
    out.put("}");
    if !errors.is_empty() {
        if data_null {
            out.buf.clear();
            out.put("{\"data\":null");
        }
        super::complete::order_errors(&mut errors);
        let written = serde_json::to_string(&errors).map_err(|e| ApiError::Internal(e.to_string()));
        out.put(",\"errors\":");
        out.put(&written.map_err(|error| DirectError { key: String::new(), error })?);
    }
    out.put("}");
    let key = op.roots.first().map(|(k, _)| k.to_string()).unwrap_or_default();
    out.finish().map_err(|error| DirectError { key, error })
}

/// The error of a field at `key` written at `pos`, as the executor reports it.
fn field_error(error: ApiError, key: &str, pos: async_graphql::Pos) -> async_graphql::ServerError {
    let mut err = async_graphql::Error::from(error).into_server_error(pos);
    err.path = vec![async_graphql::PathSegment::Field(key.to_string())];
    err
}

/// Writes one root's value from what it read.
fn write_root(out: &mut JsonWriter, root: &RootPlan, read: &RootRead) -> Result<(), ApiError> {
    match (root, read) {
        (_, RootRead::Typename) => out.str("Query"),
        (RootPlan::List { connection, .. }, RootRead::Page(page)) => out.page(connection, page),
        (RootPlan::One { node, .. }, RootRead::One(row)) => match row {
            Some(r) => out.row(node, r),
            None => out.put("null"),
        },
        (RootPlan::Series { query, fields }, RootRead::Series(series)) => {
            out.buf.reserve(series.buckets.len() * fields.len() * 12);
            out.series(query, fields, series);
        }
        _ => return Err(ApiError::Internal("a read that does not match its plan".into())),
    }
    match out.fault.take() {
        Some(fault) => Err(ApiError::Internal(fault)),
        None => Ok(()),
    }
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
