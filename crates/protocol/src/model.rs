//! The objects the server hands out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ConversationId, MessageId, Millis, Seq, UserId};

/// A user as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct User {
    pub id: UserId,
    /// Lower-case, unique.
    pub username: String,
    pub display_name: String,
}

/// A friend, with presence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Friend {
    #[serde(flatten)]
    pub user: User,
    /// True while at least one of their devices is connected.
    pub online: bool,
    /// When their last device disconnected; `None` if never seen or online now.
    pub last_seen: Option<Millis>,
}

/// A pending friend request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FriendRequest {
    pub id: i64,
    pub from: User,
    pub to: User,
    pub created_at: Millis,
}

/// Pending friend requests, both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct FriendRequests {
    pub incoming: Vec<FriendRequest>,
    pub outgoing: Vec<FriendRequest>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum ConversationKind {
    /// Exactly two members; at most one per pair of users.
    Direct,
    /// A titled conversation of any number of members.
    Group,
}

/// A member of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Member {
    #[serde(flatten)]
    pub user: User,
    pub online: bool,
    /// The highest `seq` this member has marked read.
    pub last_read_seq: Seq,
}

/// A conversation as its members see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    /// Set for groups; `None` for direct conversations.
    pub title: Option<String>,
    pub members: Vec<Member>,
    /// The newest message (possibly deleted: then its content is `None`).
    pub last_message: Option<Message>,
    /// Messages of others after the caller's read cursor, deleted ones excluded.
    pub unread_count: i64,
    /// The conversation's newest `seq`.
    pub last_seq: Seq,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum MessageType {
    Text,
    /// A record of a finished call, written by the server.
    Call,
}

/// A message in its current state: the same shape in history, `sync` and `messageReceived`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The `seq` the message was created with: its place in the conversation.
    pub seq: Seq,
    /// The `seq` of the newest change to it (edit, delete, reaction, pin); equals `seq` if none.
    pub updated_seq: Seq,
    pub sender_id: UserId,
    pub sender_username: String,
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// `None` once deleted.
    pub content: Option<String>,
    /// The sender's idempotency key; `None` for server-written messages.
    pub client_msg_id: Option<String>,
    /// When the server stored it.
    pub timestamp: Millis,
    pub edited_at: Option<Millis>,
    pub deleted_at: Option<Millis>,
    pub pinned: bool,
    pub pinned_by: Option<UserId>,
    /// Emoji → ids of the users who reacted with it, in reaction order.
    pub reactions: BTreeMap<String, Vec<UserId>>,
    /// Only for `type: "call"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallType {
    Audio,
    Video,
}

/// How a call finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallOutcome {
    /// It was answered and later hung up (or a party disconnected).
    Completed,
    /// Nobody answered in time.
    Missed,
    /// The callee declined.
    Rejected,
    /// The callee was in another call.
    Busy,
    /// The caller hung up before anyone answered.
    Cancelled,
}

/// The body of a `type: "call"` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallRecord {
    pub call_id: String,
    pub call_type: CallType,
    pub caller_id: UserId,
    pub outcome: CallOutcome,
    /// Time between answer and end; 0 if never answered.
    pub duration_ms: i64,
}

/// `POST /api/auth/register` and `/login` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Bearer token for REST and the socket handshake.
    pub token: String,
    pub user: User,
}

/// One STUN or TURN server, in the browser's `RTCIceServer` shape: what `GET /api/calls/ice-servers`
/// hands out and what a user may add in the app's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, … (one server may have several).
    pub urls: Vec<String>,
    /// TURN user name; empty (and left out on the wire) for STUN.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// TURN password; empty (and left out on the wire) for STUN.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub credential: String,
}
