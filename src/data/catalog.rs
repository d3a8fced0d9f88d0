//! What the API serves: every table, read from the entities, with its GraphQL names,
//! key, relations and access rule. Adding a table here is all a new table costs.
use super::values::Kind;
use entity::*;
use sea_orm::sea_query::{ColumnType, StringLen};
use sea_orm::{
    ColumnTrait, EntityTrait, Iden, Iterable, PrimaryKeyToColumn, PrimaryKeyTrait, RelationDef, RelationTrait,
};
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
    /// (precision, scale) of DECIMAL columns and the length of VARCHAR columns, for validation.
    pub precision: Option<u32>,
    pub max_len: Option<u32>,
    pub nullable: bool,
    /// Filled by the database or the gateway (serial ids, generated values, timestamps):
    /// never part of an input.
    pub auto: bool,
    /// A database default exists, so an input may leave the column out.
    pub has_default: bool,
    /// Computed in SQL from hidden columns (`{a}` is the table alias); read-only.
    pub expr: Option<&'static str>,
    /// The closed set of words a text column holds, exposed as a GraphQL enum of that name.
    pub words: Option<Words>,
}

/// A GraphQL enum over a text column's values; its value names are the stored words.
#[derive(Debug, Clone, Copy)]
pub struct Words {
    pub type_name: &'static str,
    pub values: &'static [&'static str],
}

impl Column {
    /// The GraphQL type of the column's values: its enum, else its scalar.
    pub fn type_name(&self) -> &'static str {
        self.words.map_or(self.kind.scalar(), |w| w.type_name)
    }
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

/// What a `service` caller (a workflow worker) may read of an owned table: the runs it can
/// claim or holds, and what those runs execute. Every other owned row is closed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerRead {
    /// Rows whose `column` holds one of `values` (the runs still pending or running).
    Status { column: &'static str, values: &'static [&'static str] },
    /// Rows whose `id` is referenced by `table.column` from a row a worker may read there.
    ReferencedBy { table: &'static str, column: &'static str },
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
    /// No foreign key holds it in the database (a hypertable's reference to its ticker): the
    /// write service deletes such rows with their parent itself.
    pub logical: bool,
}

impl Relation {
    /// The target's join columns, as indexes into `target` (the relation's target table).
    pub fn target_cols(&self, target: &Table) -> Vec<usize> {
        self.to_cols.iter().map(|c| target.col(c).expect("relation column")).collect()
    }
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
    /// Who may write, and through which mutations.
    pub writers: Writers,
    pub mutations: Vec<Mutation>,
    /// Name of the input type of new rows (default `{Type}Input`).
    pub input_name: String,
    /// How `asOf:` reads this table as it was known on a day, if it can be.
    pub as_of: Option<PointInTime>,
    /// What a workflow worker may read of this (owned) table; nothing when `None`.
    pub workers: Option<WorkerRead>,
    /// The one region whose listings this table's `symbol`s name, when the source data holds one.
    pub symbols_region: Option<&'static str>,
    /// The column whose values change events carry (`entity::change_key`).
    pub change_key: Option<usize>,
}

/// Point-in-time reads: for each `key`, the rows known latest at or before the day asked.
#[derive(Debug, Clone)]
pub struct PointInTime {
    /// What one version covers: rows with the same key replace each other over time.
    pub key: Vec<usize>,
    pub known: Known,
}

/// When a row became known.
#[derive(Debug, Clone, Copy)]
pub enum Known {
    /// On the day in this date column (scores as of that day, holdings on their snapshot day).
    Date(usize),
    /// At this timestamp (the row's last update); rows without one count as always known.
    Timestamp(usize),
    /// A fiscal period's figures, once filed: an annual (or unnamed) period on 31 March of the
    /// next year, a quarter 45 days after it ends (`Q1`…`Q3`; `Q4` with the annual figures).
    FiscalYear { year: usize, period: usize },
}

/// Who may write a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writers {
    /// Admins only.
    Admin,
    /// Ingest workers (`service`) and admins.
    Service,
    /// Analysts and admins.
    Research,
    /// Any signed-in user, for rows they own (the owner column is set from the token).
    Owner,
    /// No generic writes (special mutations only).
    None,
}

