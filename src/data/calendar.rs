//! Trading calendars: a region trades on weekdays that are not in `trading_holidays`; minute
//! candles (Vietnamese listings) trade in HOSE's sessions. Gap filling (`fill:`) answers one
//! bucket per trading period in range, made up where no row exists.
use super::buckets::{BarInterval, Bucket};
use super::exec::fetch;
use super::sql::Sql;
use super::values::{Cell, Kind};
use crate::data::db::Db;
use crate::error::ApiResult;
use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use sea_orm::Value;
use std::collections::HashSet;

/// HOSE's continuous sessions in UTC seconds of the day: 09:00–11:30 and 13:00–14:45 (UTC+7).
const VN_SESSIONS: [(i64, i64); 2] = [(2 * 3600, 4 * 3600 + 1800), (6 * 3600, 7 * 3600 + 2700)];

/// Most trading periods one filled answer makes.
pub const MAX_FILLED: usize = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fill {
    /// Stored buckets only.
    None,
    /// Missing periods as buckets without prices.
    Null,
    /// Missing periods at the previous close, volume 0.
    Previous,
}

/// The holidays of `region` in [from, to], in one statement.
pub async fn holidays(db: &Db, region: &str, from: NaiveDate, to: NaiveDate) -> ApiResult<HashSet<NaiveDate>> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("SELECT date FROM trading_holidays WHERE region = ").param(Value::String(Some(region.into())));
    sql.push(" AND date >= ").param(Value::ChronoDate(Some(from)));
    sql.push(" AND date <= ").param(Value::ChronoDate(Some(to)));
    Ok(fetch(&db.read, sql, 0, &[Kind::Date])
        .await?
        .into_iter()
        .filter_map(|(_, c)| if let Some(Cell::Date(d)) = c.first() { Some(*d) } else { None })
        .collect())
}

pub fn is_trading_day(d: NaiveDate, holidays: &HashSet<NaiveDate>) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&d)
}

fn days(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// The starts of the `iv` buckets holding at least one trading day in [from, to].
pub fn bar_periods(iv: BarInterval, from: NaiveDate, to: NaiveDate, holidays: &HashSet<NaiveDate>) -> Vec<NaiveDate> {
    let mut out: Vec<NaiveDate> = Vec::new();
    for d in days(from, to).filter(|d| is_trading_day(*d, holidays)) {
        let s = iv.start(d);
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

/// The starts of the `secs`-second buckets overlapping a session of a trading day in [from, to].
pub fn candle_periods(
    secs: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    holidays: &HashSet<NaiveDate>,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let first = from.timestamp().div_euclid(secs) * secs;
    let mut t = first;
    while t <= to.timestamp() && out.len() <= MAX_FILLED {
        let Some(at) = DateTime::from_timestamp(t, 0) else { break };
        let day = at.date_naive();
        let midnight = day.and_hms_opt(0, 0, 0).map_or(t, |m| m.and_utc().timestamp());
        let (start, end) = (t - midnight, t - midnight + secs);
        let in_session = VN_SESSIONS.iter().any(|(a, b)| start < *b && end > *a);
        // A bucket of a day or longer holds a session when its first day trades.
        if is_trading_day(day, holidays) && (secs >= 86_400 || in_session) {
            out.push(at);
        }
        t += secs;
    }
    out
}

/// One bucket per period of `periods` (ascending starts): the stored one, or a made-up one.
/// Stored buckets outside the periods (a non-trading day) are left out. `previous` is the last
/// close before the first period, for `Fill::Previous`.
pub fn fill(stored: Vec<Bucket>, periods: &[Cell], mode: Fill, mut previous: Option<Cell>, key: &str) -> Vec<Bucket> {
    let mut stored = stored.into_iter().peekable();
    let mut out = Vec::with_capacity(periods.len());
    for p in periods {
        while stored.peek().is_some_and(|b| before(&b.start, p)) {
            stored.next();
        }
        if stored.peek().is_some_and(|b| b.start == *p) {
            let b = stored.next().expect("peeked");
            previous = Some(b.values[3].clone());
            out.push(b);
            continue;
        }
        let values = match (mode, &previous) {
            (Fill::Previous, Some(c)) => vec![c.clone(), c.clone(), c.clone(), c.clone(), Cell::Int(0), Cell::Int(0)],
            _ => vec![Cell::Null, Cell::Null, Cell::Null, Cell::Null, Cell::Null, Cell::Int(0)],
        };
        out.push(Bucket {
            key: key.to_string(),
            start: p.clone(),
            values,
            derived: Vec::new(),
            filled: true,
            seq: None,
            closed: true,
        });
    }
    out
}

fn before(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Date(x), Cell::Date(y)) => x < y,
        (Cell::DateTime(x), Cell::DateTime(y)) => x < y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_skip_weekends_holidays_and_closed_hours() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let hol: HashSet<NaiveDate> = [d("2025-09-01"), d("2025-09-02")].into();
        // Fri 29 Aug … Fri 5 Sep 2025: Sat, Sun and the two holidays are out.
        let days = bar_periods(BarInterval::Day, d("2025-08-29"), d("2025-09-05"), &hol);
        assert_eq!(days, vec![d("2025-08-29"), d("2025-09-03"), d("2025-09-04"), d("2025-09-05")]);
        let weeks = bar_periods(BarInterval::Week, d("2025-08-29"), d("2025-09-05"), &hol);
        assert_eq!(weeks, vec![d("2025-08-25"), d("2025-09-01")]);
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let hours = candle_periods(3600, t("2025-08-29T00:00:00Z"), t("2025-08-29T23:59:00Z"), &hol);
        let hours: Vec<u32> = hours.iter().map(chrono::Timelike::hour).collect();
        assert_eq!(hours, vec![2, 3, 4, 6, 7], "09:00–11:30 and 13:00–14:45 in Hanoi");
        assert!(candle_periods(3600, t("2025-09-01T00:00:00Z"), t("2025-09-02T23:00:00Z"), &hol).is_empty());
    }
}
