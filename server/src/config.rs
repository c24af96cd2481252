//! Command line and environment configuration.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

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

    // ---- calls across networks: ICE servers handed to clients, and the bundled relay (relay.rs) ----
    /// STUN server URL handed to clients (`stun:host:3478`); repeatable. With the bundled relay its
    /// own `stun:` URL is added.
    #[arg(long = "stun-url", env = "CONFAB_STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,
    /// External TURN relay URL (`turn:host:3478`, `turn:host:3478?transport=tcp`, `turns:host:5349`);
    /// repeatable. Clients get time-limited credentials for it (coturn's `use-auth-secret`, same
    /// `--turn-secret`).
    #[arg(long = "turn-url", env = "CONFAB_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,
    /// Secret shared with the relay (coturn's `static-auth-secret`). Required with `--turn-url`; for the
    /// bundled relay it is generated at the first start and kept in `<data-dir>/turn_secret` if not
    /// given (give the same one to every node of a cluster).
    #[arg(long, env = "CONFAB_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,
    /// How long the TURN credentials handed out stay valid, in seconds (Synapse's
    /// `turn_user_lifetime` default). The bundled relay checks it when an allocation is made, so a
    /// call that outlives it keeps its relay.
    #[arg(long, env = "CONFAB_TURN_TTL_SECS", default_value_t = 3600)]
    pub turn_ttl_secs: u64,
    /// Runs the bundled TURN/STUN relay on this UDP address (e.g. `0.0.0.0:3478`).
    #[arg(long, env = "CONFAB_TURN_LISTEN")]
    pub turn_listen: Option<SocketAddr>,
    /// The bundled relay's address as clients and peers reach it (the public IP); required when
    /// `--turn-listen` is a wildcard address.
    #[arg(long, env = "CONFAB_TURN_EXTERNAL_IP")]
    pub turn_external_ip: Option<IpAddr>,
    /// UDP ports the bundled relay gives out as relayed addresses (`FIRST-LAST`, coturn's default range).
    #[arg(long, env = "CONFAB_TURN_RELAY_PORTS", default_value = "49152-65535")]
    pub turn_relay_ports: PortRange,
    /// Peer addresses the bundled relay may relay to although they are loopback, private, link-local
    /// or otherwise special (refused by default): a CIDR range or one address, repeatable — a LAN
    /// deployment names its own network, e.g. `10.0.0.0/8`.
    #[arg(long = "turn-allowed-peer-range", env = "CONFAB_TURN_ALLOWED_PEER_RANGES", value_delimiter = ',', value_parser = parse_peer_range)]
    pub turn_allowed_peer_ranges: Vec<ipnet::IpNet>,
    /// Allocations one user may hold at once on the bundled relay (0: no limit).
    #[arg(long, env = "CONFAB_TURN_USER_QUOTA", default_value_t = 10)]
    pub turn_user_quota: u32,
    /// Bandwidth cap of one allocation on the bundled relay, in bytes per second, each direction
    /// separately (coturn's `max-bps`); 0: no cap. The default, 4 Mbit/s, is several times a video call.
    #[arg(long, env = "CONFAB_TURN_MAX_BPS", default_value_t = 500_000)]
    pub turn_max_bps: u64,
}

/// A secret that `Debug` does not print.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Secret, String> {
        if s.is_empty() { Err("the secret is empty".into()) } else { Ok(Secret(s.to_owned())) }
    }
}

/// An inclusive range of UDP ports, `FIRST-LAST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<PortRange, String> {
        let bad = || format!("expected FIRST-LAST (e.g. 49152-65535), got {s:?}");
        let (first, last) = s.split_once('-').ok_or_else(bad)?;
        let first: u16 = first.trim().parse().map_err(|_| bad())?;
        let last: u16 = last.trim().parse().map_err(|_| bad())?;
        if first == 0 || last < first {
            return Err(bad());
        }
        Ok(PortRange(first..=last))
    }
}

/// `10.0.0.0/8`, or one address (`10.1.2.3` is `10.1.2.3/32`).
pub fn parse_peer_range(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("expected an address range like 10.0.0.0/8 or an address, got {s:?}"))
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
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_ttl_secs: 3600,
            turn_listen: None,
            turn_external_ip: None,
            turn_relay_ports: PortRange(49152..=65535),
            turn_allowed_peer_ranges: Vec::new(),
            turn_user_quota: 10,
            turn_max_bps: 500_000,
        }
    }
}
