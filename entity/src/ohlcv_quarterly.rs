//! `ohlcv_quarterly`: quarterly bars of the daily OHLCV (read-only; a continuous aggregate on TimescaleDB, a view elsewhere).
crate::bar_aggregate!("ohlcv_quarterly", quarter);
