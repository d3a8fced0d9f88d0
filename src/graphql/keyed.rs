//! Objects named by key, many at once (federation's `_entities`, Relay's `node` and `nodes`):
//! one statement per type and key column set, under the list fields' access rules, so a row
//! the caller may not see reads exactly as one that does not exist. And the hook that answers
//! `null` for such an item in a list of an abstract type.
use crate::auth::Viewer;
use crate::data::catalog::Table;
use crate::data::exec::ReadPool;
use crate::data::query::{access, Cond, ListQuery};
use crate::data::read::{self, Row};
use crate::data::values::Cell;
use crate::error::ApiResult;
use async_graphql::dynamic::{FieldValue, ResolverContext};
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextResolve, ResolveInfo,
};
use async_graphql::{QueryPathSegment, ServerResult};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// One object asked for: its table, the key columns it is named by, and their values.
pub struct Named {
    pub table: &'static Table,
    pub cols: &'static [usize],
    pub key: Vec<Cell>,
}

/// The rows `named` name, in their order: `None` where the row is missing or not the caller's
/// to see. Names of one table by the same columns are read together, in one statement.
pub async fn rows(db: &ReadPool, viewer: &Viewer, named: &[Named]) -> ApiResult<Vec<Option<Row>>> {
    let mut out: Vec<Option<Row>> = vec![None; named.len()];
    let mut done = vec![false; named.len()];
    for i in 0..named.len() {
        if done[i] {
            continue;
        }
        let (t, cols) = (named[i].table, named[i].cols);
        let group: Vec<usize> =
            (i..named.len()).filter(|&j| std::ptr::eq(named[j].table, t) && named[j].cols == cols).collect();
        group.iter().for_each(|&j| done[j] = true);
        // A table the caller may not read at all: its objects are unseen.
        let Ok(allowed) = access(t, viewer) else { continue };
        let matching = match cols {
            [c] => Cond::In(*c, group.iter().map(|&j| named[j].key[0].clone()).collect(), false),
            cols => Cond::TupleIn(cols.to_vec(), group.iter().map(|&j| named[j].key.clone()).collect()),
        };
        let q = ListQuery::matching(Cond::All(vec![allowed, matching]), t.default_order.clone(), group.len() as u64);
        let found = read::list(db, t, &q, None).await?;
        for j in group {
            out[j] = found.iter().find(|r| cols.iter().zip(&named[j].key).all(|(&c, k)| r.cells[c] == *k)).cloned();
        }
    }
    Ok(out)
}

/// A row as a value of an abstract type (`_Entity`, `Node`): an object of its table's type.
pub fn object<'a>(row: Row) -> FieldValue<'a> {
    let ty = row.table.type_name;
    FieldValue::owned_any(row).with_type(ty)
}

/// `rows` as the items of a list of an abstract type (`_Entity`, `Node`): an absent one is
/// marked for `NullItems` to answer `null`.
pub fn items<'a>(ctx: &ResolverContext<'_>, rows: Vec<Option<Row>>) -> FieldValue<'a> {
    let absent = ctx.data_opt::<Absent>();
    let at = ctx.path_node.map(|p| p.to_string()).unwrap_or_default();
    FieldValue::list(rows.into_iter().enumerate().map(|(i, row)| match row {
        Some(row) => object(row),
        None => {
            if let Some(absent) = absent {
                absent.0.lock().expect("absent items").insert((at.clone(), i));
            }
            FieldValue::NULL.with_type("_Absent")
        }
    }))
}

/// The items (list field path, index) that named nothing the caller may see.
#[derive(Clone, Default)]
struct Absent(Arc<Mutex<HashSet<(String, usize)>>>);

/// Answers `null` at the items `items` marked. (async-graphql resolves every item of a list of
/// an abstract type and has no null item of one: the resolver marks them, this hook skips them.)
pub struct NullItems;

/// The abstract item types of the lists whose items may be marked.
const ABSTRACT_ITEMS: [&str; 2] = ["_Entity", "Node"];

impl ExtensionFactory for NullItems {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NullItems)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for NullItems {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: async_graphql::Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<async_graphql::Request> {
        // The fields answering such lists: `_entities` and `nodes`.
        let request = match ["_entities", "node"].iter().any(|f| request.query.contains(f)) {
            true => request.data(Absent::default()),
            false => request,
        };
        next.run(ctx, request).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        if let (Some(absent), QueryPathSegment::Index(i), Some(list)) =
            (ctx.data_opt::<Absent>(), &info.path_node.segment, info.path_node.parent)
        {
            if ABSTRACT_ITEMS.contains(&info.return_type)
                && absent.0.lock().expect("absent items").contains(&(list.to_string(), *i))
            {
                return Ok(None);
            }
        }
        next.run(ctx, info).await
    }
}
