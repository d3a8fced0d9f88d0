//! The GraphQL face of `data::aggregate`: beside each list, `{list}Aggregate(where, groupBy,
//! first, after, orderBy)` (and `{relation}Aggregate` on the parent type for to-many relations),
//! returning groups with their keys, row count and the measures of the numeric columns the
//! query selects.
use super::args::{list_query, page_size};
use super::connection::PageInfo;
use super::context::{app_state, as_of_arg, limits, tz_of, viewer_of};
use super::shapes::{ConnectionWord, PAGE_INFO};
use super::SchemaParts;
use crate::data::aggregate::{self, Aggregation, Group, GroupKey, GroupOrder, Groups, Measure, MAX_HOPS};
use crate::data::buckets::TimeBucket;
use crate::data::buckets::{candle_seconds, BarInterval};
use crate::data::catalog::{Catalog, Column, Relation, Table};
use crate::data::query::{decode_position, encode_cursor, Limits};
use crate::data::read::Row;
use crate::data::values::{Cell, Kind};
use crate::error::{ApiError, ApiResult};
use crate::loaders::{AggregationParent, Loaders, RelationAggregation};
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::{Name, Value as GqlValue};
use std::sync::Arc;

/// Most group keys one aggregation takes.
const MAX_KEYS: usize = 8;

const MEASURES: [(&str, Measure, &str); 5] = [
    ("sum", Measure::Sum, "Sums"),
    ("avg", Measure::Avg, "Averages"),
    ("min", Measure::Min, "Extremes"),
    ("max", Measure::Max, "Extremes"),
    ("stddev", Measure::Stddev, "Deviations"),
];

fn enum_name(c: &Column) -> String {
    c.name.to_uppercase()
}

/// Columns a measure of `m` applies to: numeric ones (not serial ids); min and max also take
/// dates and times.
fn measured(t: &Table, m: Measure) -> Vec<usize> {
    (0..t.columns.len())
        .filter(|i| {
            let c = &t.columns[*i];
            let serial = c.auto && t.pk.contains(i);
            let dated = matches!(c.kind, Kind::Date | Kind::DateTime) && matches!(m, Measure::Min | Measure::Max);
            c.expr.is_none() && !serial && (aggregate::is_numeric(c.kind) || dated)
        })
        .collect()
}

/// The scalar a measure of a column of `kind` answers in.
fn out_kind(m: Measure, kind: Kind) -> Kind {
    match (m, kind) {
        (Measure::Stddev, _) | (_, Kind::Float) => Kind::Float,
        (Measure::Sum, Kind::Int | Kind::BigInt) => Kind::BigInt,
        (Measure::Avg, _) => Kind::Decimal,
        (_, k) => k,
    }
}

/// A page of groups as the connection's resolvers see it.
struct GroupPage {
    groups: Vec<Arc<AggNode>>,
    has_next: bool,
    offset: u64,
    total: i64,
}

struct AggNode {
    group: Group,
    key_kinds: Arc<Vec<Kind>>,
    measures: Arc<Vec<(Measure, usize)>>,
}

impl AggNode {
    fn value(&self, m: Measure, col: usize) -> Option<&Cell> {
        self.measures.iter().position(|x| *x == (m, col)).map(|i| &self.group.values[i])
    }
}

/// One measure of one group: the parent of its per-column fields.
struct MeasureView {
    node: Arc<AggNode>,
    measure: Measure,
}

