//! The REST API, typed: request bodies from `confab_protocol::requests`, responses as the
//! envelopes of `confab_protocol::rest`.

use confab_protocol::error::Empty;
use confab_protocol::notifications::FriendAdded;
use confab_protocol::requests::{Login, NewConversation, NewFriendRequest, Register};
use confab_protocol::rest::{self, ErrorEnvelope, FriendRequested, MessagePage};
use confab_protocol::{Conversation, ConversationId, Friend, FriendRequests, Seq, Session, User, UserId};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A REST client for one server, optionally authenticated.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// No request body.
const NO_BODY: Option<&Empty> = None;

impl Api {
    pub fn new(base: &str, token: Option<String>) -> Api {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Api { base: base.trim_end_matches('/').to_owned(), http, token }
    }

    /// One request; a `204 No Content` answer reads as `T` from `null` (so `()`).
    async fn request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(serde_json::from_value(serde_json::Value::Null)?);
        }
        let bytes = response.bytes().await?;
        if status.is_success() {
            Ok(serde_json::from_slice(&bytes)?)
        } else {
            match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
                Ok(envelope) => Err(Error::Server(envelope.error)),
                Err(_) => Err(Error::Protocol(format!("HTTP {status}"))),
            }
        }
    }

    /// `GET /healthz`: the server and its database answer (a 503 is an error).
    pub async fn health(&self) -> Result<rest::Health> {
        self.request(Method::GET, "/healthz", NO_BODY).await
    }

    pub async fn register(&self, username: &str, password: &str, display_name: Option<&str>) -> Result<Session> {
        let body = Register {
            username: username.into(),
            password: password.into(),
            display_name: display_name.map(Into::into),
        };
        self.request(Method::POST, "/api/auth/register", Some(&body)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Session> {
        let body = Login { username: username.into(), password: password.into() };
        self.request(Method::POST, "/api/auth/login", Some(&body)).await
    }

    pub async fn logout(&self) -> Result<()> {
        self.request(Method::POST, "/api/auth/logout", NO_BODY).await
    }

    pub async fn search_users(&self, prefix: &str) -> Result<Vec<User>> {
        let path = format!("/api/users?search={}", urlencode(prefix));
        Ok(self.request::<rest::Users>(Method::GET, &path, NO_BODY).await?.users)
    }

    pub async fn friends(&self) -> Result<Vec<Friend>> {
        Ok(self.request::<rest::Friends>(Method::GET, "/api/friends", NO_BODY).await?.friends)
    }

    pub async fn friend_requests(&self) -> Result<FriendRequests> {
        self.request(Method::GET, "/api/friends/requests", NO_BODY).await
    }

    /// Sends a request; if they had asked first, this makes you friends at once.
    pub async fn request_friend(&self, username: &str) -> Result<FriendRequested> {
        let body = NewFriendRequest { username: username.into() };
        self.request(Method::POST, "/api/friends/requests", Some(&body)).await
    }

    pub async fn accept_friend(&self, request_id: i64) -> Result<FriendAdded> {
        self.request(Method::POST, &format!("/api/friends/requests/{request_id}/accept"), Some(&Empty {})).await
    }

    pub async fn decline_friend(&self, request_id: i64) -> Result<()> {
        self.request(Method::POST, &format!("/api/friends/requests/{request_id}/decline"), Some(&Empty {})).await
    }

    pub async fn remove_friend(&self, user_id: UserId) -> Result<()> {
        self.request(Method::DELETE, &format!("/api/friends/{user_id}"), NO_BODY).await
    }

    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        let path = "/api/messages/conversations";
        Ok(self.request::<rest::Conversations>(Method::GET, path, NO_BODY).await?.conversations)
    }

    pub async fn create_conversation(
        &self,
        participant_ids: Vec<UserId>,
        title: Option<String>,
    ) -> Result<Conversation> {
        let body = NewConversation { participant_ids, title };
        let path = "/api/messages/conversations";
        Ok(self.request::<rest::OneConversation>(Method::POST, path, Some(&body)).await?.conversation)
    }

    /// `GET /api/calls/ice-servers`: the STUN/TURN servers (with time-limited TURN credentials) the
    /// server gives its users' calls. A server older than the endpoint answers 404.
    pub async fn ice_servers(&self) -> Result<rest::IceServers> {
        self.request(Method::GET, "/api/calls/ice-servers", NO_BODY).await
    }

    /// Messages with `seq < before` (newest first), or the newest page.
    pub async fn history(
        &self,
        conversation_id: ConversationId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<MessagePage> {
        let mut path = format!("/api/messages/conversations/{conversation_id}/messages?limit={limit}");
        if let Some(before) = before {
            path.push_str(&format!("&before={before}"));
        }
        self.request(Method::GET, &path, NO_BODY).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
