//! Confab's wire protocol, shared by the server and the clients.
//!
//! # Layout
//! - [`events`]: every Socket.IO event, declared once: its name (the seed's names are the public
//!   protocol), its request and ack types ([`events::Request`]) or its push type ([`events::Push`]).
//! - [`model`]: the objects the server hands out (users, conversations, messages, calls).
//! - [`requests`]: what clients send (socket payloads and REST bodies).
//! - [`notifications`]: what the server pushes over the socket, and what acks carry.
//! - [`rest`]: the REST answers' envelopes (`{user}`, `{messages, hasMore}`, `{error}` …).
//! - [`time`]: ids and clocks both sides make the same way.
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
pub mod rest;
pub mod time;
pub mod validate;

pub use events::{Push, Request, ServerEvent};

/// A one-field payload that serializes exactly as its field: an event that shares its shape with
/// another (`addReaction`/`removeReaction`) or with a model (`messageReceived` is a `Message`) still
/// gets a type of its own, so that each type names exactly one event.
#[macro_export]
#[doc(hidden)]
macro_rules! newtype {
    ($($(#[$doc:meta])* $name:ident($inner:ty);)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::ops::Deref for $name {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }
    )*};
}

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
