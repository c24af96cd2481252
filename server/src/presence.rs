//! Who is online: a user is online while at least one of their sockets is connected.
//!
//! Process-local for now (one node). With several nodes this becomes shared state with expiring
//! entries, so that a crashed node's users go offline (the scale-out work).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use confab_protocol::notifications::{UserOffline, UserOnline};
use confab_protocol::{User, UserId, events};
use socketioxide::socket::Sid;

use crate::AppState;
use crate::store::now_ms;

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

/// A socket was accepted (before the client hears so, so that no disconnect can come first). On the
/// user's first device their contacts get `userOnline`. Returns the contacts.
pub async fn socket_connected(state: &AppState, user: &User, sid: Sid) -> Vec<UserId> {
    let first = state.presence.connect(user.id, sid);
    let contacts = contacts(state, user.id).await;
    if first {
        let event = UserOnline { user_id: user.id, username: user.username.clone() };
        state.hub.to_users(&contacts, None, events::USER_ONLINE, &event).await;
    }
    contacts
}

pub async fn socket_disconnected(state: &AppState, user_id: UserId, sid: Sid) {
    if state.presence.disconnect(user_id, sid) {
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
    state.hub.to_users(&contacts, None, events::USER_OFFLINE, &UserOffline { user_id, last_seen }).await;
}

/// Drops sockets that ended without a disconnect handler (a transport closing while the handshake
/// completed), so nobody stays online forever.
pub async fn sweep(state: &AppState) {
    for user_id in state.presence.sweep(|sid| state.hub.is_connected_here(sid)) {
        announce_offline(state, user_id).await;
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
