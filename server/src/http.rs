//! The REST API: thin handlers over the domain modules. Every failure answers
//! `{error:{code,message}}` with a fitting status, including malformed bodies, paths and queries.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use confab_protocol::notifications::{FriendAdded, MessageAck};
use confab_protocol::requests::{Login, NewConversation, NewFriendRequest, PostMessage, Register, SendMessage};
use confab_protocol::rest::{
    Conversations, FriendRequestCreated, FriendRequested, Friends, Health, IceServers, Me, MessagePage,
    OneConversation, Pins, Users,
};
use confab_protocol::{ConversationId, ErrorCode, UserId, limits};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::accounts::{self, AuthUser};
use crate::error::{Error, Result};
use crate::{AppState, conversations, friends, messages};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/users/me", get(me))
        .route("/api/users", get(search_users))
        .route("/api/friends", get(list_friends))
        .route("/api/friends/requests", get(friend_requests).post(request_friend))
        .route("/api/friends/requests/{id}/accept", post(accept_friend))
        .route("/api/friends/requests/{id}/decline", post(decline_friend))
        .route("/api/friends/{user_id}", delete(remove_friend))
        .route("/api/messages/conversations", get(list_conversations).post(create_conversation))
        .route("/api/messages/conversations/{id}", get(get_conversation))
        .route("/api/messages/conversations/{id}/messages", get(history).post(post_message))
        .route("/api/messages/conversations/{id}/pins", get(pins))
        .route("/api/calls/ice-servers", get(ice_servers))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(|| async { Error::not_found("endpoint") })
        .layer(DefaultBodyLimit::max(limits::MAX_HTTP_BODY_BYTES))
        .with_state(state)
}

// ---- extractors that answer in the API's error format ----

/// A JSON body; a bad one is `invalid_payload` (or `too_large`).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = Error;
    async fn from_request(req: Request, state: &S) -> Result<Self> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Error {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::refused(
            ErrorCode::TooLarge,
            format!("request body is larger than {} bytes", limits::MAX_HTTP_BODY_BYTES),
        )
    } else {
        Error::invalid(rejection.body_text())
    }
}

/// A path parameter.
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathId<T> {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| PathId(p.0))
            .map_err(|e: PathRejection| Error::invalid(e.body_text()))
    }
}

/// A query string.
pub struct QueryArgs<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryArgs(q.0))
            .map_err(|e: QueryRejection| Error::invalid(e.body_text()))
    }
}

/// The peer's IP (for per-IP limits); unspecified when served without connect info (tests).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        let ip =
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        Ok(ClientIp(ip))
    }
}

/// The user of the `Authorization: Bearer` token.
impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::unauthorized("missing bearer token"))?;
        accounts::authenticate(state, token).await
    }
}

// ---- handlers ----

async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Body(body): Body<Register>,
) -> Result<Response> {
    let session = accounts::register(&state, ip, body).await?;
    Ok((StatusCode::CREATED, Json(session)).into_response())
}

async fn login(State(state): State<AppState>, ClientIp(ip): ClientIp, Body(body): Body<Login>) -> Result<Response> {
    Ok(Json(accounts::login(&state, ip, body).await?).into_response())
}

