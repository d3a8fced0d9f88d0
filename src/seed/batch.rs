//! Writes rows of one table in multi-row inserts of bounded parameter count, its columns named
//! by the entity (declared once, in `entity/`).
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityName, Value};

/// Collects rows of one table and writes them in statements of bounded parameter count.
pub struct Batch<'a> {
    tx: &'a DatabaseTransaction,
    table: &'static str,
    cols: Vec<&'static str>,
    rows: Vec<Vec<Value>>,
    written: u64,
    pub progress: Option<&'a indicatif::ProgressBar>,
}

impl<'a> Batch<'a> {
    /// A batch of rows holding `cols` (of one entity), in that order.
    pub fn new<C: ColumnTrait>(tx: &'a DatabaseTransaction, cols: &[C]) -> Self {
        let table = C::EntityName::default().table_name();
        let cols = cols.iter().map(|c| c.as_str()).collect();
        Batch { tx, table, cols, rows: Vec::new(), written: 0, progress: None }
    }

    pub async fn push(&mut self, row: Vec<Value>) -> anyhow::Result<()> {
        debug_assert_eq!(row.len(), self.cols.len());
        self.rows.push(row);
        // PostgreSQL takes up to 65,535 parameters, SQLite 32,766.
        if self.rows.len() * self.cols.len() >= 30_000 {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let mut q = Query::insert();
        q.into_table(Alias::new(self.table)).columns(self.cols.iter().map(|c| Alias::new(*c)));
        let n = self.rows.len() as u64;
        for row in self.rows.drain(..) {
            q.values_panic(row.into_iter().map(Into::into));
        }
        let stmt = self.tx.get_database_backend().build(&q);
        self.tx.execute_raw(stmt).await?;
        self.written += n;
        if let Some(p) = self.progress {
            p.inc(n);
        }
        Ok(())
    }

    pub async fn finish(mut self) -> anyhow::Result<u64> {
        self.flush().await?;
        Ok(self.written)
    }
}

pub fn s(v: &str) -> Value {
    Value::String(Some(v.to_string()))
}
pub fn d(v: Decimal) -> Value {
    Value::Decimal(Some(v))
}
pub fn date(v: NaiveDate) -> Value {
    Value::ChronoDate(Some(v))
}
pub fn ts(v: DateTime<Utc>) -> Value {
    Value::ChronoDateTimeUtc(Some(v))
}
pub fn j(v: serde_json::Value) -> Value {
    Value::Json(Some(Box::new(v)))
}
pub fn dec(x: f64, scale: u32) -> Decimal {
    Decimal::from_f64_retain(x).unwrap_or_default().round_dp(scale)
}
