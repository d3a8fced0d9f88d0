//! Cells straight from PostgreSQL's binary result format. Going through sea-orm's and sqlx's
//! generic decoders costs more than the rest of a read together on wide pages: a NUMERIC is
//! rebuilt there from a power of ten per base-10000 digit (a Decimal division each), and every
//! cell passes type-compatibility checks and error boxing. The kinds here have fixed, documented
//! wire forms (PostgreSQL's `*_send` functions); anything else, or any surprise (a text-format
//! value, an unexpected type, NaN or an out-of-range number), returns `None` and the caller
//! decodes it the generic way, so this path can only be faster, never different.
use crate::data::values::{Cell, Kind};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::QueryResult;
use sqlx::postgres::PgValueFormat;
use sqlx::{Column as _, Row as _};
use uuid::Uuid;

// Type OIDs (pg_type.dat).
const BOOL: u32 = 16;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const FLOAT4: u32 = 700;
const FLOAT8: u32 = 701;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const DATE: u32 = 1082;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;
const UUID: u32 = 2950;
const JSON: u32 = 114;
const JSONB: u32 = 3802;

/// How one result column is decoded here.
#[derive(Clone, Copy, Debug)]
pub enum Wire {
    Int,
    Float4,
    Float8,
    Numeric,
    Text,
    Bool,
    Date,
    TimestampTz,
    Uuid,
    /// `json` (text) or `jsonb` (a version byte, 1, then text).
    Json {
        versioned: bool,
    },
}

/// The decoder of a column of type `oid` read as `kind`, if there is one.
pub fn wire_of(kind: Kind, oid: u32) -> Option<Wire> {
    Some(match (kind, oid) {
        (Kind::Int | Kind::BigInt, INT2 | INT4 | INT8) => Wire::Int,
        (Kind::Float, FLOAT4) => Wire::Float4,
        (Kind::Float, FLOAT8) => Wire::Float8,
        (Kind::Decimal, NUMERIC) => Wire::Numeric,
        (Kind::String, TEXT | VARCHAR | BPCHAR) => Wire::Text,
        (Kind::Boolean, BOOL) => Wire::Bool,
        (Kind::Date, DATE) => Wire::Date,
        (Kind::DateTime, TIMESTAMPTZ) => Wire::TimestampTz,
        (Kind::Uuid, UUID) => Wire::Uuid,
        (Kind::Json, JSON) => Wire::Json { versioned: false },
        (Kind::Json, JSONB) => Wire::Json { versioned: true },
        _ => return None,
    })
}

/// For each of the `kinds` columns after the first `skip` of a result, the wire decoder, chosen
/// once per statement from the first row's column types (`None`: the generic decoder's job).
/// `None` when `row` did not come from PostgreSQL.
pub fn wires(row: &QueryResult, skip: usize, kinds: &[Kind]) -> Option<Vec<Option<Wire>>> {
    let row = row.try_as_pg_row()?;
    // One format for a whole result: prepared statements read binary (a text result, from the
    // simple query protocol, is left to the generic decoders).
    if !kinds.is_empty() && row.try_get_raw(skip).ok()?.format() != PgValueFormat::Binary {
        return None;
    }
    let columns = row.columns();
    let wire = |i: usize, kind: Kind| wire_of(kind, columns.get(skip + i)?.type_info().oid()?.0);
    Some(kinds.iter().enumerate().map(|(i, k)| wire(i, *k)).collect())
}

/// Column `i` of `row` (binary, as `wires` checked) decoded as `wire`, or `None` when the
/// generic decoder must handle it.
pub fn cell(row: &QueryResult, i: usize, wire: Wire) -> Option<Cell> {
    decode(row.try_as_pg_row()?.try_get_unchecked::<Option<&[u8]>, _>(i).ok()?, wire)
}

