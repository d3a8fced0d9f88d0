//! Selection plans: what a query reads from the catalog, built from a parsed query (the fast
//! path) or from async-graphql's selection (the general path). A plan drives prefetching —
//! every selected relation read once per level for all parents — and, on the fast path,
//! writes the JSON response straight from the rows, without a resolver call per field.
use super::args::{list_query, ListQuery};
use super::catalog::{Catalog, Relation, Table};
use super::read::{self, CountBy, Page, Row};
use super::scalars::{render_datetime, Cell, Kind};
use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use async_graphql::indexmap::IndexMap;
use async_graphql::Name;
use async_graphql_value::ConstValue;
use chrono::Datelike;
use chrono_tz::Tz;
use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::fmt::Write as _;
use std::sync::Arc;

/// A field selection, from whichever front end.
pub trait Sel: Sized {
    fn name(&self) -> &str;
    /// The response key (alias or name).
    fn out(&self) -> &str;
    fn args(&self) -> Result<IndexMap<Name, ConstValue>, Bail>;
    fn children(&self) -> Result<Vec<Self>, Bail>;
}

/// Why a plan could not be made.
#[derive(Debug)]
pub enum Bail {
    /// Something the fast path does not handle: the general executor answers instead.
    Unsupported,
    Error(ApiError),
}

impl From<ApiError> for Bail {
    fn from(e: ApiError) -> Self {
        Bail::Error(e)
    }
}

pub struct Ctx<'a> {
    pub db: &'a DatabaseConnection,
    pub viewer: &'a Viewer,
    pub limits: super::args::Limits,
    /// Unknown fields end planning (fast path) instead of being skipped (general path).
    pub strict: bool,
}

/// The signature that identifies one relation read; resolvers look results up by it.
pub fn signature(parent: &Table, rel: &Relation, q: &ListQuery) -> String {
    format!("{}.{}:{:?}", parent.name, rel.field, q)
}

pub struct Obj {
    pub t: &'static Table,
    pub fields: Vec<OField>,
}

impl Obj {
    /// Columns a row needs: the selected ones, the keys of selected relations, and `extra`
    /// (the ordering, for cursors).
    pub fn needed(&self, extra: &[(usize, bool)]) -> Vec<usize> {
        let mut cols: Vec<usize> = extra.iter().map(|(c, _)| *c).collect();
        for f in &self.fields {
            match f {
                OField::Col { col, .. } => cols.push(*col),
                OField::Rel(r) => cols.extend(r.rel.from_cols.iter().map(|c| self.t.col(c).expect("relation column"))),
                _ => {}
            }
        }
        cols.sort_unstable();
        cols.dedup();
        cols
    }
}

pub enum OField {
    Col { out: String, col: usize },
    Typename { out: String },
    Rel(Box<RelSel>),
}

pub struct RelSel {
    pub out: String,
    pub rel: &'static Relation,
    pub target: &'static Table,
    pub query: ListQuery,
    pub sig: String,
    /// To-many: the connection's fields. To-one: `None`.
    pub conn: Option<Conn>,
    /// The selection of each target row (to-one: the object; to-many: nodes and edges' nodes).
    pub node: Obj,
    /// Columns to fetch (fast path); `None` fetches all, as the general executor may read any.
    pub cols: Option<Vec<usize>>,
}

pub struct Conn {
    pub fields: Vec<CField>,
}

impl Conn {
    /// Whether any cursor is selected (cursors are made of the ordering columns).
    pub fn needs_cursor(&self) -> bool {
        self.fields.iter().any(|f| match f {
            CField::Edges { fields, .. } => fields.iter().any(|e| matches!(e, EField::Cursor { .. })),
            CField::PageInfo { fields, .. } => {
                fields.iter().any(|(_, p)| matches!(p, PageField::Start | PageField::End))
            }
            _ => false,
        })
    }
}

pub enum CField {
    Nodes { out: String, obj: Obj },
    Edges { out: String, fields: Vec<EField> },
    PageInfo { out: String, fields: Vec<(String, PageField)> },
    TotalCount { out: String },
    Typename { out: String },
}

pub enum EField {
    Cursor { out: String },
    Node { out: String, obj: Obj },
    Typename { out: String },
}

#[derive(Clone, Copy)]
pub enum PageField {
    HasNext,
    HasPrev,
    Start,
    End,
    Typename,
}

fn unsupported<T>(cx: &Ctx<'_>) -> Result<Option<T>, Bail> {
    if cx.strict {
        Err(Bail::Unsupported)
    } else {
        Ok(None)
    }
}

