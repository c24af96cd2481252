//! Messages and everything done to them. The socket events and the REST fallback both call these
//! functions: one code path for storing, checking and broadcasting. Who may change a message, and
//! when a change changes nothing, is decided in [`rules`].

pub mod rules;

use confab_protocol::notifications::{
    ConversationChanges, MessageAck, MessageDeleted, MessageEdited, MessagePinned, MessageReceived, MessagesRead,
    ReactionAdded, ReactionChanged, ReactionRemoved, ReadCursor, SyncPage, Typing, TypingAck,
};
use confab_protocol::requests::{self, SendMessage};
use confab_protocol::{ConversationId, Message, MessageType, Seq, limits, validate};
use socketioxide::socket::Sid;

use crate::AppState;
use crate::accounts::AuthUser;
use crate::error::{Error, Result};
use crate::ratelimit::{Bucket, Key};
use crate::socket::{Caller, Handle};
use crate::store::MessageChange;
use rules::Change;

/// Where a request came from: the sending socket does not get its own event back (it has the ack);
/// the sender's other devices do.
pub type Origin = Option<Sid>;

/// Stores a message durably, then delivers it. Returns the stored message and whether it is new
/// (a repeated `clientMsgId` returns the stored one and delivers nothing).
pub async fn send(state: &AppState, me: &AuthUser, origin: Origin, request: SendMessage) -> Result<(Message, bool)> {
    state.limits.check(Bucket::Messages, Key::User(me.user.id)).await?;
    if request.kind.is_some_and(|k| k != MessageType::Text) {
        return Err(Error::invalid("only text messages can be sent"));
    }
    validate::client_msg_id(&request.client_msg_id)?;
    let content = validate::content(&request.content)?;
    let outcome = state
        .store
        .insert_message(
            request.conversation_id,
            me.user.id,
            MessageType::Text,
            &content,
            Some(&request.client_msg_id),
            None,
        )
        .await?;
    if !outcome.created {
        return Ok((outcome.message, false));
    }
    state.metrics.messages_stored.inc();
    let received = MessageReceived(outcome.message);
    state.hub.to_users(&outcome.members, origin, &received).await;
    Ok((received.0, true))
}

/// Applies a change if [`rules::decide`] allows it, in one transaction with the state it decided on.
async fn change(state: &AppState, me: &AuthUser, message_id: i64, change: Change<'_>) -> Result<MessageChange> {
    let user_id = me.user.id;
    state.store.change_message(message_id, |message, members| rules::decide(message, members, user_id, change)).await
}

pub async fn edit(state: &AppState, me: &AuthUser, origin: Origin, request: requests::EditMessage) -> Result<Message> {
    state.limits.check(Bucket::Edits, Key::User(me.user.id)).await?;
    let content = validate::content(&request.content)?;
    let changed = change(state, me, request.message_id, Change::Edit(&content)).await?;
    if changed.seq.is_some() {
        state.store.purge_log().await;
    }
    if let (Some(seq), Some(edited_at), Some(content)) =
        (changed.seq, changed.message.edited_at, &changed.message.content)
    {
        let event = MessageEdited {
            conversation_id: changed.message.conversation_id,
            message_id: changed.message.id,
            seq,
            content: content.clone(),
            edited_at,
        };
        state.hub.to_users(&changed.members, origin, &event).await;
    }
    Ok(changed.message)
}

pub async fn delete(
    state: &AppState,
    me: &AuthUser,
    origin: Origin,
    request: requests::DeleteMessage,
) -> Result<Message> {
    state.limits.check(Bucket::Edits, Key::User(me.user.id)).await?;
    let changed = change(state, me, request.message_id, Change::Delete).await?;
    if changed.seq.is_some() {
        state.store.purge_log().await;
    }
    if let (Some(seq), Some(deleted_at)) = (changed.seq, changed.message.deleted_at) {
        let event = MessageDeleted {
            conversation_id: changed.message.conversation_id,
            message_id: changed.message.id,
            seq,
            deleted_at,
        };
        state.hub.to_users(&changed.members, origin, &event).await;
    }
    Ok(changed.message)
}

