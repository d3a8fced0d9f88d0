//! What the API serves: every table, read from the entities, with its GraphQL names,
//! key, relations and access rule. Adding a table here is all a new table costs.
use super::scalars::Kind;
use entity::*;
use sea_orm::{ColumnTrait, EntityTrait, Iden, Iterable, PrimaryKeyToColumn, RelationDef, RelationTrait};
use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug)]
pub struct Column {
    /// SQL name (snake_case).
    pub name: String,
    /// GraphQL name (camelCase).
    pub field: String,
    pub kind: Kind,
    /// Digits after the point, for DECIMAL columns.
    pub scale: Option<u32>,
    pub nullable: bool,
}

/// Who may read a table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Public market data: anyone, signed in or not.
    Public,
    /// Strategies and research results: analysts and admins.
    Research,
    /// Rows owned by a user: the owner (and admins).
    Owned(Owner),
    /// Admins only.
    Admin,
}

/// How a row leads to its owning user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The row's own column holds the user id.
    Column(&'static str),
    /// The row's column references `table.id`, whose `user_id` is the owner.
    Via { column: &'static str, table: &'static str },
}

#[derive(Debug)]
pub struct Relation {
    pub field: &'static str,
    pub target: &'static str,
    /// Columns of the parent row and the matching columns of the target.
    pub from_cols: Vec<String>,
    pub to_cols: Vec<String>,
    pub many: bool,
    /// Constant target-column values (e.g. a node's ticker is in region VN).
    pub fixed: Vec<(String, String)>,
    /// Convenience arguments: (argument, target column, operator) – e.g. `from` is `date >= …`.
    pub shortcuts: Vec<(&'static str, &'static str, &'static str)>,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub type_name: &'static str,
    pub list_field: &'static str,
    pub one_field: String,
    pub columns: Vec<Column>,
    /// Indexes of the primary-key columns: the unique tie-breaker of every ordering.
    pub pk: Vec<usize>,
    /// Arguments of the one-row field (the natural key).
    pub key: Vec<usize>,
    pub access: Access,
    pub relations: Vec<Relation>,
    /// Default ordering: (column index, descending).
    pub default_order: Vec<(usize, bool)>,
}

impl Table {
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn col_by_field(&self, field: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.field == field)
    }
}

pub struct Catalog {
    pub tables: Vec<Table>,
    by_name: HashMap<&'static str, usize>,
}

impl Catalog {
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(build)
    }

    pub fn table(&self, name: &str) -> &Table {
        &self.tables[self.by_name[name]]
    }
}

pub fn camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = false;
    for ch in s.chars() {
        if ch == '_' {
            up = true;
        } else if up {
            out.extend(ch.to_uppercase());
            up = false;
        } else {
            out.push(ch);
        }
    }
    out
}

/// Columns never exposed through the API, by construction.
const SECRET_COLUMNS: [(&str, &str); 2] = [("users", "password_hash"), ("users", "dnse_token")];

fn table<E: EntityTrait + Default>(type_name: &'static str, list_field: &'static str, access: Access) -> Table {
    let name: &'static str = Box::leak(E::default().table_name().to_string().into_boxed_str());
    let columns: Vec<Column> = E::Column::iter()
        .filter(|c| !SECRET_COLUMNS.contains(&(name, &c.to_string())))
        .map(|c| {
            let def = c.def();
            Column {
                name: c.to_string(),
                field: camel(&c.to_string()),
                kind: Kind::from_column_type(def.get_column_type()),
                scale: match def.get_column_type() {
                    sea_orm::sea_query::ColumnType::Decimal(Some((_, s))) => Some(*s),
                    _ => None,
                },
                nullable: def.is_null(),
            }
        })
        .collect();
    let pk: Vec<usize> = E::PrimaryKey::iter()
        .map(|k| {
            let n = k.into_column().to_string();
            columns.iter().position(|c| c.name == n).expect("primary key column")
        })
        .collect();
    let mut one_field = {
        let mut s = type_name.to_string();
        s[..1].make_ascii_lowercase();
        s
    };
    if one_field == list_field {
        one_field.push_str("ByKey");
    }
    Table {
        name,
        type_name,
        list_field,
        one_field,
        key: pk.clone(),
        default_order: pk.iter().map(|i| (*i, false)).collect(),
        columns,
        pk,
        access,
        relations: Vec::new(),
    }
}

