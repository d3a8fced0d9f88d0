//! `workflow_execution_logs`: one run of a workflow and its outcome.
use sea_orm::entity::prelude::*;

/// A run's states, in the order a run passes them: queued, held by a worker, then one outcome.
pub const STATUSES: &[&str] = &["pending", "running", "success", "failed"];

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_execution_logs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub workflow_id: Uuid,
    /// One of [`STATUSES`].
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub status: String,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub executed_at: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub result: Option<Json>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    pub duration_ms: Option<i32>,
    /// The worker that claimed this run (`claimWorkflowExecution`), as it named itself.
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub claimed_by: Option<String>,
    /// When the claim lapses unless the worker renews it; a lapsed run goes back to `pending`
    /// (or to `failed` after its last attempt).
    #[sea_orm(nullable)]
    pub lease_expires_at: Option<DateTimeUtc>,
    /// How many times a worker has claimed this run.
    #[sea_orm(default_value = 0)]
    pub attempts: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::workflows::Entity",
        from = "Column::WorkflowId",
        to = "super::workflows::Column::Id",
        on_delete = "Cascade"
    )]
    Workflow,
}

impl ActiveModelBehavior for ActiveModel {}
