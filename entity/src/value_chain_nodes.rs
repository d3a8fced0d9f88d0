//! `value_chain_nodes`: companies and commodities in the supply-chain graph.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "value_chain_nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stock ticker; null for non-stocks such as commodities.
    #[sea_orm(column_type = "String(StringLen::N(20))", nullable)]
    pub symbol: Option<String>,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
    /// ICB classification or commodity category.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub sector: String,
    /// `Upstream`, `Midstream` or `Downstream`.
    #[sea_orm(column_type = "String(StringLen::N(50))")]
    pub node_type: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
