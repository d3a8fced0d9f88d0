//! Refuses oversized operations before anything runs. Works on the collected fields with the
//! request's variables (defaults included), so no spelling — fragments, aliases, variables —
//! changes the figure: depth counts fields only, page sizes above the maximum are refused, and
//! the cost weights every field by the page sizes of the lists around it.
use super::collect::{bind_value, CollectedField, CollectedOperation};
use crate::error::ApiError;
use async_graphql::Variables;
use async_graphql_value::ConstValue;

#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub max_depth: usize,
    pub max_page: u64,
    pub default_page: u64,
    pub max_complexity: u64,
    /// Most aliased fields in one operation (each one is a separate field to answer).
    pub max_aliases: usize,
}

/// The cost of `op`, or why it may not run.
pub fn check(op: &CollectedOperation, vars: &Variables, budget: &Budget) -> Result<u64, ApiError> {
    let aliases = count_aliases(&op.roots);
    if aliases > budget.max_aliases {
        return Err(ApiError::TooComplex(format!(
            "query has {aliases} aliased fields (at most {} are answered)",
            budget.max_aliases
        )));
    }
    let mut cost = 0u64;
    walk(&op.roots, 1, 1, vars, budget, &mut cost)?;
    Ok(cost)
}

fn count_aliases(fields: &[CollectedField]) -> usize {
    fields.iter().map(|f| usize::from(f.key != f.name) + count_aliases(&f.children)).sum()
}

fn int_arg(f: &CollectedField, name: &str, vars: &Variables) -> Option<i64> {
    let (_, v) = f.arguments.iter().find(|(n, _)| n.node.as_str() == name)?;
    match bind_value(&v.node, vars) {
        ConstValue::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn walk(
    fields: &[CollectedField],
    weight: u64,
    depth: usize,
    vars: &Variables,
    budget: &Budget,
    cost: &mut u64,
) -> Result<(), ApiError> {
    for f in fields {
        if depth > budget.max_depth {
            return Err(ApiError::TooComplex(format!(
                "query is nested too deep (more than {} levels)",
                budget.max_depth
            )));
        }
        *cost = cost.saturating_add(weight);
        if *cost > budget.max_complexity {
            return Err(ApiError::TooComplex(format!(
                "query cost exceeds {} (each field counts once per row of the lists around it): ask for smaller pages",
                budget.max_complexity
            )));
        }
        let mut page = None;
        for arg in ["first", "last", "limit"] {
            if let Some(n) = int_arg(f, arg, vars) {
                if arg != "limit" && n > budget.max_page as i64 {
                    return Err(ApiError::TooComplex(format!(
                        "`{arg}: {n}` on `{}` exceeds the maximum page size of {}",
                        f.name, budget.max_page
                    )));
                }
                page = Some(n.max(1) as u64);
            }
        }
        // A connection holds a page of rows; a list with a size argument holds that many.
        let inner = match &f.ty {
            Some(t) if t.named.ends_with("Connection") => weight.saturating_mul(page.unwrap_or(budget.default_page)),
            Some(t) if t.list && page.is_some() => weight.saturating_mul(page.unwrap_or(1)),
            _ => weight,
        };
        walk(&f.children, inner, depth + 1, vars, budget, cost)?;
    }
    Ok(())
}
