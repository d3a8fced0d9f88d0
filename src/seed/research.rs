//! Research data: fundamentals and factor scores, strategies with their backtests, walk-forward
//! runs, transactions and holdings, and portfolio optimisations.
use super::batch::{d, date, dec, j, s as text, ts, Batch};
use super::tickers::{tick, Ticker};
use super::Seed;
use chrono::{Datelike, NaiveDate};
use entity::*;
use rand::Rng;
use rust_decimal::Decimal;
use sea_orm::Value;
use serde_json::json;

/// Yearly fundamentals and month-end factor scores of the first stocks.
pub(super) async fn fundamentals_and_factors(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let rng = &mut s.rng;
    let tickers = &s.tickers;
    let dates = &s.dates;
    let scale = s.scale;
    let mut tf = Batch::new(
        tx,
        &[
            ticker_fundamentals::Column::Ticker,
            ticker_fundamentals::Column::Region,
            ticker_fundamentals::Column::FiscalYear,
            ticker_fundamentals::Column::PeriodType,
            ticker_fundamentals::Column::Per,
            ticker_fundamentals::Column::Pbr,
            ticker_fundamentals::Column::Psr,
            ticker_fundamentals::Column::MarketCap,
            ticker_fundamentals::Column::Revenue,
            ticker_fundamentals::Column::NetIncome,
            ticker_fundamentals::Column::TotalAssets,
            ticker_fundamentals::Column::TotalLiabilities,
            ticker_fundamentals::Column::DividendYield,
        ],
    );
    let mut fs = Batch::new(
        tx,
        &[
            factor_scores::Column::Ticker,
            factor_scores::Column::Region,
            factor_scores::Column::Date,
            factor_scores::Column::FactorName,
            factor_scores::Column::Score,
            factor_scores::Column::Percentile,
        ],
    );
    let month_ends: Vec<NaiveDate> = dates.windows(2).filter(|w| w[0].month() != w[1].month()).map(|w| w[0]).collect();
    for t in tickers.iter().filter(|t| !t.etf).take(if scale > 1 { 400 } else { 100 }) {
        for fy in 2022..=2024 {
            let revenue: i64 = rng.gen_range(1_000_000_000..900_000_000_000);
            tf.push(vec![
                text(&t.ticker),
                text(t.region),
                Value::Int(Some(fy)),
                text("FY"),
                d(dec(rng.gen_range(4.0..60.0), 4)),
                d(dec(rng.gen_range(0.3..12.0), 4)),
                d(dec(rng.gen_range(0.2..15.0), 4)),
                Value::BigInt(Some(revenue * 2)),
                Value::BigInt(Some(revenue)),
                Value::BigInt(Some(revenue / 10)),
                Value::BigInt(Some(revenue * 3)),
                Value::BigInt(Some(revenue)),
                d(dec(rng.gen_range(0.0..6.0), 4)),
            ])
            .await?;
        }
        for m in month_ends.iter().rev().take(6) {
            for f in ["momentum", "value", "quality", "low_volatility"] {
                fs.push(vec![
                    text(&t.ticker),
                    text(t.region),
                    date(*m),
                    text(f),
                    d(dec(rng.gen_range(-3.0..3.0), 4)),
                    d(dec(rng.gen_range(0.0..100.0), 4)),
                ])
                .await?;
            }
        }
    }
    tf.finish().await?;
    fs.finish().await?;
    Ok(())
}

