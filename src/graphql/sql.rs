//! SQL text for the generic read path: conditions, orderings, keyset pages and batched
//! per-parent windows (LATERAL on PostgreSQL, ROW_NUMBER on SQLite) — one statement each.
use super::catalog::Table;
use super::scalars::{Cell, Kind};
use crate::error::ApiResult;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

/// A comparison operator of `where:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
        }
    }
}

/// A row condition over one table's columns (by index).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Cmp(usize, Op, Cell),
    In(usize, Vec<Cell>, bool),
    IsNull(usize, bool),
    Like(usize, String, bool),
    /// `(c1, c2, …) op (v1, v2, …)`: a row-value comparison (keyset pages walk an index from it).
    RowCmp(Vec<usize>, Op, Vec<Cell>),
    /// `(c1, c2, …) IN ((v1, v2, …), …)`: one of many composite keys.
    TupleIn(Vec<usize>, Vec<Vec<Cell>>),
    /// `column IN (SELECT id FROM table WHERE user_id = value)`: ownership through a parent.
    OwnedVia(usize, &'static str, Cell),
    False,
}

/// SQL text with its bind values, numbered for the backend.
pub struct Sql {
    pub text: String,
    pub values: Vec<Value>,
    pub backend: DbBackend,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Sql { text: String::with_capacity(512), values: Vec::new(), backend }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub fn param(&mut self, v: Value) -> &mut Self {
        self.values.push(v);
        match self.backend {
            DbBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// A parameter whose type PostgreSQL cannot infer from its context.
    pub fn typed_param(&mut self, v: Value, kind: Kind) -> &mut Self {
        if self.backend == DbBackend::Postgres {
            self.push("CAST(").param(v).push(" AS ").push(kind.pg_cast()).push(")")
        } else {
            self.param(v)
        }
    }

    pub fn ident(&mut self, alias: &str, name: &str) -> &mut Self {
        if !alias.is_empty() {
            self.text.push_str(alias);
            self.text.push('.');
        }
        self.text.push('"');
        self.text.push_str(name);
        self.text.push('"');
        self
    }

    /// A column, or the SQL expression of a computed one.
    pub fn col(&mut self, alias: &str, t: &Table, col: usize) -> &mut Self {
        let c = &t.columns[col];
        match c.expr {
            Some(e) => self.push(&e.replace("{a}", alias)),
            None => self.ident(alias, &c.name),
        }
    }

    /// A column as compared or ordered: SQLite decimals are TEXT, so they compare as numbers.
    fn sort_expr(&mut self, alias: &str, t: &Table, col: usize) -> &mut Self {
        if self.backend == DbBackend::Sqlite && t.columns[col].kind == Kind::Decimal {
            self.push("CAST(").col(alias, t, col).push(" AS REAL)")
        } else {
            self.col(alias, t, col)
        }
    }

    fn value_expr(&mut self, t: &Table, col: usize, v: &Cell) -> &mut Self {
        let kind = t.columns[col].kind;
        if self.backend == DbBackend::Sqlite && kind == Kind::Decimal {
            self.push("CAST(").param(v.to_value(kind)).push(" AS REAL)")
        } else {
            self.param(v.to_value(kind))
        }
    }

    pub fn cond(&mut self, alias: &str, t: &Table, c: &Cond) -> &mut Self {
        match c {
            Cond::All(v) if v.is_empty() => self.push("1=1"),
            Cond::Any(v) if v.is_empty() => self.push("1=0"),
            Cond::All(v) | Cond::Any(v) => {
                let joiner = if matches!(c, Cond::All(_)) { " AND " } else { " OR " };
                self.push("(");
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.cond(alias, t, x);
                }
                self.push(")")
            }
            Cond::Not(x) => self.push("NOT (").cond(alias, t, x).push(")"),
            Cond::Cmp(col, op, v) => {
                self.sort_expr(alias, t, *col).push(" ").push(op.sql()).push(" ").value_expr(t, *col, v)
            }
            Cond::In(_, vals, negate) if vals.is_empty() => self.push(if *negate { "1=1" } else { "1=0" }),
            Cond::In(col, vals, negate) => {
                self.sort_expr(alias, t, *col).push(if *negate { " NOT IN (" } else { " IN (" });
                for (i, v) in vals.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.value_expr(t, *col, v);
                }
                self.push(")")
            }
            Cond::IsNull(col, is) => {
                self.ident(alias, &t.columns[*col].name).push(if *is { " IS NULL" } else { " IS NOT NULL" })
            }
            Cond::Like(col, pat, ci) => {
                let name = &t.columns[*col].name;
                match (self.backend, ci) {
                    (DbBackend::Postgres, true) => {
                        self.ident(alias, name).push(" ILIKE ").param(Value::String(Some(pat.clone())))
                    }
                    (DbBackend::Postgres, false) => {
                        self.ident(alias, name).push(" LIKE ").param(Value::String(Some(pat.clone())))
                    }
                    // SQLite's LIKE ignores ASCII case; GLOB is its case-sensitive form.
                    (_, true) => self.ident(alias, name).push(" LIKE ").param(Value::String(Some(pat.clone()))),
                    (_, false) => self.ident(alias, name).push(" GLOB ").param(Value::String(Some(like_to_glob(pat)))),
                }
            }
            Cond::RowCmp(cols, op, vals) => {
                self.push("(");
                for (i, c) in cols.iter().enumerate() {
                    self.push(if i > 0 { ", " } else { "" }).sort_expr(alias, t, *c);
                }
                self.push(") ").push(op.sql()).push(" (");
                for (i, (c, v)) in cols.iter().zip(vals).enumerate() {
                    self.push(if i > 0 { ", " } else { "" }).value_expr(t, *c, v);
                }
                self.push(")")
            }
            Cond::TupleIn(_, rows) if rows.is_empty() => self.push("1=0"),
            Cond::TupleIn(cols, rows) => {
                self.push("(");
                for (i, c) in cols.iter().enumerate() {
                    self.push(if i > 0 { ", " } else { "" }).ident(alias, &t.columns[*c].name);
                }
                self.push(if self.backend == DbBackend::Sqlite { ") IN (VALUES " } else { ") IN (" });
                for (r, row) in rows.iter().enumerate() {
                    self.push(if r > 0 { ", (" } else { "(" });
                    for (i, (c, v)) in cols.iter().zip(row).enumerate() {
                        self.push(if i > 0 { ", " } else { "" }).param(v.to_value(t.columns[*c].kind));
                    }
                    self.push(")");
                }
                self.push(")")
            }
            Cond::OwnedVia(col, table, owner) => self
                .ident(alias, &t.columns[*col].name)
                .push(" IN (SELECT \"id\" FROM \"")
                .push(table)
                .push("\" WHERE \"user_id\" = ")
                .param(owner.to_value(Kind::Uuid))
                .push(")"),
            Cond::False => self.push("1=0"),
        }
    }

