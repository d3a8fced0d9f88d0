//! Read plans: a collected operation bound to the catalog with the request's variables. One
//! plan serves both executors — the direct JSON writer renders it, and the general executor's
//! resolvers find their prefetched rows through it — and its `FetchPlan` (read by
//! `data::fetch`) reads every selected relation for all parents of a level in one statement.
//! BindContext runs no SQL.
use super::collect::{CollectedField, CollectedOperation};
use super::shapes::{ConnectionWord, EdgeWord, PageInfoWord, SeriesColumn, SeriesWord};
use crate::auth::Viewer;
use crate::data::catalog::{Catalog, Relation, Table};
use crate::data::fetch::{FetchPlan, RelationFetchPlan};
use crate::data::query::{Limits, ListQuery};
use crate::data::read::RelationKey;
use crate::error::{ApiError, ApiResult};
use crate::graphql::args::{list_query, one_query};
use async_graphql::parser::types::OperationType;
use async_graphql::{Name, Variables};
use std::sync::Arc;

/// The selection of one row of `table`, in response order.
#[derive(Debug)]
pub struct ObjectPlan {
    pub table: &'static Table,
    pub fields: Vec<ObjectField>,
}

#[derive(Debug)]
pub enum ObjectField {
    /// `key_prefix` is the response key as written after another field (`,"key":`): one copy
    /// per plan, not per value.
    Column {
        key_prefix: Box<str>,
        col: usize,
    },
    Typename {
        key: Name,
    },
    /// The global object id (`Node.id`), from the primary key.
    NodeId {
        key: Name,
    },
    Relation(Box<RelationPlan>),
}

/// One relation selected under a row: which read answers it, and what of it is shown.
#[derive(Debug)]
pub struct RelationPlan {
    pub key: Name,
    pub read: Arc<RelationKey>,
    pub target: &'static Table,
    /// To-many: the connection's fields. To-one: `None`.
    pub connection: Option<ConnectionPlan>,
    /// To-one: the row's selection (to-many rows are under the connection's fields).
    pub node: Option<ObjectPlan>,
}

#[derive(Debug)]
pub struct ConnectionPlan {
    pub fields: Vec<ConnectionField>,
}

#[derive(Debug)]
pub enum ConnectionField {
    Nodes { key: Name, node: ObjectPlan },
    Edges { key: Name, fields: Vec<EdgeField> },
    PageInfo { key: Name, fields: Vec<(Name, PageInfoField)> },
    TotalCount { key: Name },
    Typename { key: Name },
}

#[derive(Debug)]
pub enum EdgeField {
    Cursor { key: Name },
    Node { key: Name, node: ObjectPlan },
    Typename { key: Name },
}

#[derive(Clone, Copy, Debug)]
pub enum PageInfoField {
    Word(PageInfoWord),
    Typename,
}

impl ConnectionPlan {
    /// Whether any cursor is shown (cursors are made of the ordering columns).
    pub fn needs_cursor(&self) -> bool {
        self.fields.iter().any(|f| match f {
            ConnectionField::Edges { fields, .. } => fields.iter().any(|e| matches!(e, EdgeField::Cursor { .. })),
            ConnectionField::PageInfo { fields, .. } => fields
                .iter()
                .any(|(_, p)| matches!(p, PageInfoField::Word(PageInfoWord::StartCursor | PageInfoWord::EndCursor))),
            _ => false,
        })
    }

    pub fn needs_count(&self) -> bool {
        self.fields.iter().any(|f| matches!(f, ConnectionField::TotalCount { .. }))
    }

    /// Every row selection under this connection (`nodes`, `edges { node }`).
    fn nodes(&self) -> Vec<&ObjectPlan> {
        let mut out = Vec::new();
        for f in &self.fields {
            match f {
                ConnectionField::Nodes { node, .. } => out.push(node),
                ConnectionField::Edges { fields, .. } => out.extend(fields.iter().filter_map(|e| match e {
                    EdgeField::Node { node, .. } => Some(node),
                    _ => None,
                })),
                _ => {}
            }
        }
        out
    }
}

/// Everything selected of one relation read at one level, gathered before it is planned.
struct ReadSelections<'a> {
    key: Arc<RelationKey>,
    target: &'static Table,
    count: bool,
    cursor: bool,
    nodes: Vec<&'a ObjectPlan>,
}

