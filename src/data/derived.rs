//! Series derived from buckets' closes (and highs, lows, volumes), for charts and notebooks:
//! returns, moving averages, RSI, volatility, VWAP. Each value at a bucket uses that bucket and
//! earlier ones only (no look-ahead), and is null unless as many buckets as asked exist — the
//! buckets before the range asked for are read too (`buckets::with_history`), so the first
//! bucket shown has a value whenever the stored history allows.
use super::buckets::Bucket;
use super::values::Cell;

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

fn num(c: &Cell) -> Option<f64> {
    match c {
        Cell::Float(f) => Some(*f),
        Cell::Decimal(d) => d.to_string().parse().ok(),
        Cell::Int(i) => Some(*i as f64),
        _ => None,
    }
}

/// The values of `d` at each bucket (oldest first); `per_year` buckets make a year.
pub fn compute(buckets: &[Bucket], d: Derived, per_year: f64) -> Vec<Option<f64>> {
    let n = buckets.len();
    let close: Vec<Option<f64>> = buckets.iter().map(|b| num(&b.values[3])).collect();
    let ratio = |i: usize| -> Option<f64> {
        let (c, p) = (close[i]?, close[i.checked_sub(1)?]?);
        (p != 0.0).then(|| c / p)
    };
    match d {
        Derived::SimpleReturn => (0..n).map(|i| ratio(i).map(|r| r - 1.0)).collect(),
        Derived::LogReturn => (0..n).map(|i| ratio(i).filter(|r| *r > 0.0).map(f64::ln)).collect(),
        Derived::Sma(len) => (0..n)
            .map(|i| {
                let w = close.get((i + 1).checked_sub(len)?..=i)?;
                w.iter().copied().sum::<Option<f64>>().map(|s| s / len as f64)
            })
            .collect(),
        Derived::Ema(len) => {
            let alpha = 2.0 / (len as f64 + 1.0);
            let mut out = vec![None; n];
            let mut ema: Option<f64> = None;
            for i in 0..n {
                ema = match (ema, close[i]) {
                    (Some(e), Some(c)) => Some(alpha * c + (1.0 - alpha) * e),
                    (None, _) if i + 1 == len => {
                        close[..len].iter().copied().sum::<Option<f64>>().map(|s| s / len as f64)
                    }
                    (e, _) => e.filter(|_| close[i].is_some()),
                };
                out[i] = ema;
            }
            out
        }
        Derived::Rsi(len) => {
            let mut out = vec![None; n];
            let (mut gain, mut loss) = (0.0, 0.0);
            for i in 1..n {
                let (Some(c), Some(p)) = (close[i], close[i - 1]) else { return out };
                let change = c - p;
                let (g, l) = (change.max(0.0), (-change).max(0.0));
                if i <= len {
                    gain += g / len as f64;
                    loss += l / len as f64;
                } else {
                    gain = (gain * (len as f64 - 1.0) + g) / len as f64;
                    loss = (loss * (len as f64 - 1.0) + l) / len as f64;
                }
                if i >= len {
                    out[i] = Some(if loss == 0.0 { 100.0 } else { 100.0 - 100.0 / (1.0 + gain / loss) });
                }
            }
            out
        }
        Derived::Volatility(len) => {
            let logs = compute(buckets, Derived::LogReturn, per_year);
            (0..n)
                .map(|i| {
                    let w: Vec<f64> =
                        logs.get((i + 1).checked_sub(len)?..=i)?.iter().copied().collect::<Option<_>>()?;
                    if len < 2 {
                        return None;
                    }
                    let m = w.iter().sum::<f64>() / len as f64;
                    let var = w.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (len - 1) as f64;
                    Some((var * per_year).sqrt())
                })
                .collect()
        }
        Derived::Vwap(len) => (0..n)
            .map(|i| {
                let w = buckets.get((i + 1).checked_sub(len)?..=i)?;
                let (mut pv, mut v) = (0.0, 0.0);
                for b in w {
                    let (h, l, c, vol) =
                        (num(&b.values[1])?, num(&b.values[2])?, num(&b.values[3])?, num(&b.values[4])?);
                    pv += (h + l + c) / 3.0 * vol;
                    v += vol;
                }
                (v > 0.0).then(|| pv / v)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(closes: &[f64]) -> Vec<Bucket> {
        closes
            .iter()
            .map(|c| Bucket {
                key: String::new(),
                start: Cell::Null,
                values: vec![
                    Cell::Float(*c),
                    Cell::Float(*c),
                    Cell::Float(*c),
                    Cell::Float(*c),
                    Cell::Int(10),
                    Cell::Int(1),
                ],
                derived: Vec::new(),
                filled: false,
            })
            .collect()
    }

    #[test]
    fn textbook_values() {
        let b = bars(&[10.0, 11.0, 12.0, 11.0, 13.0]);
        assert_eq!(compute(&b, Derived::Sma(3), 252.0), vec![None, None, Some(11.0), Some(34.0 / 3.0), Some(12.0)]);
        let ema = compute(&b, Derived::Ema(3), 252.0);
        assert_eq!(ema[..2], [None, None]);
        assert_eq!(ema[2], Some(11.0));
        assert_eq!(ema[3], Some(0.5 * 11.0 + 0.5 * 11.0));
        assert_eq!(ema[4], Some(0.5 * 13.0 + 0.5 * 11.0));
        // Changes +1 +1 −1 +2: first average gain 2/2, loss 0 → 100; then gain (1·1+0)/2, loss (0+1)/2.
        let rsi = compute(&b, Derived::Rsi(2), 252.0);
        assert_eq!(rsi[..3], [None, None, Some(100.0)]);
        assert_eq!(rsi[3], Some(50.0));
        assert_eq!(compute(&b, Derived::SimpleReturn, 252.0)[1], Some(0.10000000000000009));
        assert!(compute(&b, Derived::Volatility(5), 252.0).iter().all(Option::is_none), "needs 5 returns");
    }
}
