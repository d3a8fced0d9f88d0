//! Trading calendars: the holidays of each region (weekends are closed everywhere), which
//! gap-filled bars and candles skip.
use crate::ddl::{self, plain};
use entity::trading_holidays;
use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000007_trading_calendar"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager.create_table(ddl::table::<trading_holidays::Entity>(backend, &plain)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Alias::new("trading_holidays")).if_exists().to_owned()).await
    }
}
