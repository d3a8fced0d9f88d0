//! Cells as GraphQL values: output (`to_gql`, through `Cell::render`) and input parsing, and
//! the request's time zone.
pub use crate::data::values::{parse_date, parse_datetime, parse_decimal, render_datetime, Cell, Kind, Rendered};
use crate::error::{ApiError, ApiResult};
use async_graphql::Value as GqlValue;
use chrono_tz::Tz;
use std::str::FromStr;
use uuid::Uuid;

impl Cell {
    /// The GraphQL value of this cell, `DateTime`s shown in `tz`.
    pub fn to_gql(&self, kind: Kind, tz: Tz) -> GqlValue {
        match self.render(kind, tz) {
            Rendered::Null => GqlValue::Null,
            Rendered::Int(v) => GqlValue::from(v),
            Rendered::Float(v) => GqlValue::from(v),
            Rendered::Text(s) => GqlValue::String(s.to_owned()),
            Rendered::Plain(p) => GqlValue::String(p.to_string()),
            Rendered::Bool(b) => GqlValue::Boolean(b),
            Rendered::Json(j) => GqlValue::from_json(j.clone()).unwrap_or(GqlValue::Null),
        }
    }

    /// Parses a GraphQL input value of this kind (used by filters, cursors and writes).
    pub fn parse(v: &GqlValue, kind: Kind) -> Result<Cell, String> {
        if matches!(v, GqlValue::Null) {
            return Ok(Cell::Null);
        }
        let text = || match v {
            GqlValue::String(s) => Ok(s.clone()),
            GqlValue::Number(n) => Ok(n.to_string()),
            other => Err(format!("expected a {} value, got {other}", kind.scalar())),
        };
        Ok(match kind {
            Kind::Int => match v {
                GqlValue::Number(n) => {
                    Cell::Int(n.as_i64().filter(|x| i32::try_from(*x).is_ok()).ok_or("not a 32-bit integer")?)
                }
                _ => return Err("expected an Int".into()),
            },
            Kind::BigInt => Cell::Int(text()?.trim().parse::<i64>().map_err(|_| "not a 64-bit integer".to_string())?),
            Kind::Float => match v {
                GqlValue::Number(n) => Cell::Float(n.as_f64().ok_or("not a number")?),
                _ => return Err("expected a Float".into()),
            },
            Kind::Decimal => Cell::Decimal(parse_decimal(&text()?).map_err(|_| "not a decimal number".to_string())?),
            Kind::String => match v {
                GqlValue::String(s) => Cell::Text(s.clone()),
                GqlValue::Enum(s) => Cell::Text(s.to_string()),
                _ => return Err("expected a String".into()),
            },
            Kind::Boolean => match v {
                GqlValue::Boolean(b) => Cell::Bool(*b),
                _ => return Err("expected a Boolean".into()),
            },
            Kind::Date => Cell::Date(parse_date(&text()?)?),
            Kind::DateTime => Cell::DateTime(parse_datetime(&text()?)?),
            Kind::Json => Cell::Json(Box::new(v.clone().into_json().map_err(|e| e.to_string())?)),
            Kind::Uuid => Cell::Uuid(Uuid::parse_str(&text()?).map_err(|_| "not a UUID".to_string())?),
        })
    }
}

pub fn parse_tz(name: &str) -> ApiResult<Tz> {
    Tz::from_str(name.trim())
        .map_err(|_| ApiError::bad(format!("unknown time zone `{name}` (use an IANA name such as Asia/Ho_Chi_Minh)")))
}
