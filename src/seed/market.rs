//! Listings and prices: tickers with their stock or ETF details and ETF holdings, daily bars
//! for every ticker, and minute candles for the Vietnamese listings.
use super::batch::{d, date, dec, s as text, ts, Batch};
use super::tickers::{tick, Ticker};
use super::Seed;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use entity::*;
use rand::Rng;
use rust_decimal::Decimal;
use sea_orm::Value;

/// Tickers, their stock or ETF details, and the holdings of the first 40 ETFs.
pub(super) async fn listings(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let rng = &mut s.rng;
    let tickers = &s.tickers;
    let end = s.end;
    let created = s.created;
    let mut b = Batch::new(
        tx,
        &[
            tickers::Column::Ticker,
            tickers::Column::Region,
            tickers::Column::Symbol,
            tickers::Column::Name,
            tickers::Column::AssetType,
            tickers::Column::Exchange,
            tickers::Column::Currency,
            tickers::Column::IsActive,
            tickers::Column::CreatedAt,
            tickers::Column::UpdatedAt,
        ],
    );
    for t in tickers {
        let symbol = if t.region == "KR" { format!("{}.KS", t.ticker) } else { t.ticker.clone() };
        b.push(vec![
            text(&t.ticker),
            text(t.region),
            text(&symbol),
            text(&t.name),
            text(if t.etf { "ETF" } else { "STOCK" }),
            text(t.exchange),
            text(t.currency),
            Value::Bool(Some(true)),
            ts(created),
            ts(created),
        ])
        .await?;
    }
    b.finish().await?;

    let mut sd = Batch::new(
        tx,
        &[
            stock_details::Column::Ticker,
            stock_details::Column::Region,
            stock_details::Column::Sector,
            stock_details::Column::Industry,
            stock_details::Column::MarketCap,
            stock_details::Column::SharesOutstanding,
            stock_details::Column::IpoDate,
            stock_details::Column::Description,
            stock_details::Column::Website,
            stock_details::Column::UpdatedAt,
        ],
    );
    let mut ed = Batch::new(
        tx,
        &[
            etf_details::Column::Ticker,
            etf_details::Column::Region,
            etf_details::Column::Category,
            etf_details::Column::IndexTracked,
            etf_details::Column::ExpenseRatio,
            etf_details::Column::Aum,
            etf_details::Column::InceptionDate,
            etf_details::Column::Description,
            etf_details::Column::UpdatedAt,
        ],
    );
    for (i, t) in tickers.iter().enumerate() {
        let shares: i64 = rng.gen_range(50_000_000..6_000_000_000);
        if t.etf {
            ed.push(vec![
                text(&t.ticker),
                text(t.region),
                text("Equity"),
                text(match t.region {
                    "KR" => "KOSPI 200",
                    "US" => "S&P 500",
                    _ => "VN30",
                }),
                d(dec(rng.gen_range(0.0003..0.0095), 4)),
                Value::BigInt(Some((t.price * shares as f64) as i64)),
                date(NaiveDate::from_ymd_opt(2002 + (i % 15) as i32, 10, 14).unwrap()),
                text(&format!("{} tracks its index with full replication.", t.name)),
                ts(created),
            ])
            .await?;
        } else {
            // Market caps above 2^31 are the norm: they exercise BigInt end to end.
            sd.push(vec![
                text(&t.ticker),
                text(t.region),
                text(t.sector),
                text(&format!("{} - Core", t.sector)),
                Value::BigInt(Some((t.price * shares as f64) as i64)),
                Value::BigInt(Some(shares)),
                date(
                    NaiveDate::from_ymd_opt(1975 + (i % 45) as i32, 1 + (i % 12) as u32, 1 + (i % 27) as u32).unwrap(),
                ),
                text(&format!("{} is listed on {}.", t.name, t.exchange)),
                text(&format!("https://www.{}.example.com", t.ticker.to_lowercase())),
                ts(created),
            ])
            .await?;
        }
    }
    sd.finish().await?;
    ed.finish().await?;

    let mut eh = Batch::new(
        tx,
        &[
            etf_holdings::Column::EtfTicker,
            etf_holdings::Column::Region,
            etf_holdings::Column::ConstituentTicker,
            etf_holdings::Column::ConstituentRegion,
            etf_holdings::Column::Weight,
            etf_holdings::Column::Shares,
            etf_holdings::Column::AsOfDate,
            etf_holdings::Column::CreatedAt,
        ],
    );
    for etf in tickers.iter().filter(|t| t.etf).take(40) {
        let members: Vec<&Ticker> = tickers.iter().filter(|t| !t.etf && t.region == etf.region).take(10).collect();
        let w = Decimal::from(100) / Decimal::from(members.len().max(1));
        for m in members {
            eh.push(vec![
                text(&etf.ticker),
                text(etf.region),
                text(&m.ticker),
                text(m.region),
                d(w.round_dp(4)),
                d(Decimal::from(rng.gen_range(1_000..900_000))),
                date(end),
                ts(created),
            ])
            .await?;
        }
    }
    eh.finish().await?;
    Ok(())
}

