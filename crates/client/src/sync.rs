//! Applying the server's state to the cache: live pushes ([`Client::handle_event`]) and the
//! catch-up after every (re)connect ([`Client::catch_up`]: the conversation list, then `sync` pages
//! from each conversation's sync point). Each applied change is published with its data: a message
//! with its conversation's new summary, one event per sync page, the list when it changed as a list.
//!
//! The sync point of a conversation is the newest `seq` up to which the cache holds every change;
//! a live change that does not directly follow it is held above it until the missing ones arrive
//! (pushes come slightly out of order under load); a gap still open after [`GAP_GRACE`] asks the
//! connection for a catch-up. Pushes that queued together are applied as one batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use confab_protocol::requests::Sync;
use confab_protocol::{Conversation, ConversationId, Message, MessageId, Seq, ServerEvent, UserId, limits};

use crate::cache::Stored;
use crate::client::Client;
use crate::error::Result;
use crate::events::ClientEvent;

/// History fetched for a conversation seen for the first time.
const FIRST_PAGE: u32 = 50;

/// How long a gap in a conversation's seqs may stay open before a catch-up fetches what is
/// missing: under a burst, pushes from concurrent senders arrive slightly out of order and the
/// missing one follows within milliseconds.
const GAP_GRACE: Duration = Duration::from_millis(500);

impl Client {
    /// Stores a message state; advances the sync point when `seq` follows it (else holds it: see
    /// the module's doc). Publishes the message with its conversation's summary. A state the cache already
    /// holds (a push after the catch-up that stored it, an ack after the push) is not stored or
    /// published again.
    pub(crate) async fn apply_message(&self, message: Message, seq: Seq) -> Result<()> {
        self.apply_messages(vec![(message, seq)]).await
    }

    /// [`Client::apply_message`] for several messages: each is stored, then each touched
    /// conversation is summarized once, and each message is published with its conversation's
    /// summary after all of them (what a burst costs per message does not include a summary).
    async fn apply_messages(&self, messages: Vec<(Message, Seq)>) -> Result<()> {
        let cache = self.cache()?;
        let states: Vec<&Message> = messages.iter().map(|(message, _)| message).collect();
        let stored = cache.put_messages(&states).await?;
        let mut seqs: HashMap<ConversationId, Vec<Seq>> = HashMap::new();
        for (message, seq) in &messages {
            seqs.entry(message.conversation_id).or_default().push(*seq);
        }
        for (conversation_id, seqs) in seqs {
            self.advance_over(conversation_id, &seqs).await?;
        }
        let applied: Vec<(Message, bool)> = messages
            .into_iter()
            .zip(stored)
            .filter_map(|((message, _), stored)| match stored {
                Stored::New => Some((message, true)),
                Stored::Changed => Some((message, false)),
                Stored::AlreadyHeld => None,
            })
            .collect();
        let mut summaries: HashMap<ConversationId, Option<Conversation>> = HashMap::new();
        for (message, _) in &applied {
            if !summaries.contains_key(&message.conversation_id) {
                let summary = self.conversation(message.conversation_id).await?;
                summaries.insert(message.conversation_id, summary);
            }
        }
        for (message, is_new) in applied {
            if let Some(Some(conversation)) = summaries.get(&message.conversation_id) {
                self.emit(ClientEvent::Message {
                    message: Box::new(message),
                    is_new,
                    conversation: Box::new(conversation.clone()),
                });
            }
        }
        Ok(())
    }

    /// Applies pushed new messages that were waiting together (see [`Client::apply_messages`]).
    async fn apply_received(&self, messages: Vec<Message>) -> Result<()> {
        let cache = self.cache()?;
        let mut checked = HashSet::new();
        for message in &messages {
            if checked.insert(message.conversation_id) && !cache.has_conversation(message.conversation_id).await? {
                self.refresh_conversations().await?;
                break;
            }
        }
        let messages = messages
            .into_iter()
            .map(|message| {
                let seq = message.seq.max(message.updated_seq);
                (message, seq)
            })
            .collect();
        self.apply_messages(messages).await
    }

