//! Aggregates and group-by over any table, in one statement per request level: groups keyed by
//! columns of the table or of rows it belongs to (many-to-one relations), optionally bucketed
//! in time; per group the row count and sums, averages, extremes and standard deviations of
//! the numeric columns. Sums and averages of decimal and integer columns are exact on both
//! backends; groups are ordered and paged, for one table or per parent row of a relation.
use super::buckets::TimeBucket;
use super::catalog::{Catalog, Relation, Table};
use super::exec::fetch;
use super::query::{access, Cond};
use super::sql::dialect::Dialect;
use super::sql::Sql;
use super::values::{Cell, Kind};
use crate::auth::Viewer;
use crate::data::exec::ReadConnection;
use crate::error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use std::str::FromStr;

/// Most relation hops from the table to a grouped column.
pub const MAX_HOPS: usize = 3;
/// Digits after the point of decimal averages.
pub const AVG_SCALE: u32 = 10;

/// A group key: a column of the table, or of the row reached through `path`.
#[derive(Clone, Debug)]
pub struct GroupKey {
    pub path: Vec<&'static Relation>,
    pub col: usize,
    pub bucket: Option<TimeBucket>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Measure {
    Sum,
    Avg,
    Min,
    Max,
    Stddev,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupOrder {
    KeysAsc,
    KeysDesc,
    CountAsc,
    CountDesc,
}

/// What to compute: groups of the rows of `table` matching `cond` (access included).
#[derive(Clone, Debug)]
pub struct Aggregation {
    pub table: &'static Table,
    pub cond: Cond,
    pub keys: Vec<GroupKey>,
    /// Measures of columns of `table`.
    pub measures: Vec<(Measure, usize)>,
    pub order: GroupOrder,
    pub limit: u64,
    pub offset: u64,
    /// Whose access rules the rows joined for keys obey (rows they may not read join as NULL).
    pub viewer: Viewer,
}

/// One group: its keys (in `keys` order), its row count, and each measure's value.
#[derive(Clone, Debug)]
pub struct Group {
    pub keys: Vec<Cell>,
    pub count: i64,
    pub values: Vec<Cell>,
}

/// A page of groups (one past it when more follow) and the number of groups in all.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    pub groups: Vec<Group>,
    pub total: i64,
}

// Catalog entries live for the whole process: a relation or a table equals only itself.
impl PartialEq for GroupKey {
    fn eq(&self, o: &Self) -> bool {
        same(&self.path, &o.path) && self.col == o.col && self.bucket == o.bucket
    }
}
impl Eq for GroupKey {}
impl std::hash::Hash for GroupKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        for r in &self.path {
            std::ptr::hash(*r, h);
        }
        (self.col, self.bucket).hash(h);
    }
}

impl PartialEq for Aggregation {
    fn eq(&self, o: &Self) -> bool {
        std::ptr::eq(self.table, o.table)
            && (&self.cond, &self.keys, &self.measures, self.order, self.limit, self.offset, &self.viewer)
                == (&o.cond, &o.keys, &o.measures, o.order, o.limit, o.offset, &o.viewer)
    }
}
impl Eq for Aggregation {}
impl std::hash::Hash for Aggregation {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::ptr::hash(self.table, h);
        (&self.cond, &self.keys, &self.measures, self.order, self.limit, self.offset, &self.viewer).hash(h);
    }
}

