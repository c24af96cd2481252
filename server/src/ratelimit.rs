//! Per-user (and per-IP / per-username for login) token buckets, built on `governor`.
//!
//! Process-local for now: with several nodes a user could spread requests over them (the scale-out
//! work moves these buckets to Redis).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::Error;

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
    /// One keyed limiter per bucket; empty when limits are off.
    limiters: HashMap<Bucket, DefaultKeyedRateLimiter<Key>>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        if config.disabled {
            return RateLimits { limiters: HashMap::new() };
        }
        let limiters = Bucket::ALL
            .into_iter()
            .map(|bucket| {
                let (per_second, burst) = config.overrides.get(&bucket).copied().unwrap_or(bucket.default_rate());
                let period = Duration::from_secs_f64(1.0 / per_second);
                let quota = Quota::with_period(period)
                    .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
                (bucket, RateLimiter::keyed(quota))
            })
            .collect();
        RateLimits { limiters }
    }

    pub fn enabled(&self) -> bool {
        !self.limiters.is_empty()
    }

    /// Takes one token, or answers `rate_limited` with the wait.
    pub fn check(&self, bucket: Bucket, key: Key) -> Result<(), Error> {
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
            limits.check(Bucket::Messages, Key::User(1)).unwrap();
        }
        let Err(Error::Refused(body)) = limits.check(Bucket::Messages, Key::User(1)) else {
            panic!("expected refusal")
        };
        assert!(body.retry_after_ms.unwrap() > 0);
        // Another user has their own bucket.
        limits.check(Bucket::Messages, Key::User(2)).unwrap();
    }
}
