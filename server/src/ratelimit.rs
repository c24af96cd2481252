//! Per-user (and per-IP / per-username for login) token buckets.
//!
//! With one node they live in the process (`governor`). With Redis configured they live in Redis, so
//! a user cannot multiply their budget by spreading requests over nodes: one GCRA script per check,
//! atomic, on Redis's clock. If Redis does not answer, the node falls back to its own buckets.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::Error;

/// How long a shared check may wait for Redis before the node decides alone.
const SHARED_CHECK_TIMEOUT: Duration = Duration::from_millis(200);

/// A family of requests that shares a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    Messages,
    Reactions,
    Edits,
    Calls,
    Signaling,
    Typing,
    /// Login attempts per username.
    Login,
    /// Login attempts per IP.
    LoginIp,
    /// Registrations per IP.
    Register,
}

impl Bucket {
    const ALL: [Bucket; 9] = [
        Bucket::Messages,
        Bucket::Reactions,
        Bucket::Edits,
        Bucket::Calls,
        Bucket::Signaling,
        Bucket::Typing,
        Bucket::Login,
        Bucket::LoginIp,
        Bucket::Register,
    ];

    fn name(self) -> &'static str {
        match self {
            Bucket::Messages => "messages",
            Bucket::Reactions => "reactions",
            Bucket::Edits => "edits",
            Bucket::Calls => "calls",
            Bucket::Signaling => "signaling",
            Bucket::Typing => "typing",
            Bucket::Login => "login",
            Bucket::LoginIp => "login_ip",
            Bucket::Register => "register",
        }
    }

    /// The default `(per second, burst)`.
    fn default_rate(self) -> (f64, u32) {
        match self {
            Bucket::Messages => (10.0, 20),
            Bucket::Reactions => (10.0, 30),
            Bucket::Edits => (5.0, 20),
            Bucket::Calls => (1.0, 5),
            Bucket::Signaling => (50.0, 200),
            Bucket::Typing => (2.0, 5),
            Bucket::Login => (5.0 / 60.0, 10),
            Bucket::LoginIp => (30.0 / 60.0, 60),
            Bucket::Register => (10.0 / 60.0, 20),
        }
    }
}

/// Who is being limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    User(i64),
    Name(String),
    Ip(IpAddr),
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::User(id) => write!(f, "u{id}"),
            Key::Name(name) => write!(f, "n{name}"),
            Key::Ip(ip) => write!(f, "i{ip}"),
        }
    }
}

/// GCRA on Redis's clock. KEYS[1]: the bucket; ARGV: emission interval (µs), burst. Returns 0 when
/// allowed, else the microseconds to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat + interval - burst * interval - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil((tat + interval - now) / 1000) + 1000)
return 0
";

/// Buckets kept in Redis, shared by every node.
struct SharedBuckets {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    script: redis::Script,
}

/// Parsed `CONFAB_RATE_LIMITS`.
#[derive(Debug, Clone, Default)]
pub struct RateLimitConfig {
    /// False with `off`.
    pub disabled: bool,
    /// Overrides of the defaults: `(per second, burst)`.
    pub overrides: HashMap<Bucket, (f64, u32)>,
}

impl RateLimitConfig {
    pub fn off() -> Self {
        RateLimitConfig { disabled: true, overrides: HashMap::new() }
    }

    /// `""` (defaults), `off`, or `name=PER_SECOND:BURST,...`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("off") {
            return Ok(Self::off());
        }
        let mut config = RateLimitConfig::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, rate) =
                item.split_once('=').ok_or_else(|| format!("{item:?}: expected name=PER_SECOND:BURST"))?;
            let bucket = Bucket::ALL
                .into_iter()
                .find(|b| b.name() == name.trim())
                .ok_or_else(|| format!("unknown rate limit {name:?}"))?;
            let (per_second, burst) =
                rate.split_once(':').ok_or_else(|| format!("{item:?}: expected PER_SECOND:BURST"))?;
            let per_second: f64 = per_second.trim().parse().map_err(|_| format!("{item:?}: bad rate"))?;
            let burst: u32 = burst.trim().parse().map_err(|_| format!("{item:?}: bad burst"))?;
            if !(per_second > 0.0 && per_second.is_finite()) || burst == 0 {
                return Err(format!("{item:?}: rate and burst must be positive"));
            }
            config.overrides.insert(bucket, (per_second, burst));
        }
        Ok(config)
    }
}

