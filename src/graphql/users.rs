//! Accounts and the mutations that are not plain table writes: register, login, `me`, broker
//! connection, tokens and allocations.
use super::context::{app_state as state, arg, arg_str, arg_uuid, viewer_of};
use super::mutations::may_write;
use super::SchemaParts;
use crate::auth::{hash_password, verify_password, Role, Viewer};
use crate::data::catalog::{Catalog, Table};
use crate::data::exec::ReadConnection;
use crate::data::query::{Cond, Op};
use crate::data::read;
use crate::data::read::Row;
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use crate::service::{accounts, tables};
use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::Value as GqlValue;
use uuid::Uuid;

const LOGIN_TTL_SECS: u64 = 12 * 3600;

pub(crate) fn t(name: &str) -> &'static Table {
    Catalog::get().table(name)
}

/// One row of `table` where `col = v` (no access rule: callers check first).
pub(crate) async fn row_where<C: ReadConnection>(
    db: &C,
    table: &'static Table,
    col: &str,
    v: Cell,
) -> ApiResult<Option<Row>> {
    let cond = Cond::Cmp(table.col(col).expect("column"), Op::Eq, v);
    let q = crate::data::query::ListQuery::matching(cond, table.default_order.clone(), 1);
    Ok(read::list(db, table, &q, None).await?.into_iter().next())
}

async fn user_row<C: ReadConnection>(db: &C, id: Uuid) -> ApiResult<Row> {
    row_where(db, t("users"), "id", Cell::Uuid(id)).await?.ok_or_else(|| ApiError::NotFound("no such user".into()))
}

struct AuthPayload {
    token: String,
    user: Row,
}

fn check_email(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 255
        && e.split_once('@').is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.starts_with('.'));
    if ok {
        Ok(e)
    } else {
        Err(ApiError::bad("email: not an e-mail address"))
    }
}

async fn register_user(ctx: &ResolverContext<'_>) -> ApiResult<AuthPayload> {
    let state = state(ctx)?;
    let email = check_email(&arg_str(ctx, "email")?)?;
    let password = arg_str(ctx, "password")?;
    if password.chars().count() < 8 {
        return Err(ApiError::bad("password: at least 8 characters"));
    }
    let hash = state.passwords.run(move || hash_password(&password)).await??;
    let id = Uuid::new_v4();
    accounts::create(&state.db, id, email, hash).await?;
    let user = user_row(&state.db.write, id).await?;
    Ok(AuthPayload { token: state.tokens.issue_for_account(id, Role::User, LOGIN_TTL_SECS)?, user })
}

async fn login(ctx: &ResolverContext<'_>) -> ApiResult<AuthPayload> {
    let state = state(ctx)?;
    let email = arg_str(ctx, "email")?.trim().to_lowercase();
    let password = arg_str(ctx, "password")?;
    let wrong = || ApiError::Unauthenticated("wrong e-mail or password".into());
    let (id, phc, role) = accounts::credentials(&state.db, email).await?.ok_or_else(wrong)?;
    let ok = state.passwords.run(move || verify_password(&password, &phc)).await?;
    if !ok {
        return Err(wrong());
    }
    let role = Role::parse(&role).unwrap_or(Role::User);
    let user = user_row(&state.db.write, id).await?;
    Ok(AuthPayload { token: state.tokens.issue_for_account(id, role, LOGIN_TTL_SECS)?, user })
}

async fn connect_broker(ctx: &ResolverContext<'_>) -> ApiResult<Row> {
    let state = state(ctx)?;
    let me = viewer_of(ctx).require_user()?;
    let client_id = arg_str(ctx, "clientId")?;
    let token = arg_str(ctx, "token")?;
    if client_id.trim().is_empty() || token.is_empty() {
        return Err(ApiError::bad("clientId and token must not be empty"));
    }
    let fernet = state
        .fernet
        .as_ref()
        .ok_or_else(|| ApiError::Forbidden("broker connections are not enabled on this server (FERNET_KEY)".into()))?;
    let sealed = fernet.encrypt(token.as_bytes());
    accounts::connect_broker(&state.db, me, client_id, sealed).await?;
    user_row(&state.db.write, me).await
}

async fn set_allocations(ctx: &ResolverContext<'_>) -> ApiResult<Vec<Row>> {
    let state = state(ctx)?;
    let table = t("portfolio_allocations");
    let (owner, me) = may_write(table, viewer_of(ctx))?.ok_or_else(|| ApiError::Unauthenticated("sign in".into()))?;
    let Some(GqlValue::List(items)) = arg(ctx, "allocations") else {
        return Err(ApiError::bad("`allocations` is required"));
    };
    let mut rows = Vec::with_capacity(items.len());
    let mut total = 0.0;
    for (i, v) in items.iter().enumerate() {
        let GqlValue::Object(o) = v else { return Err(ApiError::bad("allocations: objects expected")) };
        let row = super::mutations::parse_input(table, o, &format!("allocations[{i}]"), Some((owner, me)), true)?;
        if let Some((_, crate::data::values::Cell::Float(p))) =
            row.iter().find(|(c, _)| Some(*c) == table.col("allocation_pct"))
        {
            total += p;
        }
        rows.push(row);
    }
    if total > 100.0 + 1e-9 {
        return Err(ApiError::bad(format!("allocations: the total is {total}%, more than 100%")));
    }
    tables::replace(&state.db, table, &Cond::Cmp(owner, Op::Eq, Cell::Uuid(me)), rows).await
}

