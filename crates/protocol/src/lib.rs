//! Confab's wire protocol, shared by the server and the clients.
//!
//! # Layout
//! - [`events`]: every Socket.IO event name, as constants (the seed's names are the public protocol).
//! - [`model`]: the objects the server hands out (users, conversations, messages, calls).
//! - [`requests`]: what clients send (socket payloads and REST bodies).
//! - [`notifications`]: what the server pushes over the socket.
//! - [`error`]: the error codes and the `{success:false, error:{code,message}}` shape.
//! - [`limits`] and [`validate`]: the size limits and the checks both sides apply to user input.
//! - [`backoff`]: how long a client waits before reconnecting (the desktop client and the load
//!   generator's reconnect storm use the same policy).
//!
//! All JSON is camelCase. Identifiers of users, conversations and messages are integers; call ids are
//! opaque strings. Times are milliseconds since the Unix epoch (UTC). `docs/protocol.md` is the
//! human-readable version of this crate.

pub mod backoff;
pub mod error;
pub mod events;
pub mod limits;
pub mod model;
pub mod notifications;
pub mod requests;
pub mod validate;

pub use error::{Ack, ErrorBody, ErrorCode};
pub use model::*;

/// Identifies a user account.
pub type UserId = i64;
/// Identifies a conversation (direct or group).
pub type ConversationId = i64;
/// Identifies a message.
pub type MessageId = i64;
/// A position in a conversation's change log: every message, edit, delete, reaction and pin in a
/// conversation takes the next one, starting at 1, with no gaps.
pub type Seq = i64;
/// Milliseconds since the Unix epoch.
pub type Millis = i64;
