//! What an answer depends on: the tables a read touches, narrowed to one value of a table's
//! change key (`Table::change_key`: a ticker, a symbol) where the read's own filter pins it.
//! Change events name the same tables and keys, so a cache can evict exactly what they affect.
use super::catalog::Table;
use super::fetch::FetchPlan;
use super::query::{Cond, ListQuery, Op};
use super::values::Cell;

/// What a cached answer depends on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Any row of the table.
    Table(&'static str),
    /// The rows of the table whose change key holds this value.
    Key(&'static str, String),
}

/// The tags of a root read of `query` over `plan.table` and of every relation level under it.
pub fn of_read(query: &ListQuery, plan: &FetchPlan, out: &mut Vec<Tag>) {
    let table = plan.table;
    out.push(match pinned_key(table, &query.base) {
        Some(k) => Tag::Key(table.name, k),
        None => Tag::Table(table.name),
    });
    selects(&query.base, out);
    for r in &plan.reads {
        // A relation's rows are those of all its parents: the whole table.
        out.push(Tag::Table(r.target.name));
        selects(&r.key.query.base, out);
        of_levels(&r.next, out);
    }
}

fn of_levels(plan: &FetchPlan, out: &mut Vec<Tag>) {
    for r in &plan.reads {
        out.push(Tag::Table(r.target.name));
        selects(&r.key.query.base, out);
        of_levels(&r.next, out);
    }
}

/// The one value of `t`'s change key that every row of `cond` has, if the condition says so
/// at its top level (`key = v`, alone or in a conjunction).
fn pinned_key(t: &Table, cond: &Cond) -> Option<String> {
    let key = t.change_key?;
    match cond {
        Cond::Cmp(c, Op::Eq, Cell::Text(v)) if *c == key => Some(v.clone()),
        Cond::All(cs) => cs.iter().find_map(|c| pinned_key(t, c)),
        _ => None,
    }
}

/// Other tables a condition reads (ownership through a parent row, a worker's runs).
fn selects(cond: &Cond, out: &mut Vec<Tag>) {
    match cond {
        Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| selects(c, out)),
        Cond::Not(c) => selects(c, out),
        Cond::InSelect { table, cond, .. } => {
            out.push(Tag::Table(table));
            selects(cond, out);
        }
        _ => {}
    }
}