/// The plan of one row of `t` under `sel`'s children.
pub fn obj<S: Sel>(cx: &Ctx<'_>, t: &'static Table, children: Vec<S>) -> Result<Obj, Bail> {
    let mut fields = Vec::with_capacity(children.len());
    for f in children {
        let name = f.name();
        if name == "__typename" {
            fields.push(OField::Typename { out: f.out().to_string() });
        } else if let Some(col) = t.col_by_field(name) {
            known_args(cx, &f.args()?, &[])?;
            fields.push(OField::Col { out: f.out().to_string(), col });
        } else if let Some(rel) = t.relations.iter().find(|r| r.field == name) {
            if let Some(r) = relation(cx, t, rel, &f)? {
                fields.push(OField::Rel(Box::new(r)));
            }
        } else {
            unsupported::<()>(cx)?;
        }
    }
    Ok(Obj { t, fields })
}

/// Arguments of every list field.
pub const LIST_ARGS: [&str; 6] = ["first", "after", "last", "before", "where", "orderBy"];

/// On the fast path an unknown argument is left to the validator of the general path.
pub fn known_args(cx: &Ctx<'_>, args: &IndexMap<Name, ConstValue>, allowed: &[&str]) -> Result<(), Bail> {
    if cx.strict && args.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(Bail::Unsupported);
    }
    Ok(())
}

fn relation<S: Sel>(cx: &Ctx<'_>, t: &'static Table, rel: &'static Relation, f: &S) -> Result<Option<RelSel>, Bail> {
    let target = Catalog::get().table(rel.target);
    let args = f.args()?;
    let mut allowed: Vec<&str> = if rel.many { LIST_ARGS.to_vec() } else { vec![] };
    allowed.extend(rel.shortcuts.iter().map(|(a, _, _)| *a));
    known_args(cx, &args, &allowed)?;
    // Invalid arguments are reported by the field's own resolver on the general path.
    let query = match list_query(target, &args, Some(rel), cx.limits, cx.viewer) {
        Ok(q) => q,
        Err(e) if cx.strict => return Err(Bail::Error(e)),
        Err(_) => return Ok(None),
    };
    let sig = signature(t, rel, &query);
    let (conn, node) = if rel.many {
        let Some(c) = connection(cx, target, f.children()?)? else { return Ok(None) };
        // Nested counts are batched by the general path's loader.
        if cx.strict && c.fields.iter().any(|f| matches!(f, CField::TotalCount { .. })) {
            return Err(Bail::Unsupported);
        }
        let node = merged_nodes(target, &c);
        (Some(c), node)
    } else {
        (None, obj(cx, target, f.children()?)?)
    };
    let cursors = conn.as_ref().is_some_and(|c| c.needs_cursor());
    let cols = cx.strict.then(|| node.needed(if cursors { &query.order } else { &[] }));
    Ok(Some(RelSel { out: f.out().to_string(), rel, target, query, sig, conn, node, cols }))
}

/// One row plan holding everything selected under `nodes` and `edges { node }`.
pub fn merged_nodes(t: &'static Table, c: &Conn) -> Obj {
    let mut fields = Vec::new();
    for cf in &c.fields {
        match cf {
            CField::Nodes { obj, .. } => fields.extend(obj.fields.iter().map(clone_field)),
            CField::Edges { fields: ef, .. } => {
                for e in ef {
                    if let EField::Node { obj, .. } = e {
                        fields.extend(obj.fields.iter().map(clone_field));
                    }
                }
            }
            _ => {}
        }
    }
    Obj { t, fields }
}

/// A shallow copy for the merged node plan (relations are re-planned cheaply by reference).
fn clone_field(f: &OField) -> OField {
    match f {
        OField::Col { out, col } => OField::Col { out: out.clone(), col: *col },
        OField::Typename { out } => OField::Typename { out: out.clone() },
        OField::Rel(r) => OField::Rel(Box::new(RelSel {
            out: r.out.clone(),
            rel: r.rel,
            target: r.target,
            query: r.query.clone(),
            sig: r.sig.clone(),
            conn: None,
            node: Obj { t: r.node.t, fields: r.node.fields.iter().map(clone_field).collect() },
            cols: r.cols.clone(),
        })),
    }
}

