//! Walks the value-chain graph from a ticker's node in one recursive statement: every simple
//! path (no node twice, so cycles end) up to `max_depth` edges, then per reached node its
//! nearest distance and its strongest path — the one whose product of edge correlations is
//! largest in absolute value.
use super::catalog::{Catalog, Table};
use super::exec::fetch;
use super::read::Row;
use super::sql::Sql;
use super::values::{Cell, Kind};
use crate::data::exec::ReadConnection;
use crate::error::{ApiError, ApiResult};
use sea_orm::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// Deepest walk accepted.
pub const MAX_DEPTH: i64 = 6;
/// Most paths one walk may enumerate: past it the request is refused rather than answered from
/// part of the graph (a dense graph has exponentially many simple paths).
pub const MAX_PATHS: i64 = 200_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a node to its suppliers: edges walked from target to source.
    Upstream,
    /// From a node to its customers: edges walked from source to target.
    Downstream,
    Both,
}

pub struct Walk {
    pub direction: Direction,
    pub max_depth: i64,
    /// Edges walked only when |correlation| is at least this (edges without one are then left out).
    pub min_correlation: Option<f64>,
}

/// A node reached from the start.
pub struct Reached {
    pub node: Row,
    /// Fewest edges from the start.
    pub depth: i64,
    /// The strongest path's nodes, the start first and this node last.
    pub path: Vec<Row>,
    /// The product of the correlations along the strongest path; `None` when every path to this
    /// node crosses an edge without a correlation.
    pub exposure: Option<f64>,
}

fn nodes() -> &'static Table {
    Catalog::get().table("value_chain_nodes")
}

/// The statement: the walk, then one row per node reached (the start included, at depth 0)
/// with its nearest depth, its strongest path (node ids, comma-separated), that path's
/// exposure, the number of paths walked, and the node's columns.
pub fn walk_sql(d: &'static dyn super::sql::dialect::Dialect, symbol: &str, w: &Walk) -> Sql {
    let t = nodes();
    let id = |e: &str| d.uuid_text(e);
    let mut sql = Sql::with_dialect(d);
    // Edges as steps (from → to) in the walked direction(s).
    let mut steps = Vec::new();
    if w.direction != Direction::Upstream {
        steps.push("SELECT source_id AS f, target_id AS t, correlation_coeff AS c FROM value_chain_edges");
    }
    if w.direction != Direction::Downstream {
        steps.push("SELECT target_id AS f, source_id AS t, correlation_coeff AS c FROM value_chain_edges");
    }
    sql.push("WITH RECURSIVE walk(node, depth, path, exposure) AS (SELECT n.id, 0, CAST(")
        .push(&id("n.id"))
        .push(" AS TEXT), CAST(1.0 AS DOUBLE PRECISION) FROM value_chain_nodes n WHERE n.symbol = ")
        .param(Value::String(Some(symbol.to_string())))
        .push(" UNION ALL SELECT s.t, w.depth + 1, w.path || ',' || ")
        .push(&id("s.t"))
        .push(", w.exposure * s.c FROM walk w JOIN (")
        .push(&steps.join(" UNION ALL "))
        .push(") s ON s.f = w.node WHERE w.depth < ")
        .param(Value::BigInt(Some(w.max_depth)))
        .push(" AND w.path NOT LIKE '%' || ")
        .push(&id("s.t"))
        .push(" || '%'");
    if let Some(m) = w.min_correlation {
        sql.push(" AND abs(s.c) >= ").param(Value::Double(Some(m)));
    }
    sql.push("), capped AS (SELECT * FROM walk LIMIT ")
        .param(Value::BigInt(Some(MAX_PATHS + 1)))
        .push(
            "), ranked AS (SELECT node, path, exposure, min(depth) OVER (PARTITION BY node) AS nearest, \
               row_number() OVER (PARTITION BY node ORDER BY abs(exposure) DESC NULLS LAST, depth, path) AS r \
               FROM capped) SELECT x.nearest, x.path, x.exposure, (SELECT count(*) FROM capped), ",
        )
        .columns("n", t, &(0..t.columns.len()).collect::<Vec<_>>())
        .push(" FROM ranked x JOIN value_chain_nodes n ON n.id = x.node WHERE x.r = 1 ORDER BY x.nearest, ")
        .push(&id("x.node"));
    sql
}

