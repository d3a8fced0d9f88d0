//! `marketSnapshot`: the latest market snapshot per market type, from the snapshot cache
//! (`null` once expired), written by `publishMarketSnapshot` and streamed to subscribers.
use super::context::{app_state, value_field, viewer_of};
use super::SchemaParts;
use crate::auth::Role;
use crate::data::values::{parse_datetime, parse_decimal, render_datetime};
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, SubscriptionField, SubscriptionFieldFuture,
    TypeRef,
};
use async_graphql::Value as GqlValue;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rust_decimal::Decimal;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Arc;

/// A snapshot as stored: the documented JSON with snake_case keys, numbers kept as written.
pub struct Snapshot {
    market_type: String,
    vn_index: Option<Decimal>,
    dxy: Option<Decimal>,
    foreign_net_flow: Option<i64>,
    market_liquidity: Option<i64>,
    timestamp: Option<DateTime<Utc>>,
}

impl Snapshot {
    /// Reads the stored JSON without passing numbers through floating point.
    fn parse(market_type: &str, json: &str) -> Option<Snapshot> {
        let m: HashMap<String, Box<RawValue>> = serde_json::from_str(json).ok()?;
        let raw = |k: &str| m.get(k).map(|v| v.get().trim().trim_matches('"').to_string()).filter(|v| v != "null");
        let int = |k: &str| {
            raw(k).and_then(|v| {
                v.parse::<i64>().ok().or_else(|| parse_decimal(&v).ok().and_then(|d| i64::try_from(d.trunc()).ok()))
            })
        };
        Some(Snapshot {
            market_type: market_type.to_string(),
            vn_index: raw("vn_index").and_then(|v| parse_decimal(&v).ok()),
            dxy: raw("dxy").and_then(|v| parse_decimal(&v).ok()),
            foreign_net_flow: int("foreign_net_flow"),
            market_liquidity: int("market_liquidity"),
            timestamp: raw("timestamp").and_then(|v| parse_datetime(&v).ok()),
        })
    }

    fn to_json(&self) -> String {
        let num = |d: Option<Decimal>| d.map_or("null".to_string(), |d| d.to_string());
        let int = |i: Option<i64>| i.map_or("null".to_string(), |i| i.to_string());
        let ts = self.timestamp.map_or("null".to_string(), |t| format!("\"{}\"", t.to_rfc3339()));
        format!(
            "{{\"vn_index\":{},\"dxy\":{},\"foreign_net_flow\":{},\"market_liquidity\":{},\"timestamp\":{}}}",
            num(self.vn_index),
            num(self.dxy),
            int(self.foreign_net_flow),
            int(self.market_liquidity),
            ts
        )
    }
}

fn market_type(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> ApiResult<String> {
    let t = ctx.args.get("marketType").and_then(|v| v.string().ok().map(String::from)).unwrap_or_default();
    if t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ApiError::bad("marketType: letters, digits, `_` or `-`"));
    }
    Ok(t)
}

