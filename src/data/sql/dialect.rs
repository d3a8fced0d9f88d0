//! Where PostgreSQL and SQLite differ, in one place: one type per backend behind one trait.
//! Everything else writes SQL once and asks the dialect for these pieces.
use super::Sql;
use crate::data::catalog::{Relation, Table};
use crate::data::query::{pinned, ListQuery};
use crate::data::values::{Cell, Kind};
use sea_orm::sea_query::ArrayType;
use sea_orm::{DbBackend, Value};

/// Bucket starts of a `date` column (calendar intervals longer than a day).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateUnit {
    Week,
    Month,
    Quarter,
    Year,
}

pub trait Dialect: Send + Sync + std::fmt::Debug {
    fn backend(&self) -> DbBackend;
    /// Appends the placeholder of bind value number `n` (from 1).
    fn placeholder(&self, n: usize, out: &mut String);
    /// The type to cast a parameter to where the server cannot infer it from its context.
    fn param_cast(&self, kind: Kind) -> Option<&'static str>;
    /// Decimals are stored as text: read back from text and shown at their column's scale.
    fn decimals_as_text(&self) -> bool;
    /// What wraps a decimal expression so that it compares and orders as a number.
    fn comparable_decimal(&self) -> (&'static str, &'static str);
    /// `min` or `max` (`f`) of decimal expression `v`, and the kind it is read as.
    fn decimal_extreme(&self, f: &str, v: &str) -> (String, Kind);
    /// Operator and pattern for a `LIKE` (case-sensitive) or `ILIKE` filter.
    fn like(&self, pattern: &str, case_insensitive: bool) -> (&'static str, String);
    /// What opens a list of row values on the right of `IN (`.
    fn row_values(&self) -> &'static str;
    /// Writes `WITH p(__i, k0, k1, …) AS (…) ` holding the parents' keys, numbered from 1.
    fn parents(&self, sql: &mut Sql, t: &Table, cols: &[usize], parents: &[Vec<Cell>]);
    /// Per-parent pages come from a LATERAL subquery (an index range scan per parent) rather
    /// than a ROW_NUMBER window over all parents' rows.
    /// After `parents`: up to `q.limit + 1` rows of `t` per parent of `rel` (joined on `cols`),
    /// each led by its parent's number.
    fn per_parent_page(&self, sql: &mut Sql, t: &Table, rel: &Relation, q: &ListQuery, cols: &[usize], proj: &[usize]);
    /// The start of the bucket of the date expression `col`.
    fn date_bucket(&self, unit: DateUnit, col: &str) -> String;
    /// The start, in Unix seconds, of the `secs`-second bucket of the timestamp expression `col`.
    fn epoch_bucket(&self, secs: i64, col: &str) -> String;
    /// `SELECT bucket, open, high, low, close, volume, count FROM table WHERE ` — the first and
    /// last rows by `time_col` give open and close; the caller writes the filter after it and
    /// then calls `close_ohlc`.
    fn open_ohlc(&self, sql: &mut Sql, table: &str, time_col: &str, bucket: &str, numeric_text: bool);
    fn close_ohlc(&self, sql: &mut Sql);
    /// The database fills generated columns (`portfolio_transactions.total_value`) itself.
    fn generates_columns(&self) -> bool;
    /// Bulk inserts take one array parameter per column (`INSERT … SELECT FROM unnest(…)`),
    /// which also tells which upserted rows were new (`xmax = 0`).
    fn inserts_from_arrays(&self) -> bool;
    /// One statement inserting `rows` of the `cols` columns of `t` from array parameters, where
    /// the dialect has them (`inserts_from_arrays`); see `BulkInsert` for what it returns.
    fn bulk_insert(&self, t: &Table, cols: &[usize], rows: &[Vec<Cell>], upsert: bool) -> Option<BulkInsert>;
    /// LISTEN/NOTIFY exists, so triggers can report plain-SQL writers.
    fn notifies(&self) -> bool;
    /// Statements to run after a bulk load that wrote explicit ids.
    fn after_bulk_load(&self) -> &'static [&'static str];
    /// Settings for a new connection pool.
    fn session_setup(&self) -> Option<&'static str>;
    /// What ends a `SELECT` that picks rows for this transaction to take, passing over rows
    /// another transaction holds (a work queue); SQLite runs one writer at a time anyway.
    fn skip_locked(&self) -> &'static str;
    /// The exact sum of the DECIMAL(…, `scale`) expression `v`, as text `Decimal::from_str` reads
    /// — or, where decimals are stored as text, as `integer part:fraction part` (in units of
    /// 10^-scale), each summed as a 64-bit integer.
    fn exact_sum(&self, v: &str, scale: u32) -> String;
    /// The sample variance of `v`, given `mean`, the mean of `v` within its group (an inner
    /// window) where `variance_needs_mean`.
    fn variance(&self, v: &str, mean: &str) -> String;
    fn variance_needs_mean(&self) -> bool;
    /// The day a fiscal period's figures are known (see `catalog::Known::FiscalYear`), from the
    /// year and period-type expressions.
    fn fiscal_known(&self, year: &str, period: &str) -> String;
    /// A UUID column as text that `Uuid::parse_str` reads back (SQLite stores them as 16-byte blobs).
    fn uuid_text(&self, expr: &str) -> String;
    /// The logged changes of `t` after the cursor (`seq`, `id`) as a row source: the table's
    /// columns plus `qg_seq`, `qg_id` (commit order, then order within the commit) and `qg_op`.
    fn change_log(&self, sql: &mut Sql, t: &Table, seq: i64, id: i64);
    /// The position after every logged change (`seq`, `id`), and the oldest still kept
    /// (a cursor before it has expired).
    fn change_log_head(&self) -> &'static str;
    fn change_log_horizon(&self) -> &'static str;
    /// Drops logged changes older than `secs` seconds, raising the horizon past them.
    fn change_log_prune(&self, secs: i64) -> String;
}

