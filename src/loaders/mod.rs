//! Batched relation loading: every parent of one relation level, with the same arguments,
//! is answered by one SQL statement — including per-parent page limits and counts.
use crate::error::ApiError;
use crate::graphql::args::ListQuery;
use crate::graphql::catalog::{Relation, Table};
use crate::graphql::read::{self, Row};
use crate::graphql::scalars::Cell;
use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// One relation read with fixed arguments; shared by all parents of a level.
#[derive(Debug)]
pub struct RelRequest {
    pub target: &'static Table,
    pub rel: &'static Relation,
    pub query: ListQuery,
    /// Canonical text of everything above, for grouping and hashing.
    pub sig: String,
}

#[derive(Clone, Debug)]
pub struct RelKey {
    pub req: Arc<RelRequest>,
    pub parent: Vec<Cell>,
    parent_sig: String,
}

impl RelKey {
    pub fn new(req: Arc<RelRequest>, parent: Vec<Cell>) -> Self {
        let parent_sig = format!("{parent:?}");
        RelKey { req, parent, parent_sig }
    }
}

impl PartialEq for RelKey {
    fn eq(&self, o: &Self) -> bool {
        self.req.sig == o.req.sig && self.parent_sig == o.parent_sig
    }
}
impl Eq for RelKey {}
impl Hash for RelKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.req.sig.hash(h);
        self.parent_sig.hash(h);
    }
}

/// Rows of one parent (one past the limit, to tell whether more exist).
pub type RelRows = Arc<Vec<Row>>;

pub struct RelLoader {
    pub db: DatabaseConnection,
}

fn groups(keys: &[RelKey]) -> Vec<(Arc<RelRequest>, Vec<&RelKey>)> {
    let mut out: Vec<(Arc<RelRequest>, Vec<&RelKey>)> = Vec::new();
    for k in keys {
        match out.iter_mut().find(|(r, _)| r.sig == k.req.sig) {
            Some((_, v)) => v.push(k),
            None => out.push((k.req.clone(), vec![k])),
        }
    }
    out
}

impl Loader<RelKey> for RelLoader {
    type Value = RelRows;
    type Error = ApiError;

    async fn load(&self, keys: &[RelKey]) -> Result<HashMap<RelKey, RelRows>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for (req, ks) in groups(keys) {
            let parents: Vec<Vec<Cell>> = ks.iter().map(|k| k.parent.clone()).collect();
            let rows = if req.rel.many {
                read::batch_many(&self.db, req.target, req.rel, &req.query, &parents, None).await
            } else {
                read::batch_one(&self.db, req.target, req.rel, &req.query.cond, &parents, None).await
            }?;
            let mut per: Vec<Vec<Row>> = (0..ks.len()).map(|_| Vec::new()).collect();
            for (i, row) in rows {
                per[i].push(row);
            }
            for (k, rows) in ks.into_iter().zip(per) {
                out.insert(k.clone(), Arc::new(rows));
            }
        }
        Ok(out)
    }
}

/// Row counts per parent, for `totalCount` of nested connections.
pub struct CountLoader {
    pub db: DatabaseConnection,
}

impl Loader<RelKey> for CountLoader {
    type Value = i64;
    type Error = ApiError;

    async fn load(&self, keys: &[RelKey]) -> Result<HashMap<RelKey, i64>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for (req, ks) in groups(keys) {
            let parents: Vec<Vec<Cell>> = ks.iter().map(|k| k.parent.clone()).collect();
            let counts = read::batch_count(&self.db, req.target, req.rel, &req.query.base, &parents).await?;
            for k in ks {
                let n = counts.iter().find(|(key, _)| *key == k.parent).map(|(_, n)| *n).unwrap_or(0);
                out.insert(k.clone(), n);
            }
        }
        Ok(out)
    }
}

/// The per-request loaders.
pub struct Loaders {
    pub rel: DataLoader<RelLoader>,
    pub count: DataLoader<CountLoader>,
}

impl Loaders {
    pub fn new(db: &DatabaseConnection) -> Self {
        Loaders {
            rel: DataLoader::new(RelLoader { db: db.clone() }, tokio::spawn).max_batch_size(1000),
            count: DataLoader::new(CountLoader { db: db.clone() }, tokio::spawn).max_batch_size(1000),
        }
    }
}