/// A cell from its binary form (`None` bytes: SQL NULL), or `None` when it is not what `wire`
/// reads.
pub fn decode(bytes: Option<&[u8]>, wire: Wire) -> Option<Cell> {
    let Some(bytes) = bytes else {
        return Some(Cell::Null);
    };
    match wire {
        Wire::Int => int(bytes).map(Cell::Int),
        Wire::Float4 => Some(Cell::Float(f32::from_be_bytes(bytes.try_into().ok()?) as f64)),
        Wire::Float8 => Some(Cell::Float(f64::from_be_bytes(bytes.try_into().ok()?))),
        Wire::Numeric => numeric(bytes).map(Cell::Decimal),
        Wire::Text => Some(Cell::Text(std::str::from_utf8(bytes).ok()?.to_owned())),
        Wire::Bool => Some(Cell::Bool(*bytes.first()? != 0)),
        Wire::Date => date(bytes).map(Cell::Date),
        Wire::TimestampTz => timestamptz(bytes).map(Cell::DateTime),
        Wire::Uuid => Some(Cell::Uuid(Uuid::from_slice(bytes).ok()?)),
        Wire::Json { versioned } => {
            let text = if versioned { bytes.strip_prefix(&[1])? } else { bytes };
            Some(Cell::Json(Box::new(serde_json::from_slice(text).ok()?)))
        }
    }
}

/// A big-endian integer of 2, 4 or 8 bytes.
fn int(b: &[u8]) -> Option<i64> {
    Some(match b.len() {
        2 => i16::from_be_bytes(b.try_into().ok()?) as i64,
        4 => i32::from_be_bytes(b.try_into().ok()?) as i64,
        8 => i64::from_be_bytes(b.try_into().ok()?),
        _ => return None,
    })
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date")
}

/// Days since 2000-01-01 (±infinity fall outside chrono's range and go the generic way).
fn date(b: &[u8]) -> Option<NaiveDate> {
    let days = i32::from_be_bytes(b.try_into().ok()?);
    epoch().checked_add_signed(Duration::try_days(days as i64)?)
}

/// Microseconds since 2000-01-01 00:00 UTC.
fn timestamptz(b: &[u8]) -> Option<DateTime<Utc>> {
    let micros = i64::from_be_bytes(b.try_into().ok()?);
    let t = epoch().and_hms_opt(0, 0, 0)?.and_utc();
    t.checked_add_signed(Duration::microseconds(micros))
}

/// NUMERIC: `ndigits, weight, sign, dscale` (16 bits each) then `ndigits` base-10000 digits,
/// the first worth 10000^weight. The value at the column's display scale is
/// Σ digit·10^(4·(weight−k) + dscale): exact integer arithmetic, and the scale kept as
/// PostgreSQL shows it (`41.5600`, and `0.0000` for a zero, as psql and the SQLite backend do).
pub fn numeric(b: &[u8]) -> Option<Decimal> {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes(b.get(2 * i..2 * i + 2)?.try_into().ok()?)) };
    let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)? as i16 as i32, word(2)?, word(3)? as i32);
    if !matches!(sign, 0x0000 | 0x4000) || dscale > 28 || b.len() != 8 + 2 * ndigits {
        return None; // NaN, ±Infinity, or beyond Decimal's 28 places
    }
    // The digits as one base-10000 integer, worth 10000^(weight − ndigits + 1) per unit.
    let e = 4 * (weight - ndigits as i32 + 1) + dscale;
    if e >= 0 && 4 * ndigits as i32 + e <= 18 {
        // Prices: below 10^18, so 64-bit arithmetic does (128-bit multiplies cost more).
        let mut m: u64 = 0;
        for k in 0..ndigits {
            m = m * 10_000 + word(4 + k)? as u64;
        }
        let m = (m * 10u64.pow(e as u32)) as i64;
        return Some(Decimal::new(if sign == 0x4000 { -m } else { m }, dscale as u32));
    }
    let mut m: i128 = 0;
    for k in 0..ndigits {
        m = m.checked_mul(10_000)?.checked_add(word(4 + k)? as i128)?;
    }
    if e >= 0 {
        m = m.checked_mul(10i128.checked_pow(e as u32)?)?;
    } else {
        // Only the zero-padded tail of the last group can lie past the display scale.
        let p = 10i128.checked_pow((-e) as u32)?;
        if m % p != 0 {
            return None;
        }
        m /= p;
    }
    if sign == 0x4000 {
        m = -m;
    }
    Decimal::try_from_i128_with_scale(m, dscale as u32).ok()
}

