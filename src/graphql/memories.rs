//! Vector memories in GraphQL: `memories`, `searchMemories`, `addMemory`/`addMemories` and
//! `deleteMemory`. Every call works on the caller's own collection — the user id comes from the
//! token, never from an argument.
use super::connection::PageInfo;
use super::context::{app_state as state, arg, value_field, viewer_of};
use super::shapes::{connection_type, edge_type, ConnectionWord, EdgeWord, PAGE_INFO};
use super::SchemaParts;
use crate::data::catalog::{Catalog, Table};
use crate::data::query::Cond;
use crate::data::read;
use crate::data::read::Row;
use crate::data::values::{parse_datetime, render_datetime, Cell};
use crate::error::{ApiError, ApiResult};
use crate::vector::{
    check_embedding, memory_id, ListRequest, Memory, MemoryFilter, MemoryHit, SearchRequest, DIMENSION, EXACT_BELOW,
    MEMORY_TYPES,
};
use crate::AppState;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::Value as GqlValue;
use base64::Engine as _;
use std::collections::HashMap;
use uuid::Uuid;

/// Most memories one `addMemories` call takes (one atomic write to the store).
const MAX_BATCH: usize = 1000;
const MAX_CONTENT_BYTES: usize = 64 * 1024;
const MAX_COMPANY_CHARS: usize = 32;
const CURSOR_PREFIX: &str = "memory:";

fn enum_name(t: &str) -> String {
    t.to_ascii_uppercase()
}

fn memory_type(field: &str, v: Option<&GqlValue>) -> ApiResult<Option<String>> {
    match v {
        None | Some(GqlValue::Null) => Ok(None),
        Some(v @ (GqlValue::Enum(_) | GqlValue::String(_))) => {
            let t = match v {
                GqlValue::Enum(n) => n.to_ascii_lowercase(),
                GqlValue::String(s) => s.to_ascii_lowercase(),
                _ => unreachable!("matched above"),
            };
            if MEMORY_TYPES.contains(&t.as_str()) {
                Ok(Some(t))
            } else {
                Err(ApiError::bad(format!("{field}: one of {}", MEMORY_TYPES.join(", "))))
            }
        }
        Some(_) => Err(ApiError::bad(format!("{field}: not a memory type"))),
    }
}

fn string(field: &str, v: Option<&GqlValue>) -> ApiResult<Option<String>> {
    match v {
        None | Some(GqlValue::Null) => Ok(None),
        Some(GqlValue::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad(format!("{field}: not a string"))),
    }
}

fn datetime(field: &str, v: Option<&GqlValue>) -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
    string(field, v)?.map(|s| parse_datetime(&s).map_err(|e| ApiError::bad(format!("{field}: {e}")))).transpose()
}

fn company(field: &str, v: Option<&GqlValue>) -> ApiResult<Option<String>> {
    match string(field, v)? {
        Some(c) if c.trim().is_empty() || c.chars().count() > MAX_COMPANY_CHARS => {
            Err(ApiError::bad(format!("{field}: 1 to {MAX_COMPANY_CHARS} characters")))
        }
        c => Ok(c.map(|c| c.trim().to_string())),
    }
}

fn embedding(field: &str, v: Option<&GqlValue>) -> ApiResult<Vec<f32>> {
    let Some(GqlValue::List(items)) = v else {
        return Err(ApiError::bad(format!("{field}: a list of {DIMENSION} numbers is required")));
    };
    let v = items
        .iter()
        .enumerate()
        .map(|(i, x)| match x {
            GqlValue::Number(n) => {
                n.as_f64().map(|f| f as f32).ok_or_else(|| ApiError::bad(format!("{field}[{i}]: not a number")))
            }
            _ => Err(ApiError::bad(format!("{field}[{i}]: not a number"))),
        })
        .collect::<ApiResult<Vec<f32>>>()?;
    check_embedding(field, &v)?;
    Ok(v)
}

fn filter(v: Option<&GqlValue>) -> ApiResult<MemoryFilter> {
    let Some(GqlValue::Object(o)) = v else { return Ok(MemoryFilter::default()) };
    let f = MemoryFilter {
        memory_type: memory_type("where.memoryType", o.get("memoryType"))?,
        company: company("where.company", o.get("company"))?,
        from: datetime("where.from", o.get("from"))?,
        to: datetime("where.to", o.get("to"))?,
    };
    if let (Some(a), Some(b)) = (f.from, f.to) {
        if a > b {
            return Err(ApiError::bad("where.from: after where.to"));
        }
    }
    Ok(f)
}