/// What to read for `objects` (rows of `table`): the union of what they show, plus `extra`
/// columns (orderings), and each distinct relation read with its own next level.
pub fn fetch_plan(table: &'static Table, objects: &[&ObjectPlan], extra: &[usize]) -> FetchPlan {
    let mut cols: Vec<usize> = extra.to_vec();
    let mut reads: Vec<ReadSelections> = Vec::new();
    for obj in objects {
        for f in &obj.fields {
            match f {
                ObjectField::Column { col, .. } => cols.push(*col),
                ObjectField::Typename { .. } => {}
                ObjectField::NodeId { .. } => cols.extend(&table.pk),
                ObjectField::Relation(r) => {
                    cols.extend(r.read.rel.from_cols.iter().map(|c| table.col(c).expect("relation column")));
                    let (count, cursor, nodes) = match &r.connection {
                        Some(c) => (c.needs_count(), c.needs_cursor(), c.nodes()),
                        None => (false, false, r.node.iter().collect()),
                    };
                    match reads.iter_mut().find(|x| *x.key == *r.read) {
                        Some(x) => {
                            x.count |= count;
                            x.cursor |= cursor;
                            x.nodes.extend(nodes);
                        }
                        None => {
                            reads.push(ReadSelections { key: r.read.clone(), target: r.target, count, cursor, nodes })
                        }
                    }
                }
            }
        }
    }
    cols.sort_unstable();
    cols.dedup();
    let reads = reads
        .into_iter()
        .map(|r| {
            let order: Vec<usize> =
                if r.cursor { r.key.query.order.iter().map(|(c, _)| *c).collect() } else { Vec::new() };
            RelationFetchPlan {
                next: fetch_plan(r.target, &r.nodes, &order),
                key: r.key,
                target: r.target,
                count: r.count,
            }
        })
        .collect();
    FetchPlan { table, cols, reads }
}

/// One root field of a query, bound.
#[derive(Debug)]
pub enum RootPlan {
    Typename,
    List {
        table: &'static Table,
        query: ListQuery,
        connection: ConnectionPlan,
        fetch: FetchPlan,
    },
    One {
        table: &'static Table,
        query: ListQuery,
        node: ObjectPlan,
        fetch: FetchPlan,
    },
    /// Chart history (`ohlcvSeries`, `candleSeries`) and its selected columns.
    Series {
        query: super::args::market::SeriesQuery,
        fields: Vec<SeriesField>,
    },
    /// Not a catalog read (buckets, memories, users…), or arguments the resolver must report.
    Other,
}

/// A selected field of a series, in response order.
#[derive(Debug)]
pub enum SeriesField {
    Typename {
        key: Name,
    },
    Time {
        key: Name,
    },
    /// A price or volume column in its exact form.
    Column {
        key: Name,
        column: SeriesColumn,
    },
    /// The `numbers { … }` object: its `Column`s (and `__typename`) as JSON numbers.
    Numbers {
        key: Name,
        fields: Vec<SeriesField>,
    },
    NoData {
        key: Name,
    },
    NextTime {
        key: Name,
    },
}

fn bind_series(b: &BindContext<'_>, f: &CollectedField) -> Option<RootPlan> {
    let query = super::args::market::SeriesQuery::parse(f.name.as_str(), &f.bound_args(b.vars))?.ok()?;
    let fields = series_fields(&f.children)?;
    Some(RootPlan::Series { query, fields })
}

fn series_fields(fields: &[CollectedField]) -> Option<Vec<SeriesField>> {
    fields
        .iter()
        .map(|f| {
            let key = f.key.clone();
            let name = f.name.as_str();
            if name == "__typename" {
                return Some(SeriesField::Typename { key });
            }
            if let Some(column) = SeriesColumn::parse(name) {
                return Some(SeriesField::Column { key, column });
            }
            Some(match SeriesWord::parse(name)? {
                SeriesWord::Time => SeriesField::Time { key },
                SeriesWord::NoData => SeriesField::NoData { key },
                SeriesWord::NextTime => SeriesField::NextTime { key },
                SeriesWord::Numbers => SeriesField::Numbers { key, fields: series_fields(&f.children)? },
            })
        })
        .collect()
}

