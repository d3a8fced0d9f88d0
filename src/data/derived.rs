//! Series derived from buckets' closes (and highs, lows, volumes), for charts and notebooks:
//! returns, moving averages, RSI, volatility, VWAP — in SQL, in the statement that makes the
//! buckets: window functions over the buckets, and a recursive CTE per EMA or RSI (each value
//! depends on the one before). Each value at a bucket uses that bucket and earlier ones only
//! (no look-ahead), and is null unless as many buckets as asked exist; the buckets before the
//! range asked for are read too, so the first bucket shown has a value whenever the stored
//! history allows.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Derived {
    /// close / previous close − 1.
    SimpleReturn,
    /// ln(close / previous close).
    LogReturn,
    /// The mean of the last `n` closes.
    Sma(usize),
    /// Exponential moving average, α = 2 / (n + 1), seeded with the mean of the first `n` closes
    /// of the stored history.
    Ema(usize),
    /// Wilder's relative strength index: average gain and loss over the first `n` changes, then
    /// smoothed with weight 1/n; 100 when there was no loss.
    Rsi(usize),
    /// The sample standard deviation of the last `n` log returns, annualised by √(buckets per year).
    Volatility(usize),
    /// Σ typical price × volume / Σ volume over the last `n` buckets; typical price (h + l + c) / 3.
    Vwap(usize),
}

impl Derived {
    /// Whether it depends on every bucket since the start of the history (recursive averages).
    pub fn needs_all_history(self) -> bool {
        matches!(self, Derived::Ema(_) | Derived::Rsi(_))
    }
}

/// The statement's parts after the bucket rows `b(b, o, h, l, c, v, n)`: CTEs numbering the
/// buckets and computing the changes (`r`, `s`), a recursive CTE per EMA or RSI, and `w`, the
/// buckets with one column per ask (window functions over the buckets up to each one).
pub fn window_ctes(asks: &[Derived], per_year: f64) -> String {
    let f = "DOUBLE PRECISION";
    let mut out = format!(
        ", r AS (SELECT b, o, h, l, c, v, n, row_number() OVER (ORDER BY b) AS i, CAST(c AS {f}) AS cf, \
         CAST(h AS {f}) AS hf, CAST(l AS {f}) AS lf, CAST(v AS {f}) AS vf, \
         CAST(c AS {f}) - lag(CAST(c AS {f})) OVER (ORDER BY b) AS d, \
         CAST(c AS {f}) / NULLIF(lag(CAST(c AS {f})) OVER (ORDER BY b), 0) AS ratio FROM b), \
         s AS (SELECT r.*, CASE WHEN ratio > 0 THEN ln(ratio) END AS lr, \
         CASE WHEN d IS NULL THEN NULL WHEN d > 0 THEN d ELSE 0.0 END AS gain, \
         CASE WHEN d IS NULL THEN NULL WHEN d < 0 THEN -d ELSE 0.0 END AS loss FROM r)"
    );
    let frame = |n: usize| format!("OVER (ORDER BY s.i ROWS BETWEEN {} PRECEDING AND CURRENT ROW)", n - 1);
    let mut cols = Vec::new();
    let mut joins = String::new();
    for (k, d) in asks.iter().enumerate() {
        let col = match *d {
            Derived::SimpleReturn => "s.ratio - 1".to_string(),
            Derived::LogReturn => "s.lr".to_string(),
            Derived::Sma(n) => format!("CASE WHEN count(s.cf) {w} = {n} THEN avg(s.cf) {w} END", w = frame(n)),
            Derived::Vwap(n) => format!(
                "CASE WHEN count(s.cf) {w} = {n} THEN sum((s.hf + s.lf + s.cf) / 3.0 * s.vf) {w} / NULLIF(sum(s.vf) {w}, 0) END",
                w = frame(n)
            ),
            Derived::Volatility(n) if n < 2 => "NULL".to_string(),
            Derived::Volatility(n) => {
                let w = frame(n);
                let var = format!("((sum(s.lr * s.lr) {w} - sum(s.lr) {w} * sum(s.lr) {w} / {n}.0) / {}.0)", n - 1);
                format!("CASE WHEN count(s.lr) {w} = {n} THEN sqrt((CASE WHEN {var} < 0 THEN 0.0 ELSE {var} END) * {per_year:?}) END")
            }
            Derived::Ema(n) => {
                let a = 2.0 / (n as f64 + 1.0);
                out.push_str(&format!(
                    ", e{k}(i, v) AS (SELECT i, m FROM (SELECT s.i, avg(s.cf) {w} AS m FROM s) x WHERE i = {n} \
                     UNION ALL SELECT s.i, {a:?} * s.cf + {b:?} * e{k}.v FROM e{k} JOIN s ON s.i = e{k}.i + 1)",
                    w = frame(n),
                    b = 1.0 - a
                ));
                joins.push_str(&format!(" LEFT JOIN e{k} ON e{k}.i = s.i"));
                format!("e{k}.v")
            }
            Derived::Rsi(n) => {
                out.push_str(&format!(
                    ", e{k}(i, g, l) AS (SELECT i, ag, al FROM (SELECT s.i, avg(s.gain) {w} AS ag, avg(s.loss) {w} AS al FROM s) x \
                     WHERE i = {n1} UNION ALL SELECT s.i, (e{k}.g * {m}.0 + s.gain) / {n}.0, (e{k}.l * {m}.0 + s.loss) / {n}.0 \
                     FROM e{k} JOIN s ON s.i = e{k}.i + 1)",
                    w = frame(n),
                    n1 = n + 1,
                    m = n - 1
                ));
                joins.push_str(&format!(" LEFT JOIN e{k} ON e{k}.i = s.i"));
                format!("CASE WHEN e{k}.l = 0 THEN 100.0 ELSE 100.0 - 100.0 / (1.0 + e{k}.g / e{k}.l) END")
            }
        };
        cols.push(format!("{col} AS x{k}"));
    }
    out.push_str(", w AS (SELECT s.b, s.o, s.h, s.l, s.c, s.v, s.n");
    for c in &cols {
        out.push_str(", ");
        out.push_str(c);
    }
    out.push_str(&format!(" FROM s{joins})"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_recursive_averages() {
        let sql = window_ctes(&[Derived::Sma(20), Derived::Ema(3), Derived::Rsi(14), Derived::Volatility(5)], 252.0);
        assert!(sql.contains(
            "CASE WHEN count(s.cf) OVER (ORDER BY s.i ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) = 20 THEN avg(s.cf)"
        ));
        assert!(sql.contains(", e1(i, v) AS (SELECT i, m FROM (SELECT s.i, avg(s.cf) OVER (ORDER BY s.i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS m FROM s) x WHERE i = 3 UNION ALL SELECT s.i, 0.5 * s.cf + 0.5 * e1.v FROM e1 JOIN s ON s.i = e1.i + 1)"), "{sql}");
        assert!(sql.contains("WHERE i = 15 UNION ALL SELECT s.i, (e2.g * 13.0 + s.gain) / 14.0"), "{sql}");
        assert!(sql.ends_with("FROM s LEFT JOIN e1 ON e1.i = s.i LEFT JOIN e2 ON e2.i = s.i)"), "{sql}");
    }
}
