//! `ticker_fundamentals`: valuation ratios and statement figures per fiscal period.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ticker_fundamentals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub fiscal_year: i32,
    /// `FY`, `Q1` … `Q4`.
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(10))")]
    pub period_type: String,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub per: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub pbr: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub psr: Option<Decimal>,
    pub market_cap: Option<i64>,
    pub revenue: Option<i64>,
    pub net_income: Option<i64>,
    pub total_assets: Option<i64>,
    pub total_liabilities: Option<i64>,
    #[sea_orm(column_type = "Decimal(Some((7, 4)))", nullable)]
    pub dividend_yield: Option<Decimal>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
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