impl GroupKey {
    /// The table the grouped column belongs to.
    pub fn table(&self, from: &'static Table) -> &'static Table {
        self.path.last().map_or(from, |r| Catalog::get().table(r.target))
    }

    pub fn kind(&self, from: &'static Table) -> Kind {
        match self.bucket {
            Some(TimeBucket::Calendar(_)) => Kind::Date,
            Some(TimeBucket::Seconds(_)) => Kind::DateTime,
            None => self.table(from).columns[self.col].kind,
        }
    }
}

/// The numeric columns measures apply to.
pub fn is_numeric(kind: Kind) -> bool {
    matches!(kind, Kind::Int | Kind::BigInt | Kind::Float | Kind::Decimal)
}

/// The SQL expressions of one statement's parts, per measure: what the inner select reads,
/// and the aggregate expressions (one or two columns) the outer select computes.
struct Parts {
    /// `(expression, kind read)` per output column after the keys and the count.
    outputs: Vec<(String, Kind)>,
}

fn measure_sql(d: &dyn Dialect, m: Measure, v: &str, kind: Kind, scale: u32, mean: &str, parts: &mut Parts) {
    let out = &mut parts.outputs;
    match (m, kind) {
        (Measure::Sum | Measure::Avg, Kind::Float) => {
            out.push((format!("{}({v})", if m == Measure::Sum { "sum" } else { "avg" }), Kind::Float))
        }
        (Measure::Sum | Measure::Avg, _) => {
            let sum = if kind == Kind::Decimal { d.exact_sum(v, scale) } else { format!("CAST(sum({v}) AS TEXT)") };
            out.push((sum, Kind::String));
            if m == Measure::Avg {
                out.push((format!("count({v})"), Kind::BigInt));
            }
        }
        (Measure::Min | Measure::Max, _) => {
            let f = if m == Measure::Min { "min" } else { "max" };
            out.push(if kind == Kind::Decimal { d.decimal_extreme(f, v) } else { (format!("{f}({v})"), kind) });
        }
        (Measure::Stddev, _) => out.push((d.variance(v, mean), Kind::Float)),
    }
}

/// The statement — with `parents`, groups per parent of `rel` (leading with the parent's
/// number) — and the kinds of the columns it reads: keys, count, measure outputs, total.
pub fn aggregate_sql(
    d: &'static dyn Dialect,
    a: &Aggregation,
    rel: Option<(&Relation, &[Vec<Cell>])>,
) -> (Sql, Vec<Kind>) {
    let t = a.table;
    let mut sql = Sql::with_dialect(d);
    let cols = rel.map(|(r, _)| r.target_cols(t));
    if let (Some((_, parents)), Some(cols)) = (rel, &cols) {
        d.parents(&mut sql, t, cols, parents);
    }
    // Joins along the key paths: one per distinct path prefix.
    let mut joins: Vec<Vec<&'static Relation>> = Vec::new();
    let mut key_exprs = Vec::new();
    for k in &a.keys {
        let mut alias = "a".to_string();
        for n in 1..=k.path.len() {
            let prefix = &k.path[..n];
            let at = joins.iter().position(|j| same(j, prefix));
            let at = at.unwrap_or_else(|| {
                joins.push(prefix.to_vec());
                joins.len() - 1
            });
            alias = format!("j{at}");
        }
        let c = &k.table(t).columns[k.col];
        let col = match c.expr {
            Some(e) => e.replace("{a}", &alias),
            None => format!("{alias}.\"{}\"", c.name),
        };
        key_exprs.push(match k.bucket {
            Some(TimeBucket::Calendar(iv)) => iv.sql(d, &col),
            Some(TimeBucket::Seconds(s)) => d.epoch_bucket(s, &col),
            None => col,
        });
    }
    let parent = if rel.is_some() { "g.__i" } else { "" };
    let mut parts = Parts { outputs: Vec::new() };
    let mut inner_cols = Vec::new();
    for (i, (m, c)) in a.measures.iter().enumerate() {
        let col = &t.columns[*c];
        let v = format!("g.v{i}");
        let mean = format!("g.m{i}");
        measure_sql(d, *m, &v, col.kind, col.scale.unwrap_or(0), &mean, &mut parts);
        inner_cols.push(format!("a.\"{}\" AS v{i}", col.name));
        if *m == Measure::Stddev && d.variance_needs_mean() {
            let mut within: Vec<String> = key_exprs.clone();
            if rel.is_some() {
                within.insert(0, "p.__i".into());
            }
            let by = if within.is_empty() { String::new() } else { format!("PARTITION BY {}", within.join(", ")) };
            inner_cols.push(format!("avg(CAST(a.\"{}\" AS REAL)) OVER ({by}) AS m{i}", col.name));
        }
    }
    // The groups, numbered in order within their parent (or overall).
    let key_order: Vec<String> = a
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let dir = if a.order == GroupOrder::KeysDesc { "DESC NULLS LAST" } else { "ASC NULLS LAST" };
            let (open, close) = if k.kind(t) == Kind::Decimal { d.comparable_decimal() } else { ("", "") };
            format!("{open}g.k{i}{close} {dir}")
        })
        .collect();
    let mut order = match a.order {
        GroupOrder::CountAsc => vec!["count(*) ASC".to_string()],
        GroupOrder::CountDesc => vec!["count(*) DESC".to_string()],
        _ => Vec::new(),
    };
    order.extend(key_order);
    if order.is_empty() {
        order.push("count(*)".into());
    }
    let mut group_by: Vec<String> = (0..a.keys.len()).map(|i| format!("g.k{i}")).collect();
    if rel.is_some() {
        group_by.insert(0, parent.to_string());
    }
    let within = if rel.is_some() { format!("PARTITION BY {parent} ") } else { String::new() };
    sql.push("SELECT * FROM (SELECT ");
    if rel.is_some() {
        sql.push("g.__i, ");
    }
    for i in 0..a.keys.len() {
        sql.push(&format!("g.k{i}, "));
    }
    sql.push("count(*)");
    for (e, _) in &parts.outputs {
        sql.push(", ").push(e);
    }
    sql.push(&format!(
        ", count(*) OVER ({within}) AS __total, row_number() OVER ({within}ORDER BY {}) AS __rn FROM (SELECT ",
        order.join(", ")
    ));
    let mut select: Vec<String> = key_exprs.iter().enumerate().map(|(i, e)| format!("{e} AS k{i}")).collect();
    if rel.is_some() {
        select.insert(0, "p.__i AS __i".into());
    }
    select.extend(inner_cols);
    if select.is_empty() {
        select.push("1 AS one".into());
    }
    sql.push(&select.join(", "));
    match (&cols, rel) {
        (Some(cols), Some((r, _))) => {
            sql.push(" FROM p JOIN \"").push(t.name).push("\" a ON ");
            sql.join_parents(t, cols);
            write_joins(&mut sql, t, &joins, &a.viewer);
            sql.push(" WHERE ");
            sql.relation_cond(t, r, &a.cond);
        }
        _ => {
            sql.push(" FROM \"").push(t.name).push("\" a");
            write_joins(&mut sql, t, &joins, &a.viewer);
            sql.push(" WHERE ").cond("a", t, &a.cond);
        }
    }
    sql.push(") g");
    if !group_by.is_empty() {
        sql.push(" GROUP BY ").push(&group_by.join(", "));
    }
    sql.push(&format!(
        ") x WHERE __rn > {} AND __rn <= {} ORDER BY {}__rn",
        a.offset,
        a.offset + a.limit + 1,
        if rel.is_some() { "__i, " } else { "" }
    ));
    let mut kinds: Vec<Kind> = a
        .keys
        .iter()
        .map(|k| if let Some(TimeBucket::Seconds(_)) = k.bucket { Kind::BigInt } else { k.kind(t) })
        .collect();
    kinds.push(Kind::BigInt);
    kinds.extend(parts.outputs.iter().map(|(_, k)| *k));
    kinds.push(Kind::BigInt);
    (sql, kinds)
}

