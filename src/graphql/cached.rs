//! The pipeline's side of the response cache: which answers may be cached and under which key,
//! and what a mutation on this replica evicts before it is acknowledged.
//!
//! An answer is cached when every root is a catalog read (a list or a row of a table): its
//! tags are the tables the plan reads (`data::depends`). Other roots (series, buckets, memories,
//! users…) read through resolvers whose sources the plan does not see, and are not cached.
use super::collect::CollectedOperation;
use super::context::RequestTz;
use super::plan::{BoundOperation, RootPlan};
use crate::auth::Viewer;
use crate::data::catalog::{Access, Catalog, Mutation, Table};
use crate::data::depends::{self, Tag};
use crate::events::changes::Change;
use crate::events::Topic;
use crate::AppState;
use async_graphql::Request;
use std::collections::BTreeSet;

/// The tags of an answer to `bound`, or `None` when it is not cacheable.
pub fn tags(bound: &BoundOperation) -> Option<Vec<Tag>> {
    let mut out = Vec::new();
    for (_, root) in &bound.roots {
        match root {
            RootPlan::Typename => {}
            RootPlan::List { query, fetch, .. } | RootPlan::One { query, fetch, .. } => {
                depends::of_read(query, fetch, &mut out)
            }
            RootPlan::Series { .. } | RootPlan::Other => return None,
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|t| seen.insert(t.clone()));
    Some(out)
}

/// Everything that decides an answer besides the data: the document and operation, the
/// variables, the caller's role, the caller when a table read is owner-scoped (other roles
/// read by role alone), and the time zone of rendered times. Parts are separated by NUL,
/// which JSON text escapes and no document holds unescaped.
pub fn key(req: &Request, viewer: &Viewer, tz: RequestTz, tags: &[Tag]) -> String {
    let cat = Catalog::get();
    let owned = tags.iter().any(|t| {
        let name = match t {
            Tag::Table(n) | Tag::Key(n, _) => n,
        };
        matches!(cat.table(name).access, Access::Owned(_))
    });
    let variables = serde_json::to_string(&req.variables).unwrap_or_default();
    let user = if owned { viewer.user.map(|u| u.to_string()).unwrap_or_default() } else { String::new() };
    format!(
        "{}\0{}\0{}\0{:?}\0{}\0{}",
        req.query,
        req.operation_name.as_deref().unwrap_or(""),
        variables,
        viewer.role,
        user,
        tz.0.name()
    )
}

/// The key of a live query's group: as `key`, and for a read whose sources are not known
/// (`tags` is `None`) the caller always, as such reads may be owner-scoped.
pub fn live_key(req: &Request, viewer: &Viewer, tz: RequestTz, tags: Option<&[Tag]>) -> String {
    match tags {
        Some(tags) => key(req, viewer, tz, tags),
        None => format!("{}\0{}", key(req, viewer, tz, &[]), viewer.user.map(|u| u.to_string()).unwrap_or_default()),
    }
}

/// What a mutation field writes: tables, nothing the cache holds, or something unknown.
enum Writes {
    Tables(Vec<&'static Table>),
    Nothing,
    Unknown,
}

/// Mutations outside the catalog's generic ones, and the tables they write. A deleted user
/// takes rows of many tables along, so it counts as unknown (everything is evicted).
const SPECIAL: [(&str, &[&str]); 12] = [
    ("register", &["users"]),
    ("login", &[]),
    ("connectBroker", &["users"]),
    ("issueToken", &[]),
    ("setPortfolioAllocations", &["portfolio_allocations"]),
    ("runWorkflow", &["workflow_execution_logs"]),
    ("claimWorkflowExecution", &["workflow_execution_logs"]),
    ("renewWorkflowExecutionLease", &["workflow_execution_logs"]),
    ("updateWorkflowExecution", &["workflow_execution_logs"]),
    // Memories live in the vector store and snapshots in their own cache: no cached read
    // shows them.
    ("addMemory", &[]),
    ("addMemories", &[]),
    ("deleteMemory", &[]),
];

fn writes(field: &str) -> Writes {
    let cat = Catalog::get();
    if field == "publishMarketSnapshot" {
        return Writes::Nothing;
    }
    if let Some((_, tables)) = SPECIAL.iter().find(|(f, _)| *f == field) {
        return match tables.is_empty() {
            true => Writes::Nothing,
            false => Writes::Tables(tables.iter().map(|t| cat.table(t)).collect()),
        };
    }
    for t in &cat.tables {
        for m in &t.mutations {
            let (name, reaches) = match *m {
                Mutation::Create(n) | Mutation::CreateMany(n, _) | Mutation::Upsert(n, _) => (n, false),
                // Deleting or re-keying a row takes its dependent rows along.
                Mutation::Update(n) | Mutation::Delete(n) => (n, true),
            };
            if name == field {
                let mut out = vec![t];
                if reaches {
                    dependents(t, &mut out);
                }
                return Writes::Tables(out);
            }
        }
    }
    Writes::Unknown
}

/// Tables reachable from `t` through its relations (each once).
fn dependents(t: &'static Table, out: &mut Vec<&'static Table>) {
    for r in &t.relations {
        let target = Catalog::get().table(r.target);
        if !out.iter().any(|o| std::ptr::eq(*o, target)) {
            out.push(target);
            dependents(target, out);
        }
    }
}

/// Evicts every answer that read `tables`: this replica wrote them outside a mutation.
/// Live queries that read them run again.
pub fn evict(state: &AppState, tables: &[&str]) {
    for table in tables {
        let change = Change { table: table.to_string(), keys: None };
        if let Some(cache) = &state.responses {
            cache.apply(&change);
        }
        // Live queries and table streams hear of it as of any change (on SQLite, this
        // process's commits are not seen otherwise).
        state.events.deliver(&Topic::Changes.channel(), change.payload());
    }
}

/// Evicts what a mutation run on this replica may have written, before its answer leaves:
/// the next read here sees the write, on a standby too. (Other replicas hear of it from the
/// database's change events.)
pub async fn after_mutation(state: &AppState, op: &CollectedOperation) {
    if let Some(standby) = &state.db.read.standby {
        standby.require_primary_now().await;
    }
    let mut tables = BTreeSet::new();
    for f in &op.roots {
        match writes(f.name.as_str()) {
            Writes::Tables(ts) => tables.extend(ts.iter().map(|t| t.name)),
            Writes::Nothing => {}
            Writes::Unknown if f.name.as_str() == "__typename" => {}
            Writes::Unknown => {
                if let Some(cache) = &state.responses {
                    cache.flush();
                }
                let anything = Change { table: "*".into(), keys: None };
                return state.events.deliver(&Topic::Changes.channel(), anything.payload());
            }
        }
    }
    evict(state, &tables.into_iter().collect::<Vec<_>>());
}

#[cfg(test)]
mod tests {
    use super::{writes, Writes};

    /// Every mutation of the schema is known, so none flushes the whole cache by accident.
    #[test]
    fn every_mutation_says_what_it_writes() {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let doc = async_graphql::parser::parse_schema(crate::export_schema()).unwrap();
        let fields: Vec<String> = doc
            .definitions
            .into_iter()
            .filter_map(|d| match d {
                TypeSystemDefinition::Type(t) if t.node.name.node == "Mutation" => match t.node.kind {
                    TypeKind::Object(o) => Some(o.fields),
                    _ => None,
                },
                _ => None,
            })
            .flatten()
            .map(|f| f.node.name.node.to_string())
            .collect();
        assert!(fields.len() > 30, "{fields:?}");
        let unknown: Vec<&String> =
            fields.iter().filter(|f| matches!(writes(f), Writes::Unknown) && *f != "deleteUser").collect();
        assert!(unknown.is_empty(), "mutations the response cache does not know: {unknown:?}");
        assert!(
            matches!(writes("deleteStrategy"), Writes::Tables(t) if t.iter().any(|t| t.name == "backtest_results"))
        );
    }
}