    /// `ORDER BY` for `order`, reversed when paging backwards; NULLs always sort last.
    /// Columns in `pinned` hold one value in the result, so they are left out: the database can
    /// then walk an index in order instead of sorting.
    pub fn order_by(
        &mut self,
        alias: &str,
        t: &Table,
        order: &[(usize, bool)],
        reverse: bool,
        pinned: &[usize],
    ) -> &mut Self {
        let order: Vec<&(usize, bool)> = order.iter().filter(|(c, _)| !pinned.contains(c)).collect();
        if order.is_empty() {
            return self;
        }
        self.push(" ORDER BY ");
        for (i, (col, desc)) in order.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.sort_expr(alias, t, *col);
            let nullable = t.columns[*col].nullable;
            match (desc ^ reverse, nullable) {
                (false, false) => self.push(" ASC"),
                (true, false) => self.push(" DESC"),
                (false, true) => self.push(if reverse { " ASC NULLS FIRST" } else { " ASC NULLS LAST" }),
                (true, true) => self.push(if reverse { " DESC NULLS FIRST" } else { " DESC NULLS LAST" }),
            };
        }
        self
    }

    pub fn columns(&mut self, alias: &str, t: &Table, cols: &[usize]) -> &mut Self {
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.col(alias, t, *c);
        }
        self
    }

    pub fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

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

