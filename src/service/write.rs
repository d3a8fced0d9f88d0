//! Generic, transactional writes over the catalog: insert (all rows or none), idempotent
//! upsert with inserted/updated counts, update and delete — all bound by value, never by text.
use super::rules::{check_row, Values};
use crate::data::catalog::{Catalog, Table};
use crate::data::exec::fetch;
use crate::data::exec::ReadConnection;
use crate::data::query::Cond;
use crate::data::read;
use crate::data::read::Row;
use crate::data::sql::dialect::{self, BulkInsert, Dialect};
use crate::data::sql::Sql;
use crate::data::values::{Cell, Kind};
use crate::error::{ApiError, ApiResult};
use sea_orm::sea_query::{Alias, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// PostgreSQL takes 65,535 parameters per statement, SQLite 32,766.
const MAX_PARAMS: usize = 30_000;

/// Refuses a value for column `i` of `t` where the server fills it (generated, computed, or the
/// owner column); `at` names the input for the message.
pub fn check_writable(t: &Table, i: usize, at: &str, owner: Option<(usize, Uuid)>) -> ApiResult<()> {
    let c = &t.columns[i];
    if c.auto || c.expr.is_some() || owner.is_some_and(|(o, _)| o == i) {
        return Err(ApiError::bad(format!("{at}.{}: set by the server", c.field)));
    }
    Ok(())
}

/// A new row (`create`) or a patch of `t` from the column values given, each checked with
/// `check_writable`: the owner column and generated ids filled, required columns and the
/// table's rules checked.
pub fn complete_row(
    t: &Table,
    mut row: Values,
    at: &str,
    owner: Option<(usize, Uuid)>,
    create: bool,
) -> ApiResult<Values> {
    if let Some((o, user)) = owner {
        if create {
            row.push((o, Cell::Uuid(user)));
        }
    }
    if create {
        for (i, c) in t.columns.iter().enumerate() {
            if row.iter().any(|(j, _)| *j == i) {
                continue;
            }
            if c.auto && c.kind == Kind::Uuid && t.pk == [i] {
                row.push((i, Cell::Uuid(Uuid::new_v4())));
            } else if !c.nullable && !c.auto && !c.has_default && c.expr.is_none() {
                return Err(ApiError::bad(format!("{at}.{}: required", c.field)));
            }
        }
    }
    check_row(t, &row, at)?;
    Ok(row)
}

fn bind(t: &Table, i: usize, v: &Cell) -> Value {
    let c = &t.columns[i];
    match (v, c.scale) {
        (Cell::Decimal(d), Some(s)) => {
            let mut d = *d;
            d.rescale(s);
            Value::Decimal(Some(d))
        }
        _ => v.to_value(c.kind),
    }
}

/// `shares * price + commission + slippage`, exact, for SQLite (PostgreSQL generates it).
fn derived(t: &Table, dialect: &dyn Dialect, row: &mut Values) {
    if dialect.generates_columns() || t.name != "portfolio_transactions" {
        return;
    }
    let get = |n: &str| {
        let i = t.col(n)?;
        row.iter().find(|(c, _)| *c == i).and_then(|(_, v)| if let Cell::Decimal(d) = v { Some(*d) } else { None })
    };
    // The rules refused a total that does not fit before any row got here.
    let total =
        (|| super::rules::transaction_total(get("shares")?, get("price")?, get("commission")?, get("slippage")?))();
    if let (Some(i), Some(total)) = (t.col("total_value"), total) {
        row.push((i, Cell::Decimal(total)));
    }
}

/// Inserts `rows` (already validated) in as few statements as the parameter limit allows.
/// With `upsert`, existing rows with the same primary key are updated instead.
/// Returns the primary keys written, in order, and (on PostgreSQL) how many rows were new.
pub async fn insert(
    tx: &DatabaseTransaction,
    t: &Table,
    rows: Vec<Values>,
    upsert: bool,
) -> ApiResult<(Vec<Vec<Cell>>, Option<u64>)> {
    let backend = tx.get_database_backend();
    let dialect = dialect::of(backend);
    // Rows with the same column set share a statement; defaults apply to the columns left out.
    let mut groups: BTreeMap<Vec<usize>, Vec<Values>> = BTreeMap::new();
    for mut row in rows {
        derived(t, dialect, &mut row);
        row.sort_by_key(|(i, _)| *i);
        groups.entry(row.iter().map(|(i, _)| *i).collect()).or_default().push(row);
    }
    let mut keys = Vec::new();
    let pk_kinds: Vec<Kind> = t.pk.iter().map(|i| t.columns[*i].kind).collect();
    if dialect.inserts_from_arrays() {
        let mut inserted = 0;
        for (cols, rows) in groups {
            for chunk in rows.chunks(10_000) {
                let rows: Vec<Vec<Cell>> = chunk.iter().map(|r| r.iter().map(|(_, v)| v.clone()).collect()).collect();
                // Never skipped silently: a dialect that says it inserts from arrays has the statement.
                let stmt = dialect
                    .bulk_insert(t, &cols, &rows, upsert)
                    .ok_or_else(|| ApiError::Internal("the dialect has no bulk insert".into()))?;
                let (k, n) = bulk_insert(tx, t, stmt).await?;
                keys.extend(k);
                inserted += n;
            }
        }
        return Ok((keys, Some(inserted)));
    }
    for (cols, rows) in groups {
        for chunk in rows.chunks((MAX_PARAMS / cols.len().max(1)).max(1)) {
            let mut q = Query::insert();
            q.into_table(Alias::new(t.name)).columns(cols.iter().map(|i| Alias::new(&t.columns[*i].name)));
            for row in chunk {
                q.values_panic(row.iter().map(|(i, v)| bind(t, *i, v).into()));
            }
            if upsert {
                let updates: Vec<Alias> =
                    cols.iter().filter(|i| !t.pk.contains(i)).map(|i| Alias::new(&t.columns[*i].name)).collect();
                let mut oc = OnConflict::columns(t.pk.iter().map(|i| Alias::new(&t.columns[*i].name)));
                if updates.is_empty() {
                    oc.do_nothing();
                } else {
                    oc.update_columns(updates);
                }
                q.on_conflict(oc);
            }
            q.returning(Query::returning().columns(t.pk.iter().map(|i| Alias::new(&t.columns[*i].name))));
            let stmt = backend.build(&q);
            let sql =
                Sql { text: stmt.sql, values: stmt.values.map(|v| v.0).unwrap_or_default(), dialect, replan: false };
            keys.extend(fetch(tx, sql, 0, &pk_kinds).await?.into_iter().map(|(_, k)| k));
        }
    }
    Ok((keys, None))
}

/// A bulk insert of the dialect's (`Dialect::bulk_insert`): the keys written and how many rows
/// were new.
async fn bulk_insert(tx: &DatabaseTransaction, t: &Table, stmt: BulkInsert) -> ApiResult<(Vec<Vec<Cell>>, u64)> {
    match stmt {
        BulkInsert::NewCount(sql) => {
            let n = fetch(tx, sql, 0, &[Kind::BigInt]).await?;
            let inserted = match n.first().and_then(|(_, c)| c.first()) {
                Some(Cell::Int(n)) => *n as u64,
                _ => 0,
            };
            Ok((Vec::new(), inserted))
        }
        BulkInsert::NewAndKeys(sql) => {
            let mut kinds = vec![Kind::Boolean];
            kinds.extend(t.pk.iter().map(|i| t.columns[*i].kind));
            let rows = fetch(tx, sql, 0, &kinds).await?;
            let mut inserted = 0;
            let keys = rows
                .into_iter()
                .map(|(_, mut cells)| {
                    if cells.remove(0) == Cell::Bool(true) {
                        inserted += 1;
                    }
                    cells
                })
                .collect();
            Ok((keys, inserted))
        }
    }
}

/// How many of `rows` already exist (by primary key).
pub async fn count_existing(tx: &DatabaseTransaction, t: &Table, rows: &[Values]) -> ApiResult<u64> {
    let mut n = 0;
    let per = (MAX_PARAMS / t.pk.len()).max(1);
    for chunk in rows.chunks(per) {
        let keys: Vec<Vec<Cell>> = chunk
            .iter()
            .map(|r| {
                t.pk.iter()
                    .map(|p| r.iter().find(|(i, _)| i == p).map(|(_, v)| v.clone()).unwrap_or(Cell::Null))
                    .collect()
            })
            .collect();
        let cond = key_cond(t, &keys);
        n += read::count(tx, t, &cond).await? as u64;
    }
    Ok(n)
}

/// Rows whose primary key is one of `keys`.
pub fn key_cond(t: &Table, keys: &[Vec<Cell>]) -> Cond {
    if t.pk.len() == 1 {
        return Cond::In(t.pk[0], keys.iter().map(|k| k[0].clone()).collect(), false);
    }
    Cond::TupleIn(t.pk.clone(), keys.to_vec())
}

/// Reads back written rows by key, in the order of `keys`.
pub async fn reread<C: ReadConnection>(db: &C, t: &'static Table, keys: &[Vec<Cell>]) -> ApiResult<Vec<Row>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let q = crate::data::query::ListQuery::matching(
        key_cond(t, keys),
        t.pk.iter().map(|i| (*i, false)).collect(),
        keys.len() as u64,
    );
    let mut rows = read::list(db, t, &q, None).await?;
    rows.truncate(keys.len());
    let pos =
        |r: &Row| keys.iter().position(|k| t.pk.iter().zip(k).all(|(c, v)| r.cells[*c] == *v)).unwrap_or(usize::MAX);
    rows.sort_by_key(pos);
    Ok(rows)
}

