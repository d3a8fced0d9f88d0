//! The SQL of accounts: new users, the credentials a login checks, broker connections.
use crate::data::db::Db;
use crate::data::sql::Sql;
use crate::error::{ApiError, ApiResult};
use sea_orm::{ConnectionTrait, Value};
use uuid::Uuid;

/// Stores a new `user` account; an e-mail already taken is a conflict.
pub async fn create(db: &Db, id: Uuid, email: String, password_hash: String) -> ApiResult<()> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("INSERT INTO \"users\" (\"id\", \"email\", \"password_hash\", \"role\") VALUES (")
        .param(Value::Uuid(Some(id)))
        .push(", ")
        .param(Value::String(Some(email)))
        .push(", ")
        .param(Value::String(Some(password_hash)))
        .push(", 'user')");
    db.write.execute_raw(sql.statement()).await.map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict("an account with this e-mail exists".into()),
        other => other,
    })?;
    Ok(())
}

/// Whether the account `id` exists (read from the primary: a token minted a moment ago must
/// find its account).
pub async fn exists(db: &Db, id: Uuid) -> ApiResult<bool> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("SELECT 1 FROM \"users\" WHERE \"id\" = ").param(Value::Uuid(Some(id)));
    Ok(db.write.query_one_raw(sql.statement()).await?.is_some())
}

/// What a login checks: the id, password hash (PHC string) and role of an e-mail's account.
pub async fn credentials(db: &Db, email: String) -> ApiResult<Option<(Uuid, String, String)>> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("SELECT \"id\", \"password_hash\", \"role\" FROM \"users\" WHERE \"email\" = ")
        .param(Value::String(Some(email)));
    let Some(row) = db.write.query_one_raw(sql.statement()).await? else { return Ok(None) };
    Ok(Some((row.try_get_by_index(0)?, row.try_get_by_index(1)?, row.try_get_by_index(2)?)))
}

/// Connects a broker account (its token already sealed); one broker account per user.
pub async fn connect_broker(db: &Db, user: Uuid, client_id: String, sealed_token: String) -> ApiResult<()> {
    let mut sql = Sql::with_dialect(db.dialect);
    sql.push("UPDATE \"users\" SET \"dnse_client_id\" = ")
        .param(Value::String(Some(client_id)))
        .push(", \"dnse_token\" = ")
        .param(Value::String(Some(sealed_token)))
        .push(", \"updated_at\" = ")
        .param(Value::ChronoDateTimeUtc(Some(chrono::Utc::now())))
        .push(" WHERE \"id\" = ")
        .param(Value::Uuid(Some(user)));
    db.write.execute_raw(sql.statement()).await.map_err(|e| match ApiError::from(e) {
        ApiError::Conflict(_) => ApiError::Conflict("this broker account is connected to another user".into()),
        other => other,
    })?;
    Ok(())
}
