//! Parses list arguments — `where`, `orderBy`, `first/after/last/before` and relation
//! shortcuts — into a `ListQuery` that the SQL layer runs.
use super::catalog::{Access, Owner, Relation, Table};
use super::scalars::{Cell, Kind};
use super::sql::{keyset, Cond, Op};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use async_graphql::{Name, Value as GqlValue};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

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

fn field<'a>(obj: &'a async_graphql::indexmap::IndexMap<Name, GqlValue>, name: &str) -> Option<&'a GqlValue> {
    obj.get(name).filter(|v| !matches!(v, GqlValue::Null))
}

fn page_size(v: Option<&GqlValue>, name: &str, limits: Limits) -> ApiResult<Option<u64>> {
    match v {
        None | Some(GqlValue::Null) => Ok(None),
        Some(GqlValue::Number(n)) => match n.as_i64() {
            Some(x) if x < 0 => Err(ApiError::bad(format!("`{name}` must not be negative"))),
            Some(x) if x as u64 > limits.max_page => {
                Err(ApiError::TooComplex(format!("`{name}: {x}` exceeds the maximum page size of {}", limits.max_page)))
            }
            Some(x) => Ok(Some(x as u64)),
            None => Err(ApiError::bad(format!("`{name}` must be an integer"))),
        },
        Some(_) => Err(ApiError::bad(format!("`{name}` must be an integer"))),
    }
}

/// The `where:` input of `t` as a condition.
pub fn parse_where(t: &Table, v: &GqlValue) -> ApiResult<Cond> {
    let GqlValue::Object(obj) = v else {
        return Ok(Cond::All(vec![]));
    };
    let mut all = Vec::new();
    for (key, val) in obj {
        if matches!(val, GqlValue::Null) {
            continue;
        }
        match key.as_str() {
            "and" | "or" => {
                let GqlValue::List(items) = val else {
                    return Err(ApiError::bad(format!("`{key}` takes a list")));
                };
                let parts = items.iter().map(|x| parse_where(t, x)).collect::<ApiResult<Vec<_>>>()?;
                all.push(if key.as_str() == "and" { Cond::All(parts) } else { Cond::Any(parts) });
            }
            "not" => all.push(Cond::Not(Box::new(parse_where(t, val)?))),
            name => {
                let col = t.col_by_field(name).ok_or_else(|| ApiError::bad(format!("unknown column `{name}`")))?;
                all.push(parse_ops(t, col, val)?);
            }
        }
    }
    Ok(Cond::All(all))
}

fn cell(t: &Table, col: usize, v: &GqlValue) -> ApiResult<Cell> {
    let c = &t.columns[col];
    let cell = Cell::parse(v, c.kind).map_err(|e| ApiError::bad(format!("`{}`: {e}", c.field)))?;
    if c.name == "region" {
        if let Cell::Text(r) = &cell {
            check_region(r)?;
        }
    }
    Ok(cell)
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

fn parse_ops(t: &Table, col: usize, v: &GqlValue) -> ApiResult<Cond> {
    let GqlValue::Object(ops) = v else {
        return Err(ApiError::bad("a column filter is an object of operators"));
    };
    let mut all = Vec::new();
    for (op, arg) in ops {
        if matches!(arg, GqlValue::Null) {
            continue;
        }
        let cmp = |o: Op| -> ApiResult<Cond> { Ok(Cond::Cmp(col, o, cell(t, col, arg)?)) };
        all.push(match op.as_str() {
            "eq" => cmp(Op::Eq)?,
            "ne" => cmp(Op::Ne)?,
            "lt" => cmp(Op::Lt)?,
            "lte" => cmp(Op::Lte)?,
            "gt" => cmp(Op::Gt)?,
            "gte" => cmp(Op::Gte)?,
            "in" | "notIn" => {
                let GqlValue::List(items) = arg else {
                    return Err(ApiError::bad(format!("`{op}` takes a list")));
                };
                let vals = items.iter().map(|x| cell(t, col, x)).collect::<ApiResult<Vec<_>>>()?;
                Cond::In(col, vals, op.as_str() == "notIn")
            }
            "isNull" => Cond::IsNull(col, matches!(arg, GqlValue::Boolean(true))),
            "like" | "ilike" => match arg {
                GqlValue::String(s) => Cond::Like(col, s.clone(), op.as_str() == "ilike"),
                _ => return Err(ApiError::bad(format!("`{op}` takes a string pattern"))),
            },
            other => return Err(ApiError::bad(format!("unknown operator `{other}`"))),
        });
    }
    Ok(Cond::All(all))
}

/// `orderBy: [{ column: ASC|DESC }]`, then the table's default order as tie-breaker.
pub fn parse_order(t: &Table, v: Option<&GqlValue>) -> ApiResult<Vec<(usize, bool)>> {
    let mut order = Vec::new();
    let items: Vec<&GqlValue> = match v {
        Some(GqlValue::List(items)) => items.iter().collect(),
        Some(GqlValue::Object(_)) => vec![v.unwrap()],
        _ => vec![],
    };
    for item in items {
        let GqlValue::Object(obj) = item else {
            continue;
        };
        for (name, dir) in obj {
            let col = t.col_by_field(name).ok_or_else(|| ApiError::bad(format!("unknown column `{name}`")))?;
            let desc = match dir {
                GqlValue::Enum(d) => d.as_str() == "DESC",
                GqlValue::String(d) => d == "DESC",
                _ => continue,
            };
            if !order.iter().any(|(c, _)| *c == col) {
                order.push((col, desc));
            }
        }
    }
    // Tie-break with the default order until a unique key is covered: the ordering is then total.
    let unique =
        |order: &[(usize, bool)]| [&t.pk, &t.key].iter().any(|k| k.iter().all(|c| order.iter().any(|(o, _)| o == c)));
    for (col, desc) in &t.default_order {
        if unique(&order) {
            break;
        }
        if !order.iter().any(|(c, _)| c == col) {
            order.push((*col, *desc));
        }
    }
    Ok(order)
}

pub fn encode_cursor(cells: &[Cell]) -> String {
    let json: Vec<serde_json::Value> = cells
        .iter()
        .map(|c| match c {
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
        })
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&json).unwrap_or_default())
}