/// Columns that a condition fixes to a single value (top-level equalities).
pub fn pinned(c: &Cond) -> Vec<usize> {
    match c {
        Cond::Cmp(col, Op::Eq, v) if !matches!(v, Cell::Null) => vec![*col],
        Cond::All(parts) => parts.iter().flat_map(pinned).collect(),
        _ => vec![],
    }
}

/// The keyset condition "strictly after (or before) `cursor`" in `order` (NULLs last).
///
/// Leading columns that are not null and run in one direction are compared as one row value,
/// `(a, b) > ($1, $2)`, which PostgreSQL turns into an index range even in a generic prepared
/// plan; an expanded `a > $1 OR (a = $1 AND b > $2)` it cannot, and scans instead.
pub fn keyset(t: &Table, order: &[(usize, bool)], cursor: &[Cell], after: bool) -> Cond {
    let n = order.len().min(cursor.len());
    let plain = |i: usize| !t.columns[order[i].0].nullable && !matches!(cursor[i], Cell::Null);
    let forward = |i: usize| after ^ order[i].1;
    let mut k = 0;
    while k < n && plain(k) && forward(k) == forward(0) {
        k += 1;
    }
    if k == 0 {
        return keyset_expanded(t, order, cursor, after);
    }
    let cols: Vec<usize> = order[..k].iter().map(|(c, _)| *c).collect();
    let vals = cursor[..k].to_vec();
    let (strict, loose) = if forward(0) { (Op::Gt, Op::Gte) } else { (Op::Lt, Op::Lte) };
    if k == n {
        return Cond::RowCmp(cols, strict, vals);
    }
    // (P) >= (v) AND ((P) > (v) OR ((P) = (v) AND <the rest after the cursor>)).
    let rest = keyset(t, &order[k..], &cursor[k..], after);
    Cond::All(vec![
        Cond::RowCmp(cols.clone(), loose, vals.clone()),
        Cond::Any(vec![
            Cond::RowCmp(cols.clone(), strict, vals.clone()),
            Cond::All(vec![Cond::RowCmp(cols, Op::Eq, vals), rest]),
        ]),
    ])
}

/// The keyset condition column by column, for orderings that start with a nullable column.
fn keyset_expanded(t: &Table, order: &[(usize, bool)], cursor: &[Cell], after: bool) -> Cond {
    let mut any = Vec::new();
    for i in 0..order.len().min(cursor.len()) {
        let mut all: Vec<Cond> = (0..i)
            .map(|j| match &cursor[j] {
                Cell::Null => Cond::IsNull(order[j].0, true),
                v => Cond::Cmp(order[j].0, Op::Eq, v.clone()),
            })
            .collect();
        let (col, desc) = order[i];
        let forward = after ^ desc;
        let step = match (&cursor[i], after) {
            (Cell::Null, true) => Cond::False,
            (Cell::Null, false) => Cond::IsNull(col, false),
            (v, true) if t.columns[col].nullable => Cond::Any(vec![
                Cond::Cmp(col, if forward { Op::Gt } else { Op::Lt }, v.clone()),
                Cond::IsNull(col, true),
            ]),
            (v, _) => Cond::Cmp(col, if forward { Op::Gt } else { Op::Lt }, v.clone()),
        };
        all.push(step);
        any.push(Cond::All(all));
    }
    Cond::Any(any)
}

/// Runs `sql` and reads `kinds` from the first columns after `skip` leading ones.
pub async fn fetch<C: ConnectionTrait>(
    db: &C,
    sql: Sql,
    skip: usize,
    kinds: &[Kind],
) -> ApiResult<Vec<(i64, Vec<Cell>)>> {
    let backend = sql.backend;
    let rows = db.query_all_raw(sql.statement()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let lead = if skip > 0 {
            row.try_get_by_index::<i64>(0).or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))?
        } else {
            0
        };
        let mut cells = Vec::with_capacity(kinds.len());
        for (i, k) in kinds.iter().enumerate() {
            cells.push(Cell::read(row, skip + i, *k, backend)?);
        }
        out.push((lead, cells));
    }
    Ok(out)
}
