//! Deterministic demo and bench data for every table, written in batched multi-row inserts.
//!
//! `scale` 1 is the demo set; `scale` N > 1 has 20·N tickers with 500 daily bars each
//! (`--scale 100` is the bench size: 2,000 tickers, 1,000,000 bars).
use crate::data::catalog::Catalog;
use crate::data::db::Db;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait, Value};
use serde_json::json;
use uuid::Uuid;

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

/// Collects rows of one table and writes them in statements of bounded parameter count.
struct Batch<'a> {
    tx: &'a DatabaseTransaction,
    table: &'static str,
    cols: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
    written: u64,
    progress: Option<&'a indicatif::ProgressBar>,
}

impl<'a> Batch<'a> {
    fn new(tx: &'a DatabaseTransaction, table: &'static str, cols: &[&'static str]) -> Self {
        Batch { tx, table, cols: cols.to_vec(), rows: Vec::new(), written: 0, progress: None }
    }

    async fn push(&mut self, row: Vec<Value>) -> anyhow::Result<()> {
        debug_assert_eq!(row.len(), self.cols.len());
        self.rows.push(row);
        // PostgreSQL takes up to 65,535 parameters, SQLite 32,766.
        if self.rows.len() * self.cols.len() >= 30_000 {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut q = Query::insert();
        q.into_table(Alias::new(self.table)).columns(self.cols.iter().map(|c| Alias::new(*c)));
        let n = self.rows.len() as u64;
        for row in self.rows.drain(..) {
            q.values_panic(row.into_iter().map(Into::into));
        }
        let stmt = self.tx.get_database_backend().build(&q);
        self.tx.execute_raw(stmt).await?;
        self.written += n;
        if let Some(p) = self.progress {
            p.inc(n);
        }
        Ok(())
    }

    async fn finish(mut self) -> anyhow::Result<u64> {
        self.flush().await?;
        Ok(self.written)
    }
}

fn s(v: &str) -> Value {
    Value::String(Some(v.to_string()))
}
fn d(v: Decimal) -> Value {
    Value::Decimal(Some(v))
}
fn date(v: NaiveDate) -> Value {
    Value::ChronoDate(Some(v))
}
fn ts(v: DateTime<Utc>) -> Value {
    Value::ChronoDateTimeUtc(Some(v))
}
fn j(v: serde_json::Value) -> Value {
    Value::Json(Some(Box::new(v)))
}
fn dec(x: f64, scale: u32) -> Decimal {
    Decimal::from_f64_retain(x).unwrap_or_default().round_dp(scale)
}

/// Trading days (weekdays) ending on `end`, oldest first.
/// Weekday exchange holidays of the demo's markets in its date range (KRX, NYSE, HOSE).
const HOLIDAYS: [(&str, &str, &str); 40] = [
    ("KR", "2024-12-25", "Christmas Day"),
    ("KR", "2024-12-31", "Year-end closing"),
    ("KR", "2025-01-01", "New Year's Day"),
    ("KR", "2025-01-27", "Temporary holiday"),
    ("KR", "2025-01-28", "Seollal"),
    ("KR", "2025-01-29", "Seollal"),
    ("KR", "2025-01-30", "Seollal"),
    ("KR", "2025-03-03", "Independence Movement Day (substitute)"),
    ("KR", "2025-05-05", "Children's Day; Buddha's Birthday"),
    ("KR", "2025-05-06", "Substitute holiday"),
    ("KR", "2025-06-03", "Presidential election"),
    ("KR", "2025-06-06", "Memorial Day"),
    ("KR", "2025-08-15", "Liberation Day"),
    ("KR", "2025-10-03", "National Foundation Day"),
    ("KR", "2025-10-06", "Chuseok"),
    ("KR", "2025-10-07", "Chuseok"),
    ("KR", "2025-10-08", "Chuseok (substitute)"),
    ("KR", "2025-10-09", "Hangul Day"),
    ("US", "2024-11-28", "Thanksgiving Day"),
    ("US", "2024-12-25", "Christmas Day"),
    ("US", "2025-01-01", "New Year's Day"),
    ("US", "2025-01-09", "National Day of Mourning (President Carter)"),
    ("US", "2025-01-20", "Martin Luther King Jr. Day"),
    ("US", "2025-02-17", "Washington's Birthday"),
    ("US", "2025-04-18", "Good Friday"),
    ("US", "2025-05-26", "Memorial Day"),
    ("US", "2025-06-19", "Juneteenth"),
    ("US", "2025-07-04", "Independence Day"),
    ("US", "2025-09-01", "Labor Day"),
    ("VN", "2025-01-01", "New Year's Day"),
    ("VN", "2025-01-27", "Tet holiday"),
    ("VN", "2025-01-28", "Tet holiday"),
    ("VN", "2025-01-29", "Tet holiday"),
    ("VN", "2025-01-30", "Tet holiday"),
    ("VN", "2025-01-31", "Tet holiday"),
    ("VN", "2025-04-07", "Hung Kings' Commemoration (observed)"),
    ("VN", "2025-04-30", "Reunification Day"),
    ("VN", "2025-05-01", "Labour Day"),
    ("VN", "2025-09-01", "National Day holiday"),
    ("VN", "2025-09-02", "National Day"),
];

fn trading_days(end: NaiveDate, n: usize) -> Vec<NaiveDate> {
    let mut out = Vec::with_capacity(n);
    let mut day = end;
    while out.len() < n {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            out.push(day);
        }
        day -= Duration::days(1);
    }
    out.reverse();
    out
}

struct Ticker {
    ticker: String,
    region: &'static str,
    name: String,
    etf: bool,
    exchange: &'static str,
    currency: &'static str,
    price: f64,
    sector: &'static str,
}

const SECTORS: [&str; 11] = [
    "Information Technology",
    "Health Care",
    "Financials",
    "Consumer Discretionary",
    "Communication Services",
    "Industrials",
    "Consumer Staples",
    "Energy",
    "Utilities",
    "Real Estate",
    "Materials",
];

fn demo_tickers() -> Vec<Ticker> {
    let raw: [(&str, &str, &str, bool, &str, f64, usize); 24] = [
        ("005930", "KR", "Samsung Electronics", false, "KOSPI", 71500.0, 0),
        ("000660", "KR", "SK hynix", false, "KOSPI", 182000.0, 0),
        ("035420", "KR", "NAVER", false, "KOSPI", 198000.0, 4),
        ("005380", "KR", "Hyundai Motor", false, "KOSPI", 245000.0, 3),
        ("051910", "KR", "LG Chem", false, "KOSPI", 372000.0, 10),
        ("247540", "KR", "Ecopro BM", false, "KOSDAQ", 231000.0, 10),
        ("069500", "KR", "KODEX 200", true, "KOSPI", 35400.0, 0),
        ("229200", "KR", "KODEX KOSDAQ150", true, "KOSPI", 11800.0, 0),
        ("AAPL", "US", "Apple Inc.", false, "NASDAQ", 189.5, 0),
        ("MSFT", "US", "Microsoft Corporation", false, "NASDAQ", 415.2, 0),
        ("NVDA", "US", "NVIDIA Corporation", false, "NASDAQ", 121.4, 0),
        ("AMZN", "US", "Amazon.com, Inc.", false, "NASDAQ", 185.1, 3),
        ("JPM", "US", "JPMorgan Chase & Co.", false, "NYSE", 198.7, 2),
        ("XOM", "US", "Exxon Mobil Corporation", false, "NYSE", 112.3, 7),
        ("SPY", "US", "SPDR S&P 500 ETF Trust", true, "NYSE ARCA", 545.0, 0),
        ("QQQ", "US", "Invesco QQQ Trust", true, "NASDAQ", 470.2, 0),
        ("HPG", "VN", "Hoa Phat Group", false, "HOSE", 26500.0, 10),
        ("VCB", "VN", "Vietcombank", false, "HOSE", 91000.0, 2),
        ("FPT", "VN", "FPT Corporation", false, "HOSE", 128000.0, 0),
        ("VNM", "VN", "Vinamilk", false, "HOSE", 66500.0, 6),
        ("MWG", "VN", "Mobile World Investment", false, "HOSE", 61200.0, 3),
        ("CTD", "VN", "Coteccons Construction", false, "HOSE", 78900.0, 5),
        ("HSG", "VN", "Hoa Sen Group", false, "HOSE", 21300.0, 10),
        ("E1VFVN30", "VN", "DCVFM VN30 ETF", true, "HOSE", 21800.0, 0),
    ];
    raw.iter()
        .map(|(t, r, n, etf, ex, p, sec)| Ticker {
            ticker: t.to_string(),
            region: r,
            name: n.to_string(),
            etf: *etf,
            exchange: ex,
            currency: match *r {
                "KR" => "KRW",
                "US" => "USD",
                _ => "VND",
            },
            price: *p,
            sector: SECTORS[*sec],
        })
        .collect()
}

fn bench_tickers(n: usize, rng: &mut ChaCha8Rng) -> Vec<Ticker> {
    (0..n)
        .map(|i| {
            let kr = i % 2 == 0;
            let etf = i % 20 == 19;
            let ticker = if kr { format!("{:06}", 100_000 + i * 7) } else { format!("S{:04}", i) };
            let price = if kr { rng.gen_range(1_000.0..500_000.0f64).round() } else { rng.gen_range(5.0..500.0f64) };
            Ticker {
                name: format!(
                    "{} {} {}",
                    if kr { "Hanil" } else { "Summit" },
                    ["Systems", "Holdings", "Materials", "Energy"][i % 4],
                    i
                ),
                ticker,
                region: if kr { "KR" } else { "US" },
                etf,
                exchange: if kr { "KOSPI" } else { "NASDAQ" },
                currency: if kr { "KRW" } else { "USD" },
                price,
                sector: SECTORS[i % SECTORS.len()],
            }
        })
        .collect()
}

/// Prices are whole won/dong in KR/VN and cents in the US.
fn tick(region: &str) -> u32 {
    if region == "US" {
        2
    } else {
        0
    }
}

pub async fn run(db: &Db, scale: u32, progress: bool) -> anyhow::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(20251021);
    let dialect = db.dialect;
    let tx = db.write.begin().await?;
    let mut tickers = demo_tickers();
    let days = if scale > 1 { 500 } else { 250 };
    if scale > 1 {
        tickers.extend(bench_tickers(20 * scale as usize - tickers.len().min(20 * scale as usize), &mut rng));
    }
    let end = NaiveDate::from_ymd_opt(2025, 10, 20).expect("date");
    let dates = trading_days(end, days);
    let created = Utc.with_ymd_and_hms(2025, 10, 21, 0, 0, 0).unwrap();

