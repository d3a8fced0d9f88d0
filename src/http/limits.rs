//! Refuses oversized queries before anything runs: page sizes above the maximum and a cost
//! that weights every field by the page sizes of the lists around it.
use crate::error::ApiError;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Variables};
use async_graphql_value::ConstValue;
use async_graphql_value::Value;
use std::collections::HashMap;

pub struct Budget {
    pub max_depth: usize,
    pub max_page: u64,
    pub default_page: u64,
    pub max_complexity: u64,
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    vars: &'a Variables,
    budget: &'a Budget,
    cost: u64,
}

impl Walk<'_> {
    fn arg(&self, args: &[(Positioned<Name>, Positioned<Value>)], name: &str) -> Option<i64> {
        let v = args.iter().find(|(n, _)| n.node.as_str() == name).map(|(_, v)| &v.node)?;
        match v {
            Value::Variable(var) => match self.vars.get(var) {
                Some(ConstValue::Number(n)) => n.as_i64(),
                _ => None,
            },
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    fn set(&mut self, set: &SelectionSet, weight: u64, depth: usize) -> Result<(), ApiError> {
        if depth > self.budget.max_depth {
            return Err(ApiError::TooComplex(format!(
                "query is nested too deep (more than {} levels)",
                self.budget.max_depth
            )));
        }
        for sel in &set.items {
            match &sel.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    self.cost = self.cost.saturating_add(weight);
                    let mut inner = weight;
                    let page = self.arg(&f.arguments, "first").or_else(|| self.arg(&f.arguments, "last"));
                    if let Some(n) = page {
                        if n > self.budget.max_page as i64 {
                            return Err(ApiError::TooComplex(format!(
                                "`{}: {n}` on `{}` exceeds the maximum page size of {}",
                                if self.arg(&f.arguments, "first").is_some() { "first" } else { "last" },
                                f.name.node,
                                self.budget.max_page
                            )));
                        }
                    }
                    let is_list = f.selection_set.node.items.iter().any(|s| match &s.node {
                        Selection::Field(c) => matches!(c.node.name.node.as_str(), "nodes" | "edges"),
                        _ => false,
                    });
                    if is_list {
                        inner =
                            weight.saturating_mul(page.map(|p| p.max(1) as u64).unwrap_or(self.budget.default_page));
                    }
                    self.set(&f.selection_set.node, inner, depth + 1)?;
                }
                // Fragments add no level of their own.
                Selection::FragmentSpread(s) => {
                    if let Some(frag) = self.doc.fragments.get(&s.node.fragment_name.node) {
                        self.set(&frag.node.selection_set.node, weight, depth)?;
                    }
                }
                Selection::InlineFragment(i) => self.set(&i.node.selection_set.node, weight, depth)?,
            }
            if self.cost > self.budget.max_complexity {
                return Err(ApiError::TooComplex(format!(
                    "query cost exceeds {} (each field counts once per row of the lists around it): ask for smaller pages",
                    self.budget.max_complexity
                )));
            }
        }
        Ok(())
    }
}

/// Checks a parsed query against `budget`.
pub fn check(
    doc: &ExecutableDocument,
    operation: Option<&str>,
    vars: &Variables,
    budget: &Budget,
) -> Result<(), ApiError> {
    let mut walk = Walk { doc, vars, budget, cost: 0 };
    let ops: HashMap<Option<&str>, &SelectionSet> = match &doc.operations {
        DocumentOperations::Single(op) => [(None, &op.node.selection_set.node)].into_iter().collect(),
        DocumentOperations::Multiple(m) => {
            m.iter().map(|(n, op)| (Some(n.as_str()), &op.node.selection_set.node)).collect()
        }
    };
    let set = match (operation, ops.len()) {
        (_, 1) => ops.values().next().copied(),
        (Some(name), _) => ops.get(&Some(name)).copied(),
        _ => None,
    };
    match set {
        Some(set) => walk.set(set, 1, 0),
        None => Ok(()),
    }
}
