//! The value model: column kinds, the cells read from the database, their bind values and how
//! a response shows them. `Decimal` and `BigInt` are shown as strings so no digit is lost in a
//! client's doubles; a `DateTime` in the request's time zone (storage is always UTC).
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use sea_orm::{sea_query::ColumnType, Value};
use std::str::FromStr;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    BigInt,
    Float,
    Decimal,
    String,
    Boolean,
    Date,
    DateTime,
    Json,
    Uuid,
}

impl Kind {
    pub fn from_column_type(t: &ColumnType) -> Kind {
        match t {
            ColumnType::TinyInteger | ColumnType::SmallInteger | ColumnType::Integer => Kind::Int,
            ColumnType::BigInteger => Kind::BigInt,
            ColumnType::Float | ColumnType::Double => Kind::Float,
            ColumnType::Decimal(_) | ColumnType::Money(_) => Kind::Decimal,
            ColumnType::Boolean => Kind::Boolean,
            ColumnType::Date => Kind::Date,
            ColumnType::DateTime | ColumnType::Timestamp | ColumnType::TimestampWithTimeZone => Kind::DateTime,
            ColumnType::Json | ColumnType::JsonBinary => Kind::Json,
            ColumnType::Uuid => Kind::Uuid,
            _ => Kind::String,
        }
    }

    /// The GraphQL scalar of this kind.
    pub fn scalar(self) -> &'static str {
        match self {
            Kind::Int => "Int",
            Kind::BigInt => "BigInt",
            Kind::Float => "Float",
            Kind::Decimal => "Decimal",
            Kind::String => "String",
            Kind::Boolean => "Boolean",
            Kind::Date => "Date",
            Kind::DateTime => "DateTime",
            Kind::Json => "JSON",
            Kind::Uuid => "UUID",
        }
    }

    /// PostgreSQL type for casting a parameter whose type the server cannot infer.
    pub fn pg_cast(self) -> &'static str {
        match self {
            Kind::Int => "int4",
            Kind::BigInt => "int8",
            Kind::Float => "float8",
            Kind::Decimal => "numeric",
            Kind::String => "text",
            Kind::Boolean => "bool",
            Kind::Date => "date",
            Kind::DateTime => "timestamptz",
            Kind::Json => "jsonb",
            Kind::Uuid => "uuid",
        }
    }

    pub fn orderable(self) -> bool {
        !matches!(self, Kind::Json)
    }
}

/// A cell as a response shows it.
pub enum Rendered<'a> {
    Null,
    Int(i64),
    Float(f64),
    /// Text that may need escaping in JSON (what users stored).
    Text(&'a str),
    /// Text whose characters never need escaping (digits, signs, dashes, colons, hex): written
    /// straight into a response without an intermediate string.
    Plain(PlainText<'a>),
    Bool(bool),
    Json(&'a serde_json::Value),
}

/// The values shown as plain text: exact numbers as strings, dates, times and UUIDs.
pub enum PlainText<'a> {
    Decimal(&'a Decimal),
    BigInt(i64),
    Date(NaiveDate),
    DateTime(&'a DateTime<Utc>, Tz),
    Uuid(&'a Uuid),
}

impl PlainText<'_> {
    /// Writes the text; the common shapes (decimals, integers, dates) without the formatting
    /// machinery, since a page of bars is thousands of them.
    pub fn write_to<W: std::fmt::Write>(&self, w: &mut W) -> std::fmt::Result {
        match self {
            PlainText::Decimal(d) => write_decimal(w, d),
            PlainText::BigInt(v) => w.write_str(itoa::Buffer::new().format(*v)),
            PlainText::Date(d) => write_date(w, *d),
            PlainText::DateTime(t, tz) => w.write_str(&render_datetime(t, *tz)),
            PlainText::Uuid(u) => write!(w, "{u}"),
        }
    }
}

impl std::fmt::Display for PlainText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write_to(f)
    }
}

/// `d` as its `Display` writes it: every digit of its scale, trailing zeros kept.
fn write_decimal<W: std::fmt::Write>(w: &mut W, d: &Decimal) -> std::fmt::Result {
    if d.is_zero() && d.is_sign_negative() {
        return write!(w, "{d}"); // a negative zero, written as rust_decimal does
    }
    let m = d.mantissa();
    let scale = d.scale() as usize;
    let mut buf = itoa::Buffer::new();
    let abs = m.unsigned_abs();
    // 64-bit formatting is about twice as fast, and prices fit it.
    let digits = match u64::try_from(abs) {
        Ok(small) => buf.format(small),
        Err(_) => buf.format(abs),
    };
    if m < 0 {
        w.write_char('-')?;
    }
    if scale == 0 {
        return w.write_str(digits);
    }
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        w.write_str(int)?;
        w.write_char('.')?;
        return w.write_str(frac);
    }
    w.write_str("0.")?;
    for _ in digits.len()..scale {
        w.write_char('0')?;
    }
    w.write_str(digits)
}

