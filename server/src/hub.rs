//! Delivery of events to users' devices through Socket.IO rooms — never a process-local socket map,
//! so the same code reaches every node once a cluster adapter is configured.
//!
//! Rooms: `user:<id>` holds every socket of a user; `token:<id>` every socket opened with a token;
//! each socket is also in the room named by its own sid.

use confab_protocol::UserId;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::socket::Sid;

pub fn user_room(user_id: UserId) -> String {
    format!("user:{user_id}")
}

pub fn token_room(token_id: i64) -> String {
    format!("token:{token_id}")
}

/// Sends events to users and sockets.
#[derive(Clone)]
pub struct Hub {
    /// The Socket.IO server handle.
    io: SocketIo,
}

impl Hub {
    pub fn new(io: SocketIo) -> Self {
        Hub { io }
    }

    /// Emits to every device of `users`, except the socket `except` (the sender's own device).
    pub async fn to_users<T: Serialize + ?Sized>(&self, users: &[UserId], except: Option<Sid>, event: &str, data: &T) {
        if users.is_empty() {
            return;
        }
        let rooms: Vec<String> = users.iter().copied().map(user_room).collect();
        let mut target = self.io.to(rooms);
        if let Some(sid) = except {
            target = target.except(sid);
        }
        if let Err(e) = target.emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    /// Emits to one socket (by sid), wherever it is connected.
    pub async fn to_socket<T: Serialize + ?Sized>(&self, sid: Sid, event: &str, data: &T) {
        if let Err(e) = self.io.to(sid).emit(event, data).await {
            tracing::warn!(event, error = %e, "emit to socket failed");
        }
    }

    /// Emits to rooms given by name (a user room, or sids as rooms).
    pub async fn to_rooms<T: Serialize + ?Sized>(&self, rooms: Vec<String>, event: &str, data: &T) {
        if let Err(e) = self.io.to(rooms).emit(event, data).await {
            tracing::warn!(event, error = %e, "emit failed");
        }
    }

    /// Emits to all devices of a user except the given sockets.
    pub async fn to_user_except<T: Serialize + ?Sized>(
        &self,
        user: UserId,
        except: Vec<String>,
        event: &str,
        data: &T,
    ) {
        if let Err(e) = self.io.to(user_room(user)).except(except).emit(event, data).await {
            tracing::warn!(event, error = %e, "broadcast failed");
        }
    }

    /// Disconnects every socket opened with a token (after logout).
    pub async fn disconnect_token(&self, token_id: i64) {
        if let Err(e) = self.io.within(token_room(token_id)).disconnect().await {
            tracing::warn!(error = %e, "disconnecting a revoked token's sockets failed");
        }
    }

    /// True if the socket is connected to this node.
    pub fn is_connected_here(&self, sid: Sid) -> bool {
        self.io.get_socket(sid).is_some()
    }

    /// Disconnects every socket (at shutdown).
    pub async fn close(&self) {
        self.io.close().await;
    }
}
