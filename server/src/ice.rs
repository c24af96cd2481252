//! The ICE servers a client uses for a call (`GET /api/calls/ice-servers`): STUN URLs, and TURN
//! URLs with time-limited credentials in the TURN REST API convention that coturn implements as
//! `use-auth-secret`: the user name is `"{expiry_unix_secs}:{userId}"` and the password is
//! base64(HMAC-SHA1(shared secret, user name)). The relay (coturn, or the bundled one in
//! [`crate::relay`]) recomputes the password from the user name, so nothing is stored per credential.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use confab_protocol::rest::IceServers;
use confab_protocol::{IceServer, UserId};

use crate::config::Config;
use crate::error::{Error, Result};

/// The file in the data directory that keeps the bundled relay's secret when none is configured.
pub const SECRET_FILE: &str = "turn_secret";

/// What `GET /api/calls/ice-servers` answers from: fixed at start.
pub struct IceServerList {
    stun_urls: Vec<String>,
    turn_urls: Vec<String>,
    /// Shared with the relay; `None` when no relay is configured.
    secret: Option<String>,
    ttl: Duration,
}

impl IceServerList {
    /// The configured servers plus, when it runs, the bundled relay's `turn:` and `stun:` URLs.
    pub fn new(config: &Config, secret: Option<String>, bundled: Option<&crate::relay::Relay>) -> IceServerList {
        let mut stun_urls = config.stun_urls.clone();
        let mut turn_urls = config.turn_urls.clone();
        if let Some(relay) = bundled {
            turn_urls.push(relay.turn_url());
            stun_urls.push(relay.stun_url());
        }
        IceServerList { stun_urls, turn_urls, secret, ttl: Duration::from_secs(config.turn_ttl_secs) }
    }

    /// The servers for `user`, with credentials that expire `ttl` after `now`.
    pub fn for_user(&self, user: UserId, now: SystemTime) -> IceServers {
        let mut ice_servers = Vec::new();
        if !self.stun_urls.is_empty() {
            ice_servers.push(IceServer { urls: self.stun_urls.clone(), ..IceServer::default() });
        }
        if let (Some(secret), false) = (&self.secret, self.turn_urls.is_empty()) {
            let expiry = (now + self.ttl).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let username = username(expiry, user);
            let credential = credential(secret.as_bytes(), &username);
            ice_servers.push(IceServer { urls: self.turn_urls.clone(), username, credential });
        }
        IceServers { ice_servers, ttl_seconds: self.ttl.as_secs() }
    }
}

/// `"{expiry}:{user}"`: the relay reads the expiry back from it.
pub fn username(expiry_unix_secs: u64, user: UserId) -> String {
    format!("{expiry_unix_secs}:{user}")
}

/// The expiry and the user of a TURN REST user name; `None` if it is not one.
pub fn parse_username(username: &str) -> Option<(u64, &str)> {
    let (expiry, user) = username.split_once(':')?;
    Some((expiry.parse().ok()?, user))
}

/// base64(HMAC-SHA1(secret, username)). SHA-1 because that is what the convention (and coturn)
/// uses; ring's HMAC is the one the `turn` crate also uses.
pub fn credential(secret: &[u8], username: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, username.as_bytes()))
}

/// The shared secret: `--turn-secret`; else, for the bundled relay, the one kept in the data
/// directory (made at the first start). An external relay without a secret is a configuration error.
pub fn shared_secret(config: &Config) -> Result<Option<String>> {
    if let Some(secret) = &config.turn_secret {
        return Ok(Some(secret.0.clone()));
    }
    if config.turn_listen.is_some() {
        return load_or_create_secret(&config.data_dir).map(Some);
    }
    if !config.turn_urls.is_empty() {
        return Err(Error::Config("--turn-url needs --turn-secret (coturn's static-auth-secret)".into()));
    }
    Ok(None)
}

fn load_or_create_secret(dir: &Path) -> Result<String> {
    let path = dir.join(SECRET_FILE);
    let unusable = |e: std::io::Error| Error::Config(format!("TURN secret in {}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unusable(e)),
    }
    std::fs::create_dir_all(dir).map_err(unusable)?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path).map_err(unusable)?, secret.as_bytes()).map_err(unusable)?;
    tracing::info!(path = %path.display(), "generated the TURN relay's shared secret");
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_matches_the_turn_rest_api_example() {
        // Computed independently with
        // `echo -n "1700000000:42" | openssl dgst -sha1 -hmac secret -binary | base64`.
        assert_eq!(credential(b"secret", "1700000000:42"), "ZzfPuPkrzUOsnm5YISnTiKDnXWo=");
        assert_eq!(parse_username("1700000000:42"), Some((1_700_000_000, "42")));
        assert_eq!(parse_username("alice"), None);
    }

    #[test]
    fn no_relay_no_credentials() {
        let config = Config::with_data_dir("/nonexistent");
        let list = IceServerList::new(&config, None, None);
        let servers = list.for_user(7, SystemTime::now());
        assert!(servers.ice_servers.is_empty());
    }
}