fn page(groups: Groups, a: &Aggregation) -> GroupPage {
    let kinds: Arc<Vec<Kind>> = Arc::new(a.keys.iter().map(|k| k.kind(a.table)).collect());
    let measures = Arc::new(a.measures.clone());
    let mut list = groups.groups;
    // Without keys there is one group, also when no row matches (a parent without rows).
    if a.keys.is_empty() && list.is_empty() && a.offset == 0 {
        list.push(Group { keys: Vec::new(), count: 0, values: vec![Cell::Null; a.measures.len()] });
    }
    let total = if a.keys.is_empty() { 1 } else { groups.total };
    let has_next = list.len() as u64 > a.limit;
    list.truncate(a.limit as usize);
    GroupPage {
        groups: list
            .into_iter()
            .map(|group| Arc::new(AggNode { group, key_kinds: kinds.clone(), measures: measures.clone() }))
            .collect(),
        has_next,
        offset: a.offset,
        total,
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad(msg)
}

/// One `groupBy` entry: a column of `t`, or (through one relation field) of a related row.
fn group_key(t: &'static Table, v: &GqlValue, mut path: Vec<&'static Relation>) -> ApiResult<GroupKey> {
    let GqlValue::Object(o) = v else { return Err(bad("groupBy: objects")) };
    let given: Vec<(&Name, &GqlValue)> = o.iter().filter(|(_, v)| !matches!(v, GqlValue::Null)).collect();
    let interval = o.get("interval").and_then(|v| if let GqlValue::Enum(e) = v { Some(e.as_str()) } else { None });
    let column = given.iter().find(|(n, _)| n.as_str() == "column");
    let related: Vec<&(&Name, &GqlValue)> =
        given.iter().filter(|(n, _)| !matches!(n.as_str(), "column" | "interval")).collect();
    match (column, related.as_slice()) {
        (Some((_, GqlValue::Enum(name))), []) => {
            let col = t
                .columns
                .iter()
                .position(|c| enum_name(c) == name.as_str())
                .ok_or_else(|| bad(format!("groupBy: no column {name}")))?;
            let kind = t.columns[col].kind;
            let bucket = match (interval, kind) {
                (None, _) => None,
                (Some(iv), Kind::Date) => Some(TimeBucket::Calendar(
                    BarInterval::parse(iv).ok_or_else(|| bad(format!("groupBy: {iv} buckets a time, not a date")))?,
                )),
                (Some(iv), Kind::DateTime) => Some(TimeBucket::Seconds(
                    candle_seconds(if iv == "DAY" { "D1" } else { iv })
                        .ok_or_else(|| bad(format!("groupBy: times bucket by M1 to H4 or DAY, not {iv}")))?,
                )),
                (Some(_), _) => return Err(bad("groupBy: `interval` applies to Date and DateTime columns")),
            };
            Ok(GroupKey { path, col, bucket })
        }
        (None, [(name, inner)]) => {
            let rel = t
                .relations
                .iter()
                .find(|r| !r.many && r.field == name.as_str())
                .ok_or_else(|| bad(format!("groupBy: no relation {name}")))?;
            if path.len() >= MAX_HOPS {
                return Err(ApiError::TooComplex(format!("groupBy: at most {MAX_HOPS} relations deep")));
            }
            if interval.is_some() {
                return Err(bad("groupBy: give `interval` beside the column it buckets"));
            }
            path.push(rel);
            group_key(Catalog::get().table(rel.target), inner, path)
        }
        _ => Err(bad("groupBy: each entry names one column or one relation")),
    }
}

/// The measures the selection asks for, per `nodes { sum { … } avg { … } … }`.
fn selected_measures(ctx: &ResolverContext<'_>, t: &Table) -> Vec<(Measure, usize)> {
    let mut out = Vec::new();
    for nodes in ctx.field().selection_set().filter(|f| f.name() == "nodes") {
        for m in nodes.selection_set() {
            let Some((_, measure, _)) = MEASURES.iter().find(|(n, ..)| *n == m.name()) else { continue };
            for c in m.selection_set() {
                if let Some(col) = t.col_by_field(c.name()) {
                    if !out.contains(&(*measure, col)) {
                        out.push((*measure, col));
                    }
                }
            }
        }
    }
    out
}

/// The aggregation the field's arguments and selection ask for.
fn aggregation(
    ctx: &ResolverContext<'_>,
    t: &'static Table,
    rel: Option<&Relation>,
    limits: Limits,
) -> ApiResult<Aggregation> {
    let args = ctx.args.as_index_map();
    let mut filter = args.clone();
    for a in ["first", "after", "groupBy", "orderBy"] {
        filter.shift_remove(a);
    }
    let viewer = *viewer_of(ctx);
    let cond = list_query(t, &filter, rel, limits, &viewer)?.base;
    let keys = match args.get("groupBy") {
        Some(GqlValue::List(l)) if l.len() > MAX_KEYS => {
            return Err(ApiError::TooComplex(format!("groupBy: at most {MAX_KEYS} keys")))
        }
        Some(GqlValue::List(l)) => l.iter().map(|v| group_key(t, v, Vec::new())).collect::<ApiResult<Vec<_>>>()?,
        Some(v @ GqlValue::Object(_)) => vec![group_key(t, v, Vec::new())?],
        _ => Vec::new(),
    };
    let order = match args.get("orderBy") {
        Some(GqlValue::Enum(e)) => match e.as_str() {
            "KEYS_DESC" => GroupOrder::KeysDesc,
            "COUNT_ASC" => GroupOrder::CountAsc,
            "COUNT_DESC" => GroupOrder::CountDesc,
            _ => GroupOrder::KeysAsc,
        },
        _ => GroupOrder::KeysAsc,
    };
    let limit = page_size(args.get("first"), "first", limits)?.unwrap_or(limits.default_page);
    let offset = match args.get("after") {
        Some(GqlValue::String(c)) => decode_position(c)?,
        _ => 0,
    };
    Ok(Aggregation { table: t, cond, keys, measures: selected_measures(ctx, t), order, limit, offset, viewer })
}

fn with_args(field: Field, t: &Table) -> Field {
    as_of_arg(field, t)
        .argument(InputValue::new("where", TypeRef::named(format!("{}Where", t.type_name))))
        .argument(
            InputValue::new("groupBy", TypeRef::named_nn_list(format!("{}GroupBy", t.type_name)))
                .description("The group keys, in order; none: one group of every matching row."),
        )
        .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)).description("Groups per page."))
        .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("orderBy", TypeRef::named("AggregateOrder")).description("Default KEYS_ASC."))
}

