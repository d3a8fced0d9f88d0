//! Runs list, one-row and batched relation reads and shapes them into pages.
use super::args::ListQuery;
use super::catalog::{Relation, Table};
use super::scalars::{Cell, Kind};
use super::sql::{fetch, pinned, Cond, Op, Sql};
use crate::error::ApiResult;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Value};
use std::sync::Arc;

/// One row of a table, as read, with the relation reads prefetched for it.
#[derive(Debug, Clone)]
pub struct Row {
    pub table: &'static Table,
    pub cells: Vec<Cell>,
    pub fetched: Vec<Fetched>,
}

/// What identifies one relation read: the relation and the list query of its arguments.
/// Two selections with equal keys share one read; different keys are different reads.
#[derive(Debug, Clone)]
pub struct RelationKey {
    pub rel: &'static Relation,
    pub query: ListQuery,
}

// Relations are catalog entries that live for the whole process: one is equal only to itself.
impl PartialEq for RelationKey {
    fn eq(&self, o: &Self) -> bool {
        std::ptr::eq(self.rel, o.rel) && self.query == o.query
    }
}
impl Eq for RelationKey {}
impl std::hash::Hash for RelationKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::ptr::hash(self.rel, h);
        self.query.hash(h);
    }
}

/// A relation read prefetched for one parent row.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub key: Arc<RelationKey>,
    /// The target rows (one past the page, to tell whether more exist).
    pub rows: Arc<Vec<Row>>,
    /// The whole list's size, when `totalCount` was planned.
    pub total: Option<i64>,
}

impl Row {
    /// The prefetched read with `key`, if the plan made one.
    pub fn fetched(&self, key: &Arc<RelationKey>) -> Option<&Fetched> {
        self.fetched.iter().find(|f| Arc::ptr_eq(&f.key, key)).or_else(|| self.fetched.iter().find(|f| *f.key == **key))
    }
}

/// Which columns a read fetches: all of them, or those a plan needs (the rest read as NULL).
pub type Cols<'a> = Option<&'a [usize]>;

fn projection(t: &Table, cols: Cols) -> Vec<usize> {
    match cols {
        // Nothing selected (e.g. only `totalCount`): the key keeps the select list valid.
        Some([]) => t.pk.clone(),
        Some(c) => c.to_vec(),
        None => (0..t.columns.len()).collect(),
    }
}

impl Row {
    /// A row from the cells of the `proj` columns, in that order.
    fn projected(table: &'static Table, proj: &[usize], cells: Vec<Cell>, backend: DbBackend) -> Row {
        if proj.len() == table.columns.len() && proj.iter().enumerate().all(|(i, c)| i == *c) {
            return Row::new(table, cells, backend);
        }
        let mut full = vec![Cell::Null; table.columns.len()];
        for (c, v) in proj.iter().zip(cells) {
            full[*c] = v;
        }
        Row::new(table, full, backend)
    }

    pub fn new(table: &'static Table, mut cells: Vec<Cell>, backend: DbBackend) -> Row {
        if backend == DbBackend::Sqlite {
            // SQLite keeps decimals as text as written; show them at the column's scale like PostgreSQL.
            for (cell, col) in cells.iter_mut().zip(&table.columns) {
                if let (Cell::Decimal(d), Some(scale)) = (cell, col.scale) {
                    d.rescale(scale);
                }
            }
        }
        Row { table, cells, fetched: Vec::new() }
    }
}

/// The rows of one connection and what is known around them.
pub struct Page {
    pub table: &'static Table,
    /// Rows as fetched (possibly one extra, possibly reversed); see `visible`.
    pub rows: Arc<Vec<Row>>,
    pub take: usize,
    pub reversed: bool,
    pub order: Vec<(usize, bool)>,
    pub has_next: bool,
    pub has_prev: bool,
    /// How to count the whole list when `totalCount` is asked for.
    pub count: CountBy,
}