impl Table {
    fn key(mut self, cols: &[&str]) -> Self {
        self.key = cols.iter().map(|c| self.col(c).expect("key column")).collect();
        self
    }

    fn order(mut self, cols: &[(&str, bool)]) -> Self {
        let mut order: Vec<(usize, bool)> =
            cols.iter().map(|(c, d)| (self.col(c).expect("order column"), *d)).collect();
        for p in &self.pk {
            if !order.iter().any(|(i, _)| i == p) {
                order.push((*p, false));
            }
        }
        self.default_order = order;
        self
    }

    fn rel<T: EntityTrait + Default>(mut self, field: &'static str, def: RelationDef, many: bool) -> Self {
        self.relations.push(Relation {
            field,
            target: Box::leak(T::default().table_name().to_string().into_boxed_str()),
            from_cols: def.from_col.iter().map(|i| i.to_string()).collect(),
            to_cols: def.to_col.iter().map(|i| i.to_string()).collect(),
            many,
            fixed: Vec::new(),
            shortcuts: Vec::new(),
        });
        self
    }

    /// A relation whose definition points from the target back to this table.
    fn rel_back<T: EntityTrait + Default>(self, field: &'static str, def: RelationDef) -> Self {
        self.rel::<T>(field, def.rev(), true)
    }

