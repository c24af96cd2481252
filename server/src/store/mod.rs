//! Persistence: every SQL statement of the server lives in this module, behind [`Store`].
//!
//! The SQL is kept portable (integer ids, BIGINT milliseconds, `$n` placeholders, `RETURNING`,
//! `ON CONFLICT`) so that a PostgreSQL backend can share it. SQLite specifics are confined to
//! [`Store::open_sqlite`] and [`Store::write`].

mod accounts;
mod conversations;
mod friends;
mod messages;

pub use accounts::TokenOwner;
pub use friends::RequestOutcome;
pub use messages::{Change, MessageChange, SendOutcome};

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::Result;

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The connection pool. Readers run concurrently (WAL); writers queue on SQLite's write lock.
    pool: SqlitePool,
}

type Tx = Transaction<'static, Sqlite>;

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Self::connect(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a database from a `sqlite:` URL (`sqlite::memory:` included).
    pub async fn open_url(url: &str) -> Result<Store> {
        if !url.starts_with("sqlite:") {
            return Err(crate::Error::Config(format!(
                "unsupported database URL {url:?}: this build supports sqlite: URLs only"
            )));
        }
        Self::connect(SqliteConnectOptions::from_str(url)?).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Store> {
        let options = options
            .create_if_missing(true)
            // WAL: readers never block the writer and a commit is one append to the log.
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL in WAL mode survives a process crash (SIGKILL) with every commit intact; only an
            // OS crash or power loss may lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            // Waiting writers retry for up to 5 s instead of failing with "database is locked".
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Freed space is zeroed, so deleted and replaced message text does not linger in the file.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(Store { pool })
    }

    /// Begins a write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two
    /// writers never both read and then both try to upgrade (which fails at once with "database is
    /// locked" regardless of the busy timeout).
    async fn write(&self) -> Result<Tx> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Moves every committed page into the main file and empties the WAL, so that text a user
    /// erased (deleted or edited away) survives in no file. Costly enough to run only after those.
    pub async fn purge_log(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await {
            tracing::warn!(error = %e, "WAL checkpoint after an erasure failed");
        }
    }

    /// True if the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Waits for in-flight queries to finish and closes the pool; later queries fail with `unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// True if the error is a violated UNIQUE constraint.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
