//! `stock_details`: stock metadata, one row per stock ticker.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_details")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub sector: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub industry: Option<String>,
    pub market_cap: Option<i64>,
    pub shares_outstanding: Option<i64>,
    pub ipo_date: Option<Date>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub website: Option<String>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tickers::Entity",
        from = "(Column::Ticker, Column::Region)",
        to = "(super::tickers::Column::Ticker, super::tickers::Column::Region)",
        on_delete = "Cascade"
    )]
    Ticker,
}

impl ActiveModelBehavior for ActiveModel {}
