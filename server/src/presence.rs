//! Who is online: a user is online while at least one of their sockets is connected.
//!
//! Process-local for now (one node). With several nodes this becomes shared state with expiring
//! entries, so that a crashed node's users go offline (the scale-out work).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use confab_protocol::UserId;
use socketioxide::socket::Sid;

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

    /// Number of connected sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets.lock().unwrap_or_else(|p| p.into_inner()).values().map(HashSet::len).sum()
    }
}