#[derive(Debug)]
pub struct Postgres;
#[derive(Debug)]
pub struct Sqlite;

/// The dialect of `backend` (MySQL is not served).
pub fn of(backend: DbBackend) -> &'static dyn Dialect {
    match backend {
        DbBackend::Postgres => &Postgres,
        _ => &Sqlite,
    }
}

fn array_type(kind: Kind) -> ArrayType {
    match kind {
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
    }
}

/// A bulk insert statement and what it answers.
pub enum BulkInsert {
    /// One row: how many rows were new (an upsert).
    NewCount(Sql),
    /// A row per row written: whether it was new, then its primary key.
    NewAndKeys(Sql),
}

/// Columns constant within one parent's rows (the join columns and those the query pins), left
/// out of its ordering.
fn within_parent(q: &ListQuery, cols: &[usize]) -> Vec<usize> {
    let mut fixed = pinned(&q.cond);
    fixed.extend(cols);
    fixed
}

/// A stand-in of `kind` for a NULL inside an array parameter: the driver binds arrays without
/// NULL elements, so NULLs travel in a separate flag array (`pg_rows`).
fn filler(kind: Kind) -> Value {
    use sea_orm::prelude::{Decimal, Uuid};
    match kind {
        Kind::Int => Value::Int(Some(0)),
        Kind::BigInt => Value::BigInt(Some(0)),
        Kind::Uuid => Value::Uuid(Some(Uuid::nil())),
        Kind::Date => Value::ChronoDate(Some(chrono::NaiveDate::default())),
        Kind::DateTime => Value::ChronoDateTimeUtc(Some(chrono::DateTime::<chrono::Utc>::default())),
        Kind::Boolean => Value::Bool(Some(false)),
        Kind::Float => Value::Double(Some(0.0)),
        Kind::Decimal => Value::Decimal(Some(Decimal::ZERO)),
        Kind::Json => Value::Json(Some(Box::new(serde_json::Value::Null))),
        Kind::String => Value::String(Some(String::new())),
    }
}

