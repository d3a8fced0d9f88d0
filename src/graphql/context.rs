//! What resolvers read from the request: the shared state, the viewer, the rendering zone,
//! the page limits and their arguments; and the field helpers every registration shares.
use crate::auth::Viewer;
use crate::data::catalog::Table;
use crate::data::query::Limits;
use crate::error::{ApiError, ApiResult};
use crate::AppState;
use async_graphql::dynamic::{Field, FieldFuture, InputValue, ResolverContext, TypeRef};
use async_graphql::Value as GqlValue;
use chrono_tz::Tz;
use uuid::Uuid;

/// The request's rendering zone for `DateTime` values.
#[derive(Clone, Copy)]
pub struct RequestTz(pub Tz);

pub fn tz_of(ctx: &ResolverContext<'_>) -> Tz {
    ctx.data::<RequestTz>().map(|t| t.0).unwrap_or(Tz::UTC)
}

/// The shared state, for resolvers that return `ApiResult`.
pub fn app_state<'a>(ctx: &ResolverContext<'a>) -> Result<&'a AppState, ApiError> {
    ctx.data::<AppState>().map_err(|_| ApiError::Internal("no state".into()))
}

pub fn viewer_of<'a>(ctx: &ResolverContext<'a>) -> &'a Viewer {
    ctx.data::<Viewer>().unwrap_or(&Viewer::ANONYMOUS)
}

/// The configured page sizes (the defaults when a resolver runs without the state).
pub fn limits(ctx: &ResolverContext<'_>) -> Limits {
    ctx.data::<AppState>().map(|s| s.limits).unwrap_or(Limits { default_page: 100, max_page: 1000 })
}

/// An argument given and not null.
pub fn arg<'a>(ctx: &'a ResolverContext<'_>, name: &str) -> Option<&'a GqlValue> {
    ctx.args.get(name).map(|v| v.as_value()).filter(|v| !matches!(v, GqlValue::Null))
}

/// A required string argument.
pub fn arg_str(ctx: &ResolverContext<'_>, name: &str) -> ApiResult<String> {
    match arg(ctx, name) {
        Some(GqlValue::String(s)) => Ok(s.clone()),
        _ => Err(ApiError::bad(format!("`{name}` is required"))),
    }
}

/// A required UUID argument.
pub fn arg_uuid(ctx: &ResolverContext<'_>, name: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(&arg_str(ctx, name)?).map_err(|_| ApiError::bad(format!("`{name}` is not a UUID")))
}

/// A field computed from its parent value of type `T` (and the request's zone, for DateTimes).
pub fn value_field<T: std::any::Any + Send + Sync>(name: &str, ty: TypeRef, f: fn(&T, Tz) -> GqlValue) -> Field {
    Field::new(name, ty, move |ctx| {
        let tz = tz_of(&ctx);
        FieldFuture::new(async move { Ok(Some(f(ctx.parent_value.try_downcast_ref::<T>()?, tz))) })
    })
}

/// `asOf:` on the reads of tables with point-in-time versions.
pub fn as_of_arg(field: Field, t: &Table) -> Field {
    match t.as_of {
        Some(_) => field.argument(InputValue::new("asOf", TypeRef::named("Date")).description(
            "Point in time: per key, only the version known latest by the end of this day (UTC), as a backtest \
             would have seen it (README: when each table's rows are known).",
        )),
        None => field,
    }
}