fn same(a: &[&'static Relation], b: &[&'static Relation]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| std::ptr::eq(*x, *y))
}

/// `LEFT JOIN`s of the rows the keys' paths reach; rows the viewer may not read join as NULL.
fn write_joins(sql: &mut Sql, t: &'static Table, joins: &[Vec<&'static Relation>], viewer: &Viewer) {
    for (n, path) in joins.iter().enumerate() {
        let rel = path.last().expect("a relation");
        let from_alias = match path.len() {
            1 => "a".to_string(),
            len => format!("j{}", joins.iter().position(|j| same(j, &path[..len - 1])).unwrap_or(0)),
        };
        let from_table = if path.len() == 1 { t } else { Catalog::get().table(path[path.len() - 2].target) };
        let target = Catalog::get().table(rel.target);
        let alias = format!("j{n}");
        sql.push(" LEFT JOIN \"").push(target.name).push("\" ").push(&alias).push(" ON ");
        for (i, (f, to)) in rel.from_cols.iter().zip(&rel.to_cols).enumerate() {
            sql.push(if i > 0 { " AND " } else { "" });
            sql.ident(&alias, to)
                .push(" = ")
                .ident(&from_alias, &from_table.columns[from_table.col(f).expect("relation column")].name);
        }
        for (c, v) in &rel.fixed {
            sql.push(" AND ").ident(&alias, c).push(" = ").param(sea_orm::Value::String(Some(v.clone())));
        }
        match access(target, viewer).unwrap_or(Cond::False) {
            Cond::All(all) if all.is_empty() => {}
            rule => {
                sql.push(" AND ").cond(&alias, target, &rule);
            }
        }
    }
}

