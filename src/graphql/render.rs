//! Writes the JSON of a bound read plan straight from its rows: no value tree, no resolver call
//! per field. Values go through `Cell::render`, as on the general executor, so both agree.
use super::args::market::SeriesQuery;
use super::identity;
use super::plan::{
    ConnectionField, ConnectionPlan, EdgeField, ObjectField, ObjectPlan, PageInfoField, RelationPlan, SeriesField,
};
use crate::data::exec::pg_binary::{self, Wire};
use crate::data::read::Row;
use crate::data::series::{as_number, unix_seconds, Series};
use crate::data::values::{Cell, Kind, Rendered};
use crate::graphql::connection::{CountBy, Page};
use crate::graphql::shapes::{connection_type, edge_type, PageInfoWord, PAGE_INFO};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// Bytes, not a `String`: values written from wire bytes are ASCII built here, and need no
/// UTF-8 check each; `finish` checks the whole answer once.
pub struct JsonWriter {
    pub buf: Vec<u8>,
    pub tz: Tz,
    /// A value PostgreSQL sent that could not be shown (written as `null`): the answer must be
    /// an error instead.
    pub fault: Option<String>,
}

impl JsonWriter {
    /// A column of a row: as decoded, or from the bytes PostgreSQL sent, shown as its decoded
    /// cell would be.
    fn column(&mut self, row: &Row, col: usize, kind: Kind) {
        match &row.wire {
            Some(wire_row) => match wire_row.raw(col) {
                Some((raw, wire)) => self.wire_cell(raw, wire, kind),
                None => self.put("null"),
            },
            None => self.cell(&row.cells[col], kind),
        }
    }

    /// A relation of a row, from the read prefetched for it.
    fn relation(&mut self, row: &Row, r: &RelationPlan) {
        let Some(fetched) = row.fetched(&r.read) else {
            self.put("null");
            self.fault.get_or_insert_with(|| format!("`{}` was planned but not prefetched", r.read.rel.field));
            return;
        };
        let rows = fetched.rows.clone();
        match (&r.connection, &r.node) {
            (Some(conn), _) => {
                let count = fetched.total.map_or(CountBy::NotPlanned, CountBy::Known);
                self.page(conn, &Page::new(r.target, rows, &r.read.query, count));
            }
            (None, Some(node)) => match rows.first() {
                Some(child) => self.row(node, child),
                None => self.put("null"),
            },
            (None, None) => self.put("null"),
        }
    }
}

impl std::fmt::Write for JsonWriter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.put(s);
        Ok(())
    }
}

impl JsonWriter {
    pub fn new(capacity: usize, tz: Tz) -> Self {
        JsonWriter { buf: Vec::with_capacity(capacity), tz, fault: None }
    }

