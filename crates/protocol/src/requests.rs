//! What clients send: socket event payloads and REST bodies. Unknown fields are ignored, so a
//! client-supplied `senderId` or `userId` has no effect: the server knows the user from the token.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{CallType, ConversationId, MessageId, MessageType, Seq, UserId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendMessage {
    pub conversation_id: ConversationId,
    pub content: String,
    /// Only `"text"` may be sent; defaults to it.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageType>,
    /// Chosen by the client (a UUID); the same id again returns the stored message.
    pub client_msg_id: String,
    /// Accepted for compatibility with the seed and ignored: recipients are the conversation's members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_id: Option<UserId>,
}

/// REST body of `POST /api/messages/conversations/:id/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostMessage {
    pub content: String,
    pub client_msg_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserTyping {
    pub conversation_id: ConversationId,
    pub is_typing: bool,
}

/// The payload of `addReaction` and `removeReaction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reaction {
    pub message_id: MessageId,
    pub emoji: String,
}

crate::newtype! {
    /// `addReaction`.
    AddReaction(Reaction);
    /// `removeReaction`.
    RemoveReaction(Reaction);
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMessage {
    pub message_id: MessageId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EditMessage {
    pub message_id: MessageId,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PinMessage {
    pub message_id: MessageId,
    pub pinned: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkRead {
    pub conversation_id: ConversationId,
    pub seq: Seq,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sync {
    /// Conversation id → the newest `seq` the client has. Conversations left out count from 0.
    pub since: BTreeMap<ConversationId, Seq>,
    /// Changed messages per conversation in this page (default 200, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitiateCall {
    pub conversation_id: ConversationId,
    pub call_type: CallType,
    /// The caller's SDP offer, opaque to the server.
    pub sdp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcceptCall {
    pub call_id: String,
    /// The callee's SDP answer.
    pub sdp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectCall {
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Which half of an offer/answer exchange an SDP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SdpKind {
    Offer,
    Answer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenegotiateCall {
    pub call_id: String,
    pub kind: SdpKind,
    /// The new offer or answer, opaque to the server.
    pub sdp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndCall {
    pub call_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub call_id: String,
    /// Opaque to the server (typically `{candidate, sdpMid, sdpMLineIndex}`).
    pub candidate: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Register {
    pub username: String,
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Login {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewFriendRequest {
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewConversation {
    /// The other members (the caller is added). One id and no title → a direct conversation.
    pub participant_ids: Vec<UserId>,
    /// Required for groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}