/// Updates the rows matching `cond` with `patch`; returns how many changed.
pub async fn update(tx: &DatabaseTransaction, t: &Table, cond: &Cond, patch: &Values) -> ApiResult<u64> {
    let backend = tx.get_database_backend();
    let mut sql = Sql::new(backend);
    sql.push("UPDATE \"").push(t.name).push("\" AS a SET ");
    let mut first = true;
    let mut set = |sql: &mut Sql, name: &str, v: Value| {
        if !first {
            sql.push(", ");
        }
        first = false;
        sql.push("\"").push(name).push("\" = ").param(v);
    };
    for (i, v) in patch {
        set(&mut sql, &t.columns[*i].name, bind(t, *i, v));
    }
    if t.col("updated_at").is_some() {
        set(&mut sql, "updated_at", Value::ChronoDateTimeUtc(Some(chrono::Utc::now())));
    }
    sql.push(" WHERE ").cond("a", t, cond);
    Ok(tx.execute_raw(sql.statement()).await?.rows_affected())
}

pub async fn delete(tx: &DatabaseTransaction, t: &Table, cond: &Cond) -> ApiResult<u64> {
    delete_dependents(tx, t, cond).await?;
    let mut sql = Sql::new(tx.get_database_backend());
    sql.push("DELETE FROM \"").push(t.name).push("\" AS a WHERE ").cond("a", t, cond);
    Ok(tx.execute_raw(sql.statement()).await?.rows_affected())
}