fn decode_cursor(t: &Table, order: &[(usize, bool)], s: &str) -> ApiResult<Vec<Cell>> {
    let bad = || ApiError::bad("malformed cursor (use a cursor returned by this list with the same orderBy)");
    let bytes = URL_SAFE_NO_PAD.decode(s.trim()).map_err(|_| bad())?;
    let vals: Vec<serde_json::Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if vals.len() != order.len() {
        return Err(bad());
    }
    vals.iter()
        .zip(order)
        .map(|(v, (col, _))| {
            let kind = t.columns[*col].kind;
            let gv = GqlValue::from_json(v.clone()).map_err(|_| bad())?;
            let gv = match (kind, gv) {
                (Kind::Int | Kind::Float, GqlValue::String(_)) => return Err(bad()),
                (_, gv) => gv,
            };
            Cell::parse(&gv, kind).map_err(|_| bad())
        })
        .collect()
}

/// The access condition for `viewer` on `t`, or an error when the table is closed to them.
pub fn access(t: &Table, viewer: &Viewer) -> ApiResult<Cond> {
    match t.access {
        Access::Public => Ok(Cond::All(vec![])),
        Access::Research => viewer.require_research().map(|_| Cond::All(vec![])),
        Access::Admin => viewer.require_admin().map(|_| Cond::All(vec![])),
        Access::Owned(owner) => {
            let user = viewer.require_user()?;
            if viewer.is_admin() {
                return Ok(Cond::All(vec![]));
            }
            let me = Cell::Uuid(user);
            Ok(match owner {
                Owner::Column(c) => Cond::Cmp(t.col(c).expect("owner column"), Op::Eq, me),
                Owner::Via { column, table } => Cond::OwnedVia(t.col(column).expect("owner column"), table, me),
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

/// Builds the list query of `t` from a field's arguments.
pub fn list_query(
    t: &Table,
    args: &async_graphql::indexmap::IndexMap<Name, GqlValue>,
    rel: Option<&Relation>,
    limits: Limits,
    viewer: &Viewer,
) -> ApiResult<ListQuery> {
    let mut all = vec![access(t, viewer)?];
    if let Some(w) = field(args, "where") {
        all.push(parse_where(t, w)?);
    }
    if let Some(rel) = rel {
        for (arg, col, op) in &rel.shortcuts {
            if let Some(v) = field(args, arg) {
                let c = t.col(col).expect("shortcut column");
                let op = match *op {
                    "gte" => Op::Gte,
                    "lte" => Op::Lte,
                    _ => Op::Eq,
                };
                all.push(Cond::Cmp(c, op, cell(t, c, v)?));
            }
        }
        if let (Some(GqlValue::String(from)), Some(GqlValue::String(to))) = (field(args, "from"), field(args, "to")) {
            if from > to {
                return Err(ApiError::bad("`from` is after `to`"));
            }
        }
    }
    let order = parse_order(t, field(args, "orderBy"))?;
    let first = page_size(field(args, "first"), "first", limits)?;
    let last = page_size(field(args, "last"), "last", limits)?;
    if first.is_some() && last.is_some() {
        return Err(ApiError::bad("pass `first` or `last`, not both"));
    }
    let base = Cond::All(all.clone());
    let mut has_cursor = false;
    if let Some(GqlValue::String(c)) = field(args, "after") {
        all.push(keyset(t, &order, &decode_cursor(t, &order, c)?, true));
        has_cursor = true;
    }
    if let Some(GqlValue::String(c)) = field(args, "before") {
        all.push(keyset(t, &order, &decode_cursor(t, &order, c)?, false));
        has_cursor = true;
    }
    let backwards = last.is_some();
    Ok(ListQuery {
        cond: Cond::All(all),
        base,
        order,
        limit: first.or(last).unwrap_or(limits.default_page),
        backwards,
        has_cursor,
    })
}

/// The read of one row of `t` by the key arguments of its one-row field.
pub fn one_query(
    t: &Table,
    args: &async_graphql::indexmap::IndexMap<Name, GqlValue>,
    viewer: &Viewer,
) -> ApiResult<ListQuery> {
    let mut all = vec![access(t, viewer)?];
    for k in &t.key {
        let c = &t.columns[*k];
        let v = args.get(c.field.as_str()).cloned().unwrap_or(GqlValue::Null);
        if matches!(v, GqlValue::Null) {
            return Err(ApiError::bad(format!("`{}` is required", c.field)));
        }
        all.push(Cond::Cmp(*k, Op::Eq, cell(t, *k, &v)?));
    }
    Ok(ListQuery::matching(Cond::All(all), t.default_order.clone(), 1))
}