/// NUMERIC written as the JSON string of the `Decimal` that `numeric` decodes (every digit of
/// the column's display scale, quoted), from the digits as one integer: a page of prices is
/// thousands of these. `false`, with nothing written, for what does not fit in 18 digits or is
/// not PostgreSQL's form (NaN, ±Infinity, groups past 9999, digits past the display scale): the
/// caller then decodes.
pub fn numeric_json(b: &[u8], out: &mut Vec<u8>) -> bool {
    let word = |i: usize| -> Option<u16> { Some(u16::from_be_bytes(b.get(2 * i..2 * i + 2)?.try_into().ok()?)) };
    let (Some(ndigits), Some(weight), Some(sign), Some(dscale)) = (word(0), word(1), word(2), word(3)) else {
        return false;
    };
    let (ndigits, weight, dscale) = (ndigits as usize, weight as i16 as i64, dscale as usize);
    if !matches!(sign, 0x0000 | 0x4000) || b.len() != 8 + 2 * ndigits || ndigits > 4 || dscale > 28 {
        return false;
    }
    // The value in units of 10^−dscale, as `numeric` computes it below 10^18.
    let mut m: u64 = 0;
    for k in 0..ndigits {
        match word(4 + k) {
            Some(g @ 0..=9999) => m = m * 10_000 + g as u64,
            _ => return false,
        }
    }
    let e = 4 * (weight - ndigits as i64 + 1) + dscale as i64;
    if e >= 0 {
        if 4 * ndigits as i64 + e > 18 {
            return false;
        }
        m *= 10u64.pow(e as u32);
    } else {
        // Only the zero-padded tail of the last group may lie past the display scale.
        match 10u64.checked_pow(e.unsigned_abs() as u32) {
            Some(p) if m.is_multiple_of(p) => m /= p,
            _ => return false,
        }
    }
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(m).as_bytes();
    // `-`, up to 18 integer digits, `.`, up to 28 places, in quotes.
    let mut text = [b'0'; 52];
    text[0] = b'"';
    let mut n = 1;
    if sign == 0x4000 && m != 0 {
        text[n] = b'-';
        n += 1;
    }
    let int_len = digits.len().saturating_sub(dscale);
    if int_len == 0 {
        n += 1; // a `0` before the point
    }
    text[n..n + int_len].copy_from_slice(&digits[..int_len]);
    n += int_len;
    if dscale > 0 {
        text[n] = b'.';
        // Places the digits do not reach are the zeros already there.
        n += 1 + dscale;
        text[n - (digits.len() - int_len)..n].copy_from_slice(&digits[int_len..]);
    }
    text[n] = b'"';
    out.extend_from_slice(&text[..=n]);
    true
}

