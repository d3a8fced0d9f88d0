//! `valueChain`: the GraphQL face of the value-chain walk (`data::value_chain`).
use super::context::app_state;
use super::SchemaParts;
use crate::data::catalog::Catalog;
use crate::data::query::check_region;
use crate::data::value_chain::{self, Direction, Reached, Walk, MAX_DEPTH};
use crate::error::ApiError;
use async_graphql::dynamic::{Enum, Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::Value as GqlValue;

fn reached_field(name: &str, ty: TypeRef, f: fn(&Reached) -> Option<FieldValue<'_>>) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move { Ok(f(ctx.parent_value.try_downcast_ref::<Reached>()?)) })
    })
}

/// An argument given and not null.
fn arg<'a>(
    ctx: &'a async_graphql::dynamic::ResolverContext<'_>,
    name: &str,
) -> Option<async_graphql::dynamic::ValueAccessor<'a>> {
    ctx.args.get(name).filter(|v| !v.is_null())
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    let (builder, query) = (parts.builder, parts.query);
    let builder = builder
        .register(
            Enum::new("ValueChainDirection")
                .item(
                    async_graphql::dynamic::EnumItem::new("UPSTREAM")
                        .description("Towards suppliers (edge target → source)."),
                )
                .item(
                    async_graphql::dynamic::EnumItem::new("DOWNSTREAM")
                        .description("Towards customers (edge source → target)."),
                )
                .item(async_graphql::dynamic::EnumItem::new("BOTH")),
        )
        .register(
            Object::new("ValueChainReach")
                .description("A node reached from the start of a value-chain walk.")
                .field(reached_field("node", TypeRef::named_nn("ValueChainNode"), |r| {
                    Some(FieldValue::borrowed_any(&r.node))
                }))
                .field(
                    reached_field("depth", TypeRef::named_nn(TypeRef::INT), |r| {
                        Some(FieldValue::value(GqlValue::from(r.depth)))
                    })
                    .description("Fewest edges from the start."),
                )
                .field(
                    reached_field("exposure", TypeRef::named(TypeRef::FLOAT), |r| {
                        r.exposure.map(|e| FieldValue::value(GqlValue::from(e)))
                    })
                    .description(
                        "Product of the edge correlations along the strongest path (the largest in absolute \
                         value); null when every path crosses an edge without a correlation.",
                    ),
                )
                .field(
                    reached_field("path", TypeRef::named_nn_list_nn("ValueChainNode"), |r| {
                        Some(FieldValue::list(r.path.iter().map(|n| FieldValue::borrowed_any(n))))
                    })
                    .description("The strongest path's nodes: the start first, this node last."),
                ),
        );
    let field = Field::new("valueChain", TypeRef::named_nn_list_nn("ValueChainReach"), |ctx| {
        FieldFuture::new(async move {
            let state = app_state(&ctx)?;
            let ticker = ctx.args.try_get("ticker")?.string()?.to_string();
            let held = graph_region();
            if let Some(region) = arg(&ctx, "region").map(|v| v.string().map(str::to_string)).transpose()? {
                check_region(&region)?;
                if region != held {
                    let msg = format!("region: the value chain holds `{held}` listings only, not `{region}`");
                    return Err(ApiError::bad(msg).into());
                }
            }
            let direction = match arg(&ctx, "direction").map(|v| v.enum_name().map(str::to_string)).transpose()? {
                Some(d) if d == "UPSTREAM" => Direction::Upstream,
                Some(d) if d == "BOTH" => Direction::Both,
                _ => Direction::Downstream,
            };
            let max_depth = arg(&ctx, "maxDepth").map(|v| v.i64()).transpose()?.unwrap_or(3);
            if !(1..=MAX_DEPTH).contains(&max_depth) {
                return Err(ApiError::bad(format!("maxDepth: 1 to {MAX_DEPTH}")).into());
            }
            let min_correlation = arg(&ctx, "minCorrelation").map(|v| v.f64()).transpose()?;
            if min_correlation.is_some_and(|m| !(0.0..=1.0).contains(&m)) {
                return Err(ApiError::bad("minCorrelation: 0 to 1 (compared with |correlation|)").into());
            }
            let walk = Walk { direction, max_depth, min_correlation };
            let reached = value_chain::walk(&state.db.read, &ticker, &walk).await?;
            Ok(Some(FieldValue::list(reached.into_iter().map(FieldValue::owned_any))))
        })
    })
    .argument(InputValue::new("ticker", TypeRef::named_nn(TypeRef::STRING)))
    .argument(InputValue::new("region", TypeRef::named(TypeRef::STRING)).description(format!(
        "The graph holds `{}` listings only (the default); another region is BAD_USER_INPUT.",
        graph_region()
    )))
    .argument(InputValue::new("direction", TypeRef::named("ValueChainDirection")).description("Default DOWNSTREAM."))
    .argument(
        InputValue::new("maxDepth", TypeRef::named(TypeRef::INT))
            .description(format!("1 to {MAX_DEPTH} edges; default 3.")),
    )
    .argument(InputValue::new("minCorrelation", TypeRef::named(TypeRef::FLOAT)).description(
        "Walk only edges whose |correlation| is at least this (0 to 1); edges without one are then skipped.",
    ))
    .description(
        "The companies and commodities linked to a ticker through the value chain, nearest first: every \
         path without repeated nodes up to `maxDepth` edges, walked in one recursive SQL statement.",
    );
    SchemaParts { builder, query: query.field(field), ..parts }
}

/// The region of the value chain's listings, as the catalog declares it.
fn graph_region() -> &'static str {
    Catalog::get().table("value_chain_nodes").symbols_region.expect("value-chain region")
}
