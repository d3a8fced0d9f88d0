//! The GraphQL API: generic machinery over the catalog of tables, assembled into one schema.
pub mod aggregate;
pub mod args;
pub mod buckets;
pub mod collect;
pub mod complete;
pub mod connection;
pub mod context;
pub mod cost;
pub mod direct;
pub mod document;
pub mod documents;
pub mod memories;
pub mod mutations;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod scalars;
pub mod schema;
pub mod schema_index;
pub mod shapes;
pub mod snapshot;
pub mod subscriptions;
pub mod users;
pub mod value_chain;
pub mod workflow_runs;

use async_graphql::dynamic::{Object, Schema, SchemaError};

/// Limits that shape the schema itself.
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

/// Builds the schema. Reads no environment and does no I/O: state arrives as data.
pub fn build_schema(state: Option<crate::AppState>, limits: SchemaLimits) -> Result<Schema, SchemaError> {
    let builder = Schema::build("Query", Some("Mutation"), Some("Subscription"));
    let query = Object::new("Query").description("Market data, research results and workflows.");
    let mutation = Object::new("Mutation").description("Validated, transactional writes.");
    let (builder, query) = schema::register(builder, query);
    let (builder, query) = buckets::register(builder, query);
    let (builder, query) = aggregate::register(builder, query);
    let (builder, query) = value_chain::register(builder, query);
    let (builder, mutation) = mutations::register(builder, mutation);
    let (builder, query, mutation) = users::register(builder, query, mutation);
    let mutation = workflow_runs::register(mutation);
    let (builder, query, mutation) = memories::register(builder, query, mutation);
    let (builder, query, mutation, snapshots) = snapshot::register(builder, query, mutation);
    let mut builder = subscriptions::register(builder, snapshots);
    builder = builder
        .register(query)
        .register(mutation)
        .extension(pipeline::PipelineHooks)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.finish()
}