/// Daily bars: a random walk per ticker over the trading days.
pub(super) async fn daily_bars(s: &mut Seed, progress: bool) -> anyhow::Result<()> {
    let tx = &s.tx;
    let rng = &mut s.rng;
    let tickers = &s.tickers;
    let dates = &s.dates;
    let bar = progress.then(|| {
        let p = indicatif::ProgressBar::new((tickers.len() * dates.len()) as u64);
        p.set_style(
            indicatif::ProgressStyle::with_template("ohlcv_data {bar:40} {pos}/{len} rows {per_sec} eta {eta}")
                .unwrap(),
        );
        p
    });
    let mut ob = Batch::new(
        tx,
        &[
            ohlcv_data::Column::Ticker,
            ohlcv_data::Column::Region,
            ohlcv_data::Column::Date,
            ohlcv_data::Column::Timeframe,
            ohlcv_data::Column::Open,
            ohlcv_data::Column::High,
            ohlcv_data::Column::Low,
            ohlcv_data::Column::Close,
            ohlcv_data::Column::Volume,
        ],
    );
    ob.progress = bar.as_ref();
    for t in tickers {
        let sigma = if t.etf { 0.009 } else { rng.gen_range(0.01..0.03) };
        let mut close = t.price;
        let dp = tick(t.region);
        for day in dates {
            let open = close * (1.0 + rng.gen_range(-0.4..0.4) * sigma);
            close = (open * (1.0 + rng.gen_range(-1.0..1.0) * sigma * 1.7)).max(0.01);
            let high = open.max(close) * (1.0 + rng.gen_range(0.0..sigma));
            let low = open.min(close) * (1.0 - rng.gen_range(0.0..sigma));
            let volume: i64 = rng.gen_range(10_000..5_000_000);
            ob.push(vec![
                text(&t.ticker),
                text(t.region),
                date(*day),
                text("D"),
                d(dec(open, dp)),
                d(dec(high, dp)),
                d(dec(low, dp)),
                d(dec(close, dp)),
                Value::BigInt(Some(volume)),
            ])
            .await?;
        }
    }
    ob.finish().await?;
    if let Some(p) = bar {
        p.finish();
    }
    Ok(())
}

/// Minute candles of the Vietnamese symbols over the last two trading days.
pub(super) async fn minute_candles(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let rng = &mut s.rng;
    let tickers = &s.tickers;
    let dates = &s.dates;
    // Minute candles for the Vietnamese symbols: the morning and afternoon trading hours (09:15–11:30, 13:00–14:45 ICT) of the last two days.
    let mut mc = Batch::new(
        tx,
        &[
            market_candles::Column::Time,
            market_candles::Column::Symbol,
            market_candles::Column::Open,
            market_candles::Column::High,
            market_candles::Column::Low,
            market_candles::Column::Close,
            market_candles::Column::Volume,
        ],
    );
    for t in tickers.iter().filter(|t| t.region == "VN") {
        let mut px = t.price;
        for day in &dates[dates.len() - 2..] {
            let base = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
            for (from, to) in [(2 * 60 + 15, 4 * 60 + 30), (6 * 60, 7 * 60 + 45)] {
                for m in from..to {
                    let open = px;
                    px = (px * (1.0 + rng.gen_range(-0.002..0.002))).round();
                    let (hi, lo) = (open.max(px) + 50.0, open.min(px) - 50.0);
                    mc.push(vec![
                        ts(base + Duration::minutes(m)),
                        text(&t.ticker),
                        Value::Double(Some(open)),
                        Value::Double(Some(hi)),
                        Value::Double(Some(lo)),
                        Value::Double(Some(px)),
                        Value::BigInt(Some(rng.gen_range(100..50_000) * 10)),
                    ])
                    .await?;
                }
            }
        }
    }
    mc.finish().await?;
    Ok(())
}
