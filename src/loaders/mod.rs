//! Batched relation loading: every parent of one relation level, with the same arguments,
//! is answered by one SQL statement — including per-parent page limits and counts.
use crate::data::aggregate::{self, Aggregation, Groups};
use crate::data::catalog::Relation;
use crate::data::exec::ReadPool;
use crate::data::fetch::{self, Keep};
use crate::data::read::{RelationKey, Row};
use crate::data::values::Cell;
use crate::error::ApiError;
use async_graphql::dataloader::{DataLoader, Loader};
use std::collections::HashMap;
use std::sync::Arc;

/// One parent of one relation read; parents of the same read are batched together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelationParent {
    pub read: Arc<RelationKey>,
    pub parent: Vec<Cell>,
}

impl RelationParent {
    pub fn new(read: Arc<RelationKey>, parent: Vec<Cell>) -> Self {
        RelationParent { read, parent }
    }
}

/// Rows of one parent (one past the limit, to tell whether more exist).
pub type RelationRows = Arc<Vec<Row>>;

pub struct RelLoader {
    pub db: ReadPool,
}

fn groups(keys: &[RelationParent]) -> Vec<(Arc<RelationKey>, Vec<&RelationParent>)> {
    let mut out: Vec<(Arc<RelationKey>, Vec<&RelationParent>)> = Vec::new();
    for k in keys {
        match out.iter_mut().find(|(r, _)| **r == *k.read) {
            Some((_, v)) => v.push(k),
            None => out.push((k.read.clone(), vec![k])),
        }
    }
    out
}

impl Loader<RelationParent> for RelLoader {
    type Value = RelationRows;
    type Error = ApiError;

    async fn load(&self, keys: &[RelationParent]) -> Result<HashMap<RelationParent, RelationRows>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for (req, ks) in groups(keys) {
            let parents: Vec<Vec<Cell>> = ks.iter().map(|k| k.parent.clone()).collect();
            let per = fetch::relation_rows(&self.db, &req, &parents, None, Keep::Cells).await?;
            for (k, rows) in ks.into_iter().zip(per) {
                out.insert(k.clone(), Arc::new(rows));
            }
        }
        Ok(out)
    }
}

/// Row counts per parent, for `totalCount` of nested connections.
pub struct CountLoader {
    pub db: ReadPool,
}

impl Loader<RelationParent> for CountLoader {
    type Value = i64;
    type Error = ApiError;

    async fn load(&self, keys: &[RelationParent]) -> Result<HashMap<RelationParent, i64>, Self::Error> {
        let mut out = HashMap::with_capacity(keys.len());
        for (req, ks) in groups(keys) {
            let parents: Vec<Vec<Cell>> = ks.iter().map(|k| k.parent.clone()).collect();
            let counts = fetch::relation_counts(&self.db, &req, &parents).await?;
            for (k, n) in ks.into_iter().zip(counts) {
                out.insert(k.clone(), n);
            }
        }
        Ok(out)
    }
}

/// One relation's aggregation, for one parent; parents of the same read are batched together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AggregationParent {
    pub read: Arc<RelationAggregation>,
    pub parent: Vec<Cell>,
}

#[derive(Debug)]
pub struct RelationAggregation {
    pub rel: &'static Relation,
    pub agg: Aggregation,
}

impl PartialEq for RelationAggregation {
    fn eq(&self, o: &Self) -> bool {
        std::ptr::eq(self.rel, o.rel) && self.agg == o.agg
    }
}
impl Eq for RelationAggregation {}
impl std::hash::Hash for RelationAggregation {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::ptr::hash(self.rel, h);
        self.agg.hash(h);
    }
}

/// Groups per parent of a relation, one statement per aggregation and level.
pub struct AggLoader {
    pub db: ReadPool,
}

impl Loader<AggregationParent> for AggLoader {
    type Value = Arc<Groups>;
    type Error = ApiError;

    async fn load(&self, keys: &[AggregationParent]) -> Result<HashMap<AggregationParent, Arc<Groups>>, Self::Error> {
        let mut reads: Vec<(Arc<RelationAggregation>, Vec<&AggregationParent>)> = Vec::new();
        for k in keys {
            match reads.iter_mut().find(|(r, _)| **r == *k.read) {
                Some((_, v)) => v.push(k),
                None => reads.push((k.read.clone(), vec![k])),
            }
        }
        let mut out = HashMap::with_capacity(keys.len());
        for (read, ks) in reads {
            let parents: Vec<Vec<Cell>> = ks.iter().map(|k| k.parent.clone()).collect();
            let mut per = aggregate::aggregate(&self.db, &read.agg, Some((read.rel, &parents))).await?;
            for (i, k) in ks.into_iter().enumerate() {
                let groups = per.iter_mut().find(|(p, _)| *p == i).map(|(_, g)| std::mem::take(g)).unwrap_or_default();
                out.insert(k.clone(), Arc::new(groups));
            }
        }
        Ok(out)
    }
}

/// The per-request loaders.
pub struct Loaders {
    pub rel: DataLoader<RelLoader>,
    pub count: DataLoader<CountLoader>,
    pub agg: DataLoader<AggLoader>,
}

impl Loaders {
    pub fn new(db: &ReadPool) -> Self {
        Loaders {
            rel: DataLoader::new(RelLoader { db: db.clone() }, tokio::spawn).max_batch_size(1000),
            count: DataLoader::new(CountLoader { db: db.clone() }, tokio::spawn).max_batch_size(1000),
            agg: DataLoader::new(AggLoader { db: db.clone() }, tokio::spawn).max_batch_size(1000),
        }
    }
}