/// Runs `a`; with `rel`, per parent (by the parents' index).
pub async fn aggregate<C: ReadConnection>(
    db: &C,
    a: &Aggregation,
    rel: Option<(&Relation, &[Vec<Cell>])>,
) -> ApiResult<Vec<(usize, Groups)>> {
    let d = super::sql::dialect::of(db.get_database_backend());
    let (sql, kinds) = aggregate_sql(d, a, rel);
    let t = a.table;
    let lead = usize::from(rel.is_some());
    let rows = fetch(db, sql, lead, &kinds).await?;
    let mut out: Vec<(usize, Groups)> = Vec::new();
    for (parent, cells) in rows {
        let parent = if lead == 1 { parent as usize - 1 } else { 0 };
        let n = a.keys.len();
        let mut keys: Vec<Cell> = cells[..n].to_vec();
        for (k, cell) in a.keys.iter().zip(keys.iter_mut()) {
            if let (Some(TimeBucket::Seconds(_)), Cell::Int(s)) = (k.bucket, &*cell) {
                *cell = chrono::DateTime::from_timestamp(*s, 0).map_or(Cell::Null, Cell::DateTime);
            }
        }
        let count = if let Cell::Int(c) = cells[n] { c } else { 0 };
        let mut values = Vec::with_capacity(a.measures.len());
        let mut at = n + 1;
        for (m, c) in &a.measures {
            let col = &t.columns[*c];
            let (v, used) = measure_value(*m, col.kind, col.scale.unwrap_or(0), &cells[at..])?;
            values.push(v);
            at += used;
        }
        let total = if let Cell::Int(c) = cells[at] { c } else { 0 };
        match out.last_mut() {
            Some((p, g)) if *p == parent => g.groups.push(Group { keys, count, values }),
            _ => out.push((parent, Groups { groups: vec![Group { keys, count, values }], total })),
        }
    }
    Ok(out)
}

/// A measure's value from its output cells; answers how many cells it used.
fn measure_value(m: Measure, kind: Kind, scale: u32, cells: &[Cell]) -> ApiResult<(Cell, usize)> {
    Ok(match (m, kind) {
        (Measure::Sum | Measure::Avg, Kind::Float) => (cells[0].clone(), 1),
        (Measure::Sum, _) => (exact(&cells[0], scale, kind != Kind::Decimal)?, 1),
        (Measure::Avg, _) => {
            let sum = exact(&cells[0], scale, false)?;
            let avg = match (sum, &cells[1]) {
                (Cell::Decimal(s), Cell::Int(n)) if *n > 0 => {
                    let avg = s.checked_div(Decimal::from(*n)).ok_or_else(|| ApiError::bad("an average overflows"))?;
                    Cell::Decimal(avg.round_dp(AVG_SCALE).normalize())
                }
                _ => Cell::Null,
            };
            (avg, 2)
        }
        (Measure::Min | Measure::Max, Kind::Decimal) => match &cells[0] {
            Cell::Float(f) => {
                (Decimal::from_str(&format!("{f:.*}", scale as usize)).map(Cell::Decimal).unwrap_or(Cell::Null), 1)
            }
            Cell::Decimal(d) => {
                let mut d = *d;
                d.rescale(scale);
                (Cell::Decimal(d), 1)
            }
            other => (other.clone(), 1),
        },
        (Measure::Min | Measure::Max, _) => (cells[0].clone(), 1),
        (Measure::Stddev, _) => match cells[0] {
            Cell::Float(v) if v >= 0.0 => (Cell::Float(v.sqrt()), 1),
            Cell::Float(_) => (Cell::Float(0.0), 1),
            _ => (Cell::Null, 1),
        },
    })
}

