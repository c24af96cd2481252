//! The server's one error type. Refusals carry the [`ErrorBody`] the client sees; failures of the
//! machinery (database, hashing) are logged and shown to the client as `internal`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use confab_protocol::{ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is refused for a reason the client should see.
    #[error("{0}")]
    Refused(ErrorBody),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The message writer's own SQLite connection failed (see `store::writer`).
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Redis, which holds state shared by the nodes (call state), failed or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The configuration cannot work (unsupported database URL, unusable data directory).
    #[error("configuration: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn refused(code: ErrorCode, message: impl Into<String>) -> Self {
        Error::Refused(ErrorBody::new(code, message))
    }
    pub fn not_found(what: &str) -> Self {
        Self::refused(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::Forbidden, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::InvalidPayload, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::Conflict, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::refused(ErrorCode::Unauthorized, message)
    }
    pub fn rate_limited(retry_after_ms: u64) -> Self {
        Error::Refused(ErrorBody {
            code: ErrorCode::RateLimited,
            message: format!("too many requests, retry in {retry_after_ms} ms"),
            retry_after_ms: Some(retry_after_ms),
        })
    }

    /// What the client is told. Internal failures are logged here, once, with their detail.
    pub fn body(&self) -> ErrorBody {
        match self {
            Error::Refused(body) => body.clone(),
            Error::Database(sqlx::Error::PoolClosed) => {
                ErrorBody::new(ErrorCode::Unavailable, "the server is shutting down")
            }
            Error::Database(sqlx::Error::PoolTimedOut) => ErrorBody {
                code: ErrorCode::Unavailable,
                message: "the server is overloaded, retry shortly".into(),
                retry_after_ms: Some(1000),
            },
            Error::Redis(e) => {
                tracing::warn!(error = %e, "shared state unavailable");
                ErrorBody::new(ErrorCode::Unavailable, "shared state is unavailable, retry shortly")
            }
            other => {
                tracing::error!(error = %other, "request failed");
                ErrorBody::new(ErrorCode::Internal, "internal server error")
            }
        }
    }
}

impl From<ErrorBody> for Error {
    fn from(body: ErrorBody) -> Self {
        Error::Refused(body)
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::InvalidPayload => StatusCode::BAD_REQUEST,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Conflict | ErrorCode::Busy => StatusCode::CONFLICT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `{error:{code,message}}` with the matching status (and `Retry-After` when rate limited).
pub fn error_response(body: ErrorBody) -> Response {
    let status = status_of(body.code);
    let retry_after = body.retry_after_ms.map(|ms| ms.div_ceil(1000).max(1));
    let mut response = (status, axum::Json(confab_protocol::rest::ErrorEnvelope { error: body })).into_response();
    if let Some(secs) = retry_after
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        error_response(self.body())
    }
}