    /// Advances the sync point over these seqs; a gap that stays open for [`GAP_GRACE`] asks for
    /// a catch-up.
    async fn advance_over(&self, conversation_id: ConversationId, seqs: &[Seq]) -> Result<()> {
        let cache = self.cache()?;
        if !cache.advance_sync_point_over(conversation_id, seqs).await? && cache.arm_gap_check() {
            let client = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(GAP_GRACE).await;
                let Ok(cache) = client.cache() else { return };
                cache.disarm_gap_check();
                if cache.has_gap() {
                    client.inner().resync.notify_one();
                }
            });
        }
        Ok(())
    }

    /// Applies pushed events that were waiting together, in order; runs of new messages are
    /// applied as one batch ([`Client::apply_messages`]). Errors are logged per event.
    pub(crate) async fn handle_events(&self, events: Vec<ServerEvent>) {
        let mut messages = Vec::new();
        for event in events {
            match event {
                ServerEvent::MessageReceived(message) => messages.push(message.0),
                event => {
                    if !messages.is_empty()
                        && let Err(e) = self.apply_received(std::mem::take(&mut messages)).await
                    {
                        tracing::warn!(error = %e, "applying received messages failed");
                    }
                    let name = event.name();
                    if let Err(e) = self.handle_event(event).await {
                        tracing::warn!(event = name, error = %e, "applying an event failed");
                    }
                }
            }
        }
        if !messages.is_empty()
            && let Err(e) = self.apply_received(messages).await
        {
            tracing::warn!(error = %e, "applying received messages failed");
        }
    }

    /// Applies a change event to a cached message.
    async fn apply_change(&self, message_id: MessageId, seq: Seq, change: impl FnOnce(&mut Message)) -> Result<()> {
        let cache = self.cache()?;
        match cache.message(message_id).await? {
            Some(mut message) if message.updated_seq < seq => {
                change(&mut message);
                message.updated_seq = seq;
                self.apply_message(message, seq).await
            }
            Some(_) => Ok(()),
            // Not cached (older than what was loaded): a catch-up brings its current state.
            None => {
                self.inner().resync.notify_one();
                Ok(())
            }
        }
    }

    /// Publishes one conversation's summary (after a change that carries no message).
    pub(crate) async fn publish_conversation(&self, conversation_id: ConversationId) -> Result<()> {
        if let Some(conversation) = self.conversation(conversation_id).await? {
            self.emit(ClientEvent::ConversationChanged { conversation: Box::new(conversation) });
        }
        Ok(())
    }

    /// Publishes the whole conversation list.
    pub(crate) async fn publish_conversations(&self) -> Result<()> {
        let conversations = self.conversations().await?;
        self.emit(ClientEvent::Conversations { conversations });
        Ok(())
    }

    /// Applies one pushed event, then tells the UI (calls: the media is updated first).
    pub(crate) async fn handle_event(&self, event: ServerEvent) -> Result<()> {
        match event {
            ServerEvent::MessageReceived(message) => self.apply_received(vec![message.0]).await?,
            ServerEvent::ReactionAdded(e) => self.apply_reaction(e.0, true).await?,
            ServerEvent::ReactionRemoved(e) => self.apply_reaction(e.0, false).await?,
            ServerEvent::MessageEdited(e) => {
                self.apply_change(e.message_id, e.seq, |m| {
                    m.content = Some(e.content);
                    m.edited_at = Some(e.edited_at);
                })
                .await?;
            }
            ServerEvent::MessageDeleted(e) => {
                self.apply_change(e.message_id, e.seq, |m| {
                    m.content = None;
                    m.deleted_at = Some(e.deleted_at);
                    m.reactions.clear();
                    m.pinned = false;
                    m.pinned_by = None;
                    m.call = None;
                })
                .await?;
            }
            ServerEvent::MessagePinned(e) => {
                self.apply_change(e.message_id, e.seq, |m| {
                    m.pinned = e.pinned;
                    m.pinned_by = e.pinned.then_some(e.pinned_by);
                })
                .await?;
            }
            ServerEvent::MessagesRead(e) => {
                self.cache()?.set_read_cursor(e.conversation_id, e.user_id, e.seq).await?;
                self.publish_conversation(e.conversation_id).await?;
            }
            ServerEvent::Typing(e) => self.emit(ClientEvent::Typing(e)),
            ServerEvent::OnlineUsers(e) => {
                let now: HashSet<UserId> = e.user_ids.iter().copied().collect();
                let previous = std::mem::replace(&mut self.state().online, now.clone());
                for &user_id in now.difference(&previous) {
                    self.emit(ClientEvent::Presence { user_id, online: true, last_seen: None });
                }
                for &user_id in previous.difference(&now) {
                    self.emit(ClientEvent::Presence { user_id, online: false, last_seen: None });
                }
            }
            ServerEvent::UserOnline(e) => self.note_presence(e.user_id, true, None),
            ServerEvent::UserOffline(e) => self.note_presence(e.user_id, false, Some(e.last_seen)),
            ServerEvent::FriendAdded(e) => {
                // A new friend's presence comes with the event, not as a userOnline.
                self.note_presence(e.friend.user.id, e.friend.online, e.friend.last_seen);
                self.emit(ClientEvent::FriendsChanged { event: ServerEvent::FriendAdded(e).name().into() });
            }
            event @ (ServerEvent::FriendRequestSent(_)
            | ServerEvent::FriendRequestRemoved(_)
            | ServerEvent::FriendRemoved(_)) => {
                self.emit(ClientEvent::FriendsChanged { event: event.name().into() });
            }
            ServerEvent::ConversationCreated(e) => {
                let conversation = e.0.conversation;
                for member in &conversation.members {
                    self.note_presence(member.user.id, member.online, None);
                }
                self.cache()?.put_conversation(&conversation).await?;
                self.publish_conversations().await?;
            }
            ServerEvent::IncomingCall(e) => self.on_incoming_call(&e),
            ServerEvent::CallAccepted(e) => self.on_call_accepted(&e).await,
            ServerEvent::CallRejected(e) => self.on_call_rejected(e).await,
            ServerEvent::CallEnded(e) => self.on_call_ended(e).await,
            ServerEvent::IceCandidateRelayed(e) => {
                self.on_remote_candidate(&e).await;
                self.emit(ClientEvent::IceCandidate(e));
            }
            // Announced to the UI once the new description is applied.
            ServerEvent::CallRenegotiated(e) => self.on_renegotiate(e),
        }
        Ok(())
    }

    async fn apply_reaction(&self, e: confab_protocol::notifications::ReactionChanged, added: bool) -> Result<()> {
        self.apply_change(e.message_id, e.seq, |m| {
            let users = m.reactions.entry(e.emoji.clone()).or_default();
            users.retain(|&u| u != e.user_id);
            if added {
                users.push(e.user_id);
            }
            if users.is_empty() {
                m.reactions.remove(&e.emoji);
            }
        })
        .await
    }

    /// Records a user's presence and tells the UI if it changed.
    pub(crate) fn note_presence(&self, user_id: UserId, online: bool, last_seen: Option<i64>) {
        let changed = {
            let mut state = self.state();
            if online { state.online.insert(user_id) } else { state.online.remove(&user_id) }
        };
        if changed {
            self.emit(ClientEvent::Presence { user_id, online, last_seen });
        }
    }

    /// Fetches the conversation list; conversations seen for the first time get their newest page.
    /// Publishes the list only if it changed.
    async fn refresh_conversations(&self) -> Result<()> {
        let me = self.me()?;
        let api = self.api()?;
        let cache = self.cache()?;
        let before = self.conversations().await?;
        let conversations = api.conversations().await?;
        cache.replace_conversations(&conversations).await?;
        let known: HashSet<ConversationId> = cache.sync_points().await?.into_iter().map(|(id, _)| id).collect();
        for conversation in &conversations {
            if let Some(member) = conversation.members.iter().find(|m| m.user.id == me.id) {
                cache.set_read_cursor(conversation.id, me.id, member.last_read_seq).await?;
            }
            if !known.contains(&conversation.id) {
                // First sight: the newest page now, older pages on demand; `sync` covers the rest.
                let page = api.history(conversation.id, None, FIRST_PAGE).await?;
                cache.put_messages(&page.messages.iter().collect::<Vec<_>>()).await?;
                // Messages cached before this (a first sync cut short by quitting, own sends
                // acknowledged meanwhile) may sit below a gap: drop them, the server has them.
                if let (true, Some(oldest)) = (page.has_more, page.messages.iter().map(|m| m.seq).min()) {
                    cache.forget_messages_before(conversation.id, oldest).await?;
                }
                cache.set_sync_point(conversation.id, conversation.last_seq).await?;
            }
        }
        let after = self.conversations().await?;
        if after != before {
            self.emit(ClientEvent::Conversations { conversations: after });
        }
        Ok(())
    }

    /// Brings the cache to the server's state: conversations, then every change since each sync
    /// point, one [`ClientEvent::SyncPage`] per page; [`ClientEvent::Synced`] at the end.
    pub(crate) async fn catch_up(&self) -> Result<()> {
        self.refresh_conversations().await?;
        let cache = self.cache()?;
        loop {
            let since: BTreeMap<ConversationId, Seq> = cache.sync_points().await?.into_iter().collect();
            let page = self.request(&Sync { since, limit: Some(limits::MAX_SYNC_LIMIT) }).await?;
            let mut messages = Vec::new();
            let mut conversations: Vec<Conversation> = Vec::new();
            for changes in &page.conversations {
                let oldest = cache.oldest_seq(changes.conversation_id).await?;
                let mut newer = Vec::new();
                for message in &changes.messages {
                    let held = cache.message_state(message.id).await?;
                    if held.is_none() && oldest.is_some_and(|oldest| message.seq < oldest) {
                        continue;
                    }
                    // Already applied (a push or an ack got here first): nothing to store or tell.
                    if held.is_some_and(|held| held >= message.updated_seq) {
                        continue;
                    }
                    newer.push(message);
                }
                cache.put_messages(&newer).await?;
                messages.extend(newer.into_iter().cloned());
                for cursor in &changes.read_cursors {
                    cache.set_read_cursor(cursor.conversation_id, cursor.user_id, cursor.seq).await?;
                }
                cache.set_sync_point(changes.conversation_id, changes.next_since).await?;
                if let Some(conversation) = self.conversation(changes.conversation_id).await? {
                    conversations.push(conversation);
                }
            }
            if !messages.is_empty() || !conversations.is_empty() {
                self.emit(ClientEvent::SyncPage { messages, conversations });
            }
            if !page.has_more {
                break;
            }
        }
        // Everything up to the server's state is stored: seqs held beyond a gap are covered.
        cache.clear_ahead();
        self.emit(ClientEvent::Synced);
        Ok(())
    }
}
