//! Runs list, one-row and batched relation reads: one statement each, whatever the number of
//! parents (LATERAL over parameter arrays on PostgreSQL, a window on SQLite).
use super::catalog::{Relation, Table};
use super::exec::pg as pg_reads;
use super::exec::pg_binary::{self, Wire};
use super::exec::{fetch, fetch_placed};
use super::query::ListQuery;
use super::query::{pinned, Cond};
use super::sql::dialect::{self, Dialect};
use super::sql::Sql;
use super::values::{Cell, Kind};
use crate::data::exec::ReadConnection;
use crate::data::exec::ReadPool;
use crate::error::ApiResult;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

/// One row of a table, as read, with the relation reads prefetched for it: decoded into
/// `cells`, or (for the direct writer, on tokio-postgres) kept as PostgreSQL sent it in `wire`
/// with `cells` empty, its columns decoded only where a key or cursor needs them (`cell`).
#[derive(Debug, Clone)]
pub struct Row {
    pub table: &'static Table,
    pub cells: Vec<Cell>,
    pub wire: Option<WireRow>,
    pub fetched: Vec<PrefetchedRelation>,
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
pub struct PrefetchedRelation {
    pub key: Arc<RelationKey>,
    /// The target rows (one past the page, to tell whether more exist).
    pub rows: Arc<Vec<Row>>,
    /// The whole list's size, when `totalCount` was planned.
    pub total: Option<i64>,
}

impl Row {
    /// The prefetched read with `key`, if the plan made one.
    pub fn fetched(&self, key: &Arc<RelationKey>) -> Option<&PrefetchedRelation> {
        self.fetched.iter().find(|f| Arc::ptr_eq(&f.key, key)).or_else(|| self.fetched.iter().find(|f| *f.key == **key))
    }
}

/// Which columns a read fetches: all of them, or those a plan needs (the rest read as NULL).
pub type Projection<'a> = Option<&'a [usize]>;

fn projection(t: &Table, cols: Projection) -> Vec<usize> {
    match cols {
        // Nothing selected (e.g. only `totalCount`): the key keeps the select list valid.
        Some([]) => t.pk.clone(),
        Some(c) => c.to_vec(),
        None => (0..t.columns.len()).collect(),
    }
}

impl Row {
    pub fn new(table: &'static Table, mut cells: Vec<Cell>, dialect: &dyn Dialect) -> Row {
        if dialect.decimals_as_text() {
            // Decimals kept as written: show them at the column's scale, as NUMERIC columns do.
            for (cell, col) in cells.iter_mut().zip(&table.columns) {
                if let (Cell::Decimal(d), Some(scale)) = (cell, col.scale) {
                    d.rescale(scale);
                }
            }
        }
        Row { table, cells, wire: None, fetched: Vec::new() }
    }

    /// Table column `col`, decoded (`Null` when not read).
    pub fn cell(&self, col: usize) -> Cell {
        match &self.wire {
            Some(w) => w.cell(col),
            None => self.cells.get(col).cloned().unwrap_or(Cell::Null),
        }
    }
}

fn kinds(t: &Table, proj: &[usize]) -> Vec<Kind> {
    proj.iter().map(|c| t.columns[*c].kind).collect()
}

/// One page of `q` (one row past it, to tell whether more exist).
pub fn list_sql(d: &'static dyn Dialect, t: &Table, q: &ListQuery, proj: &[usize]) -> Sql {
    let mut sql = Sql::with_dialect(d);
    sql.push("SELECT ").columns("a", t, proj).push(" FROM \"").push(t.name).push("\" a WHERE ");
    sql.cond("a", t, &q.cond).order_by("a", t, &q.order, q.backwards, &pinned(&q.cond));
    sql.push(&format!(" LIMIT {}", q.limit + 1));
    sql
}

pub async fn list<C: ReadConnection>(
    db: &C,
    t: &'static Table,
    q: &ListQuery,
    cols: Projection<'_>,
) -> ApiResult<Vec<Row>> {
    let proj = projection(t, cols);
    let d = dialect::of(db.get_database_backend());
    let rows = table_rows(db, t, &proj, list_sql(d, t, q, &proj), 0).await?;
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}

/// The rows of one read as PostgreSQL sent them, shared by the `Row`s made of them: one
/// allocation per read, not per row.
#[derive(Debug)]
pub struct WireRows {
    rows: Vec<tokio_postgres::Row>,
    layout: WireLayout,
}

/// Where each table column is in a wire row (`None`: not read), and its decoder.
#[derive(Debug)]
pub struct WireLayout {
    pub at: Vec<Option<(usize, Wire)>>,
}

/// A row of a table as PostgreSQL sent it (the `i`th of its read), for a writer that shows its
/// columns without decoding them into cells first.
#[derive(Debug, Clone)]
pub struct WireRow {
    read: Arc<WireRows>,
    i: usize,
}

impl WireRow {
    /// Table column `col` as it came, with its decoder; `None` when it was not read.
    pub fn raw(&self, col: usize) -> Option<(Option<&[u8]>, Wire)> {
        let (i, wire) = (*self.read.layout.at.get(col)?)?;
        Some((pg_reads::raw(&self.read.rows[self.i], i), wire))
    }

