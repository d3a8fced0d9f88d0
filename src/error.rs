//! One error type with stable `extensions.code`s; database details are logged, never shown.
use async_graphql::ErrorExtensions as _;

/// Deliberately not `Display`: async-graphql turns any `Display` error into a GraphQL error
/// without a code, so every conversion must go through `From<ApiError>` below.
#[derive(Debug, Clone)]
pub enum ApiError {
    BadInput(String),
    Unauthenticated(String),
    Forbidden(String),
    NotFound(String),
    Conflict(String),
    TooComplex(String),
    /// A backing service (Redis, Qdrant) cannot be reached; the rest of the API still works.
    Unavailable(String),
    /// The caller (or everyone at once) asks faster than the gateway serves: retry later.
    RateLimited(String),
    /// Logged where it happens; clients see only "internal error".
    Internal(String),
}

impl ApiError {
    /// The database is down or the connection broke: nothing about the request is wrong.
    pub fn database_unreachable() -> ApiError {
        ApiError::Unavailable("the database cannot be reached right now: retry shortly".into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadInput(_) => "BAD_USER_INPUT",
            ApiError::Unauthenticated(_) => "UNAUTHENTICATED",
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict(_) => "CONFLICT",
            ApiError::TooComplex(_) => "QUERY_TOO_COMPLEX",
            ApiError::Unavailable(_) => "UNAVAILABLE",
            ApiError::RateLimited(_) => "RATE_LIMITED",
            ApiError::Internal(_) => "INTERNAL",
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            ApiError::BadInput(m)
            | ApiError::Unauthenticated(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::TooComplex(m)
            | ApiError::Unavailable(m)
            | ApiError::RateLimited(m) => m.clone(),
            ApiError::Internal(_) => "internal error".into(),
        }
    }

    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadInput(msg.into())
    }
}

/// The database could not be reached, or the connection broke under the statement (a restart,
/// a failover, a network cut): nothing about the request is wrong, and a read may be retried on
/// another connection.
pub fn is_connection_error(e: &sea_orm::DbErr) -> bool {
    matches!(e, sea_orm::DbErr::ConnectionAcquire(_))
        || matches!(sqlx_error(e), Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed))
        || is_broken_connection(e)
}

/// The connection under a statement broke (as opposed to the pool having none to give): another
/// connection may well work.
pub fn is_broken_connection(e: &sea_orm::DbErr) -> bool {
    match sqlx_error(e) {
        Some(sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed) => true,
        // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going or not back yet.
        Some(sqlx::Error::Database(d)) => matches!(d.code().as_deref(), Some("57P01" | "57P02" | "57P03")),
        _ => false,
    }
}

/// The driver's error under a sea-orm one, if any.
fn sqlx_error(e: &sea_orm::DbErr) -> Option<&sqlx::Error> {
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s)) => Some(s),
        _ => None,
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        if is_connection_error(&e) {
            tracing::warn!(error = %e, "database unreachable");
            return ApiError::database_unreachable();
        }
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = e.sql_err() {
            return ApiError::Conflict("a row with the same key already exists".into());
        }
        if let Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) = e.sql_err() {
            return ApiError::BadInput("a referenced row does not exist".into());
        }
        tracing::error!(error = %e, "database error");
        ApiError::Internal(e.to_string())
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(e: ApiError) -> Self {
        let code = e.code();
        async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", code))
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl std::fmt::Display for ApiErrorLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code(), self.0.message())
    }
}

/// `ApiError` for logs and CLI output.
pub struct ApiErrorLine<'a>(pub &'a ApiError);

impl From<ApiError> for anyhow::Error {
    fn from(e: ApiError) -> Self {
        anyhow::anyhow!("{}", ApiErrorLine(&e))
    }
}