async fn issue_token(ctx: &ResolverContext<'_>) -> ApiResult<String> {
    let state = state(ctx)?;
    viewer_of(ctx).require_admin()?;
    let role = Role::parse(&arg_str(ctx, "role")?)
        .ok_or_else(|| ApiError::bad("role: one of user, analyst, service, admin"))?;
    let subject = match arg(ctx, "subject") {
        Some(GqlValue::String(s)) => s.clone(),
        _ => Uuid::new_v4().to_string(),
    };
    let hours = match arg(ctx, "ttlHours") {
        Some(GqlValue::Number(n)) => {
            n.as_u64().filter(|h| *h > 0 && *h <= 24 * 365).ok_or_else(|| ApiError::bad("ttlHours: 1 to 8760"))?
        }
        _ => 24,
    };
    state.tokens.issue(&subject, role, hours * 3600)
}

async fn delete_user(ctx: &ResolverContext<'_>) -> ApiResult<bool> {
    let state = state(ctx)?;
    let viewer: &Viewer = viewer_of(ctx);
    let id = arg_uuid(ctx, "rowId")?;
    if !(viewer.is_admin() || viewer.user == Some(id) && viewer.role != Role::Anonymous) {
        viewer.require_admin()?;
    }
    let users = t("users");
    // Memories first: if the row delete then fails, the user can retry; the reverse order could
    // leave a collection nobody owns.
    state.memories.drop_user(id).await?;
    tables::delete(&state.db, users, &Cond::Cmp(users.col("id").unwrap(), Op::Eq, Cell::Uuid(id))).await?;
    state.live_accounts.forget(id);
    Ok(true)
}

fn rows(r: Vec<Row>) -> Option<FieldValue<'static>> {
    Some(FieldValue::list(r.into_iter().map(FieldValue::owned_any)))
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    let (mut builder, query, mutation) = (parts.builder, parts.query, parts.mutation);
    builder = builder
        .register(
            Object::new("AuthPayload")
                .field(Field::new("token", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                    FieldFuture::new(async move {
                        Ok(Some(GqlValue::String(ctx.parent_value.try_downcast_ref::<AuthPayload>()?.token.clone())))
                    })
                }))
                .field(Field::new("user", TypeRef::named_nn("User"), |ctx| {
                    FieldFuture::new(async move {
                        Ok(Some(FieldValue::borrowed_any(&ctx.parent_value.try_downcast_ref::<AuthPayload>()?.user)))
                    })
                })),
        )
        .register(
            InputObject::new("AllocationInput")
                .field(InputValue::new("symbol", TypeRef::named_nn(TypeRef::STRING)))
                .field(InputValue::new("allocationPct", TypeRef::named_nn(TypeRef::FLOAT))),
        );
    let s = |n: &str| InputValue::new(n, TypeRef::named_nn(TypeRef::STRING));
    let query = query.field(
        Field::new("me", TypeRef::named("User"), |ctx| {
            FieldFuture::new(async move {
                let state = state(&ctx)?;
                let me = viewer_of(&ctx).require_user()?;
                Ok(row_where(&state.db.read, t("users"), "id", Cell::Uuid(me)).await?.map(FieldValue::owned_any))
            })
        })
        .description("The signed-in user."),
    );
    let mutation = mutation
        .field(
            Field::new("register", TypeRef::named_nn("AuthPayload"), |ctx| {
                FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(register_user(&ctx).await?))) })
            })
            .argument(s("email"))
            .argument(s("password"))
            .description("Creates an account (role `user`) and signs it in."),
        )
        .field(
            Field::new("login", TypeRef::named_nn("AuthPayload"), |ctx| {
                FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(login(&ctx).await?))) })
            })
            .argument(s("email"))
            .argument(s("password")),
        )
        .field(
            Field::new("connectBroker", TypeRef::named_nn("User"), |ctx| {
                FieldFuture::new(async move { Ok(Some(FieldValue::owned_any(connect_broker(&ctx).await?))) })
            })
            .argument(s("clientId"))
            .argument(s("token"))
            .description("Stores the caller's DNSE broker token, encrypted at rest."),
        )
        .field(
            Field::new("issueToken", TypeRef::named_nn(TypeRef::STRING), |ctx| {
                FieldFuture::new(async move { Ok(Some(GqlValue::String(issue_token(&ctx).await?))) })
            })
            .argument(s("role"))
            .argument(InputValue::new("subject", TypeRef::named(TypeRef::STRING)))
            .argument(InputValue::new("ttlHours", TypeRef::named(TypeRef::INT)))
            .description("Admins mint tokens for workers (`service`) and analysts."),
        )
        .field(
            Field::new("deleteUser", TypeRef::named_nn(TypeRef::BOOLEAN), |ctx| {
                FieldFuture::new(async move { Ok(Some(GqlValue::Boolean(delete_user(&ctx).await?))) })
            })
            .argument(InputValue::new("rowId", TypeRef::named_nn("UUID"))),
        )
        .field(
            Field::new("setPortfolioAllocations", TypeRef::named_nn_list_nn("PortfolioAllocation"), |ctx| {
                FieldFuture::new(async move { Ok(rows(set_allocations(&ctx).await?)) })
            })
            .argument(InputValue::new("allocations", TypeRef::named_nn_list_nn("AllocationInput")))
            .description("Replaces the caller's allocations (each 0–100 %, total at most 100 %)."),
        );
    SchemaParts { builder, query, mutation, ..parts }
}