async fn publish(ctx: &async_graphql::dynamic::ResolverContext<'_>) -> ApiResult<Snapshot> {
    let state = app_state(ctx)?;
    let viewer = viewer_of(ctx);
    match viewer.role {
        Role::Service | Role::Admin => {}
        Role::Anonymous => return Err(ApiError::Unauthenticated("sign in as a market-data worker".into())),
        _ => return Err(ApiError::Forbidden("publishing snapshots needs the service role".into())),
    }
    let market_type = market_type(ctx)?;
    let GqlValue::Object(o) = ctx.args.get("snapshot").map(|v| v.as_value().clone()).unwrap_or(GqlValue::Null) else {
        return Err(ApiError::bad("snapshot is required"));
    };
    let text = |k: &str| match o.get(k) {
        Some(GqlValue::String(s)) => Some(s.clone()),
        Some(GqlValue::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let dec = |k: &str| {
        text(k)
            .map(|v| parse_decimal(&v).map_err(|_| ApiError::bad(format!("snapshot.{k}: not a decimal"))))
            .transpose()
    };
    let int = |k: &str| {
        text(k)
            .map(|v| v.parse::<i64>().map_err(|_| ApiError::bad(format!("snapshot.{k}: not a 64-bit integer"))))
            .transpose()
    };
    let snap = Snapshot {
        market_type: market_type.clone(),
        vn_index: dec("vnIndex")?,
        dxy: dec("dxy")?,
        foreign_net_flow: int("foreignNetFlow")?,
        market_liquidity: int("marketLiquidity")?,
        timestamp: text("timestamp").map(|t| parse_datetime(&t).map_err(ApiError::bad)).transpose()?,
    };
    let json = snap.to_json();
    state.snapshots.put(&market_type, &json, state.snapshot_ttl).await?;
    state.events.publish(
        &crate::events::Topic::Snapshot { market_type: market_type.clone() },
        Arc::new(serde_json::json!({ "market_type": market_type, "json": json })),
    );
    Ok(snap)
}

fn object() -> Object {
    let field = value_field::<Snapshot>;
    Object::new("MarketSnapshot")
        .description("The latest market snapshot of one market type (cached for a short time).")
        .field(field("marketType", TypeRef::named_nn(TypeRef::STRING), |s, _| GqlValue::String(s.market_type.clone())))
        .field(field("vnIndex", TypeRef::named("Decimal"), |s, _| {
            s.vn_index.map_or(GqlValue::Null, |d| GqlValue::String(d.to_string()))
        }))
        .field(field("dxy", TypeRef::named("Decimal"), |s, _| {
            s.dxy.map_or(GqlValue::Null, |d| GqlValue::String(d.to_string()))
        }))
        .field(field("foreignNetFlow", TypeRef::named("BigInt"), |s, _| {
            s.foreign_net_flow.map_or(GqlValue::Null, |i| GqlValue::String(i.to_string()))
        }))
        .field(field("marketLiquidity", TypeRef::named("BigInt"), |s, _| {
            s.market_liquidity.map_or(GqlValue::Null, |i| GqlValue::String(i.to_string()))
        }))
        .field(field("timestamp", TypeRef::named("DateTime"), |s, tz| {
            s.timestamp.map_or(GqlValue::Null, |t| GqlValue::String(render_datetime(&t, tz)))
        }))
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    let (builder, query, mutation) = (parts.builder, parts.query, parts.mutation);
    let builder = builder.register(object()).register(
        InputObject::new("MarketSnapshotInput")
            .field(InputValue::new("vnIndex", TypeRef::named("Decimal")))
            .field(InputValue::new("dxy", TypeRef::named("Decimal")))
            .field(InputValue::new("foreignNetFlow", TypeRef::named("BigInt")))
            .field(InputValue::new("marketLiquidity", TypeRef::named("BigInt")))
            .field(InputValue::new("timestamp", TypeRef::named("DateTime"))),
    );
    let mt = || InputValue::new("marketType", TypeRef::named_nn(TypeRef::STRING));
    let query = query.field(
        Field::new("marketSnapshot", TypeRef::named("MarketSnapshot"), |ctx| {
            FieldFuture::new(async move {
                let state = ctx.data::<AppState>()?;
                let t = market_type(&ctx)?;
                Ok(state.snapshots.get(&t).await?.and_then(|j| Snapshot::parse(&t, &j)).map(FieldValue::owned_any))
            })
        })
        .argument(mt())
        .description("The cached snapshot, or null when none is fresh."),
    );
    let mutation = mutation.field(
        Field::new("publishMarketSnapshot", TypeRef::named_nn("MarketSnapshot"), |ctx| {
            FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(publish(&ctx).await?))) })
        })
        .argument(mt())
        .argument(InputValue::new("snapshot", TypeRef::named_nn("MarketSnapshotInput")))
        .description("Stores a snapshot for its time-to-live and tells subscribers (service role)."),
    );
    let sub = SubscriptionField::new("marketSnapshot", TypeRef::named_nn("MarketSnapshot"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let state = ctx.data::<AppState>()?;
            let t = market_type(&ctx)?;
            let rx = state.events.subscribe(&crate::events::Topic::Snapshot { market_type: t.clone() });
            let s = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |ev| {
                let t = t.clone();
                async move { Snapshot::parse(&t, ev.ok()?["json"].as_str()?) }
            });
            Ok(super::subscriptions::slotted(&ctx, s.boxed())?
                .map(|s| Ok::<_, async_graphql::Error>(FieldValue::owned_any(s))))
        })
    })
    .argument(mt())
    .description("Each new snapshot of this market type.");
    SchemaParts { builder, query, mutation, subscription: parts.subscription.field(sub) }
}