/// `YYYY-MM-DD` (years past 9999 or before 0 as chrono counts them, through `write!`).
fn write_date<W: std::fmt::Write>(w: &mut W, d: NaiveDate) -> std::fmt::Result {
    let (y, m, day) = (d.year(), d.month(), d.day());
    if !(0..=9999).contains(&y) {
        return write!(w, "{y:04}-{m:02}-{day:02}");
    }
    let y = y as u32;
    let digit = |v: u32| (b'0' + v as u8) as char;
    for c in [
        digit(y / 1000),
        digit(y / 100 % 10),
        digit(y / 10 % 10),
        digit(y % 10),
        '-',
        digit(m / 10),
        digit(m % 10),
        '-',
        digit(day / 10),
        digit(day % 10),
    ] {
        w.write_char(c)?;
    }
    Ok(())
}

/// One value read from a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Decimal(Decimal),
    Text(String),
    Bool(bool),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// Boxed: the other kinds fit in 32 bytes, and rows move cells by value.
    Json(Box<serde_json::Value>),
    Uuid(Uuid),
}

// Cells key batched reads (parent keys, cursors, filters): equal cells hash equally. Floats
// compare by bits here, so a NaN key matches itself.
impl Eq for Cell {}

impl std::hash::Hash for Cell {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Cell::Null => {}
            Cell::Int(v) => v.hash(h),
            Cell::Float(v) => v.to_bits().hash(h),
            Cell::Decimal(d) => d.hash(h),
            Cell::Text(s) => s.hash(h),
            Cell::Bool(b) => b.hash(h),
            Cell::Date(d) => d.hash(h),
            Cell::DateTime(t) => t.hash(h),
            Cell::Json(j) => j.to_string().hash(h),
            Cell::Uuid(u) => u.hash(h),
        }
    }
}

