//! `factor_scores`: one factor's score for a ticker on a date; a hypertable when available.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "factor_scores")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
    pub ticker: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub date: Date,
    /// `momentum`, `value`, `quality`, `low_volatility`, `size`, …
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(50))")]
    pub factor_name: String,
    #[sea_orm(column_type = "Decimal(Some((10, 4)))", nullable)]
    pub score: Option<Decimal>,
    /// Cross-sectional percentile rank, 0–100.
    #[sea_orm(column_type = "Decimal(Some((7, 4)))", nullable)]
    pub percentile: Option<Decimal>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Logical only, like `ohlcv_data`: hypertables carry no foreign keys here.
    #[sea_orm(
        belongs_to = "super::tickers::Entity",
        from = "(Column::Ticker, Column::Region)",
        to = "(super::tickers::Column::Ticker, super::tickers::Column::Region)",
        skip_fk
    )]
    Ticker,
}

impl ActiveModelBehavior for ActiveModel {}
