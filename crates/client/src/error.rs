//! The client core's error type.

use confab_protocol::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request; the body says why (show it to the user).
    #[error("{0}")]
    Server(ErrorBody),
    /// The server could not be reached, or the connection dropped before an answer.
    #[error("offline: {0}")]
    Offline(String),
    /// No one is signed in.
    #[error("not signed in")]
    SignedOut,
    #[error("local cache: {0}")]
    Cache(#[from] sqlx::Error),
    #[error("local cache migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// No call with this id rings here or includes this device.
    #[error("no such call: {0}")]
    NoSuchCall(String),
    /// The call's media failed (no connection could be built, an unusable description).
    #[error("call media: {0}")]
    Call(#[from] confab_call::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        if e.is_decode() { Error::Protocol(e.to_string()) } else { Error::Offline(e.to_string()) }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Protocol(e.to_string())
    }
}