impl Cell {
    /// How this cell appears in a response (`DateTime`s in `tz`): the one rendering of values
    /// that both the JSON writer and the general executor use.
    pub fn render(&self, kind: Kind, tz: Tz) -> Rendered<'_> {
        match self {
            Cell::Null => Rendered::Null,
            Cell::Int(v) if kind == Kind::BigInt => Rendered::Plain(PlainText::BigInt(*v)),
            Cell::Int(v) => Rendered::Int(*v),
            Cell::Float(v) if v.is_finite() => Rendered::Float(*v),
            Cell::Float(_) => Rendered::Null,
            Cell::Decimal(d) => Rendered::Plain(PlainText::Decimal(d)),
            Cell::Text(s) => Rendered::Text(s),
            Cell::Bool(b) => Rendered::Bool(*b),
            Cell::Date(d) => Rendered::Plain(PlainText::Date(*d)),
            Cell::DateTime(t) => Rendered::Plain(PlainText::DateTime(t, tz)),
            Cell::Json(j) => Rendered::Json(j),
            Cell::Uuid(u) => Rendered::Plain(PlainText::Uuid(u)),
        }
    }

    /// A cell of `kind` from JSON (cursors): numbers for numeric kinds, text for the rest.
    pub fn from_json(v: &serde_json::Value, kind: Kind) -> Result<Cell, String> {
        use serde_json::Value as J;
        let text = || match v {
            J::String(s) => Ok(s.clone()),
            J::Number(n) if matches!(kind, Kind::BigInt | Kind::Decimal) => Ok(n.to_string()),
            other => Err(format!("expected a {} value, got {other}", kind.scalar())),
        };
        Ok(match (kind, v) {
            (_, J::Null) => Cell::Null,
            (Kind::Int, J::Number(n)) => {
                Cell::Int(n.as_i64().filter(|x| i32::try_from(*x).is_ok()).ok_or("not a 32-bit integer")?)
            }
            (Kind::Float, J::Number(n)) => Cell::Float(n.as_f64().ok_or("not a number")?),
            (Kind::Int | Kind::Float, _) => return Err(format!("expected a {}", kind.scalar())),
            (Kind::Boolean, J::Bool(b)) => Cell::Bool(*b),
            (Kind::Boolean, _) => return Err("expected a Boolean".into()),
            (Kind::Json, j) => Cell::Json(Box::new(j.clone())),
            (Kind::BigInt, _) => Cell::Int(text()?.trim().parse().map_err(|_| "not a 64-bit integer".to_string())?),
            (Kind::Decimal, _) => Cell::Decimal(parse_decimal(&text()?).map_err(|_| "not a decimal".to_string())?),
            (Kind::String, _) => Cell::Text(text()?),
            (Kind::Date, _) => Cell::Date(parse_date(&text()?)?),
            (Kind::DateTime, _) => Cell::DateTime(parse_datetime(&text()?)?),
            (Kind::Uuid, _) => Cell::Uuid(Uuid::parse_str(&text()?).map_err(|_| "not a UUID".to_string())?),
        })
    }

    /// The bind value of this cell for a column of `kind`.
    pub fn to_value(&self, kind: Kind) -> Value {
        match (self, kind) {
            (Cell::Null, k) => null_of(k),
            (Cell::Int(v), Kind::Int) => Value::Int(Some(*v as i32)),
            // Inputs arrive as the literal was written (`1`, `0.62`): bound as the column's type,
            // so an array parameter (PostgreSQL's bulk inserts) holds one type throughout.
            (Cell::Int(v), Kind::Float) => Value::Double(Some(*v as f64)),
            (Cell::Int(v), Kind::Decimal) => Value::Decimal(Some(Decimal::from(*v))),
            (Cell::Decimal(d), Kind::Float) => Value::Double(Some(d.to_string().parse().unwrap_or(f64::NAN))),
            (Cell::Int(v), _) => Value::BigInt(Some(*v)),
            (Cell::Float(v), _) => Value::Double(Some(*v)),
            (Cell::Decimal(d), _) => Value::Decimal(Some(*d)),
            (Cell::Text(s), _) => Value::String(Some(s.clone())),
            (Cell::Bool(b), _) => Value::Bool(Some(*b)),
            (Cell::Date(d), _) => Value::ChronoDate(Some(*d)),
            (Cell::DateTime(t), _) => Value::ChronoDateTimeUtc(Some(*t)),
            (Cell::Json(j), _) => Value::Json(Some(j.clone())),
            (Cell::Uuid(u), _) => Value::Uuid(Some(*u)),
        }
    }
}

pub fn null_of(kind: Kind) -> Value {
    match kind {
        Kind::Int => Value::Int(None),
        Kind::BigInt => Value::BigInt(None),
        Kind::Float => Value::Double(None),
        Kind::Decimal => Value::Decimal(None),
        Kind::String => Value::String(None),
        Kind::Boolean => Value::Bool(None),
        Kind::Date => Value::ChronoDate(None),
        Kind::DateTime => Value::ChronoDateTimeUtc(None),
        Kind::Json => Value::Json(None),
        Kind::Uuid => Value::Uuid(None),
    }
}

pub fn parse_decimal(s: &str) -> Result<Decimal, rust_decimal::Error> {
    let s = s.trim();
    Decimal::from_str(s).or_else(|_| Decimal::from_scientific(s))
}

pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| format!("`{s}` is not a date (YYYY-MM-DD)"))
}

pub fn parse_datetime(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{s}` is not an RFC 3339 date-time with an offset"))
}

pub fn render_datetime(t: &DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn plain_text_writes_what_display_writes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for i in 0..20_000 {
            let m: i128 = match i % 4 {
                0 => rng.gen_range(-1_000_000..1_000_000),
                1 => rng.gen::<i64>() as i128,
                2 => rng.gen_range(-(1i128 << 95)..(1i128 << 95)),
                _ => 0,
            };
            let d = Decimal::from_i128_with_scale(m, rng.gen_range(0..=28));
            assert_eq!(PlainText::Decimal(&d).to_string(), d.to_string(), "{m} {}", d.scale());
            let v: i64 = rng.gen();
            assert_eq!(PlainText::BigInt(v).to_string(), v.to_string());
        }
        let mut neg_zero = Decimal::new(0, 2);
        neg_zero.set_sign_negative(true);
        assert_eq!(PlainText::Decimal(&neg_zero).to_string(), neg_zero.to_string());
        for (y, m, d) in [(2023, 1, 2), (1, 12, 31), (9999, 12, 31), (10000, 1, 1), (-44, 3, 15), (0, 1, 1)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let want = format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
            assert_eq!(PlainText::Date(date).to_string(), want);
        }
    }
}
