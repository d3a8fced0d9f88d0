//! `portfolio_transactions`: trades made during a backtest; `total_value` is derived.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "portfolio_transactions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub strategy_id: i32,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(column_type = "String(StringLen::N(2))")]
    pub region: String,
    pub date: Date,
    /// `BUY` or `SELL`.
    #[sea_orm(column_type = "String(StringLen::N(4))", nullable)]
    pub transaction_type: Option<String>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub shares: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub price: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub commission: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub slippage: Option<Decimal>,
    /// `shares * price + commission + slippage`: a generated column on PostgreSQL,
    /// computed exactly by the gateway on SQLite.
    #[sea_orm(column_type = "Decimal(Some((20, 4)))", nullable)]
    pub total_value: Option<Decimal>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

crate::research_result!();