fn conn_type(t: &Table) -> TypeRef {
    TypeRef::named_nn(format!("{}AggregateConnection", t.type_name))
}

/// `{list}Aggregate` on the query root.
fn root_field(t: &'static Table) -> Field {
    let f = Field::new(format!("{}Aggregate", t.list_field), conn_type(t), move |ctx| {
        FieldFuture::new(async move {
            let state = app_state(&ctx)?;
            let a = aggregation(&ctx, t, None, state.limits)?;
            let groups =
                aggregate::aggregate(&state.db.read, &a, None).await?.pop().map(|(_, g)| g).unwrap_or_default();
            Ok(Some(FieldValue::owned_any(page(groups, &a))))
        })
    });
    with_args(f, t).description(format!(
        "Groups of the {} rows visible to the caller: counts and measures per group, in one SQL statement.",
        t.type_name
    ))
}

/// `{relation}Aggregate` on the parent type of a to-many relation: per parent, batched.
fn relation_field(parent: &'static Table, rel: &'static Relation) -> Field {
    let target = Catalog::get().table(rel.target);
    let from: Vec<usize> = rel.from_cols.iter().map(|c| parent.col(c).expect("relation column")).collect();
    let mut f = Field::new(format!("{}Aggregate", rel.field), conn_type(target), move |ctx| {
        let from = from.clone();
        FieldFuture::new(async move {
            let row = ctx.parent_value.try_downcast_ref::<Row>()?;
            let a = aggregation(&ctx, target, Some(rel), limits(&ctx))?;
            let key: Vec<Cell> = from.iter().map(|i| row.cells[*i].clone()).collect();
            let groups = if key.iter().any(|c| matches!(c, Cell::Null)) {
                Groups::default()
            } else {
                let read = Arc::new(RelationAggregation { rel, agg: a.clone() });
                let got = ctx.data::<Loaders>()?.agg.load_one(AggregationParent { read, parent: key }).await?;
                got.map(|g| (*g).clone()).unwrap_or_default()
            };
            Ok(Some(FieldValue::owned_any(page(groups, &a))))
        })
    });
    f = with_args(f, target);
    for (arg, col, _) in &rel.shortcuts {
        let kind = target.columns[target.col(col).expect("shortcut column")].kind;
        f = f.argument(InputValue::new(*arg, TypeRef::named(kind.scalar())));
    }
    f.description(format!("Groups of this row's {}, as `{}Aggregate`.", rel.field, target.list_field))
}

/// Adds `{relation}Aggregate` to a table's object for each to-many relation.
pub fn relation_fields(t: &'static Table, mut obj: Object) -> Object {
    for rel in t.relations.iter().filter(|r| r.many) {
        obj = obj.field(relation_field(t, rel));
    }
    obj
}

fn node_field(name: &str, ty: TypeRef, f: fn(&AggNode, chrono_tz::Tz) -> Option<FieldValue<'static>>) -> Field {
    Field::new(name, ty, move |ctx| {
        let tz = tz_of(&ctx);
        FieldFuture::new(async move { Ok(f(ctx.parent_value.try_downcast_ref::<Arc<AggNode>>()?, tz)) })
    })
}

