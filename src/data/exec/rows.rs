//! What both read drivers share: how often a read is retried, where decoded cells go, and
//! how a statement is observed.
use crate::data::values::Cell;
use std::time::Duration;

/// A statement run for a request: timed in the metrics, traced, logged at debug.
pub fn observe(sql: &str, elapsed: Duration) {
    crate::telemetry::METRICS.sql.observe(elapsed.as_secs_f64());
    crate::telemetry::traces::sql_statement(sql, elapsed);
    tracing::debug!(target: "quantgraph::sql", elapsed_us = elapsed.as_micros() as u64, sql = %sql);
}

/// Pooled connections that died with their server (a restart, a failover) fail at once on
/// their next statement; a read is tried again on another connection rather than failing the
/// request, a few times, while the pool replaces them.
pub(crate) const READ_RETRIES: usize = 4;

/// The cells of one row as read: in order, or each in its column's slot of a row `width`
/// cells wide (the others `Null`).
pub(crate) struct Placed<'a> {
    cells: Vec<Cell>,
    slots: Option<&'a [usize]>,
}

impl<'a> Placed<'a> {
    pub(crate) fn new(place: Option<(&'a [usize], usize)>, n: usize) -> Self {
        match place {
            // Not `vec![Cell::Null; n]`: that clones a Cell per slot, a measurable cost on wide pages.
            Some((slots, width)) => {
                Placed { cells: std::iter::repeat_with(|| Cell::Null).take(width).collect(), slots: Some(slots) }
            }
            None => Placed { cells: Vec::with_capacity(n), slots: None },
        }
    }

    /// The `i`th cell read.
    pub(crate) fn put(&mut self, i: usize, cell: Cell) {
        match self.slots {
            Some(slots) => self.cells[slots[i]] = cell,
            None => self.cells.push(cell),
        }
    }

    pub(crate) fn into_cells(self) -> Vec<Cell> {
        self.cells
    }
}
