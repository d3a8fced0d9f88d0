//! `value_chain_edges`: directed relationships between value-chain nodes.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "value_chain_edges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub source_id: Uuid,
    pub target_id: Uuid,
    /// e.g. `supplies`, `uses`, `sells_to`.
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub relationship: Option<String>,
    /// −1 … 1.
    pub correlation_coeff: Option<f64>,
    pub lead_time_days: Option<i32>,
    pub weight: Option<f64>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::value_chain_nodes::Entity",
        from = "Column::SourceId",
        to = "super::value_chain_nodes::Column::Id",
        on_delete = "Cascade"
    )]
    Source,
    #[sea_orm(
        belongs_to = "super::value_chain_nodes::Entity",
        from = "Column::TargetId",
        to = "super::value_chain_nodes::Column::Id",
        on_delete = "Cascade"
    )]
    Target,
}

impl ActiveModelBehavior for ActiveModel {}
