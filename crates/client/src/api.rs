//! The REST API, typed.

use confab_protocol::requests::{Login, NewConversation, NewFriendRequest, Register};
use confab_protocol::{
    Conversation, ConversationId, ErrorBody, Friend, FriendRequests, Message, Seq, Session, User, UserId,
};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A REST client for one server, optionally authenticated.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

impl Api {
    pub fn new(base: &str, token: Option<String>) -> Api {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Api { base: base.trim_end_matches('/').to_owned(), http, token }
    }

    async fn request<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Value>) -> Result<T> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        if status == StatusCode::NO_CONTENT {
            return Ok(serde_json::from_value(Value::Null)?);
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

    pub async fn register(&self, username: &str, password: &str, display_name: Option<&str>) -> Result<Session> {
        let body = Register {
            username: username.into(),
            password: password.into(),
            display_name: display_name.map(Into::into),
        };
        self.request(Method::POST, "/api/auth/register", Some(serde_json::to_value(body)?)).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<Session> {
        let body = Login { username: username.into(), password: password.into() };
        self.request(Method::POST, "/api/auth/login", Some(serde_json::to_value(body)?)).await
    }

    pub async fn logout(&self) -> Result<()> {
        self.request(Method::POST, "/api/auth/logout", None).await
    }

    pub async fn search_users(&self, prefix: &str) -> Result<Vec<User>> {
        #[derive(Deserialize)]
        struct Users {
            users: Vec<User>,
        }
        let path = format!("/api/users?search={}", urlencode(prefix));
        Ok(self.request::<Users>(Method::GET, &path, None).await?.users)
    }

    pub async fn friends(&self) -> Result<Vec<Friend>> {
        #[derive(Deserialize)]
        struct Friends {
            friends: Vec<Friend>,
        }
        Ok(self.request::<Friends>(Method::GET, "/api/friends", None).await?.friends)
    }

    pub async fn friend_requests(&self) -> Result<FriendRequests> {
        self.request(Method::GET, "/api/friends/requests", None).await
    }

    /// Sends a request; if they had asked first, this makes you friends at once.
    pub async fn request_friend(&self, username: &str) -> Result<Value> {
        let body = NewFriendRequest { username: username.into() };
        self.request(Method::POST, "/api/friends/requests", Some(serde_json::to_value(body)?)).await
    }

    pub async fn accept_friend(&self, request_id: i64) -> Result<Value> {
        self.request(Method::POST, &format!("/api/friends/requests/{request_id}/accept"), Some(json!({}))).await
    }

    pub async fn decline_friend(&self, request_id: i64) -> Result<()> {
        self.request(Method::POST, &format!("/api/friends/requests/{request_id}/decline"), Some(json!({}))).await
    }

    pub async fn remove_friend(&self, user_id: UserId) -> Result<()> {
        self.request(Method::DELETE, &format!("/api/friends/{user_id}"), None).await
    }

    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        #[derive(Deserialize)]
        struct Conversations {
            conversations: Vec<Conversation>,
        }
        Ok(self.request::<Conversations>(Method::GET, "/api/messages/conversations", None).await?.conversations)
    }

    pub async fn create_conversation(
        &self,
        participant_ids: Vec<UserId>,
        title: Option<String>,
    ) -> Result<Conversation> {
        #[derive(Deserialize)]
        struct Created {
            conversation: Conversation,
        }
        let body = serde_json::to_value(NewConversation { participant_ids, title })?;
        Ok(self.request::<Created>(Method::POST, "/api/messages/conversations", Some(body)).await?.conversation)
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
        self.request(Method::GET, &path, None).await
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