/// DATE written as the JSON string of the `NaiveDate` that `date` decodes (`"YYYY-MM-DD"`), from
/// the day count by the civil-from-days arithmetic, without a calendar type; `false`, with
/// nothing written, outside the years 0–9999 (the caller then decodes).
pub fn date_json(b: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(days) = <[u8; 4]>::try_from(b).map(i32::from_be_bytes) else { return false };
    // Days since -0400-03-01: years then run March to February, so leap days come last. The
    // count is unsigned for every year written (0–9999), so each division by a constant is a
    // multiplication.
    let Ok(z) = u32::try_from(days as i64 + 730_425 + 146_097) else { return false };
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400 + (month <= 2) as u32).wrapping_sub(400);
    if year > 9999 {
        return false;
    }
    let d = |v: u32| b'0' + v as u8;
    let text = [
        b'"',
        d(year / 1000),
        d(year / 100 % 10),
        d(year / 10 % 10),
        d(year % 10),
        b'-',
        d(month / 10),
        d(month % 10),
        b'-',
        d(day / 10),
        d(day % 10),
        b'"',
    ];
    out.extend_from_slice(&text);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::str::FromStr;

    /// The wire form of `text` as PostgreSQL's `numeric_send` writes it.
    fn wire(text: &str) -> Vec<u8> {
        let neg = text.starts_with('-');
        let t = text.trim_start_matches('-');
        let (int, frac) = t.split_once('.').unwrap_or((t, ""));
        let dscale = frac.len();
        let int = int.trim_start_matches('0');
        // Pad both sides to whole groups of four digits around the point.
        let lead = (4 - int.len() % 4) % 4;
        let digits = format!("{}{int}{frac}{}", "0".repeat(lead), "0".repeat((4 - frac.len() % 4) % 4));
        let mut groups: Vec<u16> =
            digits.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap().parse().unwrap()).collect();
        let mut weight = ((int.len() + lead) / 4) as i32 - 1;
        while groups.first() == Some(&0) {
            groups.remove(0);
            weight -= 1;
        }
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let mut out = Vec::new();
        for w in [groups.len() as u16, weight as i16 as u16, if neg { 0x4000 } else { 0 }, dscale as u16] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for g in groups {
            out.extend_from_slice(&g.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_exactly_at_their_scale() {
        for text in [
            "41.5600",
            "0.0000",
            "0",
            "-0.0001",
            "12345678.9",
            "100000000",
            "0.05",
            "-98765.4321",
            "79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "10000",
            "9999.9999",
            "123456789012345678.1234",
        ] {
            let d = numeric(&wire(text)).unwrap_or_else(|| panic!("{text} not decoded"));
            assert_eq!(d.to_string(), text, "{text}");
            assert_eq!(d, Decimal::from_str(text).unwrap());
        }
    }

    /// A decimal's text: small, price-like or up to 20 integer digits, up to `max_scale` places.
    fn random_text(rng: &mut impl Rng, max_scale: usize) -> String {
        let int: u64 = match rng.gen_range(0..3) {
            0 => rng.gen_range(0..1000),
            1 => rng.gen_range(0..10_000_000_000),
            _ => rng.gen(),
        };
        let scale = rng.gen_range(0..=max_scale);
        let frac: String = (0..scale).map(|_| char::from(b'0' + rng.gen_range(0..10u8))).collect();
        let sign = if rng.gen_bool(0.3) { "-" } else { "" };
        if scale == 0 {
            format!("{sign}{int}")
        } else {
            format!("{sign}{int}.{frac}")
        }
    }

    #[test]
    fn random_numerics_decode_as_their_text_parses() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..20_000 {
            let text = random_text(&mut rng, 8);
            let want = Decimal::from_str(&text).unwrap();
            let got = numeric(&wire(&text)).unwrap_or_else(|| panic!("{text} not decoded"));
            assert_eq!((got, got.scale()), (want, want.scale()), "{text}");
        }
    }

    /// `numeric_json` writes what `numeric`'s Decimal shows, quoted, or leaves the value to it.
    fn same_text(b: &[u8]) -> bool {
        let mut out = Vec::new();
        let wrote = numeric_json(b, &mut out);
        match numeric(b) {
            Some(d) => !wrote || out == format!("\"{d}\"").as_bytes(),
            None => !wrote && out.is_empty(),
        }
    }

    #[test]
    fn numeric_json_is_the_decimals_text() {
        for text in ["41.5600", "0.0000", "0", "-0.0001", "12345678.9", "100000000", "0.05", "-98765.4321", "10000"] {
            let mut out = Vec::new();
            assert!(numeric_json(&wire(text), &mut out), "{text} written");
            assert_eq!(out, format!("\"{text}\"").as_bytes());
        }
        // Too many digits for the short way: left to `numeric`.
        assert!(!numeric_json(&wire("79228162514264337593543950335"), &mut Vec::new()));
        // NaN, and digits past the display scale (not what PostgreSQL sends): `numeric`'s to refuse.
        assert!(!numeric_json(&[0, 0, 0, 0, 0xC0, 0, 0, 0], &mut Vec::new()));
        assert!(!numeric_json(&[0, 1, 0xff, 0xff, 0, 0, 0, 2, 0x04, 0xd2], &mut Vec::new()));
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        for _ in 0..50_000 {
            let text = random_text(&mut r, 10);
            let mut out = Vec::new();
            if numeric_json(&wire(&text), &mut out) {
                assert_eq!(out, format!("\"{}\"", numeric(&wire(&text)).unwrap()).as_bytes(), "{text}");
            } else {
                // Up to 12 digits fit in four groups and below 10^18 at any scale: only longer
                // values may take the long way.
                let digits = text.trim_start_matches('-').replace('.', "").len();
                assert!(out.is_empty() && digits > 12, "{text} left to numeric");
            }
            // And any bytes at all: the same text or none.
            let len = r.gen_range(0..16);
            let junk: Vec<u8> = (0..len).map(|_| r.gen()).collect();
            assert!(same_text(&junk), "{junk:?}");
            // A well-formed header over groups of any value (past 9999 too), weights and scales.
            let n = r.gen_range(0..6u16);
            let weight = r.gen_range(0..8u16).wrapping_sub(4);
            let mut words = vec![n, weight, [0, 0x4000][r.gen_range(0..2)], r.gen_range(0..12)];
            words.extend((0..n).map(|_| if r.gen_bool(0.8) { r.gen_range(0..10_000) } else { r.gen() }));
            let shaped: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            assert!(same_text(&shaped), "{shaped:?}");
        }
    }

    #[test]
    fn numerics_decimal_cannot_hold_go_the_generic_way() {
        assert_eq!(numeric(&wire("79228162514264337593543950336")), None); // 2^96
        assert_eq!(numeric(&[0, 0, 0, 0, 0xC0, 0, 0, 0]), None); // NaN
        assert_eq!(numeric(&[0, 1, 0, 0, 0, 0, 0, 0]), None); // truncated
    }

    #[test]
    fn date_json_is_the_dates_text() {
        use crate::data::values::PlainText;
        use chrono::Datelike;
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        // Every day of years −10 to 10,010, then random day counts of any size.
        let all = -730_500..2_930_000;
        for days in all.chain((0..100_000).map(|_| r.gen::<i32>())) {
            let b = days.to_be_bytes();
            let mut out = Vec::new();
            match date(&b) {
                Some(d) if (0..=9999).contains(&d.year()) => {
                    assert!(date_json(&b, &mut out), "{days} written");
                    assert_eq!(out, format!("\"{}\"", PlainText::Date(d)).as_bytes(), "{days}");
                }
                _ => assert!(!date_json(&b, &mut out) && out.is_empty(), "{days} left to date"),
            }
        }
        assert!(!date_json(&[0, 0, 1], &mut Vec::new()));
    }

    #[test]
    fn dates_and_times_count_from_2000() {
        assert_eq!(date(&0i32.to_be_bytes()), NaiveDate::from_ymd_opt(2000, 1, 1));
        assert_eq!(date(&(-1i32).to_be_bytes()), NaiveDate::from_ymd_opt(1999, 12, 31));
        assert_eq!(date(&i32::MAX.to_be_bytes()), None); // 'infinity'
        let t = timestamptz(&86_400_000_001i64.to_be_bytes()).unwrap();
        assert_eq!(t.to_rfc3339(), "2000-01-02T00:00:00.000001+00:00");
    }
}