pub enum CountBy {
    /// Counted already (planned with the rows).
    Known(i64),
    /// A root list: count with this condition.
    Root(Cond),
    /// A nested list: a batched count per parent.
    Nested(crate::loaders::RelKey),
    /// Not asked for by the plan.
    NotPlanned,
}

fn kinds(t: &Table, proj: &[usize]) -> Vec<Kind> {
    proj.iter().map(|c| t.columns[*c].kind).collect()
}

impl Page {
    /// Rows fetched one past the limit tell whether more exist; backwards pages are flipped.
    pub fn new(table: &'static Table, rows: Arc<Vec<Row>>, q: &ListQuery, count: CountBy) -> Page {
        let more = rows.len() as u64 > q.limit;
        let take = rows.len().min(q.limit as usize);
        let (has_next, has_prev) = if q.backwards { (q.has_cursor, more) } else { (more, q.has_cursor) };
        Page { table, rows, take, reversed: q.backwards, order: q.order.clone(), has_next, has_prev, count }
    }

    pub fn visible(&self) -> Box<dyn Iterator<Item = &Row> + Send + '_> {
        let rows = self.rows[..self.take].iter();
        if self.reversed {
            Box::new(rows.rev())
        } else {
            Box::new(rows)
        }
    }

    pub fn cursor(&self, row: &Row) -> String {
        let cells: Vec<Cell> = self.order.iter().map(|(c, _)| row.cells[*c].clone()).collect();
        super::args::encode_cursor(&cells)
    }
}

pub async fn list<C: ConnectionTrait>(db: &C, t: &'static Table, q: &ListQuery, cols: Cols<'_>) -> ApiResult<Vec<Row>> {
    let proj = projection(t, cols);
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT ").columns("a", t, &proj).push(" FROM \"").push(t.name).push("\" a WHERE ");
    sql.cond("a", t, &q.cond).order_by("a", t, &q.order, q.backwards, &pinned(&q.cond));
    sql.push(&format!(" LIMIT {}", q.limit + 1));
    let sql_backend = sql.backend;
    let rows = fetch(db, sql, 0, &kinds(t, &proj)).await?;
    Ok(rows.into_iter().map(|(_, cells)| Row::projected(t, &proj, cells, sql_backend)).collect())
}

pub async fn count<C: ConnectionTrait>(db: &C, t: &Table, cond: &Cond) -> ApiResult<i64> {
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*) FROM \"").push(t.name).push("\" a WHERE ").cond("a", t, cond);
    let rows = fetch(db, sql, 0, &[Kind::BigInt]).await?;
    Ok(rows
        .first()
        .and_then(|(_, c)| match c.first() {
            Some(Cell::Int(n)) => Some(*n),
            _ => None,
        })
        .unwrap_or(0))
}

/// Writes `(alias.k1, alias.k2) IN (…)` for the parents' key tuples.
fn tuple_in(sql: &mut Sql, t: &Table, cols: &[usize], parents: &[Vec<Cell>]) {
    let multi = cols.len() > 1;
    if multi {
        sql.push("(");
    }
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident("a", &t.columns[*c].name);
    }
    sql.push(if multi { ") IN (" } else { " IN (" });
    if multi && sql.backend == DbBackend::Sqlite {
        sql.push("VALUES ");
    }
    for (p, key) in parents.iter().enumerate() {
        if p > 0 {
            sql.push(", ");
        }
        if multi {
            sql.push("(");
        }
        for (i, (c, v)) in cols.iter().zip(key).enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.param(v.to_value(t.columns[*c].kind));
        }
        if multi {
            sql.push(")");
        }
    }
    sql.push(")");
}

