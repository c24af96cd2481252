//! Command line and environment configuration.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::ratelimit::RateLimitConfig;

/// `confab-server`: Confab's messaging server.
#[derive(Debug, Clone, Parser)]
#[command(name = "confab-server", version, about)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed on stdout).
    #[arg(long, env = "CONFAB_LISTEN", default_value = "127.0.0.1:4000")]
    pub listen: SocketAddr,
    /// Directory for the embedded SQLite database (`confab.db`).
    #[arg(long, env = "CONFAB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Database URL: `postgres://user@host/db` for PostgreSQL (several nodes), or `sqlite://path`;
    /// defaults to SQLite at `<data-dir>/confab.db`.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Redis URL (`redis://[:password@]host:port[/db]`, e.g. `redis://127.0.0.1:6379`): Socket.IO rooms
    /// then span every node on the same Redis and prefix. The server speaks RESP3 whatever the URL says
    /// (Redis 6 or newer).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Prefix of the Redis channels, so that several deployments (or tests) can share one Redis.
    #[arg(long, env = "CONFAB_REDIS_PREFIX", default_value = "confab")]
    pub redis_prefix: String,
    /// With Redis: how long a node's presence entries live without a heartbeat, in milliseconds — the
    /// bound on how long the users of a crashed node stay online.
    #[arg(long, env = "CONFAB_PRESENCE_TTL_MS", default_value_t = 30_000)]
    pub presence_ttl_ms: u64,
    /// Rate limits: empty for the defaults, `off`, or `name=PER_SECOND:BURST,...` (see docs/protocol.md).
    #[arg(long, env = "CONFAB_RATE_LIMITS", default_value = "", value_parser = RateLimitConfig::parse)]
    pub rate_limits: RateLimitConfig,
    /// How long an unanswered call rings before it ends as missed, in milliseconds.
    #[arg(long, env = "CONFAB_CALL_RING_TIMEOUT_MS", default_value_t = confab_protocol::limits::CALL_RING_TIMEOUT_SECS * 1000)]
    pub call_ring_timeout_ms: u64,
}

impl Config {
    /// The defaults, with the given data directory, ignoring the environment (for embedding and tests).
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            data_dir: data_dir.into(),
            database_url: None,
            redis_url: None,
            redis_prefix: "confab".into(),
            presence_ttl_ms: 30_000,
            rate_limits: RateLimitConfig::default(),
            call_ring_timeout_ms: confab_protocol::limits::CALL_RING_TIMEOUT_SECS * 1000,
        }
    }
}
