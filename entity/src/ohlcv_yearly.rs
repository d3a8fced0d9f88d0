//! `ohlcv_yearly`: yearly bars of the daily OHLCV (read-only; a continuous aggregate on TimescaleDB, a view elsewhere).
crate::bar_aggregate!("ohlcv_yearly", year);
