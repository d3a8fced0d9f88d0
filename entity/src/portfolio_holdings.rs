//! `portfolio_holdings`: a strategy's position in one ticker on one date.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "portfolio_holdings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub strategy_id: i32,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(column_type = "String(StringLen::N(2))")]
    pub region: String,
    pub date: Date,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub shares: Option<Decimal>,
    /// Portfolio weight in percent.
    #[sea_orm(column_type = "Decimal(Some((7, 4)))", nullable)]
    pub weight: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((20, 4)))", nullable)]
    pub cost_basis: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((20, 4)))", nullable)]
    pub market_value: Option<Decimal>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

crate::research_result!();