async fn logout(State(state): State<AppState>, me: AuthUser) -> Result<StatusCode> {
    accounts::logout(&state, &me).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(me: AuthUser) -> Json<Me> {
    Json(Me { user: me.user })
}

#[derive(Deserialize)]
struct Search {
    search: String,
}

async fn search_users(
    State(state): State<AppState>,
    me: AuthUser,
    QueryArgs(q): QueryArgs<Search>,
) -> Result<Json<Users>> {
    let prefix = q.search.trim().to_lowercase();
    let valid = !prefix.is_empty()
        && prefix.len() <= limits::MAX_USERNAME_LEN
        && prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if !valid {
        return Err(Error::invalid("search must be 1–32 characters of a-z, 0-9, '_', '.', '-'"));
    }
    let users = state.store.search_users(&prefix, me.user.id, limits::MAX_SEARCH_RESULTS).await?;
    Ok(Json(Users { users }))
}

async fn list_friends(State(state): State<AppState>, me: AuthUser) -> Result<Json<Friends>> {
    Ok(Json(Friends { friends: friends::list(&state, &me).await? }))
}

async fn request_friend(
    State(state): State<AppState>,
    me: AuthUser,
    Body(body): Body<NewFriendRequest>,
) -> Result<Response> {
    Ok(match friends::request(&state, &me, body).await? {
        friends::Requested::Pending(request) => {
            (StatusCode::CREATED, Json(FriendRequested::Pending(FriendRequestCreated { request }))).into_response()
        }
        friends::Requested::Friends(friend) => Json(FriendRequested::Friends(FriendAdded { friend })).into_response(),
    })
}

async fn friend_requests(State(state): State<AppState>, me: AuthUser) -> Result<Json<confab_protocol::FriendRequests>> {
    Ok(Json(friends::requests(&state, &me).await?))
}

async fn accept_friend(
    State(state): State<AppState>,
    me: AuthUser,
    PathId(id): PathId<i64>,
) -> Result<Json<FriendAdded>> {
    Ok(Json(FriendAdded { friend: friends::accept(&state, &me, id).await? }))
}

async fn decline_friend(State(state): State<AppState>, me: AuthUser, PathId(id): PathId<i64>) -> Result<StatusCode> {
    friends::decline(&state, &me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_friend(
    State(state): State<AppState>,
    me: AuthUser,
    PathId(user_id): PathId<UserId>,
) -> Result<StatusCode> {
    friends::remove(&state, &me, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_conversations(State(state): State<AppState>, me: AuthUser) -> Result<Json<Conversations>> {
    Ok(Json(Conversations { conversations: conversations::list(&state, &me).await? }))
}

async fn create_conversation(
    State(state): State<AppState>,
    me: AuthUser,
    Body(body): Body<NewConversation>,
) -> Result<Response> {
    let (conversation, created) = conversations::create(&state, &me, body).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(OneConversation { conversation })).into_response())
}

async fn get_conversation(
    State(state): State<AppState>,
    me: AuthUser,
    PathId(id): PathId<ConversationId>,
) -> Result<Json<OneConversation>> {
    Ok(Json(OneConversation { conversation: conversations::get(&state, &me, id).await? }))
}

#[derive(Deserialize)]
struct Page {
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<u32>,
}

async fn history(
    State(state): State<AppState>,
    me: AuthUser,
    PathId(id): PathId<ConversationId>,
    QueryArgs(page): QueryArgs<Page>,
) -> Result<Json<MessagePage>> {
    let (messages, has_more) = messages::history(&state, &me, id, page.before, page.after, page.limit).await?;
    Ok(Json(MessagePage { messages, has_more }))
}

async fn post_message(
    State(state): State<AppState>,
    me: AuthUser,
    PathId(id): PathId<ConversationId>,
    Body(body): Body<PostMessage>,
) -> Result<Response> {
    let request = SendMessage {
        conversation_id: id,
        content: body.content,
        kind: None,
        client_msg_id: body.client_msg_id,
        recipient_id: None,
    };
    let (message, created) = messages::send(&state, &me, None, request).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(MessageAck { message })).into_response())
}

async fn pins(State(state): State<AppState>, me: AuthUser, PathId(id): PathId<ConversationId>) -> Result<Json<Pins>> {
    Ok(Json(Pins { messages: messages::pins(&state, &me, id).await? }))
}

/// STUN/TURN servers for the next call, with TURN credentials for this user (see `ice`).
async fn ice_servers(State(state): State<AppState>, me: AuthUser) -> Json<IceServers> {
    Json(state.ice.for_user(me.user.id, std::time::SystemTime::now()))
}

async fn healthz(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        Json(Health { status: "ok".into() }).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "database unavailable".into() })).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.connected_sockets.set(state.presence.socket_count() as i64);
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.metrics.render(),
    )
        .into_response()
}
