//! Live bars as charting libraries take them: minute candles (or daily bars) folded into the
//! forming bar of their bucket, each change sent with the bucket's time (same time: replace the
//! bar), and once more, `closed`, when a row of a later bucket arrives.
//!
//! `seq` numbers the events of one series and interval from the stored data alone, so every
//! replica and every replay agrees: the k-th bucket with n rows so far has `seq = C + D + n`,
//! C being the rows and D the buckets before it, and its closing event `C + D + n + 1` — one
//! more than its last update, one less than the next bucket's first. A correction of a row
//! already in the bar repeats its seq with the new values.
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};

/// A price of a bar: candles' DOUBLE PRECISION or daily bars' nullable DECIMAL.
pub trait Price: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    fn higher(self, other: Self) -> Self;
    fn lower(self, other: Self) -> Self;
}

impl Price for f64 {
    fn higher(self, other: Self) -> Self {
        self.max(other)
    }
    fn lower(self, other: Self) -> Self {
        self.min(other)
    }
}

/// As SQL's `max`/`min`: a missing price is skipped.
impl Price for Option<Decimal> {
    fn higher(self, other: Self) -> Self {
        match (self, other) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
    fn lower(self, other: Self) -> Self {
        match (self, other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One row folded into a bar (a minute candle or a daily bar): open, high, low, close, volume.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ohlcv<P> {
    pub open: P,
    pub high: P,
    pub low: P,
    pub close: P,
    pub volume: i64,
}

/// A bar as sent: its series, bucket start (Unix seconds), values, count of rows, seq and
/// whether it is closed.
#[derive(Clone, Debug, PartialEq)]
pub struct BarEvent<P> {
    pub symbol: String,
    pub start: i64,
    pub bar: Ohlcv<P>,
    pub count: i64,
    pub seq: i64,
    pub closed: bool,
}

/// The forming bar of one series.
#[derive(Debug)]
pub struct Forming<P> {
    pub start: i64,
    /// `C + D` of this bucket (see the module's text).
    pub base: i64,
    /// The bucket's rows by time (Unix seconds).
    pub minutes: BTreeMap<i64, Ohlcv<P>>,
}

impl<P: Price> Forming<P> {
    pub fn bar(&self) -> Ohlcv<P> {
        let mut it = self.minutes.values();
        let first = *it.next().expect("a forming bar has a candle");
        let mut bar = first;
        for m in it {
            bar.high = bar.high.higher(m.high);
            bar.low = bar.low.lower(m.low);
            bar.volume += m.volume;
        }
        bar.close = self.minutes.values().next_back().expect("a candle").close;
        bar
    }

    fn event(&self, symbol: &str, closed: bool) -> BarEvent<P> {
        let n = self.minutes.len() as i64;
        BarEvent {
            symbol: symbol.to_string(),
            start: self.start,
            bar: self.bar(),
            count: n,
            seq: self.base + n + i64::from(closed),
            closed,
        }
    }

    /// Adds (or replaces) the row at `minute`; answers the update event.
    pub fn add(&mut self, symbol: &str, minute: i64, m: Ohlcv<P>) -> BarEvent<P> {
        self.minutes.insert(minute, m);
        self.event(symbol, false)
    }

    /// The closing event, then the next bucket's forming bar (starting at `start`).
    pub fn close(self, symbol: &str, start: i64) -> (BarEvent<P>, Forming<P>) {
        let closed = self.event(symbol, true);
        let next = Forming { start, base: closed.seq, minutes: BTreeMap::new() };
        (closed, next)
    }
}

/// Events waiting for a slow subscriber: the latest state of each forming bar (an update
/// replaces an unsent one of the same bar) and every closed bar, up to `max_closed` of them.
#[derive(Debug)]
pub struct Conflated<P> {
    queue: VecDeque<BarEvent<P>>,
    closed: usize,
    max_closed: usize,
    /// Most events held at once, for the metrics.
    pub high_water: usize,
}

/// The subscriber fell more than the bound behind in closed bars.
#[derive(Debug, PartialEq, Eq)]
pub struct TooFarBehind(pub usize);

impl<P: Price> Conflated<P> {
    pub fn new(max_closed: usize) -> Self {
        Conflated { queue: VecDeque::new(), closed: 0, max_closed, high_water: 0 }
    }

    pub fn push(&mut self, e: BarEvent<P>) -> Result<(), TooFarBehind> {
        let same = |q: &BarEvent<P>| q.symbol == e.symbol && q.start == e.start && !q.closed;
        if let Some(pos) = self.queue.iter().rposition(same) {
            if e.closed {
                // The closed bar carries the final state: the unsent update is superseded.
                self.queue.remove(pos);
            } else {
                self.queue[pos] = e;
                return Ok(());
            }
        }
        if e.closed {
            self.closed += 1;
            if self.closed > self.max_closed {
                return Err(TooFarBehind(self.max_closed));
            }
        }
        self.queue.push_back(e);
        self.high_water = self.high_water.max(self.queue.len());
        Ok(())
    }

    pub fn pop(&mut self) -> Option<BarEvent<P>> {
        let e = self.queue.pop_front()?;
        if e.closed {
            self.closed -= 1;
        }
        Some(e)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(close: f64) -> Ohlcv<f64> {
        Ohlcv { open: close, high: close + 1.0, low: close - 1.0, close, volume: 10 }
    }

    #[test]
    fn seq_counts_candles_and_closings() {
        // 3 candles in 2 earlier buckets: C = 3, D = 2.
        let mut f = Forming { start: 3600, base: 5, minutes: BTreeMap::new() };
        assert_eq!(f.add("S", 3600, m(10.0)).seq, 6);
        let e = f.add("S", 3660, m(12.0));
        assert_eq!((e.seq, e.count, e.bar.open, e.bar.close, e.bar.high, e.bar.volume), (7, 2, 10.0, 12.0, 13.0, 20));
        assert_eq!(f.add("S", 3660, m(11.0)).seq, 7, "a correction repeats its seq");
        let (closed, mut next) = f.close("S", 7200);
        assert_eq!((closed.seq, closed.closed, closed.bar.close), (8, true, 11.0));
        assert_eq!(next.add("S", 7200, m(9.0)).seq, 9);
    }

    #[test]
    fn slow_subscribers_keep_the_latest_forming_bar_and_every_closed_one() {
        let mut q = Conflated::new(2);
        let ev = |start, seq, closed| BarEvent { symbol: "S".into(), start, bar: m(1.0), count: 1, seq, closed };
        q.push(ev(0, 1, false)).unwrap();
        q.push(ev(0, 2, false)).unwrap();
        assert_eq!(q.len(), 1, "latest wins");
        q.push(ev(0, 3, true)).unwrap();
        assert_eq!((q.len(), q.pop().map(|e| e.seq)), (1, Some(3)), "the closed bar supersedes its update");
        q.push(ev(60, 4, true)).unwrap();
        q.push(ev(120, 5, true)).unwrap();
        assert_eq!(q.push(ev(180, 6, true)), Err(TooFarBehind(2)));
    }

    #[test]
    fn missing_daily_prices_are_skipped_as_sql_does() {
        let d = |s: &str| Some(s.parse::<Decimal>().unwrap());
        let bar = |high, low| Ohlcv { open: d("1"), high, low, close: d("1"), volume: 1 };
        let mut f = Forming { start: 0, base: 0, minutes: BTreeMap::new() };
        f.add("S", 0, bar(None, d("0.5")));
        let e = f.add("S", 86400, bar(d("2.25"), None));
        assert_eq!((e.bar.high, e.bar.low, e.bar.volume), (d("2.25"), d("0.5"), 2));
    }
}
