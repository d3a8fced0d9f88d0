//! `workflows`: a user's React Flow graphs.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "workflows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub json_graph: Json,
    #[sea_orm(default_value = true, nullable)]
    pub is_active: Option<bool>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    #[sea_orm(has_many = "super::workflow_execution_logs::Entity")]
    Executions,
}

impl ActiveModelBehavior for ActiveModel {}