/// One array parameter per column: `CAST($n AS type[])`; a column holding NULLs gets a second,
/// boolean array flagging them. Answers, per column, whether it has the flag array.
fn pg_arrays(sql: &mut Sql, t: &Table, cols: &[usize], rows: &[Vec<Cell>]) -> Vec<bool> {
    let mut flagged = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().enumerate() {
        let kind = t.columns[*c].kind;
        let nulls = rows.iter().any(|r| r[i] == Cell::Null);
        let vals: Vec<Value> =
            rows.iter().map(|r| if r[i] == Cell::Null { filler(kind) } else { r[i].to_value(kind) }).collect();
        sql.push(if i > 0 { ", CAST(" } else { "CAST(" })
            .param(Value::Array(array_type(kind), Some(Box::new(vals))))
            .push(&format!(" AS {}[])", kind.pg_cast()));
        if nulls {
            let flags = rows.iter().map(|r| Value::Bool(Some(r[i] == Cell::Null))).collect();
            sql.push(", CAST(").param(Value::Array(ArrayType::Bool, Some(Box::new(flags)))).push(" AS bool[])");
        }
        flagged.push(nulls);
    }
    flagged
}

/// `unnest(CAST($1 AS type[]), …)`: rows of the `cols` columns (no NULLs: parent keys) as one
/// array parameter per column, so the statement text and its prepared plan are the same
/// whatever the row count.
fn pg_unnest(sql: &mut Sql, t: &Table, cols: &[usize], rows: &[Vec<Cell>]) {
    sql.push("unnest(");
    let flagged = pg_arrays(sql, t, cols, rows);
    debug_assert!(!flagged.contains(&true), "parent keys hold no NULL");
    sql.push(")");
}

/// `SELECT … FROM unnest(…)`: the rows of the `cols` columns, NULLs included, as array
/// parameters (see `pg_arrays`).
fn pg_rows(sql: &mut Sql, t: &Table, cols: &[usize], rows: &[Vec<Cell>]) {
    let mut inner = Sql::with_dialect(sql.dialect);
    inner.values = std::mem::take(&mut sql.values);
    inner.push("unnest(");
    let flagged = pg_arrays(&mut inner, t, cols, rows);
    let (mut select, mut names) = (Vec::new(), Vec::new());
    for (i, nulls) in flagged.iter().enumerate() {
        names.push(format!("v{i}"));
        if *nulls {
            names.push(format!("n{i}"));
            select.push(format!("CASE WHEN n{i} THEN NULL ELSE v{i} END"));
        } else {
            select.push(format!("v{i}"));
        }
    }
    sql.push("SELECT ").push(&select.join(", ")).push(" FROM ").push(&inner.text);
    sql.push(") AS u(").push(&names.join(", ")).push(")");
    sql.values = inner.values;
}