/// Rows that reference the rows of `t` matching `cond` through a relation no foreign key holds
/// (`Relation::logical`): deleted in the same transaction, as a cascade would.
async fn delete_dependents(tx: &DatabaseTransaction, t: &Table, cond: &Cond) -> ApiResult<()> {
    let quoted =
        |alias: &str, cols: &[String]| cols.iter().map(|c| format!("{alias}\"{c}\"")).collect::<Vec<_>>().join(", ");
    for child in &Catalog::get().tables {
        for r in child.relations.iter().filter(|r| r.target == t.name && r.logical && !r.many && r.fixed.is_empty()) {
            let mut sql = Sql::new(tx.get_database_backend());
            sql.push("DELETE FROM \"").push(child.name).push("\" WHERE (").push(&quoted("", &r.from_cols));
            sql.push(") IN (SELECT ").push(&quoted("a.", &r.to_cols)).push(" FROM \"").push(t.name);
            sql.push("\" AS a WHERE ").cond("a", t, cond).push(")");
            tx.execute_raw(sql.statement()).await?;
        }
    }
    Ok(())
}

/// The row written from `values` (columns left out read as NULL), for events.
pub fn as_row(t: &'static Table, values: &Values) -> Row {
    let mut cells = vec![Cell::Null; t.columns.len()];
    for (i, v) in values {
        cells[*i] = match (v, t.columns[*i].scale) {
            (Cell::Decimal(d), Some(s)) => {
                let mut d = *d;
                d.rescale(s);
                Cell::Decimal(d)
            }
            (v, _) => v.clone(),
        };
    }
    Row { table: t, cells, wire: None, fetched: Vec::new() }
}
