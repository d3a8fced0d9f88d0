//! `walk_forward_results`: in-sample vs out-of-sample validation of a strategy.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "walk_forward_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub strategy_id: i32,
    pub train_start_date: Date,
    pub train_end_date: Date,
    pub test_start_date: Date,
    pub test_end_date: Date,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub in_sample_sharpe: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub out_sample_sharpe: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub in_sample_return: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub out_sample_return: Option<Decimal>,
    /// `out_sample_sharpe / in_sample_sharpe`.
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub overfitting_ratio: Option<Decimal>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub optimal_params: Option<Json>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

crate::research_result!();
