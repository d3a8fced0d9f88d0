//! `market_candles`: one-minute candles from the broker feed; a hypertable when available.
use sea_orm::entity::prelude::*;

/// Unique by (time, symbol). Prices are DOUBLE PRECISION as in the source design.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "market_candles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub time: DateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub symbol: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
