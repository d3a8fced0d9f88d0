//! `ohlcv_quarterly`: quarterly bars of the daily OHLCV (read-only; a continuous aggregate on TimescaleDB, a view elsewhere).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ohlcv_quarterly")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub quarter: Date,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub open: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub high: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub low: Option<Decimal>,
    #[sea_orm(column_type = "Decimal(Some((15, 4)))", nullable)]
    pub close: Option<Decimal>,
    pub volume: Option<i64>,
    pub trading_days: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