/// Strategies, their backtests and walk-forward runs, transactions and holdings.
pub(super) async fn strategies(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let rng = &mut s.rng;
    let tickers = &s.tickers;
    let dates = &s.dates;
    let end = s.end;
    let created = s.created;
    let scale = s.scale;
    let generates_columns = s.generates_columns;
    let n_strategies = if scale > 1 { 50 } else { 5 };
    let per_strategy = if scale > 1 { 20 } else { 4 };
    let names = ["Momentum-Value", "Quality-LowVol", "KR Dividend", "US Mega-Cap Growth", "VN Steel Cycle"];
    let mut st = Batch::new(
        tx,
        &[
            strategies::Column::Id,
            strategies::Column::Name,
            strategies::Column::Description,
            strategies::Column::FactorWeights,
            strategies::Column::Constraints,
            strategies::Column::CreatedAt,
            strategies::Column::UpdatedAt,
        ],
    );
    for i in 0..n_strategies {
        let name = names.get(i).map(|n| n.to_string()).unwrap_or_else(|| format!("Factor Mix {:02}", i + 1));
        st.push(vec![
            Value::Int(Some(i as i32 + 1)),
            text(&name),
            text("Multi-factor long-only strategy."),
            j(json!({"momentum": 0.4, "value": 0.3, "quality": 0.3})),
            j(json!({"max_position": 0.15, "max_sector": 0.4, "min_market_cap": 100_000_000_000i64})),
            ts(created),
            ts(created),
        ])
        .await?;
    }
    st.finish().await?;
    let mut br = Batch::new(
        tx,
        &[
            backtest_results::Column::StrategyId,
            backtest_results::Column::StartDate,
            backtest_results::Column::EndDate,
            backtest_results::Column::TotalReturn,
            backtest_results::Column::SharpeRatio,
            backtest_results::Column::MaxDrawdown,
            backtest_results::Column::WinRate,
            backtest_results::Column::ResultsJson,
            backtest_results::Column::CreatedAt,
        ],
    );
    let mut wf = Batch::new(
        tx,
        &[
            walk_forward_results::Column::StrategyId,
            walk_forward_results::Column::TrainStartDate,
            walk_forward_results::Column::TrainEndDate,
            walk_forward_results::Column::TestStartDate,
            walk_forward_results::Column::TestEndDate,
            walk_forward_results::Column::InSampleSharpe,
            walk_forward_results::Column::OutSampleSharpe,
            walk_forward_results::Column::InSampleReturn,
            walk_forward_results::Column::OutSampleReturn,
            walk_forward_results::Column::OverfittingRatio,
            walk_forward_results::Column::OptimalParams,
        ],
    );
    use portfolio_transactions::Column as Tc;
    let mut tr_cols = vec![
        Tc::StrategyId,
        Tc::Ticker,
        Tc::Region,
        Tc::Date,
        Tc::TransactionType,
        Tc::Shares,
        Tc::Price,
        Tc::Commission,
        Tc::Slippage,
    ];
    // PostgreSQL computes total_value itself (a generated column); SQLite gets the exact value from us.
    if !generates_columns {
        tr_cols.push(Tc::TotalValue);
    }
    let mut tr = Batch::new(tx, &tr_cols);
    let mut ph = Batch::new(
        tx,
        &[
            portfolio_holdings::Column::StrategyId,
            portfolio_holdings::Column::Ticker,
            portfolio_holdings::Column::Region,
            portfolio_holdings::Column::Date,
            portfolio_holdings::Column::Shares,
            portfolio_holdings::Column::Weight,
            portfolio_holdings::Column::CostBasis,
            portfolio_holdings::Column::MarketValue,
        ],
    );
    let stocks: Vec<&Ticker> = tickers.iter().filter(|t| !t.etf).collect();
    for sid in 1..=n_strategies as i32 {
        for k in 0..per_strategy {
            let start = dates[(k * 7) % (dates.len() / 2)];
            let monthly: Vec<f64> =
                (0..12).map(|_| (rng.gen_range(-0.05..0.07f64) * 10_000.0).round() / 10_000.0).collect();
            br.push(vec![
                Value::Int(Some(sid)),
                date(start),
                date(end),
                d(dec(rng.gen_range(-0.2..0.8), 4)),
                d(dec(rng.gen_range(-0.5..2.5), 4)),
                d(dec(rng.gen_range(-0.45..-0.03), 4)),
                d(dec(rng.gen_range(0.35..0.65), 4)),
                j(json!({ "monthly_returns": monthly })),
                ts(created),
            ])
            .await?;
        }
        let (ins, outs) = (dec(rng.gen_range(0.8..2.2), 4), dec(rng.gen_range(0.2..1.6), 4));
        wf.push(vec![
            Value::Int(Some(sid)),
            date(dates[0]),
            date(dates[dates.len() / 2]),
            date(dates[dates.len() / 2 + 1]),
            date(end),
            d(ins),
            d(outs),
            d(dec(rng.gen_range(0.05..0.4), 4)),
            d(dec(rng.gen_range(-0.1..0.3), 4)),
            d((outs / ins).round_dp(4)),
            j(json!({"lookback": 60, "rebalance": "monthly"})),
        ])
        .await?;
        for k in 0..3 {
            let t = stocks[(sid as usize * 3 + k) % stocks.len()];
            let dp = tick(t.region);
            let shares = Decimal::from(rng.gen_range(10..500));
            let price = dec(t.price, dp);
            let (commission, slippage) = (dec(rng.gen_range(0.5..20.0), 4), dec(rng.gen_range(0.0..5.0), 4));
            let mut row = vec![
                Value::Int(Some(sid)),
                text(&t.ticker),
                text(t.region),
                date(dates[dates.len() - 30 + k]),
                text(if k == 2 { "SELL" } else { "BUY" }),
                d(shares),
                d(price),
                d(commission),
                d(slippage),
            ];
            if !generates_columns {
                row.push(d(shares * price + commission + slippage));
            }
            tr.push(row).await?;
            ph.push(vec![
                Value::Int(Some(sid)),
                text(&t.ticker),
                text(t.region),
                date(end),
                d(shares),
                d(dec(100.0 / 3.0, 4)),
                d(shares * price),
                d((shares * price * dec(1.05, 4)).round_dp(4)),
            ])
            .await?;
        }
    }
    br.finish().await?;
    wf.finish().await?;
    tr.finish().await?;
    ph.finish().await?;
    Ok(())
}

/// Three portfolio optimisations.
pub(super) async fn optimizations(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let dates = &s.dates;
    let mut oh = Batch::new(
        tx,
        &[
            optimization_history::Column::OptimizationDate,
            optimization_history::Column::Universe,
            optimization_history::Column::Method,
            optimization_history::Column::TargetReturn,
            optimization_history::Column::TargetRisk,
            optimization_history::Column::Constraints,
            optimization_history::Column::OptimalWeights,
            optimization_history::Column::ExpectedReturn,
            optimization_history::Column::ExpectedRisk,
            optimization_history::Column::SharpeRatio,
        ],
    );
    for (i, (universe, method)) in
        [("KR_TOP100", "mean_variance"), ("US_TOP50", "risk_parity"), ("VN30", "max_sharpe")].iter().enumerate()
    {
        oh.push(vec![
            date(dates[dates.len() - 1 - i * 20]),
            text(universe),
            text(method),
            d(dec(0.12, 4)),
            d(dec(0.18, 4)),
            j(json!({"max_weight": 0.1})),
            j(json!({"005930": 0.1, "000660": 0.08})),
            d(dec(0.11 + i as f64 / 100.0, 4)),
            d(dec(0.16, 4)),
            d(dec(0.69, 4)),
        ])
        .await?;
    }
    oh.finish().await?;
    Ok(())
}
