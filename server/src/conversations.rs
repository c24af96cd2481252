//! Conversations: direct (one per pair of friends) and groups.

use confab_protocol::notifications::ConversationCreated;
use confab_protocol::requests::NewConversation;
use confab_protocol::rest::OneConversation;
use confab_protocol::{Conversation, ConversationId, limits, validate};

use crate::AppState;
use crate::accounts::AuthUser;
use crate::error::{Error, Result};

/// Fills in the members' `online` flags (one presence lookup for all of them).
async fn with_presence(state: &AppState, mut conversations: Vec<Conversation>) -> Vec<Conversation> {
    let mut users: Vec<_> = conversations.iter().flat_map(|c| c.members.iter().map(|m| m.user.id)).collect();
    users.sort_unstable();
    users.dedup();
    let online = crate::presence::online_among(state, &users).await;
    for member in conversations.iter_mut().flat_map(|c| c.members.iter_mut()) {
        member.online = online.contains(&member.user.id);
    }
    conversations
}

pub async fn list(state: &AppState, me: &AuthUser) -> Result<Vec<Conversation>> {
    let conversations = state.store.conversations(me.user.id, None).await?;
    Ok(with_presence(state, conversations).await)
}

pub async fn get(state: &AppState, me: &AuthUser, id: ConversationId) -> Result<Conversation> {
    let conversations = state.store.conversations(me.user.id, Some(id)).await?;
    with_presence(state, conversations).await.pop().ok_or_else(|| Error::not_found("conversation"))
}

/// Creates a conversation; `Ok((conversation, created))` — a direct one that existed is returned as is.
pub async fn create(state: &AppState, me: &AuthUser, request: NewConversation) -> Result<(Conversation, bool)> {
    let mut others = request.participant_ids.clone();
    others.sort_unstable();
    others.dedup();
    others.retain(|&id| id != me.user.id);
    if others.is_empty() {
        return Err(Error::invalid("participantIds must name at least one other user"));
    }
    if others.len() + 1 > limits::MAX_GROUP_MEMBERS {
        return Err(Error::refused(
            confab_protocol::ErrorCode::TooLarge,
            format!("a group has at most {} members", limits::MAX_GROUP_MEMBERS),
        ));
    }
    for &other in &others {
        if !state.store.are_friends(me.user.id, other).await? {
            return Err(Error::forbidden(format!("user {other} is not your friend")));
        }
    }
    let (id, created) = match (&request.title, others.as_slice()) {
        (None, &[other]) => state.store.create_direct(me.user.id, other).await?,
        (None, _) => return Err(Error::invalid("a group needs a title")),
        (Some(title), _) => {
            let title = validate::title(title)?;
            let mut members = others.clone();
            members.push(me.user.id);
            (state.store.create_group(me.user.id, &title, &members).await?, true)
        }
    };
    let conversation = get(state, me, id).await?;
    if created {
        let member_ids: Vec<_> = conversation.members.iter().map(|m| m.user.id).collect();
        // Each member's own view differs only in unreadCount/lastReadSeq, which are 0 for a new one.
        let event = ConversationCreated(OneConversation { conversation: conversation.clone() });
        state.hub.to_users(&member_ids, None, &event).await;
    }
    Ok((conversation, created))
}