impl Dialect for Postgres {
    fn backend(&self) -> DbBackend {
        DbBackend::Postgres
    }
    fn placeholder(&self, n: usize, out: &mut String) {
        out.push('$');
        out.push_str(&n.to_string());
    }
    fn param_cast(&self, kind: Kind) -> Option<&'static str> {
        Some(kind.pg_cast())
    }
    fn decimals_as_text(&self) -> bool {
        false
    }
    fn comparable_decimal(&self) -> (&'static str, &'static str) {
        ("", "")
    }
    fn decimal_extreme(&self, f: &str, v: &str) -> (String, Kind) {
        (format!("{f}({v})"), Kind::Decimal)
    }
    fn like(&self, pattern: &str, case_insensitive: bool) -> (&'static str, String) {
        (if case_insensitive { " ILIKE " } else { " LIKE " }, pattern.to_string())
    }
    fn row_values(&self) -> &'static str {
        ""
    }
    fn parents(&self, sql: &mut Sql, t: &Table, cols: &[usize], parents: &[Vec<Cell>]) {
        sql.push("WITH p AS (SELECT * FROM ");
        pg_unnest(sql, t, cols, parents);
        sql.push(" WITH ORDINALITY AS u(");
        for i in 0..cols.len() {
            sql.push(&format!("k{i}, "));
        }
        sql.push("__i)) ");
    }
    /// A LATERAL subquery per parent: an index range scan each.
    fn per_parent_page(&self, sql: &mut Sql, t: &Table, rel: &Relation, q: &ListQuery, cols: &[usize], proj: &[usize]) {
        sql.push("SELECT p.__i, c.* FROM p CROSS JOIN LATERAL (SELECT ").columns("a", t, proj);
        sql.push(" FROM \"").push(t.name).push("\" a WHERE ").relation_cond(t, rel, &q.cond).push(" AND ");
        sql.join_parents(t, cols).order_by("a", t, &q.order, q.backwards, &within_parent(q, cols));
        sql.push(&format!(" LIMIT {}) c", q.limit + 1));
    }
    fn date_bucket(&self, unit: DateUnit, col: &str) -> String {
        let unit = match unit {
            DateUnit::Week => "week",
            DateUnit::Month => "month",
            DateUnit::Quarter => "quarter",
            DateUnit::Year => "year",
        };
        format!("date_trunc('{unit}', {col}::timestamp)::date")
    }
    fn epoch_bucket(&self, secs: i64, col: &str) -> String {
        format!("(floor(extract(epoch FROM {col}) / {secs}) * {secs})::bigint")
    }
    fn open_ohlc(&self, sql: &mut Sql, table: &str, time_col: &str, bucket: &str, _numeric_text: bool) {
        sql.push(&format!(
            "SELECT {bucket} AS b, (array_agg(open ORDER BY {time_col}))[1], max(high), min(low), \
             (array_agg(close ORDER BY {time_col} DESC))[1], sum(volume)::bigint, count(*) FROM \"{table}\" WHERE "
        ));
    }
    fn close_ohlc(&self, sql: &mut Sql) {
        sql.push(" GROUP BY 1 ORDER BY 1");
    }
    fn generates_columns(&self) -> bool {
        true
    }
    fn inserts_from_arrays(&self) -> bool {
        true
    }
    /// `INSERT … SELECT * FROM unnest(arrays)`: one parameter per column however many rows,
    /// close to COPY's speed.
    fn bulk_insert(&self, t: &Table, cols: &[usize], rows: &[Vec<Cell>], upsert: bool) -> Option<BulkInsert> {
        let quoted = |i: &usize| format!("\"{}\"", t.columns[*i].name);
        let list = |cols: &mut dyn Iterator<Item = &usize>| cols.map(quoted).collect::<Vec<_>>().join(", ");
        let mut sql = Sql::with_dialect(&Postgres);
        sql.push(&format!("INSERT INTO \"{}\" ({}) ", t.name, list(&mut cols.iter())));
        pg_rows(&mut sql, t, cols, rows);
        if upsert {
            let updates: Vec<String> =
                cols.iter().filter(|i| !t.pk.contains(i)).map(|i| format!("{0} = EXCLUDED.{0}", quoted(i))).collect();
            sql.push(&format!(" ON CONFLICT ({}) ", list(&mut t.pk.iter())));
            sql.push(&if updates.is_empty() {
                "DO NOTHING".to_string()
            } else {
                format!("DO UPDATE SET {}", updates.join(", "))
            });
            // An upsert needs no keys back, only how many rows were new: one row, not thousands.
            sql.text = format!(
                "WITH w AS ({} RETURNING (xmax = 0) AS new) SELECT COUNT(*) FILTER (WHERE new) FROM w",
                sql.text
            );
            return Some(BulkInsert::NewCount(sql));
        }
        sql.push(&format!(" RETURNING (xmax = 0), {}", list(&mut t.pk.iter())));
        Some(BulkInsert::NewAndKeys(sql))
    }
    fn notifies(&self) -> bool {
        true
    }
    fn after_bulk_load(&self) -> &'static [&'static str] {
        &[
            "SELECT setval(pg_get_serial_sequence('strategies', 'id'), (SELECT COALESCE(MAX(id), 1) FROM strategies))",
            "ANALYZE",
        ]
    }
    fn skip_locked(&self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }
    fn uuid_text(&self, expr: &str) -> String {
        format!("{expr}::text")
    }
    fn change_log(&self, sql: &mut Sql, t: &Table, seq: i64, id: i64) {
        sql.push(
            "(SELECT c.seq AS qg_seq, l.id AS qg_id, l.op AS qg_op, r.* FROM quantgraph_change_log l \
                  JOIN quantgraph_commits c ON c.txid = l.txid \
                  CROSS JOIN LATERAL jsonb_populate_record(NULL::\"",
        )
        .push(t.name)
        .push("\", l.row) r WHERE l.tbl = ")
        .param(Value::from(t.name))
        .push(" AND c.seq >= ")
        .param(Value::from(seq))
        .push(" AND (c.seq > ")
        .param(Value::from(seq))
        .push(" OR l.id > ")
        .param(Value::from(id))
        .push("))");
    }
    fn change_log_head(&self) -> &'static str {
        "SELECT COALESCE(MAX(seq), 0)::int8, 9223372036854775807::int8 FROM quantgraph_commits"
    }
    fn change_log_horizon(&self) -> &'static str {
        "SELECT seq::int8 FROM quantgraph_change_horizon"
    }
    fn change_log_prune(&self, secs: i64) -> String {
        format!(
            "WITH gone AS (DELETE FROM quantgraph_commits WHERE seq IS NOT NULL \
               AND noted_at < now() - interval '{secs} seconds' RETURNING txid, seq), \
             logs AS (DELETE FROM quantgraph_change_log l USING gone WHERE l.txid = gone.txid) \
             UPDATE quantgraph_change_horizon SET seq = GREATEST(seq, (SELECT MAX(seq) FROM gone) + 1) \
             WHERE EXISTS (SELECT 1 FROM gone)"
        )
    }
    fn fiscal_known(&self, year: &str, period: &str) -> String {
        format!(
            "CASE {period} WHEN 'Q1' THEN make_date({year}, 5, 15) WHEN 'Q2' THEN make_date({year}, 8, 14) \
             WHEN 'Q3' THEN make_date({year}, 11, 14) ELSE make_date({year} + 1, 3, 31) END"
        )
    }
    fn exact_sum(&self, v: &str, _scale: u32) -> String {
        format!("CAST(sum({v}) AS TEXT)")
    }
    fn variance(&self, v: &str, _mean: &str) -> String {
        format!("var_samp(CAST({v} AS DOUBLE PRECISION))")
    }
    fn variance_needs_mean(&self) -> bool {
        false
    }
    fn session_setup(&self) -> Option<&'static str> {
        None
    }
}