/// An exact sum read as text: a decimal, or `integer part:fraction part` (SQLite, see
/// `Dialect::exact_sum`); as an integer when `integer`.
fn exact(cell: &Cell, scale: u32, integer: bool) -> ApiResult<Cell> {
    let Cell::Text(s) = cell else { return Ok(Cell::Null) };
    let bad = || ApiError::Internal("an aggregate sum".into());
    let d = match s.split_once(':') {
        Some((ip, fp)) => {
            let ip = Decimal::from_str(ip).map_err(|_| bad())?;
            let fp = Decimal::from_str(fp).map_err(|_| bad())?;
            ip + fp / Decimal::from(10u64.pow(scale))
        }
        None => Decimal::from_str(s).map_err(|_| bad())?,
    };
    if integer {
        return i64::try_from(d).map(Cell::Int).map_err(|_| ApiError::bad("a sum exceeds 64 bits: group more finely"));
    }
    let mut d = d;
    d.rescale(scale);
    Ok(Cell::Decimal(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::buckets::BarInterval;
    use crate::data::sql::dialect::{Postgres, Sqlite};

    fn by_month_and_sector() -> Aggregation {
        let cat = Catalog::get();
        let ohlcv = cat.table("ohlcv_data");
        let tickers = cat.table("tickers");
        let info = ohlcv.relations.iter().find(|r| r.field == "tickerInfo").unwrap();
        let details = tickers.relations.iter().find(|r| r.field == "stockDetails").unwrap();
        let sector = cat.table("stock_details").col("sector").unwrap();
        Aggregation {
            table: ohlcv,
            cond: Cond::All(vec![]),
            keys: vec![
                GroupKey { path: vec![info, details], col: sector, bucket: None },
                GroupKey {
                    path: vec![],
                    col: ohlcv.col("date").unwrap(),
                    bucket: Some(TimeBucket::Calendar(BarInterval::Month)),
                },
            ],
            measures: vec![
                (Measure::Avg, ohlcv.col("volume").unwrap()),
                (Measure::Stddev, ohlcv.col("close").unwrap()),
            ],
            order: GroupOrder::KeysAsc,
            limit: 10,
            offset: 0,
            viewer: Viewer::ANONYMOUS,
        }
    }

    #[test]
    fn one_statement_with_joins_along_the_key_paths() {
        let pg = aggregate_sql(&Postgres, &by_month_and_sector(), None).0.text;
        assert!(pg.contains(
            "FROM \"ohlcv_data\" a LEFT JOIN \"tickers\" j0 ON j0.\"ticker\" = a.\"ticker\" AND j0.\"region\" = a.\"region\" \
             LEFT JOIN \"stock_details\" j1 ON j1.\"ticker\" = j0.\"ticker\" AND j1.\"region\" = j0.\"region\""
        ), "{pg}");
        assert!(
            pg.contains("SELECT j1.\"sector\" AS k0, date_trunc('month', a.\"date\"::timestamp)::date AS k1"),
            "{pg}"
        );
        assert!(pg.contains("CAST(sum(g.v0) AS TEXT), count(g.v0), var_samp(CAST(g.v1 AS DOUBLE PRECISION))"), "{pg}");
        assert!(pg.ends_with(") x WHERE __rn > 0 AND __rn <= 11 ORDER BY __rn"), "{pg}");
        let lite = aggregate_sql(&Sqlite, &by_month_and_sector(), None).0.text;
        assert!(lite.contains("avg(CAST(a.\"close\" AS REAL)) OVER (PARTITION BY j1.\"sector\", strftime('%Y-%m-01', a.\"date\")) AS m1"), "{lite}");
        assert!(
            lite.contains(
                "sum((CAST(g.v1 AS REAL) - g.m1) * (CAST(g.v1 AS REAL) - g.m1)) / NULLIF(count(g.v1) - 1, 0)"
            ),
            "{lite}"
        );
    }

    #[test]
    fn sums_read_back_exactly() {
        assert_eq!(
            exact(&Cell::Text("123:-4567".into()), 4, false).unwrap(),
            Cell::Decimal(Decimal::from_str("122.5433").unwrap())
        );
        assert_eq!(
            exact(&Cell::Text("99999999999999999.1234".into()), 4, false).unwrap(),
            Cell::Decimal(Decimal::from_str("99999999999999999.1234").unwrap())
        );
        assert_eq!(exact(&Cell::Text("42".into()), 0, true).unwrap(), Cell::Int(42));
        assert!(exact(&Cell::Text("99999999999999999999".into()), 0, true).is_err());
    }
}