/// The server's rate limiters.
pub struct RateLimits {
    /// One keyed limiter per bucket; empty when limits are off. With Redis, the fallback.
    limiters: HashMap<Bucket, DefaultKeyedRateLimiter<Key>>,
    /// `(per second, burst)` of each bucket.
    rates: HashMap<Bucket, (f64, u32)>,
    /// Set when the buckets are shared through Redis.
    shared: Option<SharedBuckets>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        if config.disabled {
            return RateLimits { limiters: HashMap::new(), rates: HashMap::new(), shared: None };
        }
        let rates: HashMap<Bucket, (f64, u32)> = Bucket::ALL
            .into_iter()
            .map(|bucket| (bucket, config.overrides.get(&bucket).copied().unwrap_or(bucket.default_rate())))
            .collect();
        let limiters = rates
            .iter()
            .map(|(&bucket, &(per_second, burst))| {
                let period = Duration::from_secs_f64(1.0 / per_second);
                let quota = Quota::with_period(period)
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
                (bucket, RateLimiter::keyed(quota))
            })
            .collect();
        RateLimits { limiters, rates, shared: None }
    }

    /// Keeps the buckets in Redis (every node that shares it shares the budgets).
    pub fn shared_through(mut self, conn: redis::aio::ConnectionManager, prefix: &str) -> Self {
        if !self.limiters.is_empty() {
            self.shared =
                Some(SharedBuckets { conn, prefix: format!("{prefix}:rl"), script: redis::Script::new(GCRA) });
        }
        self
    }

    pub fn enabled(&self) -> bool {
        !self.limiters.is_empty()
    }

    /// Takes one token, or answers `rate_limited` with the wait.
    pub async fn check(&self, bucket: Bucket, key: Key) -> Result<(), Error> {
        if let (Some(shared), Some(&(per_second, burst))) = (&self.shared, self.rates.get(&bucket)) {
            let interval_us = (1_000_000.0 / per_second).round().max(1.0) as u64;
            let mut invocation = shared.script.key(format!("{}:{}:{key}", shared.prefix, bucket.name()));
            invocation.arg(interval_us).arg(burst);
            let mut conn = shared.conn.clone();
            let answer = tokio::time::timeout(SHARED_CHECK_TIMEOUT, invocation.invoke_async::<u64>(&mut conn)).await;
            match answer {
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(wait_us)) => return Err(Error::rate_limited(u64::div_ceil(wait_us, 1000).max(1))),
                Ok(Err(e)) => tracing::warn!(error = %e, "shared rate limit unavailable; using this node's buckets"),
                Err(_) => tracing::warn!("shared rate limit timed out; using this node's buckets"),
            }
        }
        self.check_local(bucket, key)
    }

    fn check_local(&self, bucket: Bucket, key: Key) -> Result<(), Error> {
        let Some(limiter) = self.limiters.get(&bucket) else { return Ok(()) };
        limiter.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::rate_limited((wait.as_millis() as u64).max(1))
        })
    }

    /// Forgets keys whose buckets are full again, so memory follows active users only.
    pub fn forget_idle(&self) {
        for limiter in self.limiters.values() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert!(RateLimitConfig::parse("off").unwrap().disabled);
        let c = RateLimitConfig::parse("messages=20:40, register=100:100").unwrap();
        assert_eq!(c.overrides[&Bucket::Messages], (20.0, 40));
        assert!(RateLimitConfig::parse("nope=1:1").is_err());
        assert!(RateLimitConfig::parse("messages=0:1").is_err());
    }

    #[test]
    fn burst_then_refusal_with_wait() {
        let limits = RateLimits::new(&RateLimitConfig::parse("messages=1:3").unwrap());
        for _ in 0..3 {
            limits.check_local(Bucket::Messages, Key::User(1)).unwrap();
        }
        let Err(Error::Refused(body)) = limits.check_local(Bucket::Messages, Key::User(1)) else {
            panic!("expected refusal")
        };
        assert!(body.retry_after_ms.unwrap() > 0);
        // Another user has their own bucket.
        limits.check_local(Bucket::Messages, Key::User(2)).unwrap();
    }
}