/// A query operation bound to the catalog and the request's variables.
#[derive(Debug)]
pub struct BoundOperation {
    pub roots: Vec<(Name, RootPlan)>,
}

impl BoundOperation {
    /// Whether every root is a catalog read, so the direct writer can answer it all.
    pub fn direct(&self) -> bool {
        !self.roots.iter().any(|(_, r)| matches!(r, RootPlan::Other))
    }

    pub fn root(&self, key: &str) -> Option<&RootPlan> {
        self.roots.iter().find(|(k, _)| k.as_str() == key).map(|(_, r)| r)
    }

    /// The relation planned at `path`: response keys from the root to the relation's own,
    /// list positions left out. `None` where no relation was planned there.
    pub fn relation_at(&self, path: &[&str]) -> Option<&RelationPlan> {
        enum At<'p> {
            Connection(&'p ConnectionPlan),
            Edge(&'p [EdgeField]),
            Object(&'p ObjectPlan),
        }
        let (root, rest) = path.split_first()?;
        let mut at = match self.root(root)? {
            RootPlan::List { connection, .. } => At::Connection(connection),
            RootPlan::One { node, .. } => At::Object(node),
            _ => return None,
        };
        for (i, key) in rest.iter().enumerate() {
            at = match at {
                At::Connection(c) => match c.fields.iter().find(|f| f.key() == *key)? {
                    ConnectionField::Nodes { node, .. } => At::Object(node),
                    ConnectionField::Edges { fields, .. } => At::Edge(fields),
                    _ => return None,
                },
                At::Edge(fields) => match fields.iter().find(|f| f.key() == *key)? {
                    EdgeField::Node { node, .. } => At::Object(node),
                    _ => return None,
                },
                At::Object(o) => {
                    let r = o.fields.iter().find_map(|f| match f {
                        ObjectField::Relation(r) if r.key == *key => Some(r),
                        _ => None,
                    })?;
                    if i + 1 == rest.len() {
                        return Some(r);
                    }
                    match (&r.connection, &r.node) {
                        (Some(c), _) => At::Connection(c),
                        (None, Some(n)) => At::Object(n),
                        (None, None) => return None,
                    }
                }
            };
        }
        None
    }
}

impl ConnectionField {
    fn key(&self) -> &str {
        match self {
            ConnectionField::Nodes { key, .. }
            | ConnectionField::Edges { key, .. }
            | ConnectionField::PageInfo { key, .. }
            | ConnectionField::TotalCount { key }
            | ConnectionField::Typename { key } => key,
        }
    }
}

impl EdgeField {
    fn key(&self) -> &str {
        match self {
            EdgeField::Cursor { key } | EdgeField::Node { key, .. } | EdgeField::Typename { key } => key,
        }
    }
}

/// Who asks, with what limits and variables: what binding needs besides the collected fields.
pub struct BindContext<'a> {
    pub viewer: &'a Viewer,
    pub limits: Limits,
    pub vars: &'a Variables,
}

/// Binds a query's collected roots. A root whose arguments do not bind becomes `Other`: its
/// resolver reports the error at its own path.
pub fn bind(b: &BindContext<'_>, op: &CollectedOperation) -> BoundOperation {
    let cat = Catalog::get();
    let roots = op
        .roots
        .iter()
        .map(|f| {
            let plan = if op.ty != OperationType::Query {
                RootPlan::Other
            } else if f.name.as_str() == "__typename" {
                RootPlan::Typename
            } else if let Some(t) = cat.tables.iter().find(|t| t.list_field == f.name.as_str()) {
                bind_list_root(b, t, f).unwrap_or(RootPlan::Other)
            } else if let Some(t) = cat.tables.iter().find(|t| t.one_field == f.name.as_str()) {
                bind_one_root(b, t, f).unwrap_or(RootPlan::Other)
            } else if let Some(series) = bind_series(b, f) {
                series
            } else {
                RootPlan::Other
            };
            (f.key.clone(), plan)
        })
        .collect();
    BoundOperation { roots }
}

fn bind_list_root(b: &BindContext<'_>, t: &'static Table, f: &CollectedField) -> ApiResult<RootPlan> {
    let query = list_query(t, &f.bound_args(b.vars), None, b.limits, b.viewer)?;
    let connection = bind_connection(b, t, &f.children)?;
    let order: Vec<usize> =
        if connection.needs_cursor() { query.order.iter().map(|(c, _)| *c).collect() } else { Vec::new() };
    let fetch = fetch_plan(t, &connection.nodes(), &order);
    Ok(RootPlan::List { table: t, query, connection, fetch })
}

fn bind_one_root(b: &BindContext<'_>, t: &'static Table, f: &CollectedField) -> ApiResult<RootPlan> {
    let query = one_query(t, &f.bound_args(b.vars), b.viewer)?;
    let node = bind_object(b, t, &f.children)?;
    let fetch = fetch_plan(t, &[&node], &[]);
    Ok(RootPlan::One { table: t, query, node, fetch })
}

fn unexpected(field: &Name, on: &str) -> ApiError {
    ApiError::Internal(format!("`{field}` is not planned on {on}"))
}

fn bind_object(b: &BindContext<'_>, t: &'static Table, fields: &[CollectedField]) -> ApiResult<ObjectPlan> {
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let name = f.name.as_str();
        let key = f.key.clone();
        if name == "__typename" {
            out.push(ObjectField::Typename { key });
        } else if name == "id" {
            out.push(ObjectField::NodeId { key });
        } else if let Some(col) = t.col_by_field(name) {
            out.push(ObjectField::Column { key_prefix: format!(",\"{key}\":").into(), col });
        } else if let Some(rel) = t.relations.iter().find(|r| r.field == name) {
            out.push(ObjectField::Relation(Box::new(bind_relation(b, rel, f)?)));
        } else {
            return Err(unexpected(&f.name, t.type_name));
        }
    }
    Ok(ObjectPlan { table: t, fields: out })
}

