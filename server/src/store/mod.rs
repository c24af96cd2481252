//! Persistence: every SQL statement of the server lives in this module, behind [`Store`].
//!
//! One set of SQL for both backends — SQLite (embedded, the default) and PostgreSQL (for several
//! nodes) — through sqlx's `Any` driver: integer ids, BIGINT milliseconds, `$n` placeholders,
//! `RETURNING`, `ON CONFLICT`. What differs per backend is confined to this file (connection
//! settings, the migrations folder, how a write transaction begins, WAL purging) and to
//! [`writer`], SQLite's message writer: new messages, the hot path, are stored there in batches on
//! a connection of its own (rusqlite), not through sqlx.

mod accounts;
mod conversations;
mod friends;
mod messages;
mod writer;

pub use accounts::TokenOwner;
pub use friends::RequestOutcome;
pub use messages::{Decision, MessageChange, SendOutcome, Write};

use std::path::Path;

use sqlx::any::AnyPoolOptions;

/// How long a request waits for a database connection before it is refused as `unavailable`.
pub const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::error::Result;

/// Which database the store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// The connection pool. On SQLite readers run concurrently (WAL) and writers queue on its write
    /// lock; on PostgreSQL writers of one conversation queue on its row.
    pool: AnyPool,
    backend: Backend,
    /// On SQLite, the thread that stores new messages in batches (see [`writer`]).
    writer: Option<writer::MessageWriter>,
}

type Tx = Transaction<'static, Any>;

/// Settings of every SQLite connection, with why:
/// - WAL: readers never block the writer and a commit is one append to the log;
/// - synchronous NORMAL: in WAL mode a process crash (SIGKILL) loses no commit; only an OS crash or
///   power loss may lose the last ones;
/// - busy_timeout: waiting writers retry for up to 5 s instead of failing with "database is locked";
/// - secure_delete: freed space is zeroed, so deleted and replaced message text does not linger.
const SQLITE_SETTINGS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;
     PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;";

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Self::open_url(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    /// Opens a `sqlite:` or `postgres:` URL and applies that backend's migrations.
    pub async fn open_url(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(crate::Error::Config(format!(
                "unsupported database URL {url:?}: use sqlite:… or postgres://…"
            )));
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            // Overloaded: refuse within seconds (`unavailable`, retry) rather than queue for 30 s,
            // and without a warning per waiting request.
            .acquire_timeout(POOL_WAIT)
            .acquire_slow_threshold(POOL_WAIT);
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SQLITE_SETTINGS).await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await?;
        let writer = match backend {
            Backend::Sqlite => {
                sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
                Some(writer::MessageWriter::start(&sqlite_file(url)?, SQLITE_SETTINGS)?)
            }
            Backend::Postgres => {
                sqlx::migrate!("../migrations/postgres").run(&pool).await?;
                None
            }
        };
        Ok(Store { pool, backend, writer })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a write transaction. `BEGIN IMMEDIATE` takes SQLite's write lock up front, so two
    /// writers never both read and then both try to upgrade (which fails at once with "database is
    /// locked" regardless of the busy timeout).
    /// On PostgreSQL a plain transaction: writers that must not interleave take a row lock (the
    /// conversation's `last_seq`).
    async fn write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Moves every committed page into the main file and empties the WAL, so that text a user
    /// erased (deleted or edited away) survives in no file. Costly enough to run only after those.
    pub async fn purge_log(&self) {
        if self.backend != Backend::Sqlite {
            return;
        }
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
        if let Some(writer) = &self.writer {
            writer.stop().await;
        }
        self.pool.close().await;
    }
}

/// The database file of a `sqlite:` URL. An in-memory database is refused: every connection of the
/// pool (and the message writer's) would get a database of its own.
fn sqlite_file(url: &str) -> Result<std::path::PathBuf> {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    let file = options.get_filename();
    if url.contains(":memory:") || url.contains("mode=memory") || file.as_os_str().is_empty() {
        return Err(crate::Error::Config(format!("{url:?} is an in-memory database: Confab needs a file")));
    }
    Ok(file.to_owned())
}

/// `$1, $2, …, $n`: an `IN (…)` list of numbered placeholders. (sqlx's `QueryBuilder` writes `?` for
/// the `Any` driver, which PostgreSQL does not understand.)
fn placeholders(count: usize) -> String {
    (1..=count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Runs `sql` (with an `IN ({ids})` slot) binding every id, and returns the rows.
async fn fetch_in<T>(conn: &mut sqlx::AnyConnection, sql: &str, ids: &[i64]) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let sql = sql.replace("{ids}", &placeholders(ids.len()));
    let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

pub use confab_protocol::time::now_ms;

/// True if the error is a violated UNIQUE constraint.
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
