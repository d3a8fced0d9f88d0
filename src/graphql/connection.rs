//! A page of a Relay connection: the rows read one past the limit, and what that tells.
use super::shapes::{PageInfoWord, PAGE_INFO};
use crate::data::catalog::Table;
use crate::data::query::{encode_cursor, Cond, ListQuery};
use crate::data::read::Row;
use crate::data::values::Cell;
use async_graphql::dynamic::{Field, FieldFuture, Object, TypeRef};
use async_graphql::Value as GqlValue;
use std::sync::Arc;

/// The rows of one connection and what is known around them.
pub struct Page {
    pub table: &'static Table,
    /// Rows as fetched (possibly one extra, possibly reversed); see `visible`.
    pub rows: Arc<Vec<Row>>,
    pub take: usize,
    pub reversed: bool,
    pub order: Vec<(usize, bool)>,
    pub has_next: bool,
    pub has_prev: bool,
    /// How to count the whole list when `totalCount` is asked for.
    pub count: CountBy,
}

pub enum CountBy {
    /// Counted already (planned with the rows).
    Known(i64),
    /// A root list: count with this condition.
    Root(Cond),
    /// A nested list: a batched count per parent.
    Nested(crate::loaders::RelationParent),
    /// Not asked for by the plan.
    NotPlanned,
}

impl Page {
    /// Rows fetched one past the limit tell whether more exist; backwards pages are flipped.
    pub fn new(table: &'static Table, rows: Arc<Vec<Row>>, q: &ListQuery, count: CountBy) -> Page {
        let more = rows.len() as u64 > q.limit;
        let take = rows.len().min(q.limit as usize);
        let (has_next, has_prev) = if q.backwards { (q.has_cursor, more) } else { (more, q.has_cursor) };
        Page { table, rows, take, reversed: q.backwards, order: q.order.clone(), has_next, has_prev, count }
    }

    pub fn visible(&self) -> Box<dyn Iterator<Item = &Row> + Send + '_> {
        let rows = self.rows[..self.take].iter();
        if self.reversed {
            Box::new(rows.rev())
        } else {
            Box::new(rows)
        }
    }

    pub fn cursor(&self, row: &Row) -> String {
        let cells: Vec<Cell> = self.order.iter().map(|(c, _)| row.cell(*c)).collect();
        encode_cursor(&cells)
    }
}

/// The parent of `PageInfo`'s fields, for every connection.
pub struct PageInfo {
    pub has_next: bool,
    pub has_prev: bool,
    pub start: Option<String>,
    pub end: Option<String>,
}

pub fn page_info() -> Object {
    fn flag(name: &str, f: fn(&PageInfo) -> bool) -> Field {
        Field::new(name, TypeRef::named_nn(TypeRef::BOOLEAN), move |ctx| {
            FieldFuture::new(
                async move { Ok(Some(GqlValue::Boolean(f(ctx.parent_value.try_downcast_ref::<PageInfo>()?)))) },
            )
        })
    }
    fn cursor(name: &str, f: fn(&PageInfo) -> Option<String>) -> Field {
        Field::new(name, TypeRef::named(TypeRef::STRING), move |ctx| {
            FieldFuture::new(
                async move { Ok(f(ctx.parent_value.try_downcast_ref::<PageInfo>()?).map(GqlValue::String)) },
            )
        })
    }
    let mut obj = Object::new(PAGE_INFO);
    for word in PageInfoWord::ALL {
        obj = obj.field(match word {
            PageInfoWord::HasNextPage => flag(word.name(), |p| p.has_next),
            PageInfoWord::HasPreviousPage => flag(word.name(), |p| p.has_prev),
            PageInfoWord::StartCursor => cursor(word.name(), |p| p.start.clone()),
            PageInfoWord::EndCursor => cursor(word.name(), |p| p.end.clone()),
        });
    }
    obj
}
