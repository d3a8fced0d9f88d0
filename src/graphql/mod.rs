//! The GraphQL API: generic machinery over the catalog of tables, assembled into one schema.
pub mod aggregate;
pub mod args;
pub mod buckets;
pub mod cached;
pub mod collect;
pub mod complete;
pub mod connection;
pub mod context;
pub mod cost;
pub mod direct;
pub mod document;
pub mod documents;
pub mod federation;
pub mod identity;
pub mod keyed;
pub mod live;
pub mod memories;
pub mod mutations;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod same_shape;
pub mod scalars;
pub mod schema;
pub mod schema_index;
pub mod shapes;
pub mod snapshot;
pub mod streams;
pub mod subscriptions;
pub mod users;
pub mod value_chain;
pub mod workflow_runs;

use async_graphql::dynamic::{Object, Schema, SchemaBuilder, SchemaError, Subscription};

/// Limits that shape the schema itself.
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

/// The schema as its parts register into it: each part's `register` takes and returns them.
pub struct SchemaParts {
    pub builder: SchemaBuilder,
    pub query: Object,
    pub mutation: Object,
    pub subscription: Subscription,
}

/// Builds the schema. Reads no environment and does no I/O: state arrives as data.
pub fn build_schema(state: Option<crate::AppState>, limits: SchemaLimits) -> Result<Schema, SchemaError> {
    let parts = SchemaParts {
        builder: Schema::build("Query", Some("Mutation"), Some("Subscription")),
        query: Object::new("Query").description("Market data, research results and workflows."),
        mutation: Object::new("Mutation").description("Validated, transactional writes."),
        subscription: Subscription::new("Subscription"),
    };
    // In this order: it is the order of the fields in the schema.
    let parts: SchemaParts = [
        schema::register,
        identity::register,
        buckets::register,
        aggregate::register,
        value_chain::register,
        mutations::register,
        users::register,
        workflow_runs::register,
        memories::register,
        subscriptions::register,
        live::register,
        streams::register,
        snapshot::register,
    ]
    .into_iter()
    .fold(parts, |parts, register| register(parts));
    let SchemaParts { builder, query, mutation, subscription } = parts;
    let mut builder = builder
        .register(query)
        .register(mutation)
        .register(subscription)
        .enable_federation()
        .entity_resolver(federation::entities)
        .extension(keyed::NullItems)
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