/// PostgreSQL: rows of the `cols` columns as one array parameter per column, whatever the
/// number of rows, so the statement text and its prepared plan are reused.
pub fn pg_unnest(sql: &mut Sql, t: &Table, cols: &[usize], parents: &[Vec<Cell>]) {
    use sea_orm::sea_query::ArrayType;
    sql.push("unnest(");
    for (i, c) in cols.iter().enumerate() {
        let kind = t.columns[*c].kind;
        let ty = match kind {
            Kind::Int => ArrayType::Int,
            Kind::BigInt => ArrayType::BigInt,
            Kind::Uuid => ArrayType::Uuid,
            Kind::Date => ArrayType::ChronoDate,
            Kind::DateTime => ArrayType::ChronoDateTimeUtc,
            Kind::Boolean => ArrayType::Bool,
            Kind::Float => ArrayType::Double,
            Kind::Decimal => ArrayType::Decimal,
            Kind::Json => ArrayType::Json,
            Kind::String => ArrayType::String,
        };
        let vals: Vec<Value> = parents.iter().map(|k| k[i].to_value(kind)).collect();
        if i > 0 {
            sql.push(", ");
        }
        sql.push("CAST(").param(Value::Array(ty, Some(Box::new(vals)))).push(&format!(" AS {}[])", kind.pg_cast()));
    }
    sql.push(")");
}

fn fixed_and_cond(sql: &mut Sql, t: &Table, rel: &Relation, cond: &Cond) {
    let mut all = vec![cond.clone()];
    for (c, v) in &rel.fixed {
        all.push(Cond::Cmp(t.col(c).expect("fixed column"), Op::Eq, Cell::Text(v.clone())));
    }
    sql.cond("a", t, &Cond::All(all));
}

/// Target rows of a to-one relation for many parents, in one statement. Returns (parent index, row).
pub async fn batch_one(
    db: &DatabaseConnection,
    t: &'static Table,
    rel: &Relation,
    cond: &Cond,
    parents: &[Vec<Cell>],
    fetch_cols: Cols<'_>,
) -> ApiResult<Vec<(usize, Row)>> {
    let cols: Vec<usize> = rel.to_cols.iter().map(|c| t.col(c).expect("relation column")).collect();
    let mut proj = projection(t, fetch_cols);
    for c in &cols {
        if !proj.contains(c) {
            proj.push(*c);
        }
    }
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT ").columns("a", t, &proj).push(" FROM \"").push(t.name).push("\" a");
    if sql.backend == DbBackend::Postgres {
        sql.push(" JOIN ");
        pg_unnest(&mut sql, t, &cols, parents);
        sql.push(" AS p(");
        for i in 0..cols.len() {
            sql.push(if i > 0 { ", " } else { "" }).push(&format!("k{i}"));
        }
        sql.push(") ON ");
        for (i, c) in cols.iter().enumerate() {
            sql.push(if i > 0 { " AND " } else { "" }).ident("a", &t.columns[*c].name).push(&format!(" = p.k{i}"));
        }
        sql.push(" WHERE ");
    } else {
        sql.push(" WHERE ");
        tuple_in(&mut sql, t, &cols, parents);
        sql.push(" AND ");
    }
    fixed_and_cond(&mut sql, t, rel, cond);
    let backend = sql.backend;
    let rows = fetch(db, sql, 0, &kinds(t, &proj)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (_, cells) in rows {
        let row = Row::projected(t, &proj, cells, backend);
        let key: Vec<&Cell> = cols.iter().map(|c| &row.cells[*c]).collect();
        if let Some(p) = parents.iter().position(|k| k.iter().zip(&key).all(|(a, b)| a == *b)) {
            out.push((p, row));
        }
    }
    Ok(out)
}

