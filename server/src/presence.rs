//! Who is online: a user is online while at least one of their sockets is connected, on any node.
//!
//! Each node counts its own sockets ([`Presence`]). With Redis the cluster's view lives there too
//! ([`SharedPresence`]): one sorted set per user of `node/sid` entries scored by an expiry time that
//! each node pushes forward for its live sockets. The first entry of a user makes them online, the
//! last one removed makes them offline, and entries of a node that died expire, so its users go
//! offline within the expiry time (30 s by default) and exactly one node announces it.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use confab_protocol::notifications::{UserOffline, UserOnline};
use confab_protocol::{User, UserId};
use socketioxide::socket::Sid;

use crate::AppState;
use crate::store::now_ms;

/// The cluster-wide presence in Redis.
pub struct SharedPresence {
    conn: redis::aio::ConnectionManager,
    /// Key prefix: `<prefix>:presence:<user>` (sorted sets) and `<prefix>:presence` (users with entries).
    prefix: String,
    /// Identifies this node's entries.
    node: String,
    /// How long an entry lives without being refreshed.
    ttl_ms: i64,
}

/// Adds an entry; returns 1 if it is the user's only live one. KEYS: user set, users; ARGV: member,
/// expiry, now, user id.
const JOIN: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[4])
if redis.call('ZCARD', KEYS[1]) == 1 then return 1 else return 0 end
";

/// Removes an entry (or only expired ones, with an empty member); returns 1 if the user has no live
/// entry left and this call is the one that noticed. KEYS: user set, users; ARGV: member, now, user id.
const LEAVE: &str = r"
if ARGV[1] ~= '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  return redis.call('SREM', KEYS[2], ARGV[3])
end
return 0
";

impl SharedPresence {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str, ttl_ms: u64) -> Self {
        let node: String = {
            use rand::RngCore;
            let mut bytes = [0u8; 8];
            rand::rng().fill_bytes(&mut bytes);
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        };
        SharedPresence { conn, prefix: format!("{prefix}:presence"), node, ttl_ms: ttl_ms as i64 }
    }

    fn user_key(&self, user: UserId) -> String {
        format!("{}:{user}", self.prefix)
    }

    fn member(&self, sid: Sid) -> String {
        format!("{}/{sid}", self.node)
    }

    async fn join(&self, user: UserId, sid: Sid) -> redis::RedisResult<bool> {
        let now = now_ms();
        let first: i64 = redis::Script::new(JOIN)
            .key(self.user_key(user))
            .key(&self.prefix)
            .arg(self.member(sid))
            .arg(now + self.ttl_ms)
            .arg(now)
            .arg(user)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(first == 1)
    }

    async fn leave(&self, user: UserId, member: String) -> redis::RedisResult<bool> {
        let last: i64 = redis::Script::new(LEAVE)
            .key(self.user_key(user))
            .key(&self.prefix)
            .arg(member)
            .arg(now_ms())
            .arg(user)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(last == 1)
    }

    async fn online_among(&self, users: &[UserId]) -> redis::RedisResult<Vec<UserId>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut pipe = redis::pipe();
        for &user in users {
            pipe.zcount(self.user_key(user), now, "+inf");
        }
        let counts: Vec<i64> = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(users.iter().zip(counts).filter(|(_, n)| *n > 0).map(|(&u, _)| u).collect())
    }

    /// Pushes the expiry of this node's live sockets forward.
    async fn refresh(&self, sockets: &[(UserId, Sid)]) -> redis::RedisResult<()> {
        if sockets.is_empty() {
            return Ok(());
        }
        let expiry = now_ms() + self.ttl_ms;
        let mut pipe = redis::pipe();
        for &(user, sid) in sockets {
            pipe.zadd(self.user_key(user), self.member(sid), expiry).ignore();
        }
        pipe.query_async::<()>(&mut self.conn.clone()).await
    }

    /// Users whose entries all expired (their node died), each reported by exactly one node.
    async fn expired_users(&self) -> redis::RedisResult<Vec<UserId>> {
        let users: Vec<UserId> = redis::cmd("SMEMBERS").arg(&self.prefix).query_async(&mut self.conn.clone()).await?;
        let mut gone = Vec::new();
        for user in users {
            if self.leave(user, String::new()).await? {
                gone.push(user);
            }
        }
        Ok(gone)
    }
}

#[derive(Default)]
pub struct Presence {
    /// Connected sockets of each online user. A user is absent when offline.
    sockets: Mutex<HashMap<UserId, HashSet<Sid>>>,
}

impl Presence {
    /// Records a connected socket; true if it is the user's first (they just came online).
    pub fn connect(&self, user: UserId, sid: Sid) -> bool {
        let mut map = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let set = map.entry(user).or_default();
        set.insert(sid);
        set.len() == 1
    }

    /// Forgets a socket; true if it was the user's last (they just went offline).
    pub fn disconnect(&self, user: UserId, sid: Sid) -> bool {
        let mut map = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(set) = map.get_mut(&user) else { return false };
        let removed = set.remove(&sid);
        if set.is_empty() {
            map.remove(&user);
            return removed;
        }
        false
    }

