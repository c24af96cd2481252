//! The envelopes of REST answers. Bodies that are a model as they are (`Session`, `FriendRequests`)
//! use the model; the rest wrap it in one named field, as the seed's API does. Requests are in
//! [`crate::requests`]; every error answer is an [`ErrorEnvelope`].

use serde::{Deserialize, Serialize};

use crate::notifications::FriendAdded;
use crate::{Conversation, ErrorBody, Friend, FriendRequest, IceServer, Message, User};

/// Every REST error: an HTTP status and `{error:{code,message}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

/// `GET /api/users/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub user: User,
}

/// `GET /api/users?search=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Users {
    pub users: Vec<User>,
}

/// `GET /api/friends`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Friends {
    pub friends: Vec<Friend>,
}

/// `POST /api/friends/requests` created a pending request (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequestCreated {
    pub request: FriendRequest,
}

/// `POST /api/friends/requests`: a pending request (201), or, when they had asked first, a
/// friendship at once (200, the shape of `friendAdded`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FriendRequested {
    Pending(FriendRequestCreated),
    Friends(FriendAdded),
}

/// `GET /api/messages/conversations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conversations {
    pub conversations: Vec<Conversation>,
}

/// `GET /api/messages/conversations/:id`, `POST /api/messages/conversations`, and the body of
/// the `conversationCreated` push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OneConversation {
    pub conversation: Conversation,
}

/// `GET /api/messages/conversations/:id/messages`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<Message>,
    /// True when older messages exist: ask again with `before` = the oldest `seq` returned.
    pub has_more: bool,
}

/// `GET /api/messages/conversations/:id/pins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pins {
    pub messages: Vec<Message>,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok`, or what is wrong.
    pub status: String,
}

/// `GET /api/calls/ice-servers`: the STUN/TURN servers a call should use, fetched before each call.
/// TURN credentials follow the TURN REST API convention (user name `expiry:userId`, credential the
/// base64 HMAC-SHA1 of it with the relay's shared secret) and stop working after `ttl_seconds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IceServers {
    /// Empty when the server knows no relay: calls then connect on the same network only.
    pub ice_servers: Vec<IceServer>,
    /// How long the credentials stay valid, in seconds.
    pub ttl_seconds: u64,
}
