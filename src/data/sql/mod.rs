//! SQL text with its bind values: conditions, orderings and column lists written for one
//! dialect, and the run that reads rows back as cells.
use super::catalog::{Catalog, Known, Table};
pub mod dialect;

use super::catalog::Relation;
use super::query::{Cond, Op};
use super::values::{Cell, Kind};
use dialect::Dialect;
use sea_orm::{DbBackend, Statement, Value};

/// SQL text with its bind values, written for one dialect.
pub struct Sql {
    pub text: String,
    pub values: Vec<Value>,
    pub dialect: &'static dyn Dialect,
    /// Planned afresh on every run instead of from a cached prepared statement: for a
    /// statement whose tables grow fast (the change log), where a plan made while they were
    /// small would read the whole backlog on every run.
    pub replan: bool,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Self::with_dialect(dialect::of(backend))
    }

    pub fn with_dialect(dialect: &'static dyn Dialect) -> Self {
        Sql { text: String::with_capacity(512), values: Vec::new(), dialect, replan: false }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub fn param(&mut self, v: Value) -> &mut Self {
        self.values.push(v);
        self.dialect.placeholder(self.values.len(), &mut self.text);
        self
    }

    /// A parameter whose type the server may not infer from its context.
    pub fn typed_param(&mut self, v: Value, kind: Kind) -> &mut Self {
        match self.dialect.param_cast(kind) {
            Some(ty) => self.push("CAST(").param(v).push(" AS ").push(ty).push(")"),
            None => self.param(v),
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

    /// The condition of a relation read: the query's `cond` and the relation's fixed values.
    pub fn relation_cond(&mut self, t: &Table, rel: &Relation, cond: &Cond) -> &mut Self {
        let mut all = vec![cond.clone()];
        for (c, v) in &rel.fixed {
            all.push(Cond::Cmp(t.col(c).expect("fixed column"), Op::Eq, Cell::Text(v.clone())));
        }
        self.cond("a", t, &Cond::All(all))
    }

    /// The target rows `a` joined to their parent in `p` on the relation's `cols`.
    pub fn join_parents(&mut self, t: &Table, cols: &[usize]) -> &mut Self {
        for (i, c) in cols.iter().enumerate() {
            self.push(if i > 0 { " AND " } else { "" }).ident("a", &t.columns[*c].name).push(&format!(" = p.k{i}"));
        }
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

    /// A column as compared or ordered: decimals as numbers (`Dialect::comparable_decimal`).
    fn sort_expr(&mut self, alias: &str, t: &Table, col: usize) -> &mut Self {
        let (open, close) = self.decimal_wrap(t.columns[col].kind);
        self.push(open).col(alias, t, col).push(close)
    }

    fn value_expr(&mut self, t: &Table, col: usize, v: &Cell) -> &mut Self {
        let kind = t.columns[col].kind;
        let (open, close) = self.decimal_wrap(kind);
        self.push(open).param(v.to_value(kind)).push(close)
    }

    fn decimal_wrap(&self, kind: Kind) -> (&'static str, &'static str) {
        if kind == Kind::Decimal {
            self.dialect.comparable_decimal()
        } else {
            ("", "")
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
            Cond::IsNull(col, is) => self.col(alias, t, *col).push(if *is { " IS NULL" } else { " IS NOT NULL" }),
            Cond::Like(col, pat, ci) => {
                let (op, pattern) = self.dialect.like(pat, *ci);
                self.ident(alias, &t.columns[*col].name).push(op).param(Value::String(Some(pattern)))
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
                let values = self.dialect.row_values();
                self.push(") IN (").push(values);
                for (r, row) in rows.iter().enumerate() {
                    self.push(if r > 0 { ", (" } else { "(" });
                    for (i, (c, v)) in cols.iter().zip(row).enumerate() {
                        self.push(if i > 0 { ", " } else { "" }).param(v.to_value(t.columns[*c].kind));
                    }
                    self.push(")");
                }
                self.push(")")
            }
            Cond::InSelect { col, table, key, cond } => {
                let sub = Catalog::get().table(table);
                let sub_alias = format!("{table}_in");
                self.col(alias, t, *col).push(" IN (SELECT ").col(&sub_alias, sub, *key);
                self.push(" FROM \"").push(table).push("\" ").push(&sub_alias).push(" WHERE ");
                self.cond(&sub_alias, sub, cond).push(")")
            }
            Cond::AsOf(day) => self.as_of(alias, t, *day),
            Cond::False => self.push("1=0"),
        }
    }

    /// When a row of `t` (as `alias`) became known: a date, a timestamp or a computed day.
    fn known(&mut self, alias: &str, t: &Table, known: Known) -> &mut Self {
        match known {
            Known::Date(c) | Known::Timestamp(c) => self.ident(alias, &t.columns[c].name),
            Known::FiscalYear { year, period } => {
                let (y, p) = (
                    format!("{alias}.\"{}\"", t.columns[year].name),
                    format!("{alias}.\"{}\"", t.columns[period].name),
                );
                let e = self.dialect.fiscal_known(&y, &p);
                self.push(&e)
            }
        }
    }

    /// Known by the end of `day`: on or before it, or (timestamps) before the next midnight, UTC.
    fn known_by(&mut self, alias: &str, t: &Table, known: Known, day: chrono::NaiveDate) -> &mut Self {
        self.known(alias, t, known);
        match known {
            Known::Timestamp(_) => {
                let next = day.succ_opt().unwrap_or(day).and_time(chrono::NaiveTime::MIN).and_utc();
                self.push(" < ").param(Cell::DateTime(next).to_value(Kind::DateTime))
            }
            _ => self.push(" <= ").param(Cell::Date(day).to_value(Kind::Date)),
        }
    }

    /// The rows known latest by the end of `day`, one version per point-in-time key: known by
    /// then, and no row with the same key known later but still by then.
    fn as_of(&mut self, alias: &str, t: &Table, day: chrono::NaiveDate) -> &mut Self {
        let Some(pit) = &t.as_of else { return self.push("1=1") };
        let newer = format!("{alias}_newer");
        self.push("(");
        if let Known::Timestamp(c) = pit.known {
            self.ident(alias, &t.columns[c].name).push(" IS NULL OR ");
        }
        self.known_by(alias, t, pit.known, day).push(") AND NOT EXISTS (SELECT 1 FROM \"").push(t.name);
        self.push("\" ").push(&newer).push(" WHERE ");
        for k in &pit.key {
            let name = &t.columns[*k].name;
            self.ident(&newer, name).push(" = ").ident(alias, name).push(" AND ");
        }
        self.known_by(&newer, t, pit.known, day).push(" AND ");
        self.known(&newer, t, pit.known).push(" > ").known(alias, t, pit.known).push(")")
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
        Statement::from_sql_and_values(self.dialect.backend(), self.text, self.values)
    }
}
