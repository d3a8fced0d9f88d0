//! What a list read asks for, independent of how it was asked: row conditions, orderings,
//! keyset cursors, page sizes and the access rule of the caller.
use super::catalog::{Access, Catalog, Owner, Table, WorkerRead};
use super::values::Cell;
use crate::auth::{Role, Viewer};
use crate::error::{ApiError, ApiResult};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

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
    pub fn sql(self) -> &'static str {
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
    /// `column IN (SELECT key FROM table WHERE cond)`, `key` and `cond` over that table: ownership
    /// through a parent, or the workflows of the runs a worker may read.
    InSelect {
        col: usize,
        table: &'static str,
        key: usize,
        cond: Box<Cond>,
    },
    /// The rows known latest at or before the end of this day, per the table's point-in-time key.
    AsOf(chrono::NaiveDate),
    False,
}

/// Page-size limits from configuration.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub default_page: u64,
    pub max_page: u64,
}

/// One list read: which rows, in which order, how many.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListQuery {
    /// Filters, access and cursor: the rows of this page.
    pub cond: Cond,
    /// Filters and access only: the rows of the whole list (for `totalCount`).
    pub base: Cond,
    pub order: Vec<(usize, bool)>,
    /// Rows wanted (one more is fetched to learn whether more exist).
    pub limit: u64,
    /// `last`/`before`: read in reverse and flip.
    pub backwards: bool,
    pub has_cursor: bool,
}

/// The regions of the source systems.
pub const REGIONS: [&str; 6] = ["KR", "US", "CN", "HK", "JP", "VN"];

pub fn check_region(r: &str) -> ApiResult<()> {
    if REGIONS.contains(&r) {
        Ok(())
    } else {
        Err(ApiError::bad(format!("unknown region `{r}` (one of {})", REGIONS.join(", "))))
    }
}

/// The bar timeframes of `ohlcv_data`: daily, weekly, monthly.
pub const TIMEFRAMES: [&str; 3] = ["D", "W", "M"];

pub fn check_timeframe(tf: &str) -> ApiResult<()> {
    if TIMEFRAMES.contains(&tf) {
        Ok(())
    } else {
        Err(ApiError::bad(format!("unknown timeframe `{tf}` (one of {})", TIMEFRAMES.join(", "))))
    }
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
    // One column compares as itself.
    let row_cmp = |cols: Vec<usize>, op: Op, vals: Vec<Cell>| match (cols.as_slice(), vals.as_slice()) {
        ([c], [v]) => Cond::Cmp(*c, op, v.clone()),
        _ => Cond::RowCmp(cols, op, vals),
    };
    if k == n {
        return row_cmp(cols, strict, vals);
    }
    // (P) >= (v) AND ((P) > (v) OR ((P) = (v) AND <the rest after the cursor>)).
    let rest = keyset(t, &order[k..], &cursor[k..], after);
    Cond::All(vec![
        row_cmp(cols.clone(), loose, vals.clone()),
        Cond::Any(vec![
            row_cmp(cols.clone(), strict, vals.clone()),
            Cond::All(vec![row_cmp(cols, Op::Eq, vals), rest]),
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

pub fn encode_cursor(cells: &[Cell]) -> String {
    let json: Vec<serde_json::Value> = cells.iter().map(key_json).collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap_or_default())
}

/// A key cell as JSON, independent of the request (times in UTC): what cursors and object ids
/// hold, read back by `Cell::from_json`.
pub fn key_json(c: &Cell) -> serde_json::Value {
    match c {
        Cell::Null => serde_json::Value::Null,
        Cell::Int(v) => (*v).into(),
        Cell::Float(v) => serde_json::json!(v),
        Cell::Decimal(d) => d.to_string().into(),
        Cell::Text(s) => s.clone().into(),
        Cell::Bool(b) => (*b).into(),
        Cell::Date(d) => d.to_string().into(),
        Cell::DateTime(t) => t.to_rfc3339().into(),
        Cell::Json(_) => serde_json::Value::Null,
        Cell::Uuid(u) => u.to_string().into(),
    }
}

/// A cursor holding a position in a list (groups of an aggregate), as `encode_cursor` wrote it.
pub fn decode_position(s: &str) -> ApiResult<u64> {
    let bad = || ApiError::bad("malformed cursor (use a cursor returned by this list)");
    let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
    match serde_json::from_slice::<Vec<serde_json::Value>>(&bytes).map_err(|_| bad())?.as_slice() {
        [v] => v.as_u64().ok_or_else(bad),
        _ => Err(bad()),
    }
}

pub fn decode_cursor(t: &Table, order: &[(usize, bool)], s: &str) -> ApiResult<Vec<Cell>> {
    let bad = || ApiError::bad("malformed cursor (use a cursor returned by this list with the same orderBy)");
    let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
    let vals: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if vals.len() != order.len() {
        return Err(bad());
    }
    vals.iter().zip(order).map(|(v, (col, _))| Cell::from_json(v, t.columns[*col].kind).map_err(|_| bad())).collect()
}

/// The access condition for `viewer` on `t`, or an error when the table is closed to them.
pub fn access(t: &Table, viewer: &Viewer) -> ApiResult<Cond> {
    match t.access {
        Access::Public => Ok(Cond::All(vec![])),
        Access::Research => viewer.require_research().map(|_| Cond::All(vec![])),
        Access::Admin => viewer.require_admin().map(|_| Cond::All(vec![])),
        Access::Owned(_) if viewer.role == Role::Service => worker_access(t),
        Access::Owned(owner) => {
            let user = viewer.require_user()?;
            if viewer.is_admin() {
                return Ok(Cond::All(vec![]));
            }
            Ok(match owner {
                Owner::Column(c) => Cond::Cmp(t.col(c).expect("owner column"), Op::Eq, Cell::Uuid(user)),
                Owner::Via { column, table } => {
                    let parent = Catalog::get().table(table);
                    Cond::InSelect {
                        col: t.col(column).expect("owner column"),
                        table,
                        key: parent.col("id").expect("parent id"),
                        cond: Box::new(access(parent, viewer)?),
                    }
                }
            })
        }
    }
}

/// What a `service` caller may read of an owned table (`Table::workers`).
fn worker_access(t: &Table) -> ApiResult<Cond> {
    match t.workers {
        None => Err(ApiError::Forbidden(format!(
            "a workflow worker reads only pending or running runs and their workflows, not `{}`",
            t.list_field
        ))),
        Some(WorkerRead::Status { column, values }) => Ok(Cond::In(
            t.col(column).expect("status column"),
            values.iter().map(|v| Cell::Text(v.to_string())).collect(),
            false,
        )),
        Some(WorkerRead::ReferencedBy { table, column }) => {
            let src = Catalog::get().table(table);
            Ok(Cond::InSelect {
                col: t.col("id").expect("id column"),
                table,
                key: src.col(column).expect("referencing column"),
                cond: Box::new(worker_access(src)?),
            })
        }
    }
}

impl ListQuery {
    /// Up to `limit` rows matching `cond` in `order`, no cursor.
    pub fn matching(cond: Cond, order: Vec<(usize, bool)>, limit: u64) -> Self {
        ListQuery { base: cond.clone(), cond, order, limit, backwards: false, has_cursor: false }
    }
}