/// The plan of a connection of `t`.
pub fn connection<S: Sel>(cx: &Ctx<'_>, t: &'static Table, children: Vec<S>) -> Result<Option<Conn>, Bail> {
    let mut fields = Vec::new();
    for f in children {
        let out = f.out().to_string();
        match f.name() {
            "nodes" => fields.push(CField::Nodes { out, obj: obj(cx, t, f.children()?)? }),
            "totalCount" => fields.push(CField::TotalCount { out }),
            "__typename" => fields.push(CField::Typename { out }),
            "edges" => {
                let mut ef = Vec::new();
                for e in f.children()? {
                    let out = e.out().to_string();
                    match e.name() {
                        "cursor" => ef.push(EField::Cursor { out }),
                        "node" => ef.push(EField::Node { out, obj: obj(cx, t, e.children()?)? }),
                        "__typename" => ef.push(EField::Typename { out }),
                        _ => return unsupported(cx),
                    }
                }
                fields.push(CField::Edges { out, fields: ef });
            }
            "pageInfo" => {
                let mut pf = Vec::new();
                for p in f.children()? {
                    let which = match p.name() {
                        "hasNextPage" => PageField::HasNext,
                        "hasPreviousPage" => PageField::HasPrev,
                        "startCursor" => PageField::Start,
                        "endCursor" => PageField::End,
                        "__typename" => PageField::Typename,
                        _ => return unsupported(cx),
                    };
                    pf.push((p.out().to_string(), which));
                }
                fields.push(CField::PageInfo { out, fields: pf });
            }
            _ => return unsupported(cx),
        }
    }
    Ok(Some(Conn { fields }))
}

/// Reads every relation in `plan` for all `rows` at once and attaches the results by signature.
pub fn prefetch<'a>(db: &'a DatabaseConnection, plan: &'a Obj, rows: &'a mut [Row]) -> BoxFuture<'a, ApiResult<()>> {
    Box::pin(async move {
        if rows.is_empty() {
            return Ok(());
        }
        for f in &plan.fields {
            let OField::Rel(r) = f else { continue };
            if rows[0].children.contains_key(&r.sig) {
                continue;
            }
            let from: Vec<usize> = r.rel.from_cols.iter().map(|c| plan.t.col(c).expect("relation column")).collect();
            let mut parents: Vec<Vec<Cell>> = Vec::new();
            let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            let mut parent_of_row: Vec<Option<usize>> = Vec::with_capacity(rows.len());
            for row in rows.iter() {
                let key: Vec<Cell> = from.iter().map(|i| row.cells[*i].clone()).collect();
                if key.iter().any(|c| matches!(c, Cell::Null)) {
                    parent_of_row.push(None);
                    continue;
                }
                let n = parents.len();
                let p = *index.entry(format!("{key:?}")).or_insert(n);
                if p == n {
                    parents.push(key);
                }
                parent_of_row.push(Some(p));
            }
            let fetched = if parents.is_empty() {
                Vec::new()
            } else if r.rel.many {
                read::batch_many(db, r.target, r.rel, &r.query, &parents, r.cols.as_deref()).await?
            } else {
                read::batch_one(db, r.target, r.rel, &r.query.cond, &parents, r.cols.as_deref()).await?
            };
            let (owners, mut children): (Vec<usize>, Vec<Row>) = fetched.into_iter().unzip();
            prefetch(db, &r.node, &mut children).await?;
            let mut per: Vec<Vec<Row>> = (0..parents.len()).map(|_| Vec::new()).collect();
            for (p, child) in owners.into_iter().zip(children) {
                per[p].push(child);
            }
            let per: Vec<Arc<Vec<Row>>> = per.into_iter().map(Arc::new).collect();
            let empty = Arc::new(Vec::new());
            for (row, p) in rows.iter_mut().zip(parent_of_row) {
                row.children.insert(r.sig.clone(), p.map(|p| per[p].clone()).unwrap_or_else(|| empty.clone()));
            }
        }
        Ok(())
    })
}

/// JSON output straight from rows.
pub struct Json {
    pub buf: String,
    pub tz: Tz,
}

