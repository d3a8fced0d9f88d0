//! `etf_details`: ETF metadata, one row per ETF ticker.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "etf_details")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub category: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(100))", nullable)]
    pub index_tracked: Option<String>,
    #[sea_orm(column_type = "Decimal(Some((5, 4)))", nullable)]
    pub expense_ratio: Option<Decimal>,
    pub aum: Option<i64>,
    pub inception_date: Option<Date>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
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
    #[sea_orm(has_many = "super::etf_holdings::Entity")]
    Holdings,
}

impl ActiveModelBehavior for ActiveModel {}