fn bind_relation(b: &BindContext<'_>, rel: &'static Relation, f: &CollectedField) -> ApiResult<RelationPlan> {
    let target = Catalog::get().table(rel.target);
    let query = list_query(target, &f.bound_args(b.vars), Some(rel), b.limits, b.viewer)?;
    let read = Arc::new(RelationKey { rel, query });
    let (connection, node) = if rel.many {
        (Some(bind_connection(b, target, &f.children)?), None)
    } else {
        (None, Some(bind_object(b, target, &f.children)?))
    };
    Ok(RelationPlan { key: f.key.clone(), read, target, connection, node })
}

fn bind_connection(b: &BindContext<'_>, t: &'static Table, fields: &[CollectedField]) -> ApiResult<ConnectionPlan> {
    let mut out = Vec::with_capacity(fields.len());
    for f in fields {
        let key = f.key.clone();
        if f.name.as_str() == "__typename" {
            out.push(ConnectionField::Typename { key });
            continue;
        }
        let word = ConnectionWord::parse(f.name.as_str()).ok_or_else(|| unexpected(&f.name, "a connection"))?;
        out.push(match word {
            ConnectionWord::Nodes => ConnectionField::Nodes { key, node: bind_object(b, t, &f.children)? },
            ConnectionWord::TotalCount => ConnectionField::TotalCount { key },
            ConnectionWord::Edges => {
                let mut edge = Vec::with_capacity(f.children.len());
                for e in &f.children {
                    let key = e.key.clone();
                    edge.push(match (e.name.as_str(), EdgeWord::parse(e.name.as_str())) {
                        ("__typename", _) => EdgeField::Typename { key },
                        (_, Some(EdgeWord::Cursor)) => EdgeField::Cursor { key },
                        (_, Some(EdgeWord::Node)) => EdgeField::Node { key, node: bind_object(b, t, &e.children)? },
                        (_, None) => return Err(unexpected(&e.name, "an edge")),
                    });
                }
                ConnectionField::Edges { key, fields: edge }
            }
            ConnectionWord::PageInfo => {
                let mut page = Vec::with_capacity(f.children.len());
                for p in &f.children {
                    let which = match (p.name.as_str(), PageInfoWord::parse(p.name.as_str())) {
                        ("__typename", _) => PageInfoField::Typename,
                        (_, Some(w)) => PageInfoField::Word(w),
                        (_, None) => return Err(unexpected(&p.name, "PageInfo")),
                    };
                    page.push((p.key.clone(), which));
                }
                ConnectionField::PageInfo { key, fields: page }
            }
        });
    }
    Ok(ConnectionPlan { fields: out })
}