/// The generic mutations a table offers.
#[derive(Debug, Clone, Copy)]
pub enum Mutation {
    /// `name(input: {Type}Input!): Type!`
    Create(&'static str),
    /// `name(<arg>: [{Type}Input!]!): [Type!]!` — all rows or none.
    CreateMany(&'static str, &'static str),
    /// `name(<key>, patch: {Type}Patch!): Type!`
    Update(&'static str),
    /// `name(<key>): Boolean!`
    Delete(&'static str),
    /// `name(<arg>: [{Type}Input!]!): IngestResult!` — idempotent upsert on the primary key.
    Upsert(&'static str, &'static str),
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

    /// The table whose GraphQL object type is `type_name`.
    pub fn by_type(&self, type_name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.type_name == type_name)
    }
}

/// The GraphQL name of a column. `id` is every table type's global object id (`Node.id`), so a
/// column named `id` is shown as `rowId`, as PostGraphile's Relay preset names it.
fn field_name(column: &str) -> String {
    match column {
        "id" => "rowId".to_string(),
        c => camel(c),
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

/// Columns the database or the gateway fills: timestamps, and `total_value` (generated).
const AUTO_COLUMNS: [&str; 4] = ["created_at", "updated_at", "total_value", "executed_at"];

/// Columns never exposed through the API, by construction.
const SECRET_COLUMNS: [(&str, &str); 2] = [("users", "password_hash"), ("users", "dnse_token")];

fn table<E: EntityTrait + Default>(type_name: &'static str, list_field: &'static str, access: Access) -> Table {
    let name: &'static str = Box::leak(E::default().table_name().to_string().into_boxed_str());
    let pk_names: Vec<String> = E::PrimaryKey::iter().map(|k| k.into_column().to_string()).collect();
    let columns: Vec<Column> = E::Column::iter()
        .filter(|c| !SECRET_COLUMNS.contains(&(name, &c.to_string())))
        .map(|c| {
            let def = c.def();
            Column {
                name: c.to_string(),
                field: field_name(&c.to_string()),
                kind: Kind::from_column_type(def.get_column_type()),
                scale: match def.get_column_type() {
                    ColumnType::Decimal(Some((_, s))) => Some(*s),
                    _ => None,
                },
                precision: match def.get_column_type() {
                    ColumnType::Decimal(Some((p, _))) => Some(*p),
                    _ => None,
                },
                max_len: match def.get_column_type() {
                    ColumnType::String(StringLen::N(n)) => Some(*n),
                    _ => None,
                },
                nullable: def.is_null(),
                auto: AUTO_COLUMNS.contains(&c.to_string().as_str())
                    || (c.to_string() == "id"
                        && pk_names.contains(&c.to_string())
                        && (E::PrimaryKey::auto_increment() || matches!(def.get_column_type(), ColumnType::Uuid))),
                has_default: def.get_column_default().is_some(),
                expr: None,
                words: None,
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
    let change_key = entity::change_key::<E>().and_then(|k| columns.iter().position(|c| c.name == k));
    Table {
        name,
        type_name,
        list_field,
        one_field,
        change_key,
        key: pk.clone(),
        default_order: pk.iter().map(|i| (*i, false)).collect(),
        columns,
        pk,
        access,
        relations: Vec::new(),
        writers: Writers::None,
        mutations: Vec::new(),
        input_name: format!("{type_name}Input"),
        as_of: None,
        workers: None,
        symbols_region: None,
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
            logical: def.skip_fk,
        });
        self
    }

    /// A relation whose definition points from the target back to this table.
    fn rel_back<T: EntityTrait + Default>(self, field: &'static str, def: RelationDef) -> Self {
        self.rel::<T>(field, def.rev(), true)
    }

    fn workers(mut self, read: WorkerRead) -> Self {
        self.workers = Some(read);
        self
    }

    fn words(mut self, column: &str, type_name: &'static str, values: &'static [&'static str]) -> Self {
        let i = self.col(column).expect("enumerated column");
        self.columns[i].words = Some(Words { type_name, values });
        self
    }

    fn symbols_in(mut self, region: &'static str) -> Self {
        self.symbols_region = Some(region);
        self
    }

    fn writes(mut self, writers: Writers, mutations: &[Mutation]) -> Self {
        self.writers = writers;
        self.mutations = mutations.to_vec();
        self
    }

    /// Columns filled by the database although they are not keys (e.g. ohlcv_data.id).
    fn auto(mut self, cols: &[&str]) -> Self {
        for c in cols {
            let i = self.col(c).expect("auto column");
            self.columns[i].auto = true;
        }
        self
    }

    /// Point-in-time reads (`asOf:`): one version per `key`, known at `known`.
    fn versioned(mut self, key: &[&str], known: impl Fn(&Table) -> Known) -> Self {
        let key = key.iter().map(|c| self.col(c).expect("as-of key column")).collect();
        self.as_of = Some(PointInTime { key, known: known(&self) });
        self
    }

    fn input(mut self, name: &str) -> Self {
        self.input_name = name.to_string();
        self
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
    use Mutation::*;
    let mut tables = vec![
        table::<tickers::Entity>("Ticker", "tickers", Public)
            .key(&["ticker", "region"])
            .order(&[("ticker", false), ("region", false)])
            .writes(Writers::Admin, &[Create("createTicker"), Update("updateTicker"), Delete("deleteTicker")])
            .rel::<stock_details::Entity>("stockDetails", tickers::Relation::StockDetails.def(), false)
            .rel::<etf_details::Entity>("etfDetails", tickers::Relation::EtfDetails.def(), false)
            .rel_back::<ohlcv_data::Entity>("ohlcv", ohlcv_data::Relation::Ticker.def())
            .shortcuts(&RANGE_ON_DATE)
            .rel_back::<ticker_fundamentals::Entity>("fundamentals", ticker_fundamentals::Relation::Ticker.def())
            .rel_back::<factor_scores::Entity>("factorScores", factor_scores::Relation::Ticker.def())
            .shortcuts(&[("from", "date", "gte"), ("to", "date", "lte")]),
        table::<stock_details::Entity>("StockDetails", "stockDetails", Public)
            .versioned(&["ticker", "region"], |t| Known::Timestamp(t.col("updated_at").unwrap()))
            .writes(Writers::Admin, &[Upsert("upsertStockDetails", "rows"), Delete("deleteStockDetails")])
            .rel::<tickers::Entity>("tickerInfo", stock_details::Relation::Ticker.def(), false),
        table::<etf_details::Entity>("EtfDetails", "etfDetails", Public)
            .versioned(&["ticker", "region"], |t| Known::Timestamp(t.col("updated_at").unwrap()))
            .writes(Writers::Admin, &[Upsert("upsertEtfDetails", "rows"), Delete("deleteEtfDetails")])
            .rel::<tickers::Entity>("tickerInfo", etf_details::Relation::Ticker.def(), false)
            .rel_back::<etf_holdings::Entity>("holdings", etf_holdings::Relation::Etf.def()),
        table::<etf_holdings::Entity>("EtfHolding", "etfHoldings", Public)
            // A holdings snapshot replaces the ETF's previous one as a whole.
            .versioned(&["etf_ticker", "region"], |t| Known::Date(t.col("as_of_date").unwrap()))
            .writes(Writers::Admin, &[CreateMany("recordEtfHoldings", "holdings"), Delete("deleteEtfHolding")])
            .rel::<tickers::Entity>("constituent", etf_holdings::Relation::Constituent.def(), false)
            .rel::<etf_details::Entity>("etf", etf_holdings::Relation::Etf.def(), false),
        table::<ohlcv_data::Entity>("OhlcvBar", "ohlcvData", Public)
            .order(&[("ticker", false), ("region", false), ("timeframe", false), ("date", false)])
            .auto(&["id"])
            .input("OhlcvInput")
            .writes(Writers::Service, &[Upsert("ingestOhlcv", "bars")])
            .rel::<tickers::Entity>("tickerInfo", ohlcv_data::Relation::Ticker.def(), false),
        table::<ticker_fundamentals::Entity>("TickerFundamentals", "tickerFundamentals", Public)
            .versioned(&["ticker", "region", "period_type"], |t| Known::FiscalYear {
                year: t.col("fiscal_year").unwrap(),
                period: t.col("period_type").unwrap(),
            })
            .writes(Writers::Service, &[Upsert("ingestFundamentals", "rows")]),
        table::<factor_scores::Entity>("FactorScore", "factorScores", Public)
            .versioned(&["ticker", "region", "factor_name"], |t| Known::Date(t.col("date").unwrap()))
            .writes(Writers::Service, &[Upsert("ingestFactorScores", "rows")]),
        table::<strategies::Entity>("Strategy", "strategies", Research)
            .writes(Writers::Research, &[Create("createStrategy"), Update("updateStrategy"), Delete("deleteStrategy")])
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
        table::<backtest_results::Entity>("BacktestResult", "backtestResults", Research)
            .writes(Writers::Research, &[Create("recordBacktestResult"), Delete("deleteBacktestResult")])
            .rel::<strategies::Entity>("strategy", backtest_results::Relation::Strategy.def(), false),
        table::<portfolio_transactions::Entity>("PortfolioTransaction", "portfolioTransactions", Research)
            .writes(Writers::Research, &[CreateMany("recordTransactions", "transactions")])
            .rel::<strategies::Entity>("strategy", portfolio_transactions::Relation::Strategy.def(), false),
        table::<portfolio_holdings::Entity>("PortfolioHolding", "portfolioHoldings", Research)
            .writes(Writers::Research, &[CreateMany("recordHoldings", "holdings")])
            .rel::<strategies::Entity>("strategy", portfolio_holdings::Relation::Strategy.def(), false),
        table::<walk_forward_results::Entity>("WalkForwardResult", "walkForwardResults", Research)
            .writes(Writers::Research, &[Create("recordWalkForwardResult")])
            .rel::<strategies::Entity>("strategy", walk_forward_results::Relation::Strategy.def(), false),
        table::<optimization_history::Entity>("OptimizationHistory", "optimizationHistory", Research)
            .writes(Writers::Research, &[Create("recordOptimization")]),
        table::<market_candles::Entity>("MarketCandle", "marketCandles", Public)
            .order(&[("symbol", false), ("time", false)])
            .input("CandleInput")
            .writes(Writers::Service, &[Upsert("ingestCandles", "candles")]),
        table::<users::Entity>("User", "users", Owned(Owner::Column("id")))
            .rel_back::<workflows::Entity>("workflows", workflows::Relation::User.def())
            .rel_back::<portfolio_allocations::Entity>("allocations", portfolio_allocations::Relation::User.def()),
        table::<workflows::Entity>("Workflow", "workflows", Owned(Owner::Column("user_id")))
            .writes(Writers::Owner, &[Create("createWorkflow"), Update("updateWorkflow"), Delete("deleteWorkflow")])
            .workers(WorkerRead::ReferencedBy { table: "workflow_execution_logs", column: "workflow_id" })
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
        .auto(&["claimed_by", "lease_expires_at", "attempts"])
        .words("status", "WorkflowRunStatus", workflow_execution_logs::STATUSES)
        .workers(WorkerRead::Status { column: "status", values: &["pending", "running"] })
        .rel::<workflows::Entity>("workflow", workflow_execution_logs::Relation::Workflow.def(), false),
        table::<value_chain_nodes::Entity>("ValueChainNode", "valueChainNodes", Public)
            .symbols_in("VN")
            .writes(
                Writers::Research,
                &[Create("createValueChainNode"), Update("updateValueChainNode"), Delete("deleteValueChainNode")],
            )
            .rel_back::<value_chain_edges::Entity>("outgoing", value_chain_edges::Relation::Source.def())
            .rel_back::<value_chain_edges::Entity>("incoming", value_chain_edges::Relation::Target.def()),
        table::<value_chain_edges::Entity>("ValueChainEdge", "valueChainEdges", Public)
            .writes(
                Writers::Research,
                &[Create("createValueChainEdge"), Update("updateValueChainEdge"), Delete("deleteValueChainEdge")],
            )
            .rel::<value_chain_nodes::Entity>("source", value_chain_edges::Relation::Source.def(), false)
            .rel::<value_chain_nodes::Entity>("target", value_chain_edges::Relation::Target.def(), false),
        table::<trading_holidays::Entity>("TradingHoliday", "tradingHolidays", Public)
            .order(&[("region", false), ("date", false)])
            .writes(Writers::Admin, &[Create("createTradingHoliday"), Delete("deleteTradingHoliday")]),
        table::<portfolio_allocations::Entity>(
            "PortfolioAllocation",
            "portfolioAllocations",
            Owned(Owner::Column("user_id")),
        )
        .writes(Writers::Owner, &[]),
    ];
    // A value-chain node's symbol is a ticker of the table's one region.
    let nodes = tables.iter_mut().find(|t| t.name == "value_chain_nodes").unwrap();
    let region = nodes.symbols_region.expect("value-chain region");
    nodes.relations.push(Relation {
        field: "ticker",
        target: "tickers",
        from_cols: vec!["symbol".into()],
        to_cols: vec!["ticker".into()],
        many: false,
        fixed: vec![("region".into(), region.into())],
        shortcuts: Vec::new(),
        logical: true,
    });
    // Whether a broker token is stored, without ever reading it.
    tables.iter_mut().find(|t| t.name == "users").unwrap().columns.push(Column {
        name: "has_broker_connection".into(),
        field: "hasBrokerConnection".into(),
        kind: Kind::Boolean,
        scale: None,
        precision: None,
        max_len: None,
        nullable: false,
        auto: true,
        has_default: false,
        expr: Some("({a}.\"dnse_token\" IS NOT NULL)"),
        words: None,
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
