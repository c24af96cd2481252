//! Friends: requests, acceptance, removal — each change also reaches both users live.

use confab_protocol::notifications::{FriendAdded, FriendRemoved, FriendRequestRemoved, FriendRequestSent};
use confab_protocol::requests::NewFriendRequest;
use confab_protocol::{Friend, FriendRequest, FriendRequests, User, UserId};

use crate::AppState;
use crate::accounts::AuthUser;
use crate::error::{Error, Result};
use crate::store::RequestOutcome;

/// `friendRequest` or `friend`: what a new request turned into.
pub enum Requested {
    Pending(FriendRequest),
    Friends(Friend),
}

fn friend(user: User, online: bool, last_seen: Option<i64>) -> Friend {
    Friend { user, online, last_seen: if online { None } else { last_seen } }
}

pub async fn list(state: &AppState, me: &AuthUser) -> Result<Vec<Friend>> {
    let friends = state.store.friends(me.user.id).await?;
    let ids: Vec<UserId> = friends.iter().map(|(user, _)| user.id).collect();
    let online = crate::presence::online_among(state, &ids).await;
    Ok(friends
        .into_iter()
        .map(|(user, last_seen)| friend(user.clone(), online.contains(&user.id), last_seen))
        .collect())
}

async fn as_friend(state: &AppState, user: &User) -> Result<Friend> {
    let last_seen = state.store.last_seen(user.id).await?;
    Ok(friend(user.clone(), crate::presence::is_online(state, user.id).await, last_seen))
}

/// Tells both users they are now friends, each seeing the other.
async fn announce_friendship(state: &AppState, a: &User, b: &User) -> Result<()> {
    let (fa, fb) = (as_friend(state, a).await?, as_friend(state, b).await?);
    state.hub.to_users(&[a.id], None, &FriendAdded { friend: fb }).await;
    state.hub.to_users(&[b.id], None, &FriendAdded { friend: fa }).await;
    Ok(())
}

pub async fn request(state: &AppState, me: &AuthUser, body: NewFriendRequest) -> Result<Requested> {
    let username = body.username.trim().to_lowercase();
    let other = state.store.user_by_name(&username).await?.ok_or_else(|| Error::not_found("user"))?;
    if other.id == me.user.id {
        return Err(Error::invalid("you cannot befriend yourself"));
    }
    match state.store.request_friend(me.user.id, other.id).await? {
        RequestOutcome::Requested(request) => {
            let sent = FriendRequestSent(request);
            state.hub.to_users(&[me.user.id, other.id], None, &sent).await;
            Ok(Requested::Pending(sent.0))
        }
        RequestOutcome::Accepted(request) => {
            state.hub.to_users(&[me.user.id, other.id], None, &FriendRequestRemoved { id: request.id }).await;
            announce_friendship(state, &me.user, &other).await?;
            Ok(Requested::Friends(as_friend(state, &other).await?))
        }
    }
}

pub async fn requests(state: &AppState, me: &AuthUser) -> Result<FriendRequests> {
    state.store.friend_requests(me.user.id).await
}

pub async fn accept(state: &AppState, me: &AuthUser, request_id: i64) -> Result<Friend> {
    let request = state.store.accept_request(request_id, me.user.id).await?;
    announce_friendship(state, &request.from, &request.to).await?;
    as_friend(state, &request.from).await
}

pub async fn decline(state: &AppState, me: &AuthUser, request_id: i64) -> Result<()> {
    let request = state.store.remove_request(request_id, me.user.id).await?;
    let removed = FriendRequestRemoved { id: request.id };
    state.hub.to_users(&[request.from.id, request.to.id], None, &removed).await;
    Ok(())
}

pub async fn remove(state: &AppState, me: &AuthUser, other: UserId) -> Result<()> {
    if !state.store.remove_friend(me.user.id, other).await? {
        return Err(Error::not_found("friend"));
    }
    state.hub.to_users(&[me.user.id], None, &FriendRemoved { user_id: other }).await;
    state.hub.to_users(&[other], None, &FriendRemoved { user_id: me.user.id }).await;
    Ok(())
}
