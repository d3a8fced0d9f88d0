//! `optimization_history`: portfolio optimisation runs (standalone, no foreign key).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "optimization_history")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub optimization_date: Date,
    /// e.g. `KR_TOP100`.
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub universe: String,
    /// e.g. `mean_variance`.
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub method: String,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub target_return: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub target_risk: Option<Decimal>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub constraints: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub optimal_weights: Option<Json>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub expected_return: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub expected_risk: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub sharpe_ratio: Option<Decimal>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