    /// Table column `col` decoded (`Null` when not read), as `list` would have read it.
    pub fn cell(&self, col: usize) -> Cell {
        self.raw(col).and_then(|(raw, wire)| pg_binary::decode(raw, wire)).unwrap_or(Cell::Null)
    }
}

/// As `list`, with the rows kept as PostgreSQL sent them; `None` where reads do not run on
/// tokio-postgres (SQLite, the sqlx driver, a column without a binary decoder).
pub async fn list_wire<C: ReadConnection>(
    db: &C,
    t: &'static Table,
    q: &ListQuery,
    cols: Projection<'_>,
) -> Option<ApiResult<Vec<Row>>> {
    let proj = projection(t, cols);
    let sql = list_sql(dialect::of(db.get_database_backend()), t, q, &proj);
    let hint = (q.limit as usize + 1).min(10_000);
    let rows = wire_rows(db, t, &proj, &sql, 0, hint).await?;
    Some(rows.map(|rows| rows.into_iter().map(|(_, row)| row).collect()))
}

/// As `table_rows`, the rows kept as PostgreSQL sent them (`None` as for `list_wire`).
async fn wire_rows<C: ReadConnection>(
    db: &C,
    t: &'static Table,
    proj: &[usize],
    sql: &Sql,
    skip: usize,
    rows_hint: usize,
) -> Option<ApiResult<Vec<(i64, Row)>>> {
    let pg = db.pg_reads()?;
    let read = pg.fetch_wire(&sql.text, &sql.values, sql.replan, skip, &kinds(t, proj), rows_hint).await?;
    let (rows, lead, wires) = match read {
        Ok(read) => read,
        Err(e) => return Some(Err(e)),
    };
    let mut at = vec![None; t.columns.len()];
    for (i, (col, wire)) in proj.iter().zip(wires).enumerate() {
        at[*col] = Some((skip + i, wire));
    }
    let read = Arc::new(WireRows { rows, layout: WireLayout { at } });
    let rows = read.rows.iter().enumerate().map(|(i, row)| {
        let n = match lead.and_then(|w| pg_binary::decode(pg_reads::raw(row, 0), w)) {
            Some(Cell::Int(n)) => n,
            _ => 0,
        };
        let wire = Some(WireRow { read: read.clone(), i });
        (n, Row { table: t, cells: Vec::new(), wire, fetched: Vec::new() })
    });
    Some(Ok(rows.collect()))
}

/// The rows of `t` that `sql` selects: `skip` leading columns (the first read as the lead
/// number), then the `proj` columns, each landing in its column's place (the rest `Null`).
async fn table_rows<C: ReadConnection>(
    db: &C,
    t: &'static Table,
    proj: &[usize],
    sql: Sql,
    skip: usize,
) -> ApiResult<Vec<(i64, Row)>> {
    let d = sql.dialect;
    let rows = fetch_placed(db, sql, skip, &kinds(t, proj), Some((proj, t.columns.len()))).await?;
    Ok(rows.into_iter().map(|(i, cells)| (i, Row::new(t, cells, d))).collect())
}

pub async fn count<C: ReadConnection>(db: &C, t: &Table, cond: &Cond) -> ApiResult<i64> {
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

/// Target rows of a to-one relation for many parents, in one statement.
pub fn batch_one_sql(
    d: &'static dyn Dialect,
    t: &Table,
    rel: &Relation,
    cond: &Cond,
    parents: &[Vec<Cell>],
    proj: &[usize],
) -> Sql {
    let cols = rel.target_cols(t);
    let mut sql = Sql::with_dialect(d);
    d.parents(&mut sql, t, &cols, parents);
    sql.push("SELECT p.__i, ").columns("a", t, proj).push(" FROM p JOIN \"").push(t.name).push("\" a ON ");
    sql.join_parents(t, &cols).push(" WHERE ").relation_cond(t, rel, cond);
    sql
}

/// Target rows of a to-one relation for many parents. Returns (parent index, row).
pub async fn batch_one(
    db: &ReadPool,
    t: &'static Table,
    rel: &Relation,
    cond: &Cond,
    parents: &[Vec<Cell>],
    fetch_cols: Projection<'_>,
    wire: bool,
) -> ApiResult<Vec<(usize, Row)>> {
    let proj = projection(t, fetch_cols);
    let d = dialect::of(db.get_database_backend());
    parent_rows(db, t, &proj, batch_one_sql(d, t, rel, cond, parents, &proj), wire, parents.len()).await
}

/// Runs a batched read whose rows lead with their parent's number (from 1, as WITH ORDINALITY),
/// keeping them as sent when `wire` asks and the reads run on tokio-postgres.
async fn parent_rows(
    db: &ReadPool,
    t: &'static Table,
    proj: &[usize],
    sql: Sql,
    wire: bool,
    rows_hint: usize,
) -> ApiResult<Vec<(usize, Row)>> {
    let kept = match wire {
        true => wire_rows(db, t, proj, &sql, 1, rows_hint.min(10_000)).await,
        false => None,
    };
    let rows = match kept {
        Some(rows) => rows?,
        None => table_rows(db, t, proj, sql, 1).await?,
    };
    Ok(rows.into_iter().map(|(i, row)| (i as usize - 1, row)).collect())
}

/// Up to `q.limit + 1` target rows per parent of a to-many relation, in one statement
/// (`Dialect::per_parent_page`).
pub fn batch_many_sql(
    d: &'static dyn Dialect,
    t: &Table,
    rel: &Relation,
    q: &ListQuery,
    parents: &[Vec<Cell>],
    proj: &[usize],
) -> Sql {
    let cols = rel.target_cols(t);
    let mut sql = Sql::with_dialect(d);
    d.parents(&mut sql, t, &cols, parents);
    d.per_parent_page(&mut sql, t, rel, q, &cols, proj);
    sql
}

/// Per-parent pages of a to-many relation. Returns (parent index, row).
pub async fn batch_many(
    db: &ReadPool,
    t: &'static Table,
    rel: &Relation,
    q: &ListQuery,
    parents: &[Vec<Cell>],
    fetch_cols: Projection<'_>,
    wire: bool,
) -> ApiResult<Vec<(usize, Row)>> {
    let proj = projection(t, fetch_cols);
    let d = dialect::of(db.get_database_backend());
    let hint = parents.len() * (q.limit as usize + 1);
    parent_rows(db, t, &proj, batch_many_sql(d, t, rel, q, parents, &proj), wire, hint).await
}

/// Row counts per parent of a to-many relation, in one statement.
pub fn batch_count_sql(d: &'static dyn Dialect, t: &Table, rel: &Relation, cond: &Cond, parents: &[Vec<Cell>]) -> Sql {
    let cols = rel.target_cols(t);
    let mut sql = Sql::with_dialect(d);
    d.parents(&mut sql, t, &cols, parents);
    sql.push("SELECT p.__i, COUNT(*) FROM p JOIN \"").push(t.name).push("\" a ON ");
    sql.join_parents(t, &cols).push(" WHERE ").relation_cond(t, rel, cond).push(" GROUP BY p.__i");
    sql
}

/// Row counts per parent (by index; parents without rows are left out).
pub async fn batch_count(
    db: &ReadPool,
    t: &'static Table,
    rel: &Relation,
    cond: &Cond,
    parents: &[Vec<Cell>],
) -> ApiResult<Vec<(usize, i64)>> {
    let d = dialect::of(db.get_database_backend());
    let rows = fetch(db, batch_count_sql(d, t, rel, cond, parents), 1, &[Kind::BigInt]).await?;
    Ok(rows
        .into_iter()
        .map(|(i, cells)| (i as usize - 1, if let Some(Cell::Int(n)) = cells.first() { *n } else { 0 }))
        .collect())
}

#[cfg(test)]
mod tests {
    //! The SQL each dialect gets, checked as text: no database needed.
    use super::*;
    use crate::data::catalog::Catalog;
    use crate::data::query::{keyset, Op};
    use crate::data::sql::dialect::{Postgres, Sqlite};

    fn ohlcv() -> (&'static Table, &'static Relation) {
        let cat = Catalog::get();
        let tickers = cat.table("tickers");
        (cat.table("ohlcv_data"), tickers.relations.iter().find(|r| r.field == "ohlcv").expect("ohlcv relation"))
    }

    fn text(sql: Sql) -> String {
        sql.text
    }

    #[test]
    fn keyset_pages_compare_row_values() {
        let t = Catalog::get().table("tickers");
        let order = vec![(t.col("ticker").unwrap(), false), (t.col("region").unwrap(), false)];
        let cursor = vec![Cell::Text("HPG".into()), Cell::Text("VN".into())];
        let q = ListQuery::matching(keyset(t, &order, &cursor, true), order, 10);
        let proj = [t.col("ticker").unwrap()];
        assert_eq!(
            text(list_sql(&Postgres, t, &q, &proj)),
            r#"SELECT a."ticker" FROM "tickers" a WHERE (a."ticker", a."region") > ($1, $2) ORDER BY a."ticker" ASC, a."region" ASC LIMIT 11"#
        );
        assert_eq!(
            text(list_sql(&Sqlite, t, &q, &proj)),
            r#"SELECT a."ticker" FROM "tickers" a WHERE (a."ticker", a."region") > (?, ?) ORDER BY a."ticker" ASC, a."region" ASC LIMIT 11"#
        );
        // Mixed directions: the leading run as a row value, the rest after it.
        let order = vec![(t.col("ticker").unwrap(), true), (t.col("region").unwrap(), false)];
        let q = ListQuery::matching(keyset(t, &order, &cursor, true), order, 10);
        assert_eq!(
            text(list_sql(&Postgres, t, &q, &proj)),
            r#"SELECT a."ticker" FROM "tickers" a WHERE (a."ticker" <= $1 AND (a."ticker" < $2 OR (a."ticker" = $3 AND a."region" > $4))) ORDER BY a."ticker" DESC, a."region" ASC LIMIT 11"#
        );
    }

    #[test]
    fn per_parent_pages_are_lateral_on_postgres_and_windows_on_sqlite() {
        let (t, rel) = ohlcv();
        let q = ListQuery::matching(Cond::All(vec![]), vec![(t.col("date").unwrap(), true)], 2);
        let parents = vec![vec![Cell::Text("HPG".into()), Cell::Text("VN".into())]];
        let proj = [t.col("date").unwrap(), t.col("close").unwrap()];
        assert_eq!(
            text(batch_many_sql(&Postgres, t, rel, &q, &parents, &proj)),
            r#"WITH p AS (SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) WITH ORDINALITY AS u(k0, k1, __i)) SELECT p.__i, c.* FROM p CROSS JOIN LATERAL (SELECT a."date", a."close" FROM "ohlcv_data" a WHERE (1=1) AND a."ticker" = p.k0 AND a."region" = p.k1 ORDER BY a."date" DESC LIMIT 3) c"#
        );
        assert_eq!(
            text(batch_many_sql(&Sqlite, t, rel, &q, &parents, &proj)),
            r#"WITH p(__i, k0, k1) AS (VALUES (1, ?, ?)) SELECT * FROM (SELECT p.__i AS __i, a."date", a."close", ROW_NUMBER() OVER (PARTITION BY p.__i ORDER BY a."date" DESC) AS __rn FROM p JOIN "ohlcv_data" a ON a."ticker" = p.k0 AND a."region" = p.k1 WHERE (1=1)) w WHERE __rn <= 3 ORDER BY __i, __rn"#
        );
        assert_eq!(
            text(batch_count_sql(&Sqlite, t, rel, &Cond::All(vec![]), &parents)),
            r#"WITH p(__i, k0, k1) AS (VALUES (1, ?, ?)) SELECT p.__i, COUNT(*) FROM p JOIN "ohlcv_data" a ON a."ticker" = p.k0 AND a."region" = p.k1 WHERE (1=1) GROUP BY p.__i"#
        );
    }

    #[test]
    fn decimals_and_patterns_follow_the_dialect() {
        let t = Catalog::get().table("ohlcv_data");
        let close = t.col("close").unwrap();
        let ticker = t.col("ticker").unwrap();
        let cond = Cond::All(vec![
            Cond::Cmp(close, Op::Gt, Cell::Decimal(rust_decimal::Decimal::new(1005, 1))),
            Cond::Like(ticker, "H_G%".into(), false),
        ]);
        let q = ListQuery::matching(cond, vec![(close, false)], 5);
        assert_eq!(
            text(list_sql(&Postgres, t, &q, &[close])),
            r#"SELECT a."close" FROM "ohlcv_data" a WHERE (a."close" > $1 AND a."ticker" LIKE $2) ORDER BY a."close" ASC NULLS LAST LIMIT 6"#
        );
        let sqlite = list_sql(&Sqlite, t, &q, &[close]);
        assert_eq!(
            sqlite.text,
            r#"SELECT a."close" FROM "ohlcv_data" a WHERE (CAST(a."close" AS REAL) > CAST(? AS REAL) AND a."ticker" GLOB ?) ORDER BY CAST(a."close" AS REAL) ASC NULLS LAST LIMIT 6"#
        );
        assert_eq!(sqlite.values[1], sea_orm::Value::String(Some("H?G*".into())));
    }
}
