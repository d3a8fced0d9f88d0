//! `backtest_results`: the summary of one backtest run of a strategy.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "backtest_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub strategy_id: i32,
    pub start_date: Date,
    pub end_date: Date,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub total_return: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub sharpe_ratio: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub max_drawdown: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub win_rate: Option<Decimal>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub results_json: Option<Json>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

crate::research_result!();
