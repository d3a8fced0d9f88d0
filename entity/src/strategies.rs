//! `strategies`: quantitative strategy definitions.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "strategies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(100))", unique)]
    pub name: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub factor_weights: Option<Json>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub constraints: Option<Json>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::backtest_results::Entity")]
    BacktestResults,
    #[sea_orm(has_many = "super::portfolio_transactions::Entity")]
    Transactions,
    #[sea_orm(has_many = "super::portfolio_holdings::Entity")]
    Holdings,
    #[sea_orm(has_many = "super::walk_forward_results::Entity")]
    WalkForwardResults,
}

impl ActiveModelBehavior for ActiveModel {}