pub async fn react(
    state: &AppState,
    me: &AuthUser,
    origin: Origin,
    request: requests::Reaction,
    add: bool,
) -> Result<Message> {
    state.limits.check(Bucket::Reactions, Key::User(me.user.id)).await?;
    validate::emoji(&request.emoji)?;
    let what = if add { Change::AddReaction(&request.emoji) } else { Change::RemoveReaction(&request.emoji) };
    let changed = change(state, me, request.message_id, what).await?;
    if let Some(seq) = changed.seq {
        let event = ReactionChanged {
            conversation_id: changed.message.conversation_id,
            message_id: changed.message.id,
            seq,
            user_id: me.user.id,
            emoji: request.emoji,
        };
        if add {
            state.hub.to_users(&changed.members, origin, &ReactionAdded(event)).await;
        } else {
            state.hub.to_users(&changed.members, origin, &ReactionRemoved(event)).await;
        }
    }
    Ok(changed.message)
}

pub async fn pin(state: &AppState, me: &AuthUser, origin: Origin, request: requests::PinMessage) -> Result<Message> {
    state.limits.check(Bucket::Edits, Key::User(me.user.id)).await?;
    let changed = change(state, me, request.message_id, Change::Pin(request.pinned)).await?;
    if let Some(seq) = changed.seq {
        let event = MessagePinned {
            conversation_id: changed.message.conversation_id,
            message_id: changed.message.id,
            seq,
            pinned: request.pinned,
            pinned_by: me.user.id,
        };
        state.hub.to_users(&changed.members, origin, &event).await;
    }
    Ok(changed.message)
}

/// Moves the read cursor; returns it. Other members (and the user's other devices) learn of it.
pub async fn mark_read(state: &AppState, me: &AuthUser, origin: Origin, request: requests::MarkRead) -> Result<Seq> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let (seq, moved) = state.store.mark_read(request.conversation_id, me.user.id, request.seq).await?;
    if moved {
        let members = state.store.member_ids(request.conversation_id).await?;
        let event = MessagesRead { conversation_id: request.conversation_id, user_id: me.user.id, seq };
        state.hub.to_users(&members, origin, &event).await;
    }
    Ok(seq)
}

/// Relays a typing state to the other members. Returns false when the rate limit dropped it.
pub async fn typing(state: &AppState, me: &AuthUser, request: requests::UserTyping) -> Result<bool> {
    let mut members = state.store.members_if_member(request.conversation_id, me.user.id).await?;
    // Every typing event counts, "stopped" included: clients hide an indicator 3 s after the last
    // event anyway, so a dropped "stopped" cannot leave it stuck.
    if state.limits.check(Bucket::Typing, Key::User(me.user.id)).await.is_err() {
        return Ok(false);
    }
    members.retain(|&m| m != me.user.id);
    let event = Typing {
        conversation_id: request.conversation_id,
        user_id: me.user.id,
        username: me.user.username.clone(),
        is_typing: request.is_typing,
    };
    state.hub.to_users(&members, None, &event).await;
    Ok(true)
}

pub async fn history(
    state: &AppState,
    me: &AuthUser,
    conversation_id: ConversationId,
    before: Option<Seq>,
    after: Option<Seq>,
    limit: Option<u32>,
) -> Result<(Vec<Message>, bool)> {
    if before.is_some() && after.is_some() {
        return Err(Error::invalid("use either before or after, not both"));
    }
    let limit = limit.unwrap_or(limits::DEFAULT_HISTORY_LIMIT);
    if limit == 0 || limit > limits::MAX_HISTORY_LIMIT {
        return Err(Error::invalid(format!("limit must be 1–{}", limits::MAX_HISTORY_LIMIT)));
    }
    state.store.members_if_member(conversation_id, me.user.id).await?;
    state.store.history(conversation_id, before, after, limit).await
}

