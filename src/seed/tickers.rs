//! The listings: two dozen real demo tickers, and generated ones for the bench scale.
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub(super) struct Ticker {
    pub ticker: String,
    pub region: &'static str,
    pub name: String,
    pub etf: bool,
    pub exchange: &'static str,
    pub currency: &'static str,
    pub price: f64,
    pub sector: &'static str,
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

pub(super) fn demo_tickers() -> Vec<Ticker> {
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

pub(super) fn bench_tickers(n: usize, rng: &mut ChaCha8Rng) -> Vec<Ticker> {
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
pub(super) fn tick(region: &str) -> u32 {
    if region == "US" {
        2
    } else {
        0
    }
}