impl Json {
    pub fn str(&mut self, s: &str) {
        self.buf.push('"');
        for ch in s.chars() {
            match ch {
                '"' => self.buf.push_str("\\\""),
                '\\' => self.buf.push_str("\\\\"),
                '\n' => self.buf.push_str("\\n"),
                '\r' => self.buf.push_str("\\r"),
                '\t' => self.buf.push_str("\\t"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.buf, "\\u{:04x}", c as u32);
                }
                c => self.buf.push(c),
            }
        }
        self.buf.push('"');
    }

    pub fn key(&mut self, first: &mut bool, k: &str) {
        if !*first {
            self.buf.push(',');
        }
        *first = false;
        self.str(k);
        self.buf.push(':');
    }

    fn cell(&mut self, c: &Cell, kind: Kind) {
        match c {
            Cell::Null => self.buf.push_str("null"),
            Cell::Int(v) if kind == Kind::BigInt => {
                let _ = write!(self.buf, "\"{v}\"");
            }
            Cell::Int(v) => {
                let _ = write!(self.buf, "{v}");
            }
            Cell::Float(v) if v.is_finite() => {
                let _ =
                    write!(self.buf, "{}", serde_json::Number::from_f64(*v).map(|n| n.to_string()).unwrap_or_default());
            }
            Cell::Float(_) => self.buf.push_str("null"),
            Cell::Decimal(d) => {
                let _ = write!(self.buf, "\"{d}\"");
            }
            Cell::Text(s) => self.str(s),
            Cell::Bool(b) => self.buf.push_str(if *b { "true" } else { "false" }),
            Cell::Date(d) => {
                let _ = write!(self.buf, "\"{:04}-{:02}-{:02}\"", d.year(), d.month(), d.day());
            }
            Cell::DateTime(t) => {
                let s = render_datetime(t, self.tz);
                self.str(&s);
            }
            Cell::Json(j) => self.buf.push_str(&j.to_string()),
            Cell::Uuid(u) => {
                let _ = write!(self.buf, "\"{u}\"");
            }
        }
    }

    pub fn row(&mut self, plan: &Obj, row: &Row) {
        self.buf.push('{');
        let mut first = true;
        for f in &plan.fields {
            match f {
                OField::Col { out, col } => {
                    self.key(&mut first, out);
                    self.cell(&row.cells[*col], plan.t.columns[*col].kind);
                }
                OField::Typename { out } => {
                    self.key(&mut first, out);
                    self.str(plan.t.type_name);
                }
                OField::Rel(r) => {
                    self.key(&mut first, &r.out);
                    let rows = row.children.get(&r.sig).cloned().unwrap_or_default();
                    match &r.conn {
                        None => match rows.first() {
                            Some(child) => self.row(&r.node, child),
                            None => self.buf.push_str("null"),
                        },
                        Some(conn) => {
                            let page = Page::new(r.target, rows, &r.query, CountBy::NotPlanned);
                            self.page(conn, &page, None);
                        }
                    }
                }
            }
        }
        self.buf.push('}');
    }

    pub fn page(&mut self, conn: &Conn, page: &Page, total: Option<i64>) {
        self.buf.push('{');
        let mut first = true;
        for f in &conn.fields {
            match f {
                CField::Nodes { out, obj } => {
                    self.key(&mut first, out);
                    self.buf.push('[');
                    for (i, r) in page.visible().enumerate() {
                        if i > 0 {
                            self.buf.push(',');
                        }
                        self.row(obj, r);
                    }
                    self.buf.push(']');
                }
                CField::Edges { out, fields } => {
                    self.key(&mut first, out);
                    self.buf.push('[');
                    for (i, r) in page.visible().enumerate() {
                        if i > 0 {
                            self.buf.push(',');
                        }
                        self.buf.push('{');
                        let mut f1 = true;
                        for e in fields {
                            match e {
                                EField::Cursor { out } => {
                                    self.key(&mut f1, out);
                                    self.str(&page.cursor(r));
                                }
                                EField::Node { out, obj } => {
                                    self.key(&mut f1, out);
                                    self.row(obj, r);
                                }
                                EField::Typename { out } => {
                                    self.key(&mut f1, out);
                                    self.str(&format!("{}Edge", page.table.type_name));
                                }
                            }
                        }
                        self.buf.push('}');
                    }
                    self.buf.push(']');
                }
                CField::PageInfo { out, fields } => {
                    self.key(&mut first, out);
                    self.buf.push('{');
                    let mut f1 = true;
                    for (out, which) in fields {
                        self.key(&mut f1, out);
                        match which {
                            PageField::HasNext => self.buf.push_str(if page.has_next { "true" } else { "false" }),
                            PageField::HasPrev => self.buf.push_str(if page.has_prev { "true" } else { "false" }),
                            PageField::Start | PageField::End => {
                                let r = if matches!(which, PageField::Start) {
                                    page.visible().next()
                                } else {
                                    page.visible().last()
                                };
                                match r {
                                    Some(r) => self.str(&page.cursor(r)),
                                    None => self.buf.push_str("null"),
                                }
                            }
                            PageField::Typename => self.str("PageInfo"),
                        }
                    }
                    self.buf.push('}');
                }
                CField::TotalCount { out } => {
                    self.key(&mut first, out);
                    let _ = write!(self.buf, "\"{}\"", total.unwrap_or(0));
                }
                CField::Typename { out } => {
                    self.key(&mut first, out);
                    self.str(&format!("{}Connection", page.table.type_name));
                }
            }
        }
        self.buf.push('}');
    }
}