    let mut b = Batch::new(
        &tx,
        "tickers",
        &[
            "ticker",
            "region",
            "symbol",
            "name",
            "asset_type",
            "exchange",
            "currency",
            "is_active",
            "created_at",
            "updated_at",
        ],
    );
    for t in &tickers {
        let symbol = if t.region == "KR" { format!("{}.KS", t.ticker) } else { t.ticker.clone() };
        b.push(vec![
            s(&t.ticker),
            s(t.region),
            s(&symbol),
            s(&t.name),
            s(if t.etf { "ETF" } else { "STOCK" }),
            s(t.exchange),
            s(t.currency),
            Value::Bool(Some(true)),
            ts(created),
            ts(created),
        ])
        .await?;
    }
    b.finish().await?;

    let mut sd = Batch::new(
        &tx,
        "stock_details",
        &[
            "ticker",
            "region",
            "sector",
            "industry",
            "market_cap",
            "shares_outstanding",
            "ipo_date",
            "description",
            "website",
            "updated_at",
        ],
    );
    let mut ed = Batch::new(
        &tx,
        "etf_details",
        &[
            "ticker",
            "region",
            "category",
            "index_tracked",
            "expense_ratio",
            "aum",
            "inception_date",
            "description",
            "updated_at",
        ],
    );
    for (i, t) in tickers.iter().enumerate() {
        let shares: i64 = rng.gen_range(50_000_000..6_000_000_000);
        if t.etf {
            ed.push(vec![
                s(&t.ticker),
                s(t.region),
                s("Equity"),
                s(match t.region {
                    "KR" => "KOSPI 200",
                    "US" => "S&P 500",
                    _ => "VN30",
                }),
                d(dec(rng.gen_range(0.0003..0.0095), 4)),
                Value::BigInt(Some((t.price * shares as f64) as i64)),
                date(NaiveDate::from_ymd_opt(2002 + (i % 15) as i32, 10, 14).unwrap()),
                s(&format!("{} tracks its index with full replication.", t.name)),
                ts(created),
            ])
            .await?;
        } else {
            // Market caps above 2^31 are the norm: they exercise BigInt end to end.
            sd.push(vec![
                s(&t.ticker),
                s(t.region),
                s(t.sector),
                s(&format!("{} - Core", t.sector)),
                Value::BigInt(Some((t.price * shares as f64) as i64)),
                Value::BigInt(Some(shares)),
                date(
                    NaiveDate::from_ymd_opt(1975 + (i % 45) as i32, 1 + (i % 12) as u32, 1 + (i % 27) as u32).unwrap(),
                ),
                s(&format!("{} is listed on {}.", t.name, t.exchange)),
                s(&format!("https://www.{}.example.com", t.ticker.to_lowercase())),
                ts(created),
            ])
            .await?;
        }
    }
    sd.finish().await?;
    ed.finish().await?;