    pub fn is_online(&self, user: UserId) -> bool {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&user)
    }

    /// The online users among `users`.
    pub fn online_among(&self, users: &[UserId]) -> Vec<UserId> {
        let map = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        users.iter().copied().filter(|u| map.contains_key(u)).collect()
    }

    /// Forgets sockets for which `alive` is false; returns the users left with none.
    pub fn sweep(&self, alive: impl Fn(Sid) -> bool) -> Vec<UserId> {
        let mut map = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone = Vec::new();
        map.retain(|&user, sockets| {
            sockets.retain(|&sid| alive(sid));
            if sockets.is_empty() {
                gone.push(user);
            }
            !sockets.is_empty()
        });
        gone
    }

    /// Every connected socket of this node.
    pub fn local_sockets(&self) -> Vec<(UserId, Sid)> {
        let map = self.sockets.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().flat_map(|(&user, sids)| sids.iter().map(move |&sid| (user, sid))).collect()
    }

    /// Number of connected sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).values().map(HashSet::len).sum()
    }
}

/// Friends and co-members: who sees this user's presence.
async fn contacts(state: &AppState, user_id: UserId) -> Vec<UserId> {
    state.store.related_user_ids(user_id).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "loading contacts for presence failed");
        Vec::new()
    })
}

/// The online users among `users`, cluster-wide when presence is shared.
pub async fn online_among(state: &AppState, users: &[UserId]) -> Vec<UserId> {
    if let Some(shared) = &state.shared_presence {
        match shared.online_among(users).await {
            Ok(online) => return online,
            Err(e) => tracing::warn!(error = %e, "shared presence unavailable; answering from this node"),
        }
    }
    state.presence.online_among(users)
}

pub async fn is_online(state: &AppState, user: UserId) -> bool {
    !online_among(state, &[user]).await.is_empty()
}

/// A socket was accepted (before the client hears so, so that no disconnect can come first). On the
/// user's first device — on any node — their contacts get `userOnline`. Returns the contacts.
pub async fn socket_connected(state: &AppState, user: &User, sid: Sid) -> Vec<UserId> {
    let first_here = state.presence.connect(user.id, sid);
    let first = match &state.shared_presence {
        Some(shared) => shared.join(user.id, sid).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "shared presence unavailable; deciding from this node");
            first_here
        }),
        None => first_here,
    };
    let contacts = contacts(state, user.id).await;
    if first {
        let event = UserOnline { user_id: user.id, username: user.username.clone() };
        state.hub.to_users(&contacts, None, &event).await;
    }
    contacts
}

pub async fn socket_disconnected(state: &AppState, user_id: UserId, sid: Sid) {
    let last_here = state.presence.disconnect(user_id, sid);
    if state.hub.is_closing() {
        // This node is shutting down and its clients are about to reconnect elsewhere: its shared
        // entries expire by themselves, so a rolling restart does not flap everyone offline.
        return;
    }
    let last = match &state.shared_presence {
        Some(shared) => shared.leave(user_id, shared.member(sid)).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "shared presence unavailable; deciding from this node");
            last_here
        }),
        None => last_here,
    };
    if last {
        announce_offline(state, user_id).await;
    }
}

/// Records `lastSeen` and sends contacts `userOffline`.
async fn announce_offline(state: &AppState, user_id: UserId) {
    let last_seen = now_ms();
    if let Err(e) = state.store.set_last_seen(user_id, last_seen).await {
        tracing::warn!(error = %e, "storing last seen failed");
    }
    let contacts = contacts(state, user_id).await;
    state.hub.to_users(&contacts, None, &UserOffline { user_id, last_seen }).await;
}

/// Drops sockets that ended without a disconnect handler (a transport closing while the handshake
/// completed), so nobody stays online forever; with shared presence, also announces the users of
/// nodes that died.
pub async fn sweep(state: &AppState) {
    let gone_here = state.presence.sweep(|sid| state.hub.is_connected_here(sid));
    match &state.shared_presence {
        None => {
            for user_id in gone_here {
                announce_offline(state, user_id).await;
            }
        }
        Some(shared) => match shared.expired_users().await {
            Ok(gone) => {
                for user_id in gone {
                    announce_offline(state, user_id).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweeping shared presence failed"),
        },
    }
}

/// Keeps this node's entries alive in the shared presence.
pub async fn heartbeat(state: &AppState) {
    if let Some(shared) = &state.shared_presence
        && let Err(e) = shared.refresh(&state.presence.local_sockets()).await
    {
        tracing::warn!(error = %e, "refreshing shared presence failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_while_any_socket_lives() {
        let presence = Presence::default();
        let (phone, laptop) = (Sid::new(), Sid::new());
        assert!(presence.connect(1, phone), "first device");
        assert!(!presence.connect(1, laptop));
        assert!(!presence.disconnect(1, phone));
        assert!(presence.is_online(1));
        assert!(!presence.connect(1, phone), "the laptop is still connected");
        assert!(presence.sweep(|sid| sid == laptop).is_empty(), "one socket left alive");
        assert_eq!(presence.socket_count(), 1);
        assert_eq!(presence.sweep(|_| false), vec![1]);
        assert!(!presence.is_online(1));
        assert!(!presence.disconnect(1, laptop), "already swept");
    }
}