    fn shortcuts(mut self, args: &[(&'static str, &'static str, &'static str)]) -> Self {
        self.relations.last_mut().expect("a relation").shortcuts = args.to_vec();
        self
    }
}

const RANGE_ON_DATE: [(&str, &str, &str); 3] =
    [("timeframe", "timeframe", "eq"), ("from", "date", "gte"), ("to", "date", "lte")];

fn build() -> Catalog {
    use Access::*;
    let tables = vec![
            table::<tickers::Entity>("Ticker", "tickers", Public)
                .key(&["ticker", "region"])
                .order(&[("ticker", false), ("region", false)])
                .rel::<stock_details::Entity>("stockDetails", tickers::Relation::StockDetails.def(), false)
                .rel::<etf_details::Entity>("etfDetails", tickers::Relation::EtfDetails.def(), false)
                .rel_back::<ohlcv_data::Entity>("ohlcv", ohlcv_data::Relation::Ticker.def())
                .shortcuts(&RANGE_ON_DATE)
                .rel_back::<ticker_fundamentals::Entity>("fundamentals", ticker_fundamentals::Relation::Ticker.def())
                .rel_back::<factor_scores::Entity>("factorScores", factor_scores::Relation::Ticker.def())
                .shortcuts(&[("from", "date", "gte"), ("to", "date", "lte")]),
            table::<stock_details::Entity>("StockDetails", "stockDetails", Public).rel::<tickers::Entity>(
                "tickerInfo",
                stock_details::Relation::Ticker.def(),
                false,
            ),
            table::<etf_details::Entity>("EtfDetails", "etfDetails", Public)
                .rel::<tickers::Entity>("tickerInfo", etf_details::Relation::Ticker.def(), false)
                .rel_back::<etf_holdings::Entity>("holdings", etf_holdings::Relation::Etf.def()),
            table::<etf_holdings::Entity>("EtfHolding", "etfHoldings", Public)
                .rel::<tickers::Entity>("constituent", etf_holdings::Relation::Constituent.def(), false)
                .rel::<etf_details::Entity>("etf", etf_holdings::Relation::Etf.def(), false),
            table::<ohlcv_data::Entity>("OhlcvBar", "ohlcvData", Public)
                .order(&[("ticker", false), ("region", false), ("timeframe", false), ("date", false)])
                .rel::<tickers::Entity>("tickerInfo", ohlcv_data::Relation::Ticker.def(), false),
            table::<ticker_fundamentals::Entity>("TickerFundamentals", "tickerFundamentals", Public),
            table::<factor_scores::Entity>("FactorScore", "factorScores", Public),
            table::<strategies::Entity>("Strategy", "strategies", Research)
                .rel_back::<backtest_results::Entity>("backtestResults", backtest_results::Relation::Strategy.def())
                .rel_back::<portfolio_transactions::Entity>(
                    "transactions",
                    portfolio_transactions::Relation::Strategy.def(),
                )
                .rel_back::<portfolio_holdings::Entity>("holdings", portfolio_holdings::Relation::Strategy.def())
                .rel_back::<walk_forward_results::Entity>(
                    "walkForwardResults",
                    walk_forward_results::Relation::Strategy.def(),
                ),
            table::<backtest_results::Entity>("BacktestResult", "backtestResults", Research).rel::<strategies::Entity>(
                "strategy",
                backtest_results::Relation::Strategy.def(),
                false,
            ),
            table::<portfolio_transactions::Entity>("PortfolioTransaction", "portfolioTransactions", Research)
                .rel::<strategies::Entity>("strategy", portfolio_transactions::Relation::Strategy.def(), false),
            table::<portfolio_holdings::Entity>("PortfolioHolding", "portfolioHoldings", Research)
                .rel::<strategies::Entity>("strategy", portfolio_holdings::Relation::Strategy.def(), false),
            table::<walk_forward_results::Entity>("WalkForwardResult", "walkForwardResults", Research)
                .rel::<strategies::Entity>("strategy", walk_forward_results::Relation::Strategy.def(), false),
            table::<optimization_history::Entity>("OptimizationHistory", "optimizationHistory", Research),
            table::<market_candles::Entity>("MarketCandle", "marketCandles", Public)
                .order(&[("symbol", false), ("time", false)]),
            table::<users::Entity>("User", "users", Owned(Owner::Column("id")))
                .rel_back::<workflows::Entity>("workflows", workflows::Relation::User.def())
                .rel_back::<portfolio_allocations::Entity>("allocations", portfolio_allocations::Relation::User.def()),
            table::<workflows::Entity>("Workflow", "workflows", Owned(Owner::Column("user_id")))
                .rel_back::<workflow_execution_logs::Entity>(
                "executions",
                workflow_execution_logs::Relation::Workflow.def(),
            ),
            table::<workflow_execution_logs::Entity>(
                "WorkflowExecutionLog",
                "workflowExecutionLogs",
                Owned(Owner::Via { column: "workflow_id", table: "workflows" }),
            )
            .order(&[("executed_at", true)])
            .rel::<workflows::Entity>("workflow", workflow_execution_logs::Relation::Workflow.def(), false),
            table::<value_chain_nodes::Entity>("ValueChainNode", "valueChainNodes", Public)
                .rel_back::<value_chain_edges::Entity>("outgoing", value_chain_edges::Relation::Source.def())
                .rel_back::<value_chain_edges::Entity>("incoming", value_chain_edges::Relation::Target.def()),
            table::<value_chain_edges::Entity>("ValueChainEdge", "valueChainEdges", Public)
                .rel::<value_chain_nodes::Entity>("source", value_chain_edges::Relation::Source.def(), false)
                .rel::<value_chain_nodes::Entity>("target", value_chain_edges::Relation::Target.def(), false),
            table::<portfolio_allocations::Entity>(
                "PortfolioAllocation",
                "portfolioAllocations",
                Owned(Owner::Column("user_id")),
            ),
        ];
    let mut tables = tables;
    // A value-chain node's symbol is a Vietnamese ticker.
    tables.iter_mut().find(|t| t.name == "value_chain_nodes").unwrap().relations.push(Relation {
        field: "ticker",
        target: "tickers",
        from_cols: vec!["symbol".into()],
        to_cols: vec!["ticker".into()],
        many: false,
        fixed: vec![("region".into(), "VN".into())],
        shortcuts: Vec::new(),
    });
    let by_name = tables.iter().enumerate().map(|(i, t)| (t.name, i)).collect();
    Catalog { tables, by_name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_point_at_known_columns() {
        let cat = Catalog::get();
        for t in &cat.tables {
            for r in &t.relations {
                let target = cat.table(r.target);
                for c in &r.from_cols {
                    assert!(t.col(c).is_some(), "{}.{} missing", t.name, c);
                }
                for c in r.to_cols.iter().chain(r.fixed.iter().map(|(c, _)| c)) {
                    assert!(target.col(c).is_some(), "{}.{} missing", target.name, c);
                }
            }
        }
    }

    #[test]
    fn secrets_are_not_columns() {
        let users = Catalog::get().table("users");
        assert!(users.col("password_hash").is_none() && users.col("dnse_token").is_none());
    }
}
