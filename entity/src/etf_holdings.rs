//! `etf_holdings`: the constituents of an ETF on a given date.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "etf_holdings")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub etf_ticker: String,
    /// Region of the ETF itself (with `etf_ticker`, the key of `etf_details`).
    #[sea_orm(column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub constituent_ticker: String,
    #[sea_orm(column_type = "String(StringLen::N(2))")]
    pub constituent_region: String,
    /// Portfolio weight in percent.
    #[sea_orm(column_type = "Decimal(Some((7, 4)))", nullable)]
    pub weight: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((20, 4)))", nullable)]
    pub shares: Option<Decimal>,
    pub as_of_date: Date,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::etf_details::Entity",
        from = "(Column::EtfTicker, Column::Region)",
        to = "(super::etf_details::Column::Ticker, super::etf_details::Column::Region)",
        on_delete = "Cascade"
    )]
    Etf,
    #[sea_orm(
        belongs_to = "super::tickers::Entity",
        from = "(Column::ConstituentTicker, Column::ConstituentRegion)",
        to = "(super::tickers::Column::Ticker, super::tickers::Column::Region)",
        on_delete = "Cascade"
    )]
    Constituent,
}

impl ActiveModelBehavior for ActiveModel {}
