//! The demo's trading calendar: its trading days, and the weekday exchange holidays of its
//! markets (KRX, NYSE, HOSE) in its date range.
use super::batch::{s as text, Batch};
use super::Seed;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use entity::*;
use sea_orm::Value;

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

/// The `n` trading days (weekdays) ending on `end`, oldest first.
pub(super) fn trading_days(end: NaiveDate, n: usize) -> Vec<NaiveDate> {
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

/// The holidays above.
pub(super) async fn holidays(s: &mut Seed) -> anyhow::Result<()> {
    let tx = &s.tx;
    let mut th = Batch::new(
        tx,
        &[trading_holidays::Column::Region, trading_holidays::Column::Date, trading_holidays::Column::Name],
    );
    for (region, day, name) in HOLIDAYS {
        th.push(vec![text(region), Value::ChronoDate(NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()), text(name)])
            .await?;
    }
    th.finish().await?;
    Ok(())
}