/// The nodes reached from the node of `symbol`, nearest first; none when no node has it.
pub async fn walk<C: ReadConnection>(db: &C, symbol: &str, w: &Walk) -> ApiResult<Vec<Reached>> {
    let t = nodes();
    let d = super::sql::dialect::of(db.get_database_backend());
    let mut kinds = vec![Kind::Int, Kind::String, Kind::Float, Kind::BigInt];
    kinds.extend(t.columns.iter().map(|c| c.kind));
    let rows = fetch(db, walk_sql(d, symbol, w), 0, &kinds).await?;
    if rows.first().is_some_and(|(_, c)| matches!(c[3], Cell::Int(n) if n > MAX_PATHS)) {
        return Err(ApiError::TooComplex(format!(
            "the walk passes more than {MAX_PATHS} paths: lower maxDepth or raise minCorrelation"
        )));
    }
    let id = t.col("id").expect("node id");
    let mut found = Vec::with_capacity(rows.len());
    for (_, mut cells) in rows {
        let node = Row::new(t, cells.split_off(4), d);
        let path = match &cells[1] {
            Cell::Text(p) => p
                .split(',')
                .map(|s| Uuid::parse_str(s).map_err(|_| ApiError::Internal("a value-chain path".into())))
                .collect::<ApiResult<Vec<_>>>()?,
            _ => Vec::new(),
        };
        let depth = if let Cell::Int(n) = cells[0] { n } else { 0 };
        let exposure = if let Cell::Float(f) = cells[2] { Some(f) } else { None };
        found.push((node, depth, path, exposure));
    }
    // Every node on a strongest path is itself reached, so the paths resolve from the rows read.
    let by_id: HashMap<Uuid, Row> = found
        .iter()
        .filter_map(|(n, ..)| if let Cell::Uuid(u) = n.cells[id] { Some((u, n.clone())) } else { None })
        .collect();
    Ok(found
        .into_iter()
        .filter(|(_, depth, ..)| *depth > 0)
        .map(|(node, depth, path, exposure)| Reached {
            path: path.iter().filter_map(|u| by_id.get(u).cloned()).collect(),
            node,
            depth,
            exposure,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::sql::dialect::{Postgres, Sqlite};

    fn walk(direction: Direction, min: Option<f64>) -> Walk {
        Walk { direction, max_depth: 3, min_correlation: min }
    }

    #[test]
    fn one_statement_per_dialect() {
        let pg = walk_sql(&Postgres, "HPG", &walk(Direction::Downstream, Some(0.5)));
        assert!(pg.text.starts_with(
            "WITH RECURSIVE walk(node, depth, path, exposure) AS (SELECT n.id, 0, CAST(n.id::text AS TEXT)"
        ));
        assert!(pg
            .text
            .contains("SELECT source_id AS f, target_id AS t, correlation_coeff AS c FROM value_chain_edges) s"));
        assert!(!pg.text.contains("SELECT target_id AS f"));
        assert!(pg.text.contains("WHERE w.depth < $2 AND w.path NOT LIKE '%' || s.t::text || '%' AND abs(s.c) >= $3"));
        assert_eq!(pg.values.len(), 4);
        let lite = walk_sql(&Sqlite, "HPG", &walk(Direction::Both, None));
        assert!(lite.text.contains("CAST(hex(n.id) AS TEXT)"));
        assert!(lite.text.contains(
            "SELECT source_id AS f, target_id AS t, correlation_coeff AS c FROM value_chain_edges UNION ALL \
             SELECT target_id AS f, source_id AS t, correlation_coeff AS c FROM value_chain_edges) s"
        ));
        assert!(lite.text.contains("w.path NOT LIKE '%' || hex(s.t) || '%'") && !lite.text.contains("abs(s.c)"));
        assert_eq!(lite.values.len(), 3);
    }
}
