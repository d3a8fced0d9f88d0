//! The documented constraints, checked before any SQL so a bad row names its field and index.
use crate::data::catalog::Table;
use crate::data::query::check_region;
use crate::data::values::{Cell, Kind};
use crate::error::{ApiError, ApiResult};
use rust_decimal::Decimal;

/// One row being written: values by column index.
pub type Values = Vec<(usize, Cell)>;

fn get<'a>(t: &Table, row: &'a Values, name: &str) -> Option<&'a Cell> {
    let i = t.col(name)?;
    row.iter().find(|(c, _)| *c == i).map(|(_, v)| v).filter(|v| !matches!(v, Cell::Null))
}

/// `portfolio_transactions.total_value`: `shares * price + commission + slippage` at 4 places,
/// halves rounded away from zero — what PostgreSQL's generated NUMERIC(20,4) column stores, so
/// SQLite stores the same — or `None` when it does not fit DECIMAL(20,4).
pub fn transaction_total(shares: Decimal, price: Decimal, commission: Decimal, slippage: Decimal) -> Option<Decimal> {
    let total = shares.checked_mul(price)?.checked_add(commission)?.checked_add(slippage)?;
    let total = total.round_dp_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    (total.abs() < Decimal::from(10_000_000_000_000_000i64)).then_some(total)
}

fn num(c: &Cell) -> Option<Decimal> {
    match c {
        Cell::Decimal(d) => Some(*d),
        Cell::Int(i) => Some(Decimal::from(*i)),
        Cell::Float(f) => Decimal::from_f64_retain(*f),
        _ => None,
    }
}

/// Positive prices with high ≥ max(open, close) ≥ min(open, close) ≥ low.
fn ohlc<T: PartialOrd + Copy>(p: [Option<T>; 4], zero: T) -> Result<(), (&'static str, &'static str)> {
    const NAMES: [&str; 4] = ["open", "high", "low", "close"];
    for (v, n) in p.iter().zip(NAMES) {
        if v.is_some_and(|v| v <= zero) {
            return Err((n, "must be positive"));
        }
    }
    if let [Some(o), Some(h), Some(l), Some(c)] = p {
        let (hi, lo) = if o > c { (o, c) } else { (c, o) };
        if h < hi {
            return Err(("high", "must be at least max(open, close)"));
        }
        if l > lo {
            return Err(("low", "must be at most min(open, close)"));
        }
    }
    Ok(())
}