/// One `MemoryInput`, checked whole before anything is stored.
fn memory_input(field: &str, v: &GqlValue) -> ApiResult<(Memory, Vec<f32>)> {
    let GqlValue::Object(o) = v else { return Err(ApiError::bad(format!("{field}: an object is required"))) };
    let memory_type = memory_type(&format!("{field}.memoryType"), o.get("memoryType"))?
        .ok_or_else(|| ApiError::bad(format!("{field}.memoryType: required")))?;
    let content = string(&format!("{field}.content"), o.get("content"))?.unwrap_or_default();
    if content.trim().is_empty() || content.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::bad(format!("{field}.content: 1 byte to {MAX_CONTENT_BYTES} bytes")));
    }
    let timestamp = datetime(&format!("{field}.timestamp"), o.get("timestamp"))?.unwrap_or_else(chrono::Utc::now);
    let memory = Memory {
        id: memory_id(timestamp).map_err(|e| ApiError::bad(format!("{field}.{}", e.message())))?,
        memory_type,
        company: company(&format!("{field}.company"), o.get("company"))?,
        timestamp,
        content,
    };
    Ok((memory, embedding(&format!("{field}.embedding"), o.get("embedding"))?))
}

fn encode_cursor(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

fn decode_cursor(c: &str) -> ApiResult<Uuid> {
    let bad = || ApiError::bad("after: not a cursor of this list");
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    Uuid::parse_str(text.strip_prefix(CURSOR_PREFIX).ok_or_else(bad)?).map_err(|_| bad())
}

/// A page size argument within the configured bounds.
fn size(ctx: &ResolverContext<'_>, name: &str, default: u64, max: u64) -> ApiResult<usize> {
    match arg(ctx, name) {
        None => Ok(default as usize),
        Some(GqlValue::Number(n)) => match n.as_i64() {
            Some(k) if k >= 0 && k as u64 <= max => Ok(k as usize),
            _ => Err(ApiError::bad(format!("{name}: between 0 and {max}"))),
        },
        Some(_) => Err(ApiError::bad(format!("{name}: not an integer"))),
    }
}

struct Connection {
    memories: Vec<Memory>,
    has_next: bool,
    has_prev: bool,
    user: Uuid,
    filter: MemoryFilter,
}

struct Hit {
    score: f32,
    memory: Memory,
    ticker: Option<Row>,
}

/// The ticker row of each company named by `hits`, in one statement (the first region by the
/// tickers' default order when a symbol is listed in several).
async fn tickers(state: &AppState, hits: &[MemoryHit]) -> ApiResult<HashMap<String, Row>> {
    let t: &'static Table = Catalog::get().table("tickers");
    let mut names: Vec<String> = hits.iter().filter_map(|h| h.memory.company.clone()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Ok(HashMap::new());
    }
    let col = t.col("ticker").expect("ticker column");
    let cond = Cond::In(col, names.into_iter().map(Cell::Text).collect(), false);
    let q = crate::data::query::ListQuery::matching(cond, t.default_order.clone(), state.limits.max_page);
    let mut out = HashMap::new();
    for row in read::list(&state.db.read, t, &q, None).await? {
        if let Cell::Text(s) = &row.cells[col] {
            out.entry(s.clone()).or_insert(row);
        }
    }
    Ok(out)
}

fn memory_object() -> Object {
    let field = value_field::<Memory>;
    Object::new("Memory")
        .description("Something an assistant remembers for one user, searchable by meaning.")
        .field(field("id", TypeRef::named_nn("UUID"), |m, _| GqlValue::String(m.id.to_string())))
        .field(field("memoryType", TypeRef::named_nn("MemoryType"), |m, _| {
            GqlValue::Enum(async_graphql::Name::new(enum_name(&m.memory_type)))
        }))
        .field(field("company", TypeRef::named(TypeRef::STRING), |m, _| {
            m.company.clone().map_or(GqlValue::Null, GqlValue::String)
        }))
        .field(field("timestamp", TypeRef::named_nn("DateTime"), |m, tz| {
            GqlValue::String(render_datetime(&m.timestamp, tz))
        }))
        .field(field("content", TypeRef::named_nn(TypeRef::STRING), |m, _| GqlValue::String(m.content.clone())))
}

fn connection_objects() -> [Object; 3] {
    let conn = Object::new(connection_type("Memory"))
        .description("A page of the caller's memories, oldest first.")
        .field(Field::new(ConnectionWord::Nodes.name(), TypeRef::named_nn_list_nn("Memory"), |ctx| {
            FieldFuture::new(async move {
                let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                Ok(Some(FieldValue::list(c.memories.iter().map(|m| FieldValue::borrowed_any(m)))))
            })
        }))
        .field(Field::new(ConnectionWord::Edges.name(), TypeRef::named_nn_list_nn(edge_type("Memory")), |ctx| {
            FieldFuture::new(async move {
                let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                Ok(Some(FieldValue::list(c.memories.iter().map(|m| FieldValue::borrowed_any(m)))))
            })
        }))
        .field(Field::new(ConnectionWord::PageInfo.name(), TypeRef::named_nn(PAGE_INFO), |ctx| {
            FieldFuture::new(async move {
                let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                Ok(Some(FieldValue::owned_any(PageInfo {
                    has_next: c.has_next,
                    has_prev: c.has_prev,
                    start: c.memories.first().map(|m| encode_cursor(m.id)),
                    end: c.memories.last().map(|m| encode_cursor(m.id)),
                })))
            })
        }))
        .field(Field::new(ConnectionWord::TotalCount.name(), TypeRef::named_nn("BigInt"), |ctx| {
            FieldFuture::new(async move {
                let c = ctx.parent_value.try_downcast_ref::<Connection>()?;
                let n = state(&ctx)?.memories.count(c.user, &c.filter).await?;
                Ok(Some(GqlValue::String(n.to_string())))
            })
        }));
    let edge = Object::new(edge_type("Memory"))
        .field(Field::new(EdgeWord::Cursor.name(), TypeRef::named_nn(TypeRef::STRING), |ctx| {
            FieldFuture::new(async move {
                Ok(Some(GqlValue::String(encode_cursor(ctx.parent_value.try_downcast_ref::<Memory>()?.id))))
            })
        }))
        .field(Field::new(EdgeWord::Node.name(), TypeRef::named_nn("Memory"), |ctx| {
            FieldFuture::new(async move {
                Ok(Some(FieldValue::borrowed_any(ctx.parent_value.try_downcast_ref::<Memory>()?)))
            })
        }));
    let hit = Object::new("MemoryHit")
        .description("A memory found by `searchMemories`, with its cosine similarity to the query.")
        .field(Field::new("score", TypeRef::named_nn(TypeRef::FLOAT), |ctx| {
            FieldFuture::new(async move {
                Ok(Some(GqlValue::from(ctx.parent_value.try_downcast_ref::<Hit>()?.score as f64)))
            })
        }))
        .field(Field::new("memory", TypeRef::named_nn("Memory"), |ctx| {
            FieldFuture::new(async move {
                Ok(Some(FieldValue::borrowed_any(&ctx.parent_value.try_downcast_ref::<Hit>()?.memory)))
            })
        }))
        .field(
            Field::new("ticker", TypeRef::named("Ticker"), |ctx| {
                FieldFuture::new(async move {
                    Ok(ctx.parent_value.try_downcast_ref::<Hit>()?.ticker.as_ref().map(|r| FieldValue::borrowed_any(r)))
                })
            })
            .description("The listed ticker the memory's company names, if there is one."),
        );
    [conn, edge, hit]
}

async fn list(ctx: &ResolverContext<'_>) -> ApiResult<Connection> {
    let state = state(ctx)?;
    let user = viewer_of(ctx).require_user()?;
    let filter = filter(arg(ctx, "where"))?;
    let first = size(ctx, "first", state.limits.default_page, state.limits.max_page)?;
    let after = arg(ctx, "after").map(|v| match v {
        GqlValue::String(s) => decode_cursor(s),
        _ => Err(ApiError::bad("after: not a cursor of this list")),
    });
    let after = after.transpose()?;
    let page = state.memories.list(user, ListRequest { filter: filter.clone(), after, limit: first }).await?;
    Ok(Connection { memories: page.memories, has_next: page.has_next, has_prev: after.is_some(), user, filter })
}

async fn search(ctx: &ResolverContext<'_>) -> ApiResult<Vec<Hit>> {
    let state = state(ctx)?;
    let user = viewer_of(ctx).require_user()?;
    let embedding = embedding("embedding", arg(ctx, "embedding"))?;
    let filter = filter(arg(ctx, "where"))?;
    let limit = size(ctx, "limit", 10, state.limits.max_page)?;
    let exact = !filter.is_empty() && state.memories.count(user, &filter).await? <= EXACT_BELOW;
    let hits = state.memories.search(user, SearchRequest { embedding, filter, limit, exact }).await?;
    let tickers = if ctx.look_ahead().field("ticker").exists() { tickers(state, &hits).await? } else { HashMap::new() };
    Ok(hits
        .into_iter()
        .map(|h| {
            let ticker = h.memory.company.as_ref().and_then(|c| tickers.get(c).cloned());
            Hit { score: h.score, memory: h.memory, ticker }
        })
        .collect())
}

async fn add(ctx: &ResolverContext<'_>, batch: bool) -> ApiResult<Vec<Memory>> {
    let state = state(ctx)?;
    let user = viewer_of(ctx).require_user()?;
    let items = if batch {
        let Some(GqlValue::List(inputs)) = arg(ctx, "inputs") else {
            return Err(ApiError::bad("inputs: a list is required"));
        };
        if inputs.len() > MAX_BATCH {
            return Err(ApiError::bad(format!("inputs: at most {MAX_BATCH} memories per call")));
        }
        inputs
            .iter()
            .enumerate()
            .map(|(i, v)| memory_input(&format!("inputs[{i}]"), v))
            .collect::<ApiResult<Vec<_>>>()?
    } else {
        vec![memory_input("input", arg(ctx, "input").unwrap_or(&GqlValue::Null))?]
    };
    let memories = items.iter().map(|(m, _)| m.clone()).collect();
    if !items.is_empty() {
        state.memories.add(user, items).await?;
    }
    Ok(memories)
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    let (builder, query, mutation) = (parts.builder, parts.query, parts.mutation);
    let kinds = MEMORY_TYPES.iter().fold(Enum::new("MemoryType"), |e, t| e.item(enum_name(t)));
    let where_input = InputObject::new("MemoryWhere")
        .description("Conditions on memories; all given must hold (`from`/`to` inclusive).")
        .field(InputValue::new("memoryType", TypeRef::named("MemoryType")))
        .field(InputValue::new("company", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("from", TypeRef::named("DateTime")))
        .field(InputValue::new("to", TypeRef::named("DateTime")));
    let input = InputObject::new("MemoryInput")
        .field(InputValue::new("memoryType", TypeRef::named_nn("MemoryType")))
        .field(InputValue::new("company", TypeRef::named(TypeRef::STRING)))
        .field(InputValue::new("timestamp", TypeRef::named("DateTime")).description("Defaults to now."))
        .field(InputValue::new("content", TypeRef::named_nn(TypeRef::STRING)))
        .field(
            InputValue::new("embedding", TypeRef::named_nn_list_nn(TypeRef::FLOAT))
                .description(format!("{DIMENSION} finite numbers, not all zero.")),
        );
    let mut builder = builder.register(kinds).register(where_input).register(input).register(memory_object());
    for o in connection_objects() {
        builder = builder.register(o);
    }
    let query = query
        .field(
            Field::new("memories", TypeRef::named_nn("MemoryConnection"), |ctx| {
                FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(list(&ctx).await?))) })
            })
            .argument(InputValue::new("where", TypeRef::named("MemoryWhere")))
            .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
            .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)))
            .description("The caller's memories, oldest first."),
        )
        .field(
            Field::new("searchMemories", TypeRef::named_nn_list_nn("MemoryHit"), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(FieldValue::list(search(&ctx).await?.into_iter().map(FieldValue::owned_any))))
                })
            })
            .argument(InputValue::new("embedding", TypeRef::named_nn_list_nn(TypeRef::FLOAT)))
            .argument(InputValue::new("limit", TypeRef::named(TypeRef::INT)).description("Defaults to 10."))
            .argument(InputValue::new("where", TypeRef::named("MemoryWhere")))
            .description("The caller's memories nearest to `embedding` by cosine similarity, best first."),
        );
    let mutation = mutation
        .field(
            Field::new("addMemory", TypeRef::named_nn("Memory"), |ctx| {
                FieldFuture::new(async move {
                    let m = add(&ctx, false).await?.pop().ok_or_else(|| ApiError::Internal("no memory".into()))?;
                    Ok(Some(FieldValue::owned_any(m)))
                })
            })
            .argument(InputValue::new("input", TypeRef::named_nn("MemoryInput")))
            .description("Stores a memory in the caller's collection."),
        )
        .field(
            Field::new("addMemories", TypeRef::named_nn_list_nn("Memory"), |ctx| {
                FieldFuture::new(async move {
                    Ok(Some(FieldValue::list(add(&ctx, true).await?.into_iter().map(FieldValue::owned_any))))
                })
            })
            .argument(InputValue::new("inputs", TypeRef::named_nn_list_nn("MemoryInput")))
            .description(format!(
                "Stores up to {MAX_BATCH} memories at once: all of them, or none when one is invalid."
            )),
        )
        .field(
            Field::new("deleteMemory", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
                FieldFuture::new(async move {
                    let state = state(&ctx)?;
                    let user = viewer_of(&ctx).require_user()?;
                    let id = string("id", arg(&ctx, "id"))?
                        .and_then(|s| Uuid::parse_str(&s).ok())
                        .ok_or_else(|| ApiError::bad("id: not a UUID"))?;
                    if !state.memories.delete(user, id).await? {
                        return Err(ApiError::NotFound("no such memory".into()).into());
                    }
                    Ok(Some(GqlValue::Boolean(true)))
                })
            })
            .argument(InputValue::new("id", TypeRef::named_nn("UUID")))
            .description("Deletes one of the caller's memories."),
        );
    SchemaParts { builder, query, mutation, ..parts }
}
