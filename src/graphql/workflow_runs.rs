//! The workflow-run life cycle: a user queues a run; workers (the `service` role) claim runs
//! under a lease, renew it while they work, and report the outcome.
use super::context::{app_state as state, viewer_of};
use super::context::{arg, arg_str, arg_uuid};
use super::users::{row_where, t};
use super::SchemaParts;
use crate::auth::Role;
use crate::data::query::{Cond, Op};
use crate::data::read;
use crate::data::read::Row;
use crate::data::values::Cell;
use crate::error::{ApiError, ApiResult};
use crate::service::{runs, tables};
use crate::AppState;
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, ResolverContext, TypeRef};
use async_graphql::Value as GqlValue;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Lease length when a worker does not ask for one, and the longest it may ask for.
const DEFAULT_LEASE_SECS: i64 = 60;
const MAX_LEASE_SECS: i64 = 3600;

/// How often each replica returns lapsed runs to the queue (claims also do it first).
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

fn require_worker(ctx: &ResolverContext<'_>) -> ApiResult<()> {
    match viewer_of(ctx).role {
        Role::Service | Role::Admin => Ok(()),
        Role::Anonymous => Err(ApiError::Unauthenticated("sign in as a workflow worker".into())),
        _ => Err(ApiError::Forbidden("only workflow workers (service role) work on runs".into())),
    }
}

/// The name a worker gives itself: what `claimedBy` shows and what its later calls must repeat.
fn worker_name(ctx: &ResolverContext<'_>) -> ApiResult<String> {
    let w = arg_str(ctx, "worker")?;
    if w.trim().is_empty() || w.chars().count() > 255 {
        return Err(ApiError::bad("worker: 1 to 255 characters"));
    }
    Ok(w)
}

fn lease_end(ctx: &ResolverContext<'_>) -> ApiResult<DateTime<Utc>> {
    let secs = match arg(ctx, "leaseSeconds") {
        Some(GqlValue::Number(n)) => n
            .as_i64()
            .filter(|s| (1..=MAX_LEASE_SECS).contains(s))
            .ok_or_else(|| ApiError::bad(format!("leaseSeconds: 1 to {MAX_LEASE_SECS}")))?,
        _ => DEFAULT_LEASE_SECS,
    };
    Ok(Utc::now() + chrono::Duration::seconds(secs))
}

/// Returns lapsed runs to the queue (or fails them) and tells their subscribers.
pub async fn sweep(state: &AppState) -> ApiResult<()> {
    let lapsed = runs::expire(&state.db, Utc::now(), state.workflow_max_attempts).await?;
    if !lapsed.is_empty() {
        super::cached::evict(state, &["workflow_execution_logs"]);
    }
    crate::events::publish_rows(state, t("workflow_execution_logs"), &lapsed);
    Ok(())
}

async fn run_workflow(ctx: &ResolverContext<'_>) -> ApiResult<Row> {
    let state = state(ctx)?;
    let viewer = viewer_of(ctx);
    let workflows = t("workflows");
    let id = arg_uuid(ctx, "rowId")?;
    let access = crate::data::query::access(workflows, viewer)?;
    let cond = Cond::All(vec![access, Cond::Cmp(workflows.col("id").unwrap(), Op::Eq, Cell::Uuid(id))]);
    if read::count(&state.db.write, workflows, &cond).await? == 0 {
        return Err(ApiError::NotFound("no such workflow".into()));
    }
    let logs = t("workflow_execution_logs");
    let row = vec![
        (logs.col("id").unwrap(), Cell::Uuid(Uuid::new_v4())),
        (logs.col("workflow_id").unwrap(), Cell::Uuid(id)),
        (logs.col("status").unwrap(), Cell::Text("pending".into())),
    ];
    let out = tables::create(&state.db, logs, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal("lost execution".into()))?;
    crate::events::publish_execution(state, &out);
    Ok(out)
}

