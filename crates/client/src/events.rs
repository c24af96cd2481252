//! What the client core tells the UI: one stream of [`ClientEvent`]s, each carrying the data the UI
//! needs to update its store without asking again (the message and its conversation's new summary,
//! the outbox of a conversation, one page of a catch-up). The UI re-reads only on sign-in, when it
//! opens a conversation, and for friends (which change rarely and come from the server).

use confab_protocol::notifications::{IceCandidateRelayed, Typing};
use confab_protocol::{Conversation, ConversationId, Message, UserId};
use serde::{Deserialize, Serialize};

use crate::calls::CallSnapshot;
use crate::outbox::Pending;

/// The connection as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ConnectionState {
    /// No account: show the sign-in screen.
    SignedOut {
        /// Why, when the server ended the session (e.g. the token was revoked).
        reason: Option<String>,
    },
    Connecting,
    Connected,
    /// Waiting before the next attempt; `retryNow` skips the wait.
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        attempt: u32,
        retry_in_ms: u64,
        last_error: String,
    },
}

/// Everything the UI needs to react to. Serialized as `{type, ...}` for the webview. Large payloads
/// are boxed: every event takes a slot of the broadcast buffer (4,096 of them) at the size of the
/// largest variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ClientEvent {
    Connection(ConnectionState),
    /// A message was created or changed (its current state), live or by this device. `isNew` for
    /// messages never seen before; `conversation` is its conversation's summary after the change.
    #[serde(rename_all = "camelCase")]
    Message {
        message: Box<Message>,
        is_new: bool,
        conversation: Box<Conversation>,
    },
    /// The outbox of a conversation changed (queued, sent, failed, discarded): its new contents.
    #[serde(rename_all = "camelCase")]
    Outbox {
        conversation_id: ConversationId,
        pending: Vec<Pending>,
    },
    /// One applied page of a catch-up: the messages it added or changed (oldest first per
    /// conversation) and the new summaries of the conversations it touched.
    #[serde(rename_all = "camelCase")]
    SyncPage {
        messages: Vec<Message>,
        conversations: Vec<Conversation>,
    },
    /// The whole conversation list, when it changed as a list (sign-in, a new conversation, members).
    #[serde(rename_all = "camelCase")]
    Conversations {
        conversations: Vec<Conversation>,
    },
    /// One conversation's summary changed without a message (read cursors).
    #[serde(rename_all = "camelCase")]
    ConversationChanged {
        conversation: Box<Conversation>,
    },
    /// Catch-up after (re)connecting finished.
    Synced,
    /// Events were lost on the way to the UI (it fell behind): re-read what is shown.
    Lagged,
    Typing(Typing),
    /// A user's presence changed. While disconnected the last known presence stays (the UI marks it stale).
    #[serde(rename_all = "camelCase")]
    Presence {
        user_id: UserId,
        online: bool,
        last_seen: Option<i64>,
    },
    /// Friends or friend requests changed; carries the server event's name.
    #[serde(rename_all = "camelCase")]
    FriendsChanged {
        event: String,
    },
    /// A call of this device changed: its whole state, to render as it is (see [`crate::calls`]).
    Call(Box<CallSnapshot>),
    /// An ICE candidate the other side sent (tests check where media may flow).
    IceCandidate(IceCandidateRelayed),
    /// The other side's new offer or answer (an ICE restart) was applied.
    #[serde(rename_all = "camelCase")]
    CallRenegotiated {
        call_id: String,
    },
}

#[cfg(test)]
mod tests {
    /// Every event takes a broadcast slot this big, 4,096 slots per client.
    #[test]
    fn events_stay_small() {
        let size = std::mem::size_of::<super::ClientEvent>();
        assert!(size <= 64, "ClientEvent is {size} bytes: box the large variant");
    }
}
