//! `ohlcv_data`: daily (and weekly/monthly) bars; a TimescaleDB hypertable when available.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ohlcv_data")]
pub struct Model {
    /// A surrogate id (BIGSERIAL, not the key) kept for compatibility with the source system.
    #[sea_orm(nullable)]
    pub id: Option<i64>,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub date: Date,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(10))", default_value = "D")]
    pub timeframe: String,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub open: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub high: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub low: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub close: Option<Decimal>,
    pub volume: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Logical only: the source design has no physical foreign key on the hypertable.
    #[sea_orm(
        belongs_to = "super::tickers::Entity",
        from = "(Column::Ticker, Column::Region)",
        to = "(super::tickers::Column::Ticker, super::tickers::Column::Region)",
        skip_fk
    )]
    Ticker,
}

impl ActiveModelBehavior for ActiveModel {}