async fn claim(ctx: &ResolverContext<'_>) -> ApiResult<Option<Row>> {
    require_worker(ctx)?;
    let state = state(ctx)?;
    let worker = worker_name(ctx)?;
    let until = lease_end(ctx)?;
    let workflows = match arg(ctx, "workflowIds") {
        Some(GqlValue::List(l)) => Some(
            l.iter()
                .map(|v| match v {
                    GqlValue::String(s) => Uuid::parse_str(s).map_err(|_| ApiError::bad("workflowIds: not a UUID")),
                    _ => Err(ApiError::bad("workflowIds: UUIDs")),
                })
                .collect::<ApiResult<Vec<_>>>()?,
        ),
        _ => None,
    };
    sweep(state).await?;
    let row = runs::claim(&state.db, &worker, until, workflows.as_deref()).await?;
    if let Some(r) = &row {
        crate::events::publish_execution(state, r);
    }
    Ok(row)
}

async fn renew(ctx: &ResolverContext<'_>) -> ApiResult<Row> {
    require_worker(ctx)?;
    let state = state(ctx)?;
    let row = runs::renew(&state.db, arg_uuid(ctx, "rowId")?, &worker_name(ctx)?, lease_end(ctx)?).await?;
    crate::events::publish_execution(state, &row);
    Ok(row)
}

async fn update_execution(ctx: &ResolverContext<'_>) -> ApiResult<Row> {
    require_worker(ctx)?;
    let state = state(ctx)?;
    let logs = t("workflow_execution_logs");
    let c = |n: &str| logs.col(n).expect("workflow_execution_logs column");
    let id = arg_uuid(ctx, "rowId")?;
    let status = match arg(ctx, "status") {
        Some(GqlValue::Enum(s)) => s.to_string(),
        _ => arg_str(ctx, "status")?,
    };
    let current = row_where(&state.db.write, logs, "id", Cell::Uuid(id))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such execution".into()))?;
    let Cell::Text(from) = &current.cells[c("status")] else {
        return Err(ApiError::Internal("status".into()));
    };
    let legal = matches!(
        (from.as_str(), status.as_str()),
        ("pending", "running") | ("running", "success") | ("running", "failed") | ("pending", "failed")
    );
    if !legal {
        return Err(ApiError::bad(format!("status: cannot go from {from} to {status}")));
    }
    // A claimed run is reported by the worker holding it (admins may always intervene).
    let holder = match &current.cells[c("claimed_by")] {
        Cell::Text(h) if from == "running" => Some(h.clone()),
        _ => None,
    };
    if let Some(h) = &holder {
        let me = match arg(ctx, "worker") {
            Some(GqlValue::String(w)) => Some(w.as_str()),
            _ => None,
        };
        if me != Some(h.as_str()) && !viewer_of(ctx).is_admin() {
            return Err(ApiError::Conflict(format!("run {id} is held by another worker: claim another")));
        }
    }
    let mut patch = vec![(c("status"), Cell::Text(status.clone()))];
    if status != "running" {
        patch.push((c("lease_expires_at"), Cell::Null));
    }
    if let Some(r) = arg(ctx, "result") {
        patch.push((
            c("result"),
            Cell::Json(Box::new(r.clone().into_json().map_err(|e| ApiError::bad(e.to_string()))?)),
        ));
    }
    if let Some(GqlValue::String(m)) = arg(ctx, "errorMessage") {
        patch.push((c("error_message"), Cell::Text(m.clone())));
    }
    if let Some(GqlValue::Number(n)) = arg(ctx, "durationMs") {
        let ms = n
            .as_i64()
            .filter(|v| *v >= 0 && *v <= i32::MAX as i64)
            .ok_or_else(|| ApiError::bad("durationMs: a non-negative Int"))?;
        patch.push((c("duration_ms"), Cell::Int(ms)));
    }
    // Compare-and-set on the status and the holder, so two workers cannot both move the same
    // run, nor a worker whose lease lapsed move a run someone else now holds.
    let mut cond =
        vec![Cond::Cmp(c("id"), Op::Eq, Cell::Uuid(id)), Cond::Cmp(c("status"), Op::Eq, Cell::Text(from.clone()))];
    if let Some(h) = holder {
        cond.push(Cond::Cmp(c("claimed_by"), Op::Eq, Cell::Text(h)));
    }
    let by_id = Cond::Cmp(c("id"), Op::Eq, Cell::Uuid(id));
    let out = tables::update_one(&state.db, logs, &Cond::All(cond), &patch, by_id).await.map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::Conflict("the execution changed meanwhile; read it again".into()),
        other => other,
    })?;
    crate::events::publish_execution(state, &out);
    Ok(out)
}