/// Up to `q.limit + 1` target rows per parent for a to-many relation, in one statement:
/// a LATERAL subquery per parent on PostgreSQL (index range scans), a window on SQLite.
pub async fn batch_many(
    db: &DatabaseConnection,
    t: &'static Table,
    rel: &Relation,
    q: &ListQuery,
    parents: &[Vec<Cell>],
    fetch_cols: Cols<'_>,
) -> ApiResult<Vec<(usize, Row)>> {
    let cols: Vec<usize> = rel.to_cols.iter().map(|c| t.col(c).expect("relation column")).collect();
    let proj = projection(t, fetch_cols);
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend);
    if backend == DbBackend::Postgres {
        sql.push("WITH p AS (SELECT * FROM ");
        pg_unnest(&mut sql, t, &cols, parents);
        sql.push(" WITH ORDINALITY AS u(");
        for i in 0..cols.len() {
            sql.push(&format!("k{i}, "));
        }
        sql.push("__i)) ");
    } else {
        sql.push("WITH p(__i");
        for i in 0..cols.len() {
            sql.push(&format!(", k{i}"));
        }
        sql.push(") AS (VALUES ");
        for (p, key) in parents.iter().enumerate() {
            sql.push(if p > 0 { ", (" } else { "(" }).push(&(p + 1).to_string());
            for (c, v) in cols.iter().zip(key) {
                sql.push(", ").param(v.to_value(t.columns[*c].kind));
            }
            sql.push(")");
        }
        sql.push(") ");
    }
    let join = |sql: &mut Sql| {
        for (i, c) in cols.iter().enumerate() {
            sql.push(" AND ").ident("a", &t.columns[*c].name).push(&format!(" = p.k{i}"));
        }
    };
    // Within one parent the join columns are constant.
    let mut fixed = pinned(&q.cond);
    fixed.extend(&cols);
    if backend == DbBackend::Postgres {
        sql.push("SELECT p.__i, c.* FROM p CROSS JOIN LATERAL (SELECT ").columns("a", t, &proj);
        sql.push(" FROM \"").push(t.name).push("\" a WHERE ");
        fixed_and_cond(&mut sql, t, rel, &q.cond);
        join(&mut sql);
        sql.order_by("a", t, &q.order, q.backwards, &fixed);
        sql.push(&format!(" LIMIT {}) c", q.limit + 1));
    } else {
        sql.push("SELECT * FROM (SELECT p.__i AS __i, ")
            .columns("a", t, &proj)
            .push(", ROW_NUMBER() OVER (PARTITION BY p.__i");
        sql.order_by("a", t, &q.order, q.backwards, &fixed);
        sql.push(") AS __rn FROM p JOIN \"").push(t.name).push("\" a ON 1=1");
        join(&mut sql);
        sql.push(" WHERE ");
        fixed_and_cond(&mut sql, t, rel, &q.cond);
        sql.push(&format!(") w WHERE __rn <= {} ORDER BY __i, __rn", q.limit + 1));
    }
    let rows = fetch(db, sql, 1, &kinds(t, &proj)).await?;
    // Parents are numbered from 1 (as WITH ORDINALITY does).
    Ok(rows.into_iter().map(|(i, cells)| (i as usize - 1, Row::projected(t, &proj, cells, backend))).collect())
}

/// Row counts per parent of a to-many relation, in one statement.
pub async fn batch_count(
    db: &DatabaseConnection,
    t: &'static Table,
    rel: &Relation,
    cond: &Cond,
    parents: &[Vec<Cell>],
) -> ApiResult<Vec<(Vec<Cell>, i64)>> {
    let cols: Vec<usize> = rel.to_cols.iter().map(|c| t.col(c).expect("relation column")).collect();
    let mut sql = Sql::new(db.get_database_backend());
    sql.push("SELECT COUNT(*)");
    for c in &cols {
        sql.push(", ").ident("a", &t.columns[*c].name);
    }
    sql.push(" FROM \"").push(t.name).push("\" a WHERE ");
    tuple_in(&mut sql, t, &cols, parents);
    sql.push(" AND ");
    fixed_and_cond(&mut sql, t, rel, cond);
    sql.push(" GROUP BY ");
    for (i, c) in cols.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.ident("a", &t.columns[*c].name);
    }
    let kinds: Vec<Kind> = cols.iter().map(|c| t.columns[*c].kind).collect();
    let rows = fetch(db, sql, 1, &kinds).await?;
    Ok(rows.into_iter().map(|(n, cells)| (cells, n)).collect())
}
