//! Deterministic demo and bench data for every table.
//!
//! `scale` 1 is the demo set; `scale` N > 1 has 20·N tickers with 500 daily bars each
//! (`--scale 100` is the bench size: 2,000 tickers, 1,000,000 bars). One random sequence runs
//! through the sections in order, so the same scale always writes the same rows.
mod accounts;
mod batch;
mod calendar;
mod market;
mod research;
mod tickers;
mod value_chain;

use crate::data::catalog::Catalog;
use crate::data::db::Db;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};
use tickers::Ticker;

/// Demo accounts (password for all: `quantgraph`).
pub const DEMO_USERS: [(&str, &str); 4] = [
    ("admin@quantgraph.dev", "admin"),
    ("analyst@quantgraph.dev", "analyst"),
    ("service@quantgraph.dev", "service"),
    ("trader@quantgraph.dev", "user"),
];
pub const DEMO_PASSWORD: &str = "quantgraph";

pub async fn is_empty(db: &Db) -> anyhow::Result<bool> {
    let rows =
        crate::data::read::count(&db.write, Catalog::get().table("tickers"), &crate::data::query::Cond::All(vec![]))
            .await?;
    Ok(rows == 0)
}

/// What every section writes with: one transaction, the random sequence, and the listings and
/// days the data is about.
struct Seed {
    tx: DatabaseTransaction,
    rng: ChaCha8Rng,
    tickers: Vec<Ticker>,
    /// Trading days, oldest first, ending on `end`.
    dates: Vec<NaiveDate>,
    end: NaiveDate,
    created: DateTime<Utc>,
    scale: u32,
    /// The database computes generated columns itself (PostgreSQL); else they are written.
    generates_columns: bool,
}

/// Writes the data set in one transaction.
pub async fn run(db: &Db, scale: u32, progress: bool) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(20251021);
    let mut tickers = tickers::demo_tickers();
    if scale > 1 {
        tickers.extend(tickers::bench_tickers(20 * scale as usize - tickers.len().min(20 * scale as usize), &mut rng));
    }
    let end = NaiveDate::from_ymd_opt(2025, 10, 20).expect("date");
    let days = if scale > 1 { 500 } else { 250 };
    let mut s = Seed {
        tx: db.write.begin().await?,
        rng,
        tickers,
        dates: calendar::trading_days(end, days),
        end,
        created: Utc.with_ymd_and_hms(2025, 10, 21, 0, 0, 0).unwrap(),
        scale,
        generates_columns: db.dialect.generates_columns(),
    };
    market::listings(&mut s).await?;
    market::daily_bars(&mut s, progress).await?;
    market::minute_candles(&mut s).await?;
    research::fundamentals_and_factors(&mut s).await?;
    research::strategies(&mut s).await?;
    research::optimizations(&mut s).await?;
    accounts::accounts(&mut s).await?;
    value_chain::value_chain(&mut s).await?;
    calendar::holidays(&mut s).await?;
    s.tx.commit().await?;
    // Explicit ids were written: sequences move past them; statistics are fresh.
    for stmt in db.dialect.after_bulk_load() {
        db.write.execute_unprepared(stmt).await?;
    }
    Ok(())
}