/// Checks one row of `t`; `at` names it in errors (e.g. `bars[17]`).
pub fn check_row(t: &Table, row: &Values, at: &str) -> ApiResult<()> {
    let bad = |field: &str, msg: &str| Err(ApiError::bad(format!("{at}.{field}: {msg}")));
    for (i, v) in row {
        let c = &t.columns[*i];
        match v {
            Cell::Text(s) => {
                if let Some(n) = c.max_len {
                    if s.chars().count() > n as usize {
                        return bad(&c.field, &format!("longer than {n} characters"));
                    }
                }
                if !c.nullable && s.trim().is_empty() {
                    return bad(&c.field, "must not be empty");
                }
                if c.name == "region" || c.name == "constituent_region" {
                    check_region(s).map_err(|e| ApiError::bad(format!("{at}.{}: {}", c.field, e.message())))?;
                }
            }
            Cell::Decimal(d) => {
                if let (Some(p), Some(s)) = (c.precision, c.scale) {
                    let whole = d.trunc().abs().to_string().trim_start_matches('0').len() as u32;
                    if whole > p - s || d.scale() > s && d.round_dp(s) != *d {
                        return bad(&c.field, &format!("does not fit DECIMAL({p},{s})"));
                    }
                }
            }
            Cell::Float(f) if !f.is_finite() => return bad(&c.field, "must be a finite number"),
            Cell::Null if !c.nullable => return bad(&c.field, "must not be null"),
            _ => {}
        }
    }
    match t.name {
        "ohlcv_data" | "market_candles" => {
            if let Some(tf) = get(t, row, "timeframe") {
                if !matches!(tf, Cell::Text(s) if crate::data::query::TIMEFRAMES.contains(&s.as_str())) {
                    return bad("timeframe", "must be D, W or M");
                }
            }
            // Candle prices are floats: compared as such, with no decimal conversion per row.
            let f = |n| match get(t, row, n) {
                Some(Cell::Float(x)) => Some(*x),
                _ => None,
            };
            let d = |n| get(t, row, n).and_then(num);
            let checked = if t.name == "market_candles" {
                ohlc([f("open"), f("high"), f("low"), f("close")], 0.0)
            } else {
                ohlc([d("open"), d("high"), d("low"), d("close")], Decimal::ZERO)
            };
            if let Err((field, msg)) = checked {
                return bad(field, msg);
            }
            if get(t, row, "volume").and_then(num).is_some_and(|v| v < Decimal::ZERO) {
                return bad("volume", "must not be negative");
            }
        }
        "portfolio_transactions" => {
            match get(t, row, "transaction_type") {
                Some(Cell::Text(s)) if s == "BUY" || s == "SELL" => {}
                _ => return bad("transactionType", "must be BUY or SELL"),
            }
            for f in ["shares", "price"] {
                if get(t, row, f).and_then(num).is_none_or(|v| v <= Decimal::ZERO) {
                    return bad(&crate::data::catalog::camel(f), "must be positive");
                }
            }
            for f in ["commission", "slippage"] {
                if get(t, row, f).and_then(num).is_some_and(|v| v < Decimal::ZERO) {
                    return bad(f, "must not be negative");
                }
            }
            let part = |f| get(t, row, f).and_then(num);
            if let (Some(sh), Some(p), Some(c), Some(sl)) =
                (part("shares"), part("price"), part("commission"), part("slippage"))
            {
                if transaction_total(sh, p, c, sl).is_none() {
                    return bad("totalValue", "shares × price + commission + slippage does not fit DECIMAL(20,4)");
                }
            }
        }
        "portfolio_holdings" | "etf_holdings" => {
            if get(t, row, "shares").and_then(num).is_some_and(|v| v <= Decimal::ZERO) {
                return bad("shares", "must be positive");
            }
            if get(t, row, "weight").and_then(num).is_some_and(|v| v < Decimal::ZERO || v > Decimal::from(100)) {
                return bad("weight", "must be between 0 and 100");
            }
        }
        "portfolio_allocations"
            if !get(t, row, "allocation_pct")
                .and_then(num)
                .is_some_and(|v| v >= Decimal::ZERO && v <= Decimal::from(100)) =>
        {
            return bad("allocationPct", "must be between 0 and 100");
        }
        "value_chain_edges"
            if get(t, row, "correlation_coeff")
                .and_then(num)
                .is_some_and(|v| v < -Decimal::ONE || v > Decimal::ONE) =>
        {
            return bad("correlationCoeff", "must be between -1 and 1");
        }
        "value_chain_nodes" => {
            if let Some(Cell::Text(k)) = get(t, row, "node_type") {
                if !["Upstream", "Midstream", "Downstream"].contains(&k.as_str()) {
                    return bad("nodeType", "must be Upstream, Midstream or Downstream");
                }
            }
        }
        "workflows" => {
            if let Some(Cell::Json(g)) = get(t, row, "json_graph") {
                let ok = g.get("nodes").is_some_and(|n| n.is_array()) && g.get("edges").is_some_and(|e| e.is_array());
                if !ok {
                    return bad("jsonGraph", "must be a React Flow graph: an object with `nodes` and `edges` arrays");
                }
            }
        }
        "backtest_results" | "walk_forward_results" => {
            let pairs: &[(&str, &str)] = if t.name == "backtest_results" {
                &[("start_date", "end_date")]
            } else {
                &[("train_start_date", "train_end_date"), ("test_start_date", "test_end_date")]
            };
            for (a, b) in pairs {
                if let (Some(Cell::Date(x)), Some(Cell::Date(y))) = (get(t, row, a), get(t, row, b)) {
                    if x > y {
                        return bad(
                            &crate::data::catalog::camel(b),
                            &format!("must not be before {}", crate::data::catalog::camel(a)),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    let _ = Kind::Int;
    Ok(())
}
