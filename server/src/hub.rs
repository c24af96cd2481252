//! Delivery of events to users' devices through Socket.IO rooms — never a process-local socket map,
//! so the same code reaches every node when the Redis adapter is configured.
//!
//! Rooms: `user:<id>` holds every socket of a user; `token:<id>` every socket opened with a token;
//! each socket is also in the room named by its own sid.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use confab_protocol::{Push, UserId};
use prometheus_client::metrics::counter::Counter;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::BroadcastError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;

pub fn user_room(user_id: UserId) -> String {
    format!("user:{user_id}")
}

pub fn token_room(token_id: i64) -> String {
    format!("token:{token_id}")
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the hub needs of a Socket.IO server, whichever adapter (local or Redis) it runs on.
trait Rooms: Send + Sync {
    /// Emits to the sockets in `rooms` but not in `except`, on every node; returns how many of this
    /// node's sockets could not take it.
    fn emit<'a>(
        &'a self,
        rooms: Vec<String>,
        except: Vec<String>,
        event: &'a str,
        data: &'a RawValue,
    ) -> BoxFuture<'a, u64>;
    fn disconnect(&self, room: String) -> BoxFuture<'_, ()>;
    fn close(&self) -> BoxFuture<'_, ()>;
    fn is_connected_here(&self, sid: Sid) -> bool;
}

impl<A: Adapter> Rooms for SocketIo<A> {
    fn emit<'a>(
        &'a self,
        rooms: Vec<String>,
        except: Vec<String>,
        event: &'a str,
        data: &'a RawValue,
    ) -> BoxFuture<'a, u64> {
        Box::pin(async move {
            match self.to(rooms.clone()).except(except.clone()).emit(event, data).await {
                Ok(()) => 0,
                // Some sockets' send buffers are full (a client that stopped reading) or closing: the
                // event is dropped for them alone — everyone else got it, so nothing is re-sent. Such a
                // client is disconnected when its heartbeat cannot be queued or answered, and catches up
                // with `sync` when it returns.
                Err(BroadcastError::Socket(failed)) => failed.len() as u64,
                Err(e) => {
                    // The cluster adapter failed (e.g. Redis is gone): this node's own sockets still get it.
                    tracing::warn!(event, error = %e, "broadcast failed; delivering to this node's sockets only");
                    match self.local().to(rooms).except(except).emit(event, data).await {
                        Ok(()) => 0,
                        Err(BroadcastError::Socket(failed)) => failed.len() as u64,
                        Err(e) => {
                            tracing::error!(event, error = %e, "local delivery failed too");
                            0
                        }
                    }
                }
            }
        })
    }

    fn disconnect(&self, room: String) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.within(room.clone()).disconnect().await {
                tracing::warn!(error = %e, "cluster-wide disconnect failed; disconnecting this node's sockets");
                let _ = self.local().within(room).disconnect().await;
            }
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(SocketIo::close(self))
    }

    fn is_connected_here(&self, sid: Sid) -> bool {
        self.get_socket(sid).is_some()
    }
}

/// Sends events to users and sockets.
#[derive(Clone)]
pub struct Hub {
    /// The Socket.IO server, behind its adapter.
    io: Arc<dyn Rooms>,
    /// Events dropped for sockets whose send buffer was full or closing (a metric).
    dropped: Counter,
    /// Set when shutdown begins: the namespace is going away, so nothing more is emitted.
    closing: Arc<std::sync::atomic::AtomicBool>,
}

impl Hub {
    pub fn new<A: Adapter>(io: SocketIo<A>, dropped: Counter) -> Self {
        Hub { io: Arc::new(io), dropped, closing: Arc::default() }
    }

    async fn emit<T: Serialize + ?Sized>(&self, rooms: Vec<String>, except: Vec<String>, event: &str, data: &T) {
        if rooms.is_empty() || self.is_closing() {
            return;
        }
        // Serialized once here; the adapter sends the same bytes to every socket and node.
        match serde_json::value::to_raw_value(data) {
            Ok(raw) => {
                let dropped = self.io.emit(rooms, except, event, &raw).await;
                if dropped > 0 {
                    tracing::debug!(event, dropped, "event dropped for sockets that are not reading");
                    self.dropped.inc_by(dropped);
                }
            }
            Err(e) => tracing::error!(event, error = %e, "serializing an event failed"),
        }
    }

    /// Emits to every device of `users`, except the socket `except` (the sender's own device).
    pub async fn to_users<P: Push>(&self, users: &[UserId], except: Option<Sid>, data: &P) {
        let rooms = users.iter().copied().map(user_room).collect();
        self.emit(rooms, except.map(|sid| vec![sid.to_string()]).unwrap_or_default(), P::EVENT, data).await;
    }

    /// Emits to one socket (by sid), wherever it is connected.
    pub async fn to_socket<P: Push>(&self, sid: Sid, data: &P) {
        self.emit(vec![sid.to_string()], Vec::new(), P::EVENT, data).await;
    }

    /// Emits to rooms given by name (a user room, or sids as rooms).
    pub async fn to_rooms<P: Push>(&self, rooms: Vec<String>, data: &P) {
        self.emit(rooms, Vec::new(), P::EVENT, data).await;
    }

    /// Emits to all devices of a user except the given sockets.
    pub async fn to_user_except<P: Push>(&self, user: UserId, except: Vec<String>, data: &P) {
        self.emit(vec![user_room(user)], except, P::EVENT, data).await;
    }

    /// Disconnects every socket opened with a token (after logout), on every node.
    pub async fn disconnect_token(&self, token_id: i64) {
        if self.is_closing() {
            return;
        }
        self.io.disconnect(token_room(token_id)).await;
    }

    /// True if the socket is connected to this node.
    pub fn is_connected_here(&self, sid: Sid) -> bool {
        self.io.is_connected_here(sid)
    }

    /// Disconnects every socket of this node (at shutdown).
    pub async fn close(&self) {
        self.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        self.io.close().await;
    }

    /// True once shutdown began.
    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::SeqCst)
    }
}
