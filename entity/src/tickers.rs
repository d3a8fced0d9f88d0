//! `tickers`: the master list of tradable assets, unique by (ticker, region).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tickers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(column_type = "String(StringLen::N(20))", nullable)]
    pub symbol: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))", nullable)]
    pub name: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(20))", nullable)]
    pub asset_type: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(50))", nullable)]
    pub exchange: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(3))", nullable)]
    pub currency: Option<String>,
    #[sea_orm(default_value = true, nullable)]
    pub is_active: Option<bool>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::stock_details::Entity")]
    StockDetails,
    #[sea_orm(has_one = "super::etf_details::Entity")]
    EtfDetails,
    #[sea_orm(has_many = "super::ohlcv_data::Entity")]
    OhlcvData,
    #[sea_orm(has_many = "super::ticker_fundamentals::Entity")]
    TickerFundamentals,
    #[sea_orm(has_many = "super::factor_scores::Entity")]
    FactorScores,
}

impl ActiveModelBehavior for ActiveModel {}