/// SQLite's `GLOB` is its case-sensitive `LIKE` (its `LIKE` ignores ASCII case).
fn like_to_glob(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len());
    for ch in pat.chars() {
        match ch {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' | '?' | '[' => {
                out.push('[');
                out.push(ch);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

impl Dialect for Sqlite {
    fn backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }
    fn placeholder(&self, _n: usize, out: &mut String) {
        out.push('?');
    }
    fn param_cast(&self, _kind: Kind) -> Option<&'static str> {
        None
    }
    fn decimals_as_text(&self) -> bool {
        true
    }
    /// Compared as doubles: exact to 15 significant digits (README says so).
    fn comparable_decimal(&self) -> (&'static str, &'static str) {
        ("CAST(", " AS REAL)")
    }
    fn decimal_extreme(&self, f: &str, v: &str) -> (String, Kind) {
        (format!("{f}(CAST({v} AS REAL))"), Kind::Float)
    }
    fn like(&self, pattern: &str, case_insensitive: bool) -> (&'static str, String) {
        if case_insensitive {
            (" LIKE ", pattern.to_string())
        } else {
            (" GLOB ", like_to_glob(pattern))
        }
    }
    fn row_values(&self) -> &'static str {
        "VALUES "
    }
    fn parents(&self, sql: &mut Sql, t: &Table, cols: &[usize], parents: &[Vec<Cell>]) {
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
    /// A ROW_NUMBER window partitioned by parent.
    fn per_parent_page(&self, sql: &mut Sql, t: &Table, rel: &Relation, q: &ListQuery, cols: &[usize], proj: &[usize]) {
        sql.push("SELECT * FROM (SELECT p.__i AS __i, ").columns("a", t, proj);
        sql.push(", ROW_NUMBER() OVER (PARTITION BY p.__i").order_by(
            "a",
            t,
            &q.order,
            q.backwards,
            &within_parent(q, cols),
        );
        sql.push(") AS __rn FROM p JOIN \"").push(t.name).push("\" a ON ").join_parents(t, cols);
        sql.push(" WHERE ").relation_cond(t, rel, &q.cond);
        sql.push(&format!(") w WHERE __rn <= {} ORDER BY __i, __rn", q.limit + 1));
    }
    fn date_bucket(&self, unit: DateUnit, col: &str) -> String {
        match unit {
            DateUnit::Week => format!("date({col}, '-' || ((CAST(strftime('%w', {col}) AS INTEGER) + 6) % 7) || ' days')"),
            DateUnit::Month => format!("strftime('%Y-%m-01', {col})"),
            DateUnit::Quarter => format!(
                "printf('%s-%02d-01', strftime('%Y', {col}), ((CAST(strftime('%m', {col}) AS INTEGER) - 1) / 3) * 3 + 1)"
            ),
            DateUnit::Year => format!("strftime('%Y-01-01', {col})"),
        }
    }
    fn epoch_bucket(&self, secs: i64, col: &str) -> String {
        format!("(CAST(strftime('%s', {col}) AS INTEGER) / {secs}) * {secs}")
    }
    fn open_ohlc(&self, sql: &mut Sql, table: &str, time_col: &str, bucket: &str, numeric_text: bool) {
        // Decimals are text here: rank highs and lows as numbers.
        let num = |c: &str| if numeric_text { format!("CAST({c} AS REAL)") } else { c.to_string() };
        sql.push(&format!(
            "SELECT b, MAX(CASE WHEN rf = 1 THEN open END), MAX(CASE WHEN rh = 1 THEN high END), \
             MAX(CASE WHEN rlo = 1 THEN low END), MAX(CASE WHEN rl = 1 THEN close END), SUM(volume), COUNT(*) FROM \
             (SELECT *, ROW_NUMBER() OVER (PARTITION BY b ORDER BY {time_col}) AS rf, \
             ROW_NUMBER() OVER (PARTITION BY b ORDER BY {time_col} DESC) AS rl, \
             ROW_NUMBER() OVER (PARTITION BY b ORDER BY {} DESC) AS rh, \
             ROW_NUMBER() OVER (PARTITION BY b ORDER BY {}) AS rlo FROM \
             (SELECT {bucket} AS b, {time_col}, open, high, low, close, volume FROM \"{table}\" WHERE ",
            num("high"),
            num("low")
        ));
    }
    fn close_ohlc(&self, sql: &mut Sql) {
        sql.push(")) GROUP BY b ORDER BY b");
    }
    fn generates_columns(&self) -> bool {
        false
    }
    fn inserts_from_arrays(&self) -> bool {
        false
    }
    fn bulk_insert(&self, _: &Table, _: &[usize], _: &[Vec<Cell>], _: bool) -> Option<BulkInsert> {
        None
    }
    fn notifies(&self) -> bool {
        false
    }
    fn after_bulk_load(&self) -> &'static [&'static str] {
        &[]
    }
    fn skip_locked(&self) -> &'static str {
        ""
    }
    fn uuid_text(&self, expr: &str) -> String {
        format!("hex({expr})")
    }
    fn change_log(&self, sql: &mut Sql, t: &Table, _seq: i64, id: i64) {
        sql.push("(SELECT l.id AS qg_seq, l.id AS qg_id, l.op AS qg_op");
        for c in t.columns.iter().filter(|c| c.expr.is_none()) {
            let value = format!("json_extract(l.row, '$.{}')", c.name);
            let value = if c.kind == Kind::Uuid { format!("unhex({value})") } else { value };
            sql.push(", ").push(&value).push(" AS ").ident("", &c.name);
        }
        sql.push(" FROM quantgraph_change_log l WHERE l.tbl = ")
            .param(Value::from(t.name))
            .push(" AND l.id > ")
            .param(Value::from(id))
            .push(")");
    }
    fn change_log_head(&self) -> &'static str {
        "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(id), 0) FROM quantgraph_change_log"
    }
    fn change_log_horizon(&self) -> &'static str {
        "SELECT seq FROM quantgraph_change_horizon"
    }
    fn change_log_prune(&self, secs: i64) -> String {
        format!(
            "UPDATE quantgraph_change_horizon SET seq = MAX(seq, (SELECT MAX(id) + 1 FROM quantgraph_change_log \
               WHERE noted_at < unixepoch() - {secs})) \
             WHERE EXISTS (SELECT 1 FROM quantgraph_change_log WHERE noted_at < unixepoch() - {secs}); \
             DELETE FROM quantgraph_change_log WHERE noted_at < unixepoch() - {secs}"
        )
    }
    fn fiscal_known(&self, year: &str, period: &str) -> String {
        format!(
            "CASE {period} WHEN 'Q1' THEN printf('%04d-05-15', {year}) WHEN 'Q2' THEN printf('%04d-08-14', {year}) \
             WHEN 'Q3' THEN printf('%04d-11-14', {year}) ELSE printf('%04d-03-31', {year} + 1) END"
        )
    }
    fn exact_sum(&self, v: &str, scale: u32) -> String {
        // Decimal text split at the point: the integer parts and the (signed, padded) fractions
        // summed apart, both exactly.
        let dot = format!("instr({v}, '.')");
        let int = format!("CAST(CASE WHEN {dot} > 0 THEN substr({v}, 1, {dot} - 1) ELSE {v} END AS INTEGER)");
        let frac = if scale == 0 {
            "0".to_string()
        } else {
            format!(
                "CASE WHEN {dot} > 0 THEN (CASE WHEN {v} LIKE '-%' THEN -1 ELSE 1 END) * \
                 CAST(substr(substr({v}, {dot} + 1) || '{zeros}', 1, {scale}) AS INTEGER) ELSE 0 END",
                zeros = "0".repeat(scale as usize)
            )
        };
        format!("CAST(sum({int}) AS TEXT) || ':' || CAST(sum({frac}) AS TEXT)")
    }
    fn variance(&self, v: &str, mean: &str) -> String {
        let x = format!("(CAST({v} AS REAL) - {mean})");
        format!("sum({x} * {x}) / NULLIF(count({v}) - 1, 0)")
    }
    fn variance_needs_mean(&self) -> bool {
        true
    }
    fn session_setup(&self) -> Option<&'static str> {
        // WAL lets readers proceed while the gateway writes; foreign keys are on by default in sqlx.
        Some("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;")
    }
}