fn run_field<F>(name: &str, ty: TypeRef, f: F) -> Field
where
    F: for<'a> Fn(&'a ResolverContext<'a>) -> futures_util::future::BoxFuture<'a, ApiResult<Option<Row>>>
        + Send
        + Sync
        + 'static,
{
    let f = std::sync::Arc::new(f);
    Field::new(name, ty, move |ctx| {
        let f = f.clone();
        FieldFuture::new(async move { Ok(f(&ctx).await?.map(FieldValue::owned_any)) })
    })
}

pub fn register(parts: SchemaParts) -> SchemaParts {
    use futures_util::FutureExt;
    let worker = || {
        InputValue::new("worker", TypeRef::named_nn(TypeRef::STRING))
            .description("The worker's own name (host, process): shown as `claimedBy`, repeated on later calls.")
    };
    let lease = || {
        InputValue::new("leaseSeconds", TypeRef::named(TypeRef::INT)).description(format!(
            "How long the claim holds without renewal: 1 to {MAX_LEASE_SECS} (default {DEFAULT_LEASE_SECS})."
        ))
    };
    let run = || TypeRef::named_nn("WorkflowExecutionLog");
    let mutation = parts
        .mutation
        .field(
            run_field("runWorkflow", run(), |ctx| async move { run_workflow(ctx).await.map(Some) }.boxed())
                .argument(InputValue::new("rowId", TypeRef::named_nn("UUID")))
                .description("Queues a run of one of the caller's workflows (status `pending`)."),
        )
        .field(
            run_field("claimWorkflowExecution", TypeRef::named("WorkflowExecutionLog"), |ctx| claim(ctx).boxed())
                .argument(worker())
                .argument(lease())
                .argument(
                    InputValue::new("workflowIds", TypeRef::named_nn_list("UUID"))
                        .description("Only runs of these workflows."),
                )
                .description(
                    "Workers: takes the oldest pending run (now `running`, held by `worker` until \
                     `leaseExpiresAt`), or null when none is pending. Each run goes to one worker; a run \
                     whose lease lapses returns to `pending`, or becomes `failed` after its last attempt.",
                ),
        )
        .field(
            run_field("renewWorkflowExecutionLease", run(), |ctx| async move { renew(ctx).await.map(Some) }.boxed())
                .argument(InputValue::new("rowId", TypeRef::named_nn("UUID")))
                .argument(worker())
                .argument(lease())
                .description("Workers: extends the lease on a run they hold; `CONFLICT` once it is no longer theirs."),
        )
        .field(
            run_field("updateWorkflowExecution", run(), |ctx| {
                async move { update_execution(ctx).await.map(Some) }.boxed()
            })
            .argument(InputValue::new("rowId", TypeRef::named_nn("UUID")))
            .argument(InputValue::new("status", TypeRef::named_nn(logs_status_type())))
            .argument(InputValue::new("result", TypeRef::named("JSON")))
            .argument(InputValue::new("errorMessage", TypeRef::named(TypeRef::STRING)))
            .argument(InputValue::new("durationMs", TypeRef::named(TypeRef::INT)))
            .argument(
                InputValue::new("worker", TypeRef::named(TypeRef::STRING))
                    .description("The worker holding the run, for a claimed run."),
            )
            .description(
                "Workers move a run pending → running → success | failed; a claimed run only by \
                     the worker holding it.",
            ),
        );
    SchemaParts { mutation, ..parts }
}

/// The enum the catalog declares for a run's status.
fn logs_status_type() -> &'static str {
    t("workflow_execution_logs").columns.iter().find(|c| c.name == "status").map_or("String", |c| c.type_name())
}
