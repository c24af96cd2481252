//! `confab-socketio`: a small Socket.IO v4 client (Engine.IO v4, websocket transport, namespace `/`,
//! JSON packets), shared by the desktop client core (`confab_client::socketio`) and the load
//! generator (`bench/`).
//!
//! Why not `rust_socketio`: its ack ids are random in 0..999, so concurrent acks collide (measured
//! against this server: see `crates/client/examples/rust_socketio_acks.rs` and docs/architecture.md), a
//! collision can panic its background task, timed-out acks leak, `connect()` reports success for a
//! refused handshake, and its reconnect logic has open bugs. Confab's client sends, reacts and types
//! concurrently and owns reconnection itself, so it speaks the protocol directly: a connection here is
//! one connection, nothing more.
//!
//! Three layers, each usable on its own:
//! - [`Packet`] (the codec): an incoming text frame parsed without copying and without parsing the
//!   JSON of event bodies ([`first_arg`] does that when asked); [`write_event`] / [`encode_event`]
//!   write outgoing events. The load generator parses ~30k frames/s with it.
//! - [`handshake`]: the Socket.IO handshake on an open websocket of any stream type, so the load
//!   generator keeps its own TCP sockets and websocket buffers.
//! - [`connect`] → [`Connection`]: the client core's connection — emits, acks with ids unique per
//!   connection and timeouts that clean up, liveness from the server's pings, [`Incoming`] events.
//!   wss:// needs the `tls` feature.
//!
//! Wire format used (text frames only):
//! - Engine.IO: `0{handshake}` open, `2` ping → `3` pong, `1` close, `4…` message.
//! - Socket.IO inside `4`: `0{auth}` connect / `0{sid}` ok / `4{message}` refused, `1` disconnect,
//!   `2["event",data]` event, `2<id>[…]` event wanting an ack, `3<id>[data]` ack.

mod connection;
mod handshake;
mod packet;

pub use connection::{Connection, EmitError, Incoming, connect};
pub use handshake::{ConnectError, handshake};
pub use packet::{DISCONNECT, Open, PONG, Packet, encode_event, first_arg, write_event};
