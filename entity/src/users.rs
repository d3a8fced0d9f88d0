//! `users`: accounts. `password_hash` and `dnse_token` never leave the service layer.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique)]
    pub email: String,
    /// argon2id PHC string.
    #[sea_orm(column_type = "String(StringLen::N(255))")]
    pub password_hash: String,
    /// `user`, `analyst`, `service` or `admin`.
    #[sea_orm(column_type = "String(StringLen::N(20))", default_value = "user")]
    pub role: String,
    #[sea_orm(column_type = "String(StringLen::N(255))", unique, nullable)]
    pub dnse_client_id: Option<String>,
    /// Fernet ciphertext of the broker token.
    #[sea_orm(column_type = "Text", nullable)]
    pub dnse_token: Option<String>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub created_at: Option<DateTimeUtc>,
    #[sea_orm(default_expr = "Expr::current_timestamp()", nullable)]
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::workflows::Entity")]
    Workflows,
    #[sea_orm(has_many = "super::portfolio_allocations::Entity")]
    PortfolioAllocations,
}

impl ActiveModelBehavior for ActiveModel {}