pub async fn pins(state: &AppState, me: &AuthUser, conversation_id: ConversationId) -> Result<Vec<Message>> {
    state.store.members_if_member(conversation_id, me.user.id).await?;
    state.store.pins(conversation_id).await
}

/// Everything that changed in the user's conversations after the given points.
pub async fn sync(state: &AppState, me: &AuthUser, request: requests::Sync) -> Result<SyncPage> {
    state.limits.check(Bucket::Signaling, Key::User(me.user.id)).await?;
    let limit = request.limit.unwrap_or(limits::DEFAULT_SYNC_LIMIT);
    if limit == 0 || limit > limits::MAX_SYNC_LIMIT {
        return Err(Error::invalid(format!("limit must be 1–{}", limits::MAX_SYNC_LIMIT)));
    }
    let mut conversations = Vec::new();
    for (conversation_id, last_seq) in state.store.last_seqs(me.user.id).await? {
        let since = request.since.get(&conversation_id).copied().unwrap_or(0).max(0);
        if since >= last_seq {
            continue;
        }
        let (messages, has_more) = state.store.changes_since(conversation_id, since, limit).await?;
        let next_since = if has_more { messages.last().map_or(since, |m| m.updated_seq) } else { last_seq };
        let read_cursors = state
            .store
            .read_cursors(conversation_id)
            .await?
            .into_iter()
            .map(|(user_id, seq)| MessagesRead { conversation_id, user_id, seq })
            .collect();
        conversations.push(ConversationChanges {
            conversation_id,
            last_seq,
            messages,
            next_since,
            has_more,
            read_cursors,
        });
    }
    let has_more = conversations.iter().any(|c| c.has_more);
    Ok(SyncPage { conversations, has_more })
}

// The socket requests: each the domain function above, answered with its ack.

impl Handle for SendMessage {
    async fn handle(self, c: Caller<'_>) -> Result<MessageAck> {
        send(c.state, c.me, Some(c.sid), self).await.map(|(message, _)| MessageAck { message })
    }
}

impl Handle for requests::UserTyping {
    async fn handle(self, c: Caller<'_>) -> Result<TypingAck> {
        typing(c.state, c.me, self).await.map(|delivered| TypingAck { dropped: !delivered })
    }
}

impl Handle for requests::AddReaction {
    async fn handle(self, c: Caller<'_>) -> Result<MessageAck> {
        react(c.state, c.me, Some(c.sid), self.0, true).await.map(|message| MessageAck { message })
    }
}

impl Handle for requests::RemoveReaction {
    async fn handle(self, c: Caller<'_>) -> Result<MessageAck> {
        react(c.state, c.me, Some(c.sid), self.0, false).await.map(|message| MessageAck { message })
    }
}

impl Handle for requests::DeleteMessage {
    async fn handle(self, c: Caller<'_>) -> Result<MessageAck> {
        delete(c.state, c.me, Some(c.sid), self).await.map(|message| MessageAck { message })
    }
}

impl Handle for requests::EditMessage {
    async fn handle(self, c: Caller<'_>) -> Result<MessageAck> {
        edit(c.state, c.me, Some(c.sid), self).await.map(|message| MessageAck { message })
    }
}

impl Handle for requests::PinMessage {
    async fn handle(self, c: Caller<'_>) -> Result<MessageAck> {
        pin(c.state, c.me, Some(c.sid), self).await.map(|message| MessageAck { message })
    }
}

impl Handle for requests::MarkRead {
    async fn handle(self, c: Caller<'_>) -> Result<ReadCursor> {
        mark_read(c.state, c.me, Some(c.sid), self).await.map(|seq| ReadCursor { seq })
    }
}

impl Handle for requests::Sync {
    async fn handle(self, c: Caller<'_>) -> Result<SyncPage> {
        sync(c.state, c.me, self).await
    }
}
