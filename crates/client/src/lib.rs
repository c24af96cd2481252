//! `confab-client`: Confab's headless client core. The desktop app is a thin shell around it, and
//! its tests drive it against a real server without any GUI.
//!
//! # Layout
//! One signed-in account is a [`Client`]; its jobs are a module each:
//! - [`client`]: the public API and the shared state (session, cache, connection, presence).
//! - [`connection`]: the Socket.IO connection and its supervision — connect, catch up, apply pushes
//!   in order, reconnect with backoff forever; typed requests ([`Client::request`]).
//! - [`sync`]: applying the server's state to the cache — live pushes and the catch-up pages.
//! - [`outbox`]: messages not yet acknowledged, sent in order (queued → sending → sent | failed).
//! - [`calls`]: voice and video calls — signaling through the server, media through
//!   [`confab_call`] (re-exported as [`media`]); devices come from the app ([`MediaDevices`]).
//! - [`events`]: what the UI hears — [`ClientEvent`]s that carry their data, and [`ConnectionState`].
//!
//! Beside them: [`api`] (the REST API, typed), [`cache`] (the local SQLite cache), [`session`]
//! (the remembered sign-in), [`notify`] (when a system notification is due), and [`socketio`]
//! (the Socket.IO client, from `confab-socketio`).

pub mod api;
pub mod cache;
pub mod calls;
pub mod client;
pub mod connection;
pub mod error;
pub mod events;
pub mod notify;
pub mod outbox;
pub mod session;
pub mod socketio;
pub mod sync;

pub use calls::{CallDirection, CallEnd, CallPhase, CallSnapshot, MediaDevices, OUTGOING_CALL_ID, OpenedMedia};
pub use client::Client;
pub use confab_call as media;
pub use error::{Error, Result};
pub use events::{ClientEvent, ConnectionState};
pub use outbox::{Pending, SendState};
