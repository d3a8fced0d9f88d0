//! SeaORM entities: the one place where every column of QuantGraph's tables is declared.
//!
//! One module per table of the two source designs, plus read-only entities for the
//! time-bucket aggregates (continuous aggregates on TimescaleDB, views elsewhere).

/// A research result of one strategy: deleted with it.
#[macro_export]
macro_rules! research_result {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::strategies::Entity",
                from = "Column::StrategyId",
                to = "super::strategies::Column::Id",
                on_delete = "Cascade"
            )]
            Strategy,
        }

        impl ActiveModelBehavior for ActiveModel {}
    };
}

/// A read-only bucket view of the daily bars (continuous aggregate or view), by its bucket column.
#[macro_export]
macro_rules! bar_aggregate {
    ($table:literal, $bucket:ident) => {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
        #[sea_orm(table_name = $table)]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(20))")]
            pub ticker: String,
            #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
            pub region: String,
            #[sea_orm(primary_key, auto_increment = false)]
            pub $bucket: Date,
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
    };
}

pub mod backtest_results;
pub mod etf_details;
pub mod etf_holdings;
pub mod factor_scores;
pub mod market_candles;
pub mod market_candles_1h;
pub mod ohlcv_data;
pub mod ohlcv_monthly;
pub mod ohlcv_quarterly;
pub mod ohlcv_yearly;
pub mod optimization_history;
pub mod portfolio_allocations;
pub mod portfolio_holdings;
pub mod portfolio_transactions;
pub mod stock_details;
pub mod strategies;
pub mod ticker_fundamentals;
pub mod tickers;
pub mod trading_holidays;
pub mod users;
pub mod value_chain_edges;
pub mod value_chain_nodes;
pub mod walk_forward_results;
pub mod workflow_execution_logs;
pub mod workflows;

/// `has_many`/`has_one` on a parent needs `Related` on the child, pointing back through its `belongs_to`.
macro_rules! related {
    ($($child:ident => $parent:ident via $rel:ident;)*) => {$(
        impl sea_orm::Related<$parent::Entity> for $child::Entity {
            fn to() -> sea_orm::RelationDef {
                sea_orm::RelationTrait::def(&$child::Relation::$rel)
            }
        }
    )*};
}

related! {
    stock_details => tickers via Ticker;
    etf_details => tickers via Ticker;
    etf_holdings => etf_details via Etf;
    ohlcv_data => tickers via Ticker;
    ticker_fundamentals => tickers via Ticker;
    factor_scores => tickers via Ticker;
    backtest_results => strategies via Strategy;
    portfolio_transactions => strategies via Strategy;
    portfolio_holdings => strategies via Strategy;
    walk_forward_results => strategies via Strategy;
    workflows => users via User;
    portfolio_allocations => users via User;
    workflow_execution_logs => workflows via Workflow;
}

/// The column whose values say which rows a change touched, when the table has one: the
/// ticker, else the symbol. Change events carry its values, and cached reads restricted to one
/// value are evicted only by changes of that value (the trigger generator and the gateway's
/// catalog both ask here, so the rule is stated once).
pub fn change_key<E: sea_orm::EntityTrait>() -> Option<&'static str> {
    use sea_orm::{IdenStatic, Iterable};
    let names: Vec<&'static str> = E::Column::iter().map(|c| c.as_str()).collect();
    ["ticker", "symbol"].into_iter().find(|k| names.contains(k))
}
