//! `confab-client`: Confab's headless client core. The desktop app is a thin shell around it, and
//! its tests drive it against a real server without any GUI.
//!
//! # Layout
//! - [`Client`] ([`client`]): one signed-in account. It owns the connection (and its reconnection,
//!   with `confab_protocol::backoff`, forever), catches up with `sync` on every (re)connect, applies server
//!   events to the cache, sends the outbox in order, and publishes one stream of [`ClientEvent`]s.
//! - [`socketio`]: a small Socket.IO v4 client over a websocket (why not `rust_socketio`: see there).
//! - [`api`]: the REST API, typed.
//! - [`cache`]: the local SQLite cache (conversations, messages, sync points, read cursors, outbox).
//! - [`session`]: the remembered sign-in (`session.json`, owner-only permissions).
//! - [`notify`]: when a system notification is due (policy, no GUI).
//! - [`calls`]: voice and video calls — signaling through the server, media through
//!   [`confab_call`] (re-exported as [`media`]); devices come from the app ([`MediaDevices`]).

pub mod api;
pub mod cache;
pub mod calls;
pub mod client;
pub mod error;
pub mod notify;
pub mod session;
pub mod socketio;

pub use cache::Pending;
pub use calls::{MediaDevices, OUTGOING_CALL_ID, OpenedMedia};
pub use client::{Client, ClientEvent, ConnectionState};
pub use confab_call as media;
pub use error::{Error, Result};
