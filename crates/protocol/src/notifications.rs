//! What the server pushes over the socket, and what acks carry besides `success`.

use serde::{Deserialize, Serialize};

use crate::{CallType, ConversationId, Friend, FriendRequest, Message, MessageId, Millis, Seq, UserId};

crate::newtype! {
    /// `messageReceived`: a new message, to every device of every member but the sending socket.
    MessageReceived(Message);
    /// `reactionAdded`.
    ReactionAdded(ReactionChanged);
    /// `reactionRemoved`.
    ReactionRemoved(ReactionChanged);
    /// `friendRequest`: a new pending request, to both users.
    FriendRequestSent(FriendRequest);
}

/// `userTyping`, to the other members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Typing {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub username: String,
    pub is_typing: bool,
}

/// The payload of `reactionAdded` and `reactionRemoved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionChanged {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub seq: Seq,
    pub user_id: UserId,
    pub emoji: String,
}

/// `messageDeleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDeleted {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub seq: Seq,
    pub deleted_at: Millis,
}

/// `messageEdited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEdited {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub seq: Seq,
    pub content: String,
    pub edited_at: Millis,
}

/// `messagePinned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePinned {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub seq: Seq,
    pub pinned: bool,
    pub pinned_by: UserId,
}

/// `messagesRead`: a member's read cursor moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagesRead {
    pub conversation_id: ConversationId,
    pub user_id: UserId,
    pub seq: Seq,
}

/// `userOnline`: the user's first device connected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOnline {
    pub user_id: UserId,
    pub username: String,
}

/// `userOffline`: the user's last device disconnected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserOffline {
    pub user_id: UserId,
    pub last_seen: Millis,
}

/// `onlineUsers`: sent to a socket right after it connects — the friends and co-members online now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnlineUsers {
    pub user_ids: Vec<UserId>,
}

/// `incomingCall`, to every device of the callee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IncomingCall {
    pub call_id: String,
    pub caller_id: UserId,
    pub caller_username: String,
    pub conversation_id: ConversationId,
    pub call_type: CallType,
    pub sdp: String,
}

/// `callAccepted`, to the caller's device in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallAccepted {
    pub call_id: String,
    pub sdp: String,
}

/// `callRejected`, to the caller's device in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallRejected {
    pub call_id: String,
    pub reason: Option<String>,
}

/// Why a call ended (`callEnded.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallEndReason {
    /// A party sent `endCall` during the call.
    Hangup,
    /// The caller hung up while it rang.
    Cancelled,
    /// The callee declined.
    Rejected,
    /// Nobody answered within the ring timeout.
    Missed,
    /// A party's device disconnected.
    Disconnected,
    /// Another device of the callee answered (sent to the callee's other devices only).
    AnsweredElsewhere,
}

/// `callEnded`: the last event of every call, to every device that took part or rang.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallEnded {
    pub call_id: String,
    pub reason: CallEndReason,
    /// Time between answer and end; 0 if never answered.
    pub duration_ms: i64,
}

/// `iceCandidate`, to the other party's device in the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IceCandidateRelayed {
    pub call_id: String,
    pub from_user_id: UserId,
    pub candidate: serde_json::Value,
}

/// `renegotiateCall`, to the other party's device in an answered call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRenegotiated {
    pub call_id: String,
    pub from_user_id: UserId,
    pub kind: crate::requests::SdpKind,
    pub sdp: String,
}

/// `friendAdded`: a request was accepted (to both users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendAdded {
    pub friend: Friend,
}

/// `friendRemoved` (to both users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRemoved {
    pub user_id: UserId,
}

crate::newtype! {
    /// `conversationCreated`: `{conversation}`, to every member of a new conversation.
    ConversationCreated(crate::rest::OneConversation);
}

// ---- ack payloads (flattened next to `success: true`) ----

/// Ack of `sendMessage`, `editMessage`, `deleteMessage`, `addReaction`, `removeReaction`, `pinMessage`:
/// the message in its state after the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageAck {
    pub message: Message,
}

/// Ack of `initiateCall`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStarted {
    pub call_id: String,
}

/// Ack of `sync`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncPage {
    pub conversations: Vec<ConversationChanges>,
    /// True if any conversation has more: call `sync` again with the `since` advanced to each
    /// conversation's `nextSince`.
    pub has_more: bool,
}

/// The changes of one conversation after a `since` point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationChanges {
    pub conversation_id: ConversationId,
    /// The conversation's newest `seq` on the server.
    pub last_seq: Seq,
    /// Every message created or changed after `since`, in its current state, ordered by `updatedSeq`.
    pub messages: Vec<Message>,
    /// The `since` to ask with next: `lastSeq` when complete, else the last `updatedSeq` returned.
    pub next_since: Seq,
    pub has_more: bool,
    /// Members' read cursors.
    pub read_cursors: Vec<MessagesRead>,
}

/// `friendRequestRemoved`: a request was declined or withdrawn (to both users).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequestRemoved {
    pub id: i64,
}

/// Ack of `markRead`: the caller's cursor after the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadCursor {
    pub seq: Seq,
}

/// Ack of `userTyping`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingAck {
    /// True when the rate limit dropped this typing event.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dropped: bool,
}