    pub fn put(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// The answer's text (everything written came from `str`s or ASCII, so it is UTF-8).
    pub fn finish(self) -> Result<String, crate::error::ApiError> {
        String::from_utf8(self.buf).map_err(|_| crate::error::ApiError::Internal("an answer not in UTF-8".into()))
    }

    /// A JSON string, escaped as serde_json escapes it; runs without escapes are copied whole.
    pub fn str(&mut self, s: &str) {
        self.buf.push(b'"');
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                0..=0x1f => "",
                _ => continue,
            };
            self.put(&s[start..i]);
            if escape.is_empty() {
                let _ = write!(self, "\\u{:04x}", b);
            } else {
                self.put(escape);
            }
            start = i + 1;
        }
        self.put(&s[start..]);
        self.buf.push(b'"');
    }

    pub fn key(&mut self, first: &mut bool, k: &str) {
        if !*first {
            self.buf.push(b',');
        }
        *first = false;
        // Response keys are GraphQL names (`[_A-Za-z][_0-9A-Za-z]*`): nothing to escape.
        self.buf.push(b'"');
        self.put(k);
        self.put("\":");
    }

    pub fn bool(&mut self, b: bool) {
        self.put(if b { "true" } else { "false" });
    }

    /// A JSON number as serde_json writes an f64 (`null` when not finite).
    fn float(&mut self, v: f64) {
        match serde_json::Number::from_f64(v) {
            Some(n) => {
                let _ = write!(self, "{n}");
            }
            None => self.put("null"),
        }
    }

    /// A series object: its selected columns as arrays, values rendered as the resolvers do.
    pub fn series(&mut self, q: &SeriesQuery, fields: &[SeriesField], s: &Series) {
        self.buf.push(b'{');
        let mut first = true;
        for f in fields {
            match f {
                SeriesField::Typename { key } => {
                    self.key(&mut first, key);
                    self.str(q.type_name());
                }
                SeriesField::Time { key } => {
                    self.key(&mut first, key);
                    self.list(s.buckets.iter().filter_map(|b| unix_seconds(&b.start)), |w, t| w.float(t as f64));
                }
                SeriesField::Column { key, column } => {
                    self.key(&mut first, key);
                    let (kind, i) = (q.kind(*column), column.index());
                    self.list(s.buckets.iter(), |w, b| w.cell(&b.values[i], kind));
                }
                SeriesField::Numbers { key, fields } => {
                    self.key(&mut first, key);
                    self.buf.push(b'{');
                    let mut inner = true;
                    for f in fields {
                        match f {
                            SeriesField::Column { key, column } => {
                                self.key(&mut inner, key);
                                self.list(s.buckets.iter(), |w, b| match as_number(&b.values[column.index()]) {
                                    Some(v) => w.float(v),
                                    None => w.put("null"),
                                });
                            }
                            SeriesField::Typename { key } => {
                                self.key(&mut inner, key);
                                self.str("SeriesNumbers");
                            }
                            _ => {}
                        }
                    }
                    self.buf.push(b'}');
                }
                SeriesField::NoData { key } => {
                    self.key(&mut first, key);
                    self.bool(s.no_data);
                }
                SeriesField::NextTime { key } => {
                    self.key(&mut first, key);
                    match s.next_time {
                        Some(t) => self.float(t as f64),
                        None => self.put("null"),
                    }
                }
            }
        }
        self.buf.push(b'}');
    }

    fn list<T>(&mut self, items: impl Iterator<Item = T>, mut each: impl FnMut(&mut Self, T)) {
        self.buf.push(b'[');
        for (n, item) in items.enumerate() {
            if n > 0 {
                self.buf.push(b',');
            }
            each(self, item);
        }
        self.buf.push(b']');
    }

    fn cell(&mut self, c: &Cell, kind: Kind) {
        match c.render(kind, self.tz) {
            Rendered::Null => self.put("null"),
            Rendered::Int(v) => self.put(itoa::Buffer::new().format(v)),
            Rendered::Float(v) => self.float(v),
            Rendered::Text(s) => self.str(s),
            Rendered::Plain(p) => {
                self.buf.push(b'"');
                let _ = p.write_to(self);
                self.buf.push(b'"');
            }
            Rendered::Bool(b) => self.bool(b),
            Rendered::Json(j) => {
                let _ = write!(self, "{j}");
            }
        }
    }

    pub fn row(&mut self, plan: &ObjectPlan, row: &Row) {
        self.buf.push(b'{');
        let mut first = true;
        for f in &plan.fields {
            match f {
                ObjectField::Column { key_prefix, col, .. } => {
                    self.put(&key_prefix[first as usize..]);
                    first = false;
                    self.column(row, *col, plan.table.columns[*col].kind);
                }
                ObjectField::Typename { key } => {
                    self.key(&mut first, key);
                    self.str(plan.table.type_name);
                }
                ObjectField::NodeId { key } => {
                    self.key(&mut first, key);
                    let t = plan.table;
                    self.str(&identity::encode(t, t.pk.iter().map(|&c| row.cell(c))));
                }
                ObjectField::Relation(r) => {
                    self.key(&mut first, &r.key);
                    self.relation(row, r);
                }
            }
        }
        self.buf.push(b'}');
    }

    /// A cell from its wire bytes. Decimals and dates are written from their digits and day
    /// counts (`numeric_json`, `date_json`: the decoded value's text), text as it came; the rest
    /// through its `Cell`, as decoded rows are.
    fn wire_cell(&mut self, raw: Option<&[u8]>, wire: Wire, kind: Kind) {
        match (raw, wire) {
            (Some(b), Wire::Numeric) if pg_binary::numeric_json(b, &mut self.buf) => return,
            (Some(b), Wire::Date) if pg_binary::date_json(b, &mut self.buf) => return,
            (Some(b), Wire::Text) => {
                if let Ok(s) = std::str::from_utf8(b) {
                    self.str(s);
                    return;
                }
            }
            _ => {}
        }
        match pg_binary::decode(raw, wire) {
            Some(c) => self.cell(&c, kind),
            None => {
                self.put("null");
                self.fault = Some(format!("a value not decodable as {wire:?}"));
            }
        }
    }

    fn cursor_or_null(&mut self, page: &Page, row: Option<&Row>) {
        match row {
            Some(r) => self.str(&page.cursor(r)),
            None => self.put("null"),
        }
    }

    pub fn page(&mut self, conn: &ConnectionPlan, page: &Page) {
        // About 20 bytes per field of a row: relation pages too are written without the buffer
        // doubling (and copying) under them.
        let per_row: usize = conn
            .fields
            .iter()
            .map(|f| match f {
                ConnectionField::Nodes { node, .. } => node.fields.len(),
                ConnectionField::Edges { fields, .. } => fields.len() * 4,
                _ => 0,
            })
            .sum();
        self.buf.reserve(page.rows.len() * (per_row + 1) * 20);
        self.buf.push(b'{');
        let mut first = true;
        for f in &conn.fields {
            match f {
                ConnectionField::Nodes { key, node } => {
                    self.key(&mut first, key);
                    self.buf.push(b'[');
                    for (i, r) in page.visible().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        self.row(node, r);
                    }
                    self.buf.push(b']');
                }
                ConnectionField::Edges { key, fields } => {
                    self.key(&mut first, key);
                    self.buf.push(b'[');
                    for (i, r) in page.visible().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        self.buf.push(b'{');
                        let mut inner = true;
                        for e in fields {
                            match e {
                                EdgeField::Cursor { key } => {
                                    self.key(&mut inner, key);
                                    self.str(&page.cursor(r));
                                }
                                EdgeField::Node { key, node } => {
                                    self.key(&mut inner, key);
                                    self.row(node, r);
                                }
                                EdgeField::Typename { key } => {
                                    self.key(&mut inner, key);
                                    self.str(&edge_type(page.table.type_name));
                                }
                            }
                        }
                        self.buf.push(b'}');
                    }
                    self.buf.push(b']');
                }
                ConnectionField::PageInfo { key, fields } => {
                    self.key(&mut first, key);
                    self.buf.push(b'{');
                    let mut inner = true;
                    for (key, which) in fields {
                        self.key(&mut inner, key);
                        match which {
                            PageInfoField::Word(w) => match w {
                                PageInfoWord::HasNextPage => self.bool(page.has_next),
                                PageInfoWord::HasPreviousPage => self.bool(page.has_prev),
                                PageInfoWord::StartCursor => self.cursor_or_null(page, page.visible().next()),
                                PageInfoWord::EndCursor => self.cursor_or_null(page, page.visible().last()),
                            },
                            PageInfoField::Typename => self.str(PAGE_INFO),
                        }
                    }
                    self.buf.push(b'}');
                }
                ConnectionField::TotalCount { key } => {
                    self.key(&mut first, key);
                    // Counted before writing whenever the plan shows it; anything else is a
                    // planning fault, answered as an error as the executor does.
                    let n = match page.count {
                        CountBy::Known(n) => n,
                        _ => {
                            self.fault.get_or_insert_with(|| "count not planned".into());
                            0
                        }
                    };
                    let _ = write!(self, "\"{n}\"");
                }
                ConnectionField::Typename { key } => {
                    self.key(&mut first, key);
                    self.str(&connection_type(page.table.type_name));
                }
            }
        }
        self.buf.push(b'}');
    }
}
