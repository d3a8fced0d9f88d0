//! Completes an executed answer as the specification's ExecuteSelectionSet and CompleteValue
//! say: response keys in field-collection order, a field that raised an error `null` at its key
//! with the error's `path`, and a `null` in a non-null position propagated to the nearest
//! nullable parent (or to `data`). async-graphql's dynamic executor drops an errored field's key
//! and leaves its error without a path; every executed answer, whatever the transport, passes
//! through here, and the direct writer orders its errors by the same rule.
use super::collect::{CollectedField, CollectedOperation};
use async_graphql::indexmap::IndexMap;
use async_graphql::{PathSegment, Pos, Response, ServerError};
use async_graphql_value::ConstValue;

/// The errors still to be placed: those without a path, matched to a missing key by position.
struct Pending<'a> {
    errors: &'a mut [ServerError],
    placed: Vec<bool>,
}

impl Pending<'_> {
    /// Gives the first unplaced, pathless error raised at `pos` the path `path`.
    fn place(&mut self, pos: Pos, path: &[PathSegment]) {
        let at = |e: &ServerError| e.path.is_empty() && e.locations.first() == Some(&pos);
        if let Some(i) = (0..self.errors.len()).find(|i| !self.placed[*i] && at(&self.errors[*i])) {
            self.placed[i] = true;
            self.errors[i].path = path.to_vec();
        }
    }

    /// Whether an unplaced error was raised at one of `fields` (an object whose every field
    /// failed comes back from the executor as `null`).
    fn raised_in(&self, fields: &[CollectedField]) -> bool {
        self.errors.iter().enumerate().any(|(i, e)| {
            !self.placed[i] && e.path.is_empty() && fields.iter().any(|f| e.locations.first() == Some(&f.pos))
        })
    }
}

/// A completed value, or `None`: a null that must propagate to the parent.
type Completed = Option<ConstValue>;

fn object(v: ConstValue, fields: &[CollectedField], path: &mut Vec<PathSegment>, p: &mut Pending) -> Completed {
    let mut map = match v {
        ConstValue::Object(map) => map,
        _ => IndexMap::new(),
    };
    // Every field is walked even once the object is known to be null, so that each error
    // below it gets its path.
    let (mut out, mut null) = (IndexMap::with_capacity(fields.len()), false);
    for f in fields {
        path.push(PathSegment::Field(f.key.to_string()));
        let got = field(map.swap_remove(&f.key), f, path, p);
        path.pop();
        match got {
            Some(v) => drop(out.insert(f.key.clone(), v)),
            None => null = true,
        }
    }
    (!null).then_some(ConstValue::Object(out))
}

fn field(v: Option<ConstValue>, f: &CollectedField, path: &mut Vec<PathSegment>, p: &mut Pending) -> Completed {
    let nullable = f.ty.as_ref().is_none_or(|t| t.nullable);
    let value = match v {
        None => {
            p.place(f.pos, path);
            ConstValue::Null
        }
        Some(ConstValue::Null) if f.composite && !f.ty.as_ref().is_some_and(|t| t.list) && p.raised_in(&f.children) => {
            match object(ConstValue::Null, &f.children, path, p) {
                Some(v) => v,
                None => ConstValue::Null,
            }
        }
        Some(v) => match complete(v, f, path, p) {
            Some(v) => v,
            None => ConstValue::Null,
        },
    };
    match value {
        ConstValue::Null if !nullable => None,
        v => Some(v),
    }
}

/// A present value of `f`: lists item by item, objects field by field.
fn complete(v: ConstValue, f: &CollectedField, path: &mut Vec<PathSegment>, p: &mut Pending) -> Completed {
    // Leaves, and selections taken as written (introspection, abstract types: answered by async-graphql
    // as the specification says), are taken as executed.
    if !f.composite || f.written.is_some() {
        return Some(v);
    }
    match v {
        ConstValue::Null => Some(ConstValue::Null),
        ConstValue::List(items) => {
            let items_nullable = f.ty.as_ref().is_none_or(|t| t.items_nullable);
            let (mut out, mut null) = (Vec::with_capacity(items.len()), false);
            for (i, item) in items.into_iter().enumerate() {
                path.push(PathSegment::Index(i));
                let done = match item {
                    ConstValue::Null if !p.raised_in(&f.children) => Some(ConstValue::Null),
                    item => object(item, &f.children, path, p),
                };
                path.pop();
                match done {
                    Some(ConstValue::Null) | None if !items_nullable => null = true,
                    Some(v) => out.push(v),
                    None => out.push(ConstValue::Null),
                }
            }
            (!null).then_some(ConstValue::List(out))
        }
        other => object(other, &f.children, path, p),
    }
}

/// Completes an executed response in place (`data` null when a null reached the root).
pub fn complete_response(op: &CollectedOperation, resp: &mut Response) {
    let data = std::mem::take(&mut resp.data);
    let placed = vec![false; resp.errors.len()];
    let mut pending = Pending { errors: &mut resp.errors, placed };
    let executed = !matches!(data, ConstValue::Null) || !pending.errors.is_empty();
    resp.data = match executed {
        true => object(data, &op.roots, &mut Vec::new(), &mut pending).unwrap_or(ConstValue::Null),
        false => ConstValue::Null,
    };
    order_errors(&mut resp.errors);
}

/// Errors in the order their fields stand in the document, then by path: one order whichever
/// resolver finished first.
pub fn order_errors(errors: &mut [ServerError]) {
    errors.sort_by(|a, b| {
        let at = |e: &ServerError| e.locations.first().map(|p| (p.line, p.column));
        at(a).cmp(&at(b)).then_with(|| path_order(&a.path, &b.path)).then_with(|| a.message.cmp(&b.message))
    });
}

fn path_order(a: &[PathSegment], b: &[PathSegment]) -> std::cmp::Ordering {
    fn key(s: &PathSegment) -> (u8, usize, &str) {
        match s {
            PathSegment::Index(i) => (0, *i, ""),
            PathSegment::Field(f) => (1, 0, f.as_str()),
        }
    }
    a.iter().map(key).cmp(b.iter().map(key))
}