fn table_types(t: &'static Table) -> Vec<async_graphql::dynamic::Type> {
    let tn = t.type_name;
    let mut out: Vec<async_graphql::dynamic::Type> = Vec::new();
    let groupable: Vec<&Column> = t.columns.iter().filter(|c| c.kind != Kind::Json).collect();
    out.push(
        Enum::new(format!("{tn}Column"))
            .items(groupable.iter().map(|c| enum_name(c)))
            .description(format!("The columns of {tn}, for `groupBy`."))
            .into(),
    );
    let mut gb = InputObject::new(format!("{tn}GroupBy"))
        .description("A group key: `column` (with `interval` for a Date or DateTime column), or one related row's key.")
        .field(InputValue::new("column", TypeRef::named(format!("{tn}Column"))))
        .field(InputValue::new("interval", TypeRef::named("TimeBucket")).description(
            "Buckets of a Date column (DAY, WEEK from Monday, MONTH, QUARTER, YEAR) or of a DateTime column (M1 to H4, DAY; UTC).",
        ));
    for rel in t.relations.iter().filter(|r| !r.many) {
        let target = Catalog::get().table(rel.target);
        gb = gb.field(InputValue::new(rel.field, TypeRef::named(format!("{}GroupBy", target.type_name))));
    }
    out.push(gb.into());
    let mut node = Object::new(format!("{tn}Aggregate"))
        .description("One group: its keys, its rows' count, and measures of their columns.")
        .field(
            node_field("keys", TypeRef::named_nn_list("JSON"), |n, tz| {
                Some(FieldValue::list(
                    n.group.keys.iter().zip(n.key_kinds.iter()).map(|(c, k)| FieldValue::value(c.to_gql(*k, tz))),
                ))
            })
            .description("The group's key values, in `groupBy` order (as the columns show them; bucket starts)."),
        )
        .field(node_field("count", TypeRef::named_nn("BigInt"), |n, _| {
            Some(FieldValue::value(GqlValue::String(n.group.count.to_string())))
        }));
    let mut made: Vec<String> = Vec::new();
    for (field, m, suffix) in MEASURES {
        let cols = measured(t, m);
        if cols.is_empty() {
            continue;
        }
        let ty = format!("{tn}{suffix}");
        let desc = match m {
            Measure::Sum => "Sums (exact for Decimal and integer columns).",
            Measure::Avg => {
                "Means: exact quotients of exact sums, rounded to 10 decimal places, for Decimal and integer columns."
            }
            Measure::Min | Measure::Max => "Smallest or largest values.",
            Measure::Stddev => "Sample standard deviations (n − 1); null below two rows.",
        };
        if !made.contains(&ty) {
            made.push(ty.clone());
            let mut obj = Object::new(ty.clone()).description(desc);
            for c in cols {
                let col = &t.columns[c];
                let kind = out_kind(m, col.kind);
                obj = obj.field(Field::new(col.field.clone(), TypeRef::named(kind.scalar()), move |ctx| {
                    let tz = tz_of(&ctx);
                    FieldFuture::new(async move {
                        let v = ctx.parent_value.try_downcast_ref::<MeasureView>()?;
                        let m = v.measure;
                        Ok(v.node.value(m, c).map(|cell| FieldValue::value(cell.to_gql(kind, tz))))
                    })
                }));
            }
            out.push(obj.into());
        }
        node = node.field(Field::new(field, TypeRef::named(ty), move |ctx| {
            FieldFuture::new(async move {
                let node = ctx.parent_value.try_downcast_ref::<Arc<AggNode>>()?;
                Ok(Some(FieldValue::owned_any(MeasureView { node: node.clone(), measure: m })))
            })
        }));
    }
    out.push(node.into());
    let conn = Object::new(format!("{tn}AggregateConnection"))
        .field(Field::new(ConnectionWord::Nodes.name(), TypeRef::named_nn_list_nn(format!("{tn}Aggregate")), |ctx| {
            FieldFuture::new(async move {
                let p = ctx.parent_value.try_downcast_ref::<GroupPage>()?;
                Ok(Some(FieldValue::list(p.groups.iter().map(|g| FieldValue::owned_any(g.clone())))))
            })
        }))
        .field(Field::new(ConnectionWord::PageInfo.name(), TypeRef::named_nn(PAGE_INFO), |ctx| {
            FieldFuture::new(async move {
                let p = ctx.parent_value.try_downcast_ref::<GroupPage>()?;
                let at = |i: u64| encode_cursor(&[Cell::Int(i as i64)]);
                let n = p.groups.len() as u64;
                Ok(Some(FieldValue::owned_any(PageInfo {
                    has_next: p.has_next,
                    has_prev: p.offset > 0,
                    start: (n > 0).then(|| at(p.offset)),
                    end: (n > 0).then(|| at(p.offset + n)),
                })))
            })
        }))
        .field(
            Field::new(ConnectionWord::TotalCount.name(), TypeRef::named_nn("BigInt"), |ctx| {
                FieldFuture::new(async move {
                    let p = ctx.parent_value.try_downcast_ref::<GroupPage>()?;
                    Ok(Some(GqlValue::String(p.total.to_string())))
                })
            })
            .description("Groups in all."),
        );
    out.push(conn.into());
    out
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    let (mut builder, mut query) = (parts.builder, parts.query);
    builder = builder
        .register(
            Enum::new("TimeBucket")
                .items(["M1", "M5", "M15", "M30", "H1", "H4", "DAY", "WEEK", "MONTH", "QUARTER", "YEAR"])
                .description("Bucket widths for grouping by a Date or DateTime column."),
        )
        .register(
            Enum::new("AggregateOrder").items(["KEYS_ASC", "KEYS_DESC", "COUNT_ASC", "COUNT_DESC"]).description(
                "The order of groups: by their keys (NULL keys last), or by their row counts (then keys).",
            ),
        );
    for t in &Catalog::get().tables {
        for ty in table_types(t) {
            builder = builder.register(ty);
        }
        query = query.field(root_field(t));
    }
    SchemaParts { builder, query, ..parts }
}