#[cfg(test)]
mod tests {
    //! Whole statements that differ by dialect, checked as text.
    use super::*;
    use crate::data::catalog::Catalog;

    #[test]
    fn bulk_inserts_bind_one_array_per_column_on_postgres_only() {
        let t = Catalog::get().table("tickers");
        let cols = [t.col("ticker").unwrap(), t.col("region").unwrap(), t.col("name").unwrap()];
        let rows = vec![
            vec![Cell::Text("HPG".into()), Cell::Text("VN".into()), Cell::Null],
            vec![Cell::Text("VCB".into()), Cell::Text("VN".into()), Cell::Text("Vietcombank".into())],
        ];
        let Some(BulkInsert::NewAndKeys(sql)) = Postgres.bulk_insert(t, &cols, &rows, false) else {
            panic!("an insert answers its keys")
        };
        assert_eq!(
            sql.text,
            r#"INSERT INTO "tickers" ("ticker", "region", "name") SELECT v0, v1, CASE WHEN n2 THEN NULL ELSE v2 END FROM unnest(CAST($1 AS text[]), CAST($2 AS text[]), CAST($3 AS text[]), CAST($4 AS bool[])) AS u(v0, v1, v2, n2) RETURNING (xmax = 0), "id""#
        );
        // However many rows: one parameter per column, and one flag array for the NULLs.
        assert_eq!(sql.values.len(), 4);
        let Some(BulkInsert::NewCount(sql)) = Postgres.bulk_insert(t, &cols, &rows, true) else {
            panic!("an upsert answers its count of new rows")
        };
        assert!(sql.text.starts_with("WITH w AS (INSERT INTO \"tickers\""), "{}", sql.text);
        assert!(
            sql.text.ends_with(
                r#"ON CONFLICT ("id") DO UPDATE SET "ticker" = EXCLUDED."ticker", "region" = EXCLUDED."region", "name" = EXCLUDED."name" RETURNING (xmax = 0) AS new) SELECT COUNT(*) FILTER (WHERE new) FROM w"#
            ),
            "{}",
            sql.text
        );
        assert!(Sqlite.bulk_insert(t, &cols, &rows, false).is_none());
    }

    #[test]
    fn decimals_compare_as_numbers_where_stored_as_text() {
        assert_eq!(Postgres.comparable_decimal(), ("", ""));
        assert_eq!(Sqlite.comparable_decimal(), ("CAST(", " AS REAL)"));
        assert_eq!(Postgres.decimal_extreme("min", "g.v0"), ("min(g.v0)".to_string(), Kind::Decimal));
        assert_eq!(Sqlite.decimal_extreme("max", "g.v0"), ("max(CAST(g.v0 AS REAL))".to_string(), Kind::Float));
    }
}
