//! Parses GraphQL list arguments — `where`, `orderBy`, `first/after/last/before` and relation
//! shortcuts — into the data layer's `ListQuery`.
pub mod market;

use crate::auth::Viewer;
use crate::data::catalog::{Relation, Table};
pub use crate::data::query::{access, check_region, check_timeframe, Limits, ListQuery, REGIONS};
use crate::data::query::{decode_cursor, keyset, Cond, Op};
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use async_graphql::{Name, Value as GqlValue};

fn field<'a>(obj: &'a async_graphql::indexmap::IndexMap<Name, GqlValue>, name: &str) -> Option<&'a GqlValue> {
    obj.get(name).filter(|v| !matches!(v, GqlValue::Null))
}

pub(crate) fn page_size(v: Option<&GqlValue>, name: &str, limits: Limits) -> ApiResult<Option<u64>> {
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
    // Closed sets of codes: a value outside them can match nothing and is a mistake.
    match (c.name.as_str(), &cell) {
        ("region", Cell::Text(r)) => check_region(r)?,
        ("timeframe", Cell::Text(tf)) => check_timeframe(tf)?,
        _ => {}
    }
    Ok(cell)
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
    if let (Some(v), Some(_)) = (field(args, "asOf"), &t.as_of) {
        let GqlValue::String(s) = v else { return Err(ApiError::bad("asOf: a Date")) };
        all.push(Cond::AsOf(crate::data::values::parse_date(s).map_err(|e| ApiError::bad(format!("asOf: {e}")))?));
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