    let mut eh = Batch::new(
        &tx,
        "etf_holdings",
        &[
            "etf_ticker",
            "region",
            "constituent_ticker",
            "constituent_region",
            "weight",
            "shares",
            "as_of_date",
            "created_at",
        ],
    );
    for etf in tickers.iter().filter(|t| t.etf).take(40) {
        let members: Vec<&Ticker> = tickers.iter().filter(|t| !t.etf && t.region == etf.region).take(10).collect();
        let w = Decimal::from(100) / Decimal::from(members.len().max(1));
        for m in members {
            eh.push(vec![
                s(&etf.ticker),
                s(etf.region),
                s(&m.ticker),
                s(m.region),
                d(w.round_dp(4)),
                d(Decimal::from(rng.gen_range(1_000..900_000))),
                date(end),
                ts(created),
            ])
            .await?;
        }
    }
    eh.finish().await?;

    let bar = progress.then(|| {
        let p = indicatif::ProgressBar::new((tickers.len() * dates.len()) as u64);
        p.set_style(
            indicatif::ProgressStyle::with_template("ohlcv_data {bar:40} {pos}/{len} rows {per_sec} eta {eta}")
                .unwrap(),
        );
        p
    });
    let mut ob = Batch::new(
        &tx,
        "ohlcv_data",
        &["ticker", "region", "date", "timeframe", "open", "high", "low", "close", "volume"],
    );
    ob.progress = bar.as_ref();
    for t in &tickers {
        let sigma = if t.etf { 0.009 } else { rng.gen_range(0.01..0.03) };
        let mut close = t.price;
        let dp = tick(t.region);
        for day in &dates {
            let open = close * (1.0 + rng.gen_range(-0.4..0.4) * sigma);
            close = (open * (1.0 + rng.gen_range(-1.0..1.0) * sigma * 1.7)).max(0.01);
            let high = open.max(close) * (1.0 + rng.gen_range(0.0..sigma));
            let low = open.min(close) * (1.0 - rng.gen_range(0.0..sigma));
            let volume: i64 = rng.gen_range(10_000..5_000_000);
            ob.push(vec![
                s(&t.ticker),
                s(t.region),
                date(*day),
                s("D"),
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

    // Minute candles for the Vietnamese symbols: the morning and afternoon trading hours (09:15–11:30, 13:00–14:45 ICT) of the last two days.
    let mut mc = Batch::new(&tx, "market_candles", &["time", "symbol", "open", "high", "low", "close", "volume"]);
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
                        s(&t.ticker),
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

    let mut tf = Batch::new(
        &tx,
        "ticker_fundamentals",
        &[
            "ticker",
            "region",
            "fiscal_year",
            "period_type",
            "per",
            "pbr",
            "psr",
            "market_cap",
            "revenue",
            "net_income",
            "total_assets",
            "total_liabilities",
            "dividend_yield",
        ],
    );
    let mut fs = Batch::new(&tx, "factor_scores", &["ticker", "region", "date", "factor_name", "score", "percentile"]);
    let month_ends: Vec<NaiveDate> = dates.windows(2).filter(|w| w[0].month() != w[1].month()).map(|w| w[0]).collect();
    for t in tickers.iter().filter(|t| !t.etf).take(if scale > 1 { 400 } else { 100 }) {
        for fy in 2022..=2024 {
            let revenue: i64 = rng.gen_range(1_000_000_000..900_000_000_000);
            tf.push(vec![
                s(&t.ticker),
                s(t.region),
                Value::Int(Some(fy)),
                s("FY"),
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
                    s(&t.ticker),
                    s(t.region),
                    date(*m),
                    s(f),
                    d(dec(rng.gen_range(-3.0..3.0), 4)),
                    d(dec(rng.gen_range(0.0..100.0), 4)),
                ])
                .await?;
            }
        }
    }
    tf.finish().await?;
    fs.finish().await?;

    let n_strategies = if scale > 1 { 50 } else { 5 };
    let per_strategy = if scale > 1 { 20 } else { 4 };
    let names = ["Momentum-Value", "Quality-LowVol", "KR Dividend", "US Mega-Cap Growth", "VN Steel Cycle"];
    let mut st = Batch::new(
        &tx,
        "strategies",
        &["id", "name", "description", "factor_weights", "constraints", "created_at", "updated_at"],
    );
    for i in 0..n_strategies {
        let name = names.get(i).map(|n| n.to_string()).unwrap_or_else(|| format!("Factor Mix {:02}", i + 1));
        st.push(vec![
            Value::Int(Some(i as i32 + 1)),
            s(&name),
            s("Multi-factor long-only strategy."),
            j(json!({"momentum": 0.4, "value": 0.3, "quality": 0.3})),
            j(json!({"max_position": 0.15, "max_sector": 0.4, "min_market_cap": 100_000_000_000i64})),
            ts(created),
            ts(created),
        ])
        .await?;
    }
    st.finish().await?;
    let mut br = Batch::new(
        &tx,
        "backtest_results",
        &[
            "strategy_id",
            "start_date",
            "end_date",
            "total_return",
            "sharpe_ratio",
            "max_drawdown",
            "win_rate",
            "results_json",
            "created_at",
        ],
    );
    let mut wf = Batch::new(
        &tx,
        "walk_forward_results",
        &[
            "strategy_id",
            "train_start_date",
            "train_end_date",
            "test_start_date",
            "test_end_date",
            "in_sample_sharpe",
            "out_sample_sharpe",
            "in_sample_return",
            "out_sample_return",
            "overfitting_ratio",
            "optimal_params",
        ],
    );
    let mut tr_cols = vec![
        "strategy_id",
        "ticker",
        "region",
        "date",
        "transaction_type",
        "shares",
        "price",
        "commission",
        "slippage",
    ];
    // PostgreSQL computes total_value itself (a generated column); SQLite gets the exact value from us.
    if !dialect.generates_columns() {
        tr_cols.push("total_value");
    }
    let mut tr = Batch::new(&tx, "portfolio_transactions", &tr_cols);
    let mut ph = Batch::new(
        &tx,
        "portfolio_holdings",
        &["strategy_id", "ticker", "region", "date", "shares", "weight", "cost_basis", "market_value"],
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
                s(&t.ticker),
                s(t.region),
                date(dates[dates.len() - 30 + k]),
                s(if k == 2 { "SELL" } else { "BUY" }),
                d(shares),
                d(price),
                d(commission),
                d(slippage),
            ];
            if !dialect.generates_columns() {
                row.push(d(shares * price + commission + slippage));
            }
            tr.push(row).await?;
            ph.push(vec![
                Value::Int(Some(sid)),
                s(&t.ticker),
                s(t.region),
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

    let mut oh = Batch::new(
        &tx,
        "optimization_history",
        &[
            "optimization_date",
            "universe",
            "method",
            "target_return",
            "target_risk",
            "constraints",
            "optimal_weights",
            "expected_return",
            "expected_risk",
            "sharpe_ratio",
        ],
    );
    for (i, (universe, method)) in
        [("KR_TOP100", "mean_variance"), ("US_TOP50", "risk_parity"), ("VN30", "max_sharpe")].iter().enumerate()
    {
        oh.push(vec![
            date(dates[dates.len() - 1 - i * 20]),
            s(universe),
            s(method),
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

    // Accounts, workflows and allocations: stable ids so the demo can refer to them.
    let hash = crate::auth::hash_password(DEMO_PASSWORD)?;
    let mut us = Batch::new(&tx, "users", &["id", "email", "password_hash", "role", "created_at", "updated_at"]);
    let user_ids: Vec<Uuid> =
        (0..DEMO_USERS.len()).map(|i| Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001 + i as u128)).collect();
    for ((email, role), id) in DEMO_USERS.iter().zip(&user_ids) {
        us.push(vec![Value::Uuid(Some(*id)), s(email), s(&hash), s(role), ts(created), ts(created)]).await?;
    }
    us.finish().await?;
    let trader = user_ids[3];
    let mut wfl =
        Batch::new(&tx, "workflows", &["id", "user_id", "name", "json_graph", "is_active", "created_at", "updated_at"]);
    let mut ex = Batch::new(
        &tx,
        "workflow_execution_logs",
        &["id", "workflow_id", "status", "executed_at", "result", "error_message", "duration_ms"],
    );
    for (i, name) in ["Steel cycle monitor", "Foreign flow alert"].iter().enumerate() {
        let wid = Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0001_0000 + i as u128);
        let graph = json!({"nodes": [{"id": "1", "type": "source", "data": {"symbol": "HPG"}}, {"id": "2", "type": "signal"}], "edges": [{"source": "1", "target": "2"}]});
        wfl.push(vec![
            Value::Uuid(Some(wid)),
            Value::Uuid(Some(trader)),
            s(name),
            j(graph),
            Value::Bool(Some(true)),
            ts(created),
            ts(created),
        ])
        .await?;
        for k in 0..3u128 {
            let ok = k != 1;
            ex.push(vec![
                Value::Uuid(Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0002_0000 + (i as u128) * 16 + k))),
                Value::Uuid(Some(wid)),
                s(if ok { "success" } else { "failed" }),
                ts(created - Duration::hours(k as i64 * 6)),
                if ok { j(json!({"signals": k + 1})) } else { Value::Json(None) },
                if ok { Value::String(None) } else { s("broker API timed out") },
                Value::Int(Some(800 + k as i32 * 150)),
            ])
            .await?;
        }
    }
    wfl.finish().await?;
    ex.finish().await?;
    let mut al = Batch::new(&tx, "portfolio_allocations", &["id", "user_id", "symbol", "allocation_pct", "created_at"]);
    for (k, (sym, pct)) in [("HPG", 40.0), ("FPT", 35.0), ("VCB", 25.0)].iter().enumerate() {
        al.push(vec![
            Value::Uuid(Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0003_0000 + k as u128))),
            Value::Uuid(Some(trader)),
            s(sym),
            Value::Double(Some(*pct)),
            ts(created),
        ])
        .await?;
    }
    al.finish().await?;

    let nodes = [
        ("Iron Ore", None, "Basic Resources", "Upstream"),
        ("Coking Coal", None, "Basic Resources", "Upstream"),
        ("Hoa Phat Group", Some("HPG"), "Basic Resources", "Midstream"),
        ("Hoa Sen Group", Some("HSG"), "Basic Resources", "Midstream"),
        ("Coteccons Construction", Some("CTD"), "Construction & Materials", "Downstream"),
    ];
    let node_id = |k: usize| Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0004_0000 + k as u128);
    let mut vn = Batch::new(
        &tx,
        "value_chain_nodes",
        &["id", "symbol", "name", "sector", "node_type", "description", "created_at"],
    );
    for (k, (name, sym, sector, kind)) in nodes.iter().enumerate() {
        vn.push(vec![
            Value::Uuid(Some(node_id(k))),
            sym.map(s).unwrap_or(Value::String(None)),
            s(name),
            s(sector),
            s(kind),
            s(&format!("{name} in the steel value chain.")),
            ts(created),
        ])
        .await?;
    }
    vn.finish().await?;
    let mut ve = Batch::new(
        &tx,
        "value_chain_edges",
        &[
            "id",
            "source_id",
            "target_id",
            "relationship",
            "correlation_coeff",
            "lead_time_days",
            "weight",
            "created_at",
            "updated_at",
        ],
    );
    for (k, (from, to, rel, corr, lag)) in [
        (0, 2, "supplies", 0.62, 20),
        (1, 2, "supplies", 0.48, 15),
        (2, 4, "sells_to", 0.35, 45),
        (3, 4, "sells_to", 0.28, 40),
        (0, 3, "supplies", 0.51, 25),
    ]
    .iter()
    .enumerate()
    {
        ve.push(vec![
            Value::Uuid(Some(Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0005_0000 + k as u128))),
            Value::Uuid(Some(node_id(*from))),
            Value::Uuid(Some(node_id(*to))),
            s(rel),
            Value::Double(Some(*corr)),
            Value::Int(Some(*lag)),
            Value::Double(Some(corr * 10.0)),
            ts(created),
            ts(created),
        ])
        .await?;
    }
    ve.finish().await?;

    let mut th = Batch::new(&tx, "trading_holidays", &["region", "date", "name"]);
    for (region, day, name) in HOLIDAYS {
        th.push(vec![s(region), Value::ChronoDate(NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()), s(name)]).await?;
    }
    th.finish().await?;

    tx.commit().await?;
    // Explicit ids were written: sequences move past them; statistics are fresh.
    for stmt in dialect.after_bulk_load() {
        db.write.execute_unprepared(stmt).await?;
    }
    Ok(())
}
