//! `trading_holidays`: weekdays on which a region's exchanges are closed (weekends always are).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "trading_holidays")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "String(StringLen::N(2))")]
    pub region: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub date: Date,
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
