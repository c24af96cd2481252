//! [`Client`]: one signed-in account — its connection (owned reconnection), its cache, its outbox,
//! and one stream of [`ClientEvent`]s for the UI.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_protocol::notifications::{
    CallAccepted, CallEnded, CallRejected, FriendAdded, IceCandidateRelayed, IncomingCall, MessageDeleted,
    MessageEdited, MessagePinned, MessagesRead, OnlineUsers, ReactionChanged, SyncPage, Typing, UserOffline,
    UserOnline,
};
use confab_protocol::{
    Ack, Conversation, ConversationId, ErrorBody, ErrorCode, Friend, Message, MessageId, Seq, User, UserId, events,
    validate,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, broadcast, watch};

use crate::api::Api;
use crate::cache::{Cache, Pending};
use crate::calls::Calls;
use crate::error::{Error, Result};
use crate::session::{self, SavedSession};
use crate::socketio::{self, ConnectError, Connection, Incoming};
use confab_protocol::backoff::Backoff;

/// How long to wait for an ack before treating the connection as unusable for that request.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// History fetched for a conversation seen for the first time.
const FIRST_PAGE: u32 = 50;

/// The connection as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum ConnectionState {
    /// No account: show the sign-in screen.
    SignedOut {
        /// Why, when the server ended the session (e.g. the token was revoked).
        reason: Option<String>,
    },
    Connecting,
    Connected,
    /// Waiting before the next attempt; `retryNow` skips the wait.
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        attempt: u32,
        retry_in_ms: u64,
        last_error: String,
    },
}

/// Everything the UI needs to react to. Serialized as `{type, ...}` for the webview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientEvent {
    Connection(ConnectionState),
    /// A message was created or changed (current state). `isNew` for messages never seen before.
    #[serde(rename_all = "camelCase")]
    Message {
        message: Message,
        is_new: bool,
    },
    /// The outbox of a conversation changed (queued, sent, failed).
    #[serde(rename_all = "camelCase")]
    Outbox {
        conversation_id: ConversationId,
    },
    /// The conversation list changed (new conversation, members, order).
    ConversationsChanged,
    /// Catch-up after (re)connecting finished.
    Synced,
    Typing(Typing),
    #[serde(rename_all = "camelCase")]
    Presence {
        user_id: UserId,
        online: bool,
        last_seen: Option<i64>,
    },
    Read(MessagesRead),
    /// Friends or friend requests changed; carries the server event's name.
    #[serde(rename_all = "camelCase")]
    FriendsChanged {
        event: String,
    },
    IncomingCall(IncomingCall),
    CallAccepted(CallAccepted),
    CallRejected(CallRejected),
    CallEnded(CallEnded),
    IceCandidate(IceCandidateRelayed),
    /// The media connection of a call this device is in changed state.
    #[serde(rename_all = "camelCase")]
    CallMedia {
        call_id: String,
        state: confab_call::CallState,
    },
    /// The other side's new offer or answer (an ICE restart) was applied.
    #[serde(rename_all = "camelCase")]
    CallRenegotiated {
        call_id: String,
    },
    /// Something about a call the user should know ("no microphone found", "connection lost").
    #[serde(rename_all = "camelCase")]
    CallProblem {
        call_id: String,
        message: String,
    },
}

struct Inner {
    /// Where the session file and the caches live.
    data_dir: PathBuf,
    events: broadcast::Sender<ClientEvent>,
    state: Mutex<State>,
    /// Wakes the connection supervisor (sign-in, "retry now").
    wake_supervisor: Notify,
    /// Wakes the outbox sender (new message, reconnected).
    wake_outbox: Notify,
    /// Asks the live connection to run a catch-up (a gap in seq was seen).
    resync: Notify,
    /// Set to true by [`Client::close`].
    shutdown: watch::Sender<bool>,
    /// Calls this device is in or that ring here.
    calls: Calls,
}

#[derive(Default)]
struct State {
    session: Option<SavedSession>,
    cache: Option<Cache>,
    connection: Option<Connection>,
    status: Option<ConnectionState>,
    online: HashSet<UserId>,
}

/// The client core. Cheap to clone; all clones share one account and connection.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// Codes after which resending the same message cannot succeed without the user.
fn needs_user(code: ErrorCode) -> bool {
    !matches!(code, ErrorCode::Internal | ErrorCode::Unavailable)
}

impl Client {
    /// Opens the client on a data directory, resuming a remembered session (and connecting) if any.
    pub async fn open(data_dir: impl Into<PathBuf>) -> Result<Client> {
        let data_dir = data_dir.into();
        std::fs::create_dir_all(&data_dir)?;
        let (events, _) = broadcast::channel(1024);
        let (shutdown, _) = watch::channel(false);
        let client = Client(Arc::new(Inner {
            data_dir: data_dir.clone(),
            events,
            state: Mutex::new(State::default()),
            wake_supervisor: Notify::new(),
            wake_outbox: Notify::new(),
            resync: Notify::new(),
            shutdown,
            calls: Calls::default(),
        }));
        if let Some(saved) = session::load(&data_dir) {
            client.adopt_session(saved).await?;
        }
        tokio::spawn(supervise(client.clone()));
        tokio::spawn(send_outbox(client.clone()));
        Ok(client)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn calls(&self) -> &Calls {
        &self.0.calls
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        let _ = self.0.events.send(event);
    }

    /// A new receiver of the event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<ClientEvent> {
        self.0.events.subscribe()
    }

    pub fn data_dir(&self) -> &Path {
        &self.0.data_dir
    }

    /// The signed-in user and server, if any.
    pub fn session(&self) -> Option<(String, User)> {
        self.state().session.as_ref().map(|s| (s.server_url.clone(), s.user.clone()))
    }

    pub fn connection_state(&self) -> ConnectionState {
        self.state().status.clone().unwrap_or(ConnectionState::SignedOut { reason: None })
    }

    fn set_status(&self, status: ConnectionState) {
        let changed = {
            let mut state = self.state();
            let changed = state.status.as_ref() != Some(&status);
            state.status = Some(status.clone());
            changed
        };
        if changed {
            self.emit(ClientEvent::Connection(status));
        }
    }

    fn cache(&self) -> Result<Cache> {
        self.state().cache.clone().ok_or(Error::SignedOut)
    }

    fn me(&self) -> Result<User> {
        self.state().session.as_ref().map(|s| s.user.clone()).ok_or(Error::SignedOut)
    }

    fn api(&self) -> Result<Api> {
        let state = self.state();
        let session = state.session.as_ref().ok_or(Error::SignedOut)?;
        Ok(Api::new(&session.server_url, Some(session.token.clone())))
    }

    pub(crate) fn connection(&self) -> Result<Connection> {
        self.state()
            .connection
            .clone()
            .filter(Connection::is_open)
            .ok_or_else(|| Error::Offline("not connected".into()))
    }

    async fn adopt_session(&self, saved: SavedSession) -> Result<()> {
        let cache = Cache::open(&self.0.data_dir.join(format!("cache-{}.db", saved.user.id))).await?;
        let old = {
            let mut state = self.state();
            state.session = Some(saved);
            state.online.clear();
            state.cache.replace(cache)
        };
        if let Some(old) = old {
            old.close().await;
        }
        self.0.wake_supervisor.notify_one();
        Ok(())
    }

    // ---- account ----

    pub async fn register(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<User> {
        let session = Api::new(server_url, None).register(username, password, display_name).await?;
        self.sign_in(server_url, session).await
    }

    pub async fn login(&self, server_url: &str, username: &str, password: &str) -> Result<User> {
        let session = Api::new(server_url, None).login(username, password).await?;
        self.sign_in(server_url, session).await
    }

    async fn sign_in(&self, server_url: &str, session: confab_protocol::Session) -> Result<User> {
        self.drop_connection();
        let saved = SavedSession {
            server_url: server_url.trim_end_matches('/').to_owned(),
            token: session.token,
            user: session.user,
        };
        session::save(&self.0.data_dir, &saved)?;
        let user = saved.user.clone();
        self.adopt_session(saved).await?;
        Ok(user)
    }

    /// Signs out: revokes the token on the server (best effort when offline) and forgets it here.
    /// The cache stays on disk for the next sign-in of the same account.
    pub async fn logout(&self) -> Result<()> {
        if let Ok(api) = self.api()
            && let Err(e) = api.logout().await
        {
            tracing::warn!(error = %e, "server logout failed; forgetting the token locally");
        }
        self.forget_session(None).await
    }

    async fn forget_session(&self, reason: Option<String>) -> Result<()> {
        session::clear(&self.0.data_dir)?;
        self.drop_connection();
        let cache = {
            let mut state = self.state();
            state.session = None;
            state.online.clear();
            state.cache.take()
        };
        if let Some(cache) = cache {
            cache.close().await;
        }
        self.set_status(ConnectionState::SignedOut { reason });
        self.0.wake_supervisor.notify_one();
        Ok(())
    }

    fn drop_connection(&self) {
        if let Some(connection) = self.state().connection.take() {
            connection.close();
        }
    }

    /// Skips the reconnect wait.
    pub fn retry_now(&self) {
        self.0.wake_supervisor.notify_one();
    }

    /// Stops the connection and background tasks.
    pub async fn close(&self) {
        let _ = self.0.shutdown.send(true);
        self.drop_connection();
        let cache = self.state().cache.take();
        if let Some(cache) = cache {
            cache.close().await;
        }
    }

    // ---- reading (from the cache: works offline) ----

    pub async fn conversations(&self) -> Result<Vec<Conversation>> {
        let me = self.me()?;
        let mut conversations = self.cache()?.conversations(me.id).await?;
        let state = self.state();
        for member in conversations.iter_mut().flat_map(|c| c.members.iter_mut()) {
            member.online = state.online.contains(&member.user.id);
        }
        Ok(conversations)
    }

    /// Cached messages with `seq < before` (the newest if `None`), oldest first.
    pub async fn messages(
        &self,
        conversation_id: ConversationId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.cache()?.messages(conversation_id, before, limit).await
    }

    /// Fetches an older page from the server into the cache; returns whether even older ones exist.
    pub async fn load_older(&self, conversation_id: ConversationId, before: Seq) -> Result<bool> {
        let page =
            self.api()?.history(conversation_id, Some(before), confab_protocol::limits::MAX_HISTORY_LIMIT).await?;
        let cache = self.cache()?;
        for message in &page.messages {
            cache.put_message(message).await?;
        }
        Ok(page.has_more)
    }

    /// Messages of a conversation not yet acknowledged (pending or failed), in order.
    pub async fn outbox(&self, conversation_id: ConversationId) -> Result<Vec<Pending>> {
        self.cache()?.outbox(Some(conversation_id)).await
    }

    pub fn is_online(&self, user_id: UserId) -> bool {
        self.state().online.contains(&user_id)
    }

    pub async fn is_muted(&self, conversation_id: ConversationId) -> Result<bool> {
        self.cache()?.is_muted(conversation_id).await
    }

    pub async fn set_muted(&self, conversation_id: ConversationId, muted: bool) -> Result<()> {
        self.cache()?.set_muted(conversation_id, muted).await
    }

    // ---- friends and conversations (REST, need the server) ----

    pub async fn friends(&self) -> Result<Vec<Friend>> {
        self.api()?.friends().await
    }

    pub async fn friend_requests(&self) -> Result<confab_protocol::FriendRequests> {
        self.api()?.friend_requests().await
    }

    pub async fn search_users(&self, prefix: &str) -> Result<Vec<User>> {
        self.api()?.search_users(prefix).await
    }

    pub async fn request_friend(&self, username: &str) -> Result<()> {
        self.api()?.request_friend(username).await.map(drop)
    }

    pub async fn accept_friend(&self, request_id: i64) -> Result<()> {
        self.api()?.accept_friend(request_id).await.map(drop)
    }

    pub async fn decline_friend(&self, request_id: i64) -> Result<()> {
        self.api()?.decline_friend(request_id).await
    }

    pub async fn remove_friend(&self, user_id: UserId) -> Result<()> {
        self.api()?.remove_friend(user_id).await
    }

    pub async fn create_conversation(
        &self,
        participant_ids: Vec<UserId>,
        title: Option<String>,
    ) -> Result<Conversation> {
        let conversation = self.api()?.create_conversation(participant_ids, title).await?;
        self.cache()?.put_conversation(&conversation).await?;
        self.emit(ClientEvent::ConversationsChanged);
        Ok(conversation)
    }

    // ---- writing ----

    /// Queues a message. It is persisted at once (survives a restart), shown as pending, and sent
    /// in order as soon as the connection allows, with a `clientMsgId` that makes retries safe.
    pub async fn send_message(&self, conversation_id: ConversationId, content: &str) -> Result<Pending> {
        let content = validate::content(content).map_err(Error::Server)?;
        let pending =
            Pending { conversation_id, client_msg_id: random_id(), content, created_at: now_ms(), error: None };
        self.cache()?.enqueue(&pending).await?;
        self.emit(ClientEvent::Outbox { conversation_id });
        self.0.wake_outbox.notify_one();
        Ok(pending)
    }

    /// Sends a failed message again.
    pub async fn retry_message(&self, client_msg_id: &str) -> Result<()> {
        let cache = self.cache()?;
        if !cache.set_pending_error(client_msg_id, None).await? {
            return Err(Error::Server(ErrorBody::new(ErrorCode::NotFound, "no such pending message")));
        }
        if let Some(p) = cache.outbox(None).await?.into_iter().find(|p| p.client_msg_id == client_msg_id) {
            self.emit(ClientEvent::Outbox { conversation_id: p.conversation_id });
        }
        self.0.wake_outbox.notify_one();
        Ok(())
    }

    /// Drops a failed or pending message.
    pub async fn discard_message(&self, client_msg_id: &str) -> Result<()> {
        let cache = self.cache()?;
        let entry = cache.outbox(None).await?.into_iter().find(|p| p.client_msg_id == client_msg_id);
        cache.remove_pending(client_msg_id).await?;
        if let Some(p) = entry {
            self.emit(ClientEvent::Outbox { conversation_id: p.conversation_id });
        }
        Ok(())
    }

    /// Emits a socket event and returns the ack's data, or the server's refusal.
    pub async fn request<T: DeserializeOwned>(&self, event: &str, payload: Value) -> Result<T> {
        let ack = self
            .connection()?
            .emit_with_ack(event, &payload, ACK_TIMEOUT)
            .await
            .map_err(|e| Error::Offline(e.to_string()))?;
        let ack: Ack<T> = serde_json::from_value(ack)?;
        ack.into_result().map_err(Error::Server)
    }

    /// Runs a message change and applies the acknowledged state (the server does not echo our own
    /// changes back to this socket).
    async fn change(&self, event: &str, payload: Value) -> Result<Message> {
        #[derive(Deserialize)]
        struct Changed {
            message: Message,
        }
        let Changed { message } = self.request(event, payload).await?;
        self.apply_message(message.clone(), message.updated_seq).await?;
        Ok(message)
    }

    pub async fn edit_message(&self, message_id: MessageId, content: &str) -> Result<Message> {
        self.change(events::EDIT_MESSAGE, json!({"messageId": message_id, "content": content})).await
    }

    pub async fn delete_message(&self, message_id: MessageId) -> Result<Message> {
        self.change(events::DELETE_MESSAGE, json!({"messageId": message_id})).await
    }

    pub async fn react(&self, message_id: MessageId, emoji: &str, add: bool) -> Result<Message> {
        let event = if add { events::ADD_REACTION } else { events::REMOVE_REACTION };
        self.change(event, json!({"messageId": message_id, "emoji": emoji})).await
    }

    pub async fn pin(&self, message_id: MessageId, pinned: bool) -> Result<Message> {
        self.change(events::PIN_MESSAGE, json!({"messageId": message_id, "pinned": pinned})).await
    }

    /// Moves your read cursor (works offline for the local unread count; the server learns it when
    /// you next mark read online).
    pub async fn mark_read(&self, conversation_id: ConversationId, seq: Seq) -> Result<()> {
        let me = self.me()?;
        self.cache()?.set_read_cursor(conversation_id, me.id, seq).await?;
        #[derive(Deserialize)]
        struct Cursor {
            seq: Seq,
        }
        match self.request::<Cursor>(events::MARK_READ, json!({"conversationId": conversation_id, "seq": seq})).await {
            Ok(cursor) => self.cache()?.set_read_cursor(conversation_id, me.id, cursor.seq).await,
            Err(Error::Offline(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Tells the other members you are (not) typing. Fire and forget.
    pub fn set_typing(&self, conversation_id: ConversationId, is_typing: bool) {
        if let Ok(connection) = self.connection() {
            let _ = connection
                .emit(events::USER_TYPING, &json!({"conversationId": conversation_id, "isTyping": is_typing}));
        }
    }

    // ---- applying server state ----

    /// Stores a message state; advances the sync point when `seq` follows it, else asks for a catch-up.
    async fn apply_message(&self, message: Message, seq: Seq) -> Result<()> {
        let cache = self.cache()?;
        let is_new = cache.message(message.id).await?.is_none();
        cache.put_message(&message).await?;
        self.advance(message.conversation_id, seq).await?;
        self.emit(ClientEvent::Message { message, is_new });
        Ok(())
    }

    async fn advance(&self, conversation_id: ConversationId, seq: Seq) -> Result<()> {
        if !self.cache()?.advance_sync_point(conversation_id, seq).await? {
            self.0.resync.notify_one();
        }
        Ok(())
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
                self.0.resync.notify_one();
                Ok(())
            }
        }
    }

    async fn handle_event(&self, name: &str, data: Value) -> Result<()> {
        fn parse<T: DeserializeOwned>(data: Value) -> Result<T> {
            Ok(serde_json::from_value(data)?)
        }
        match name {
            events::MESSAGE_RECEIVED => {
                let message: Message = parse(data)?;
                if !self.cache()?.has_conversation(message.conversation_id).await? {
                    self.refresh_conversations().await?;
                }
                let seq = message.seq.max(message.updated_seq);
                self.apply_message(message, seq).await?;
            }
            events::REACTION_ADDED | events::REACTION_REMOVED => {
                let e: ReactionChanged = parse(data)?;
                let added = name == events::REACTION_ADDED;
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
                .await?;
            }
            events::MESSAGE_EDITED => {
                let e: MessageEdited = parse(data)?;
                self.apply_change(e.message_id, e.seq, |m| {
                    m.content = Some(e.content);
                    m.edited_at = Some(e.edited_at);
                })
                .await?;
            }
            events::MESSAGE_DELETED => {
                let e: MessageDeleted = parse(data)?;
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
            events::MESSAGE_PINNED => {
                let e: MessagePinned = parse(data)?;
                self.apply_change(e.message_id, e.seq, |m| {
                    m.pinned = e.pinned;
                    m.pinned_by = e.pinned.then_some(e.pinned_by);
                })
                .await?;
            }
            events::MESSAGES_READ => {
                let e: MessagesRead = parse(data)?;
                self.cache()?.set_read_cursor(e.conversation_id, e.user_id, e.seq).await?;
                self.emit(ClientEvent::Read(e));
            }
            events::USER_TYPING => self.emit(ClientEvent::Typing(parse(data)?)),
            events::ONLINE_USERS => {
                let e: OnlineUsers = parse(data)?;
                let previous = std::mem::replace(&mut self.state().online, e.user_ids.iter().copied().collect());
                for &user_id in &e.user_ids {
                    self.emit(ClientEvent::Presence { user_id, online: true, last_seen: None });
                }
                for user_id in previous.into_iter().filter(|u| !e.user_ids.contains(u)) {
                    self.emit(ClientEvent::Presence { user_id, online: false, last_seen: None });
                }
            }
            events::USER_ONLINE => {
                let e: UserOnline = parse(data)?;
                self.note_presence(e.user_id, true, None);
            }
            events::USER_OFFLINE => {
                let e: UserOffline = parse(data)?;
                self.note_presence(e.user_id, false, Some(e.last_seen));
            }
            events::FRIEND_ADDED => {
                // A new friend's presence comes with the event, not as a userOnline.
                let e: FriendAdded = parse(data)?;
                self.note_presence(e.friend.user.id, e.friend.online, e.friend.last_seen);
                self.emit(ClientEvent::FriendsChanged { event: name.to_owned() });
            }
            events::FRIEND_REQUEST | events::FRIEND_REQUEST_REMOVED | events::FRIEND_REMOVED => {
                self.emit(ClientEvent::FriendsChanged { event: name.to_owned() });
            }
            events::CONVERSATION_CREATED => {
                #[derive(Deserialize)]
                struct Created {
                    conversation: Conversation,
                }
                let Created { conversation } = parse(data)?;
                for member in &conversation.members {
                    self.note_presence(member.user.id, member.online, None);
                }
                self.cache()?.put_conversation(&conversation).await?;
                self.emit(ClientEvent::ConversationsChanged);
            }
            events::INCOMING_CALL
            | events::CALL_ACCEPTED
            | events::CALL_REJECTED
            | events::CALL_ENDED
            | events::ICE_CANDIDATE
            | events::RENEGOTIATE_CALL => {
                // The call's media is updated first, then the UI hears of it.
                self.on_call_event(name, &data).await;
                let event = match name {
                    events::INCOMING_CALL => ClientEvent::IncomingCall(parse(data)?),
                    events::CALL_ACCEPTED => ClientEvent::CallAccepted(parse(data)?),
                    events::CALL_REJECTED => ClientEvent::CallRejected(parse(data)?),
                    events::CALL_ENDED => ClientEvent::CallEnded(parse(data)?),
                    events::ICE_CANDIDATE => ClientEvent::IceCandidate(parse(data)?),
                    _ => return Ok(()),
                };
                self.emit(event);
            }
            other => tracing::debug!(event = other, "ignoring unknown event"),
        }
        Ok(())
    }

    /// Records a user's presence and tells the UI if it changed.
    fn note_presence(&self, user_id: UserId, online: bool, last_seen: Option<i64>) {
        let changed = {
            let mut state = self.state();
            if online { state.online.insert(user_id) } else { state.online.remove(&user_id) }
        };
        if changed {
            self.emit(ClientEvent::Presence { user_id, online, last_seen });
        }
    }

    async fn refresh_conversations(&self) -> Result<()> {
        let me = self.me()?;
        let api = self.api()?;
        let cache = self.cache()?;
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
                for message in &page.messages {
                    cache.put_message(message).await?;
                }
                // Messages cached before this (a first sync cut short by quitting, own sends
                // acknowledged meanwhile) may sit below a gap: drop them, the server has them.
                if let (true, Some(oldest)) = (page.has_more, page.messages.iter().map(|m| m.seq).min()) {
                    cache.forget_messages_before(conversation.id, oldest).await?;
                }
                cache.set_sync_point(conversation.id, conversation.last_seq).await?;
            }
        }
        self.emit(ClientEvent::ConversationsChanged);
        Ok(())
    }

    /// Brings the cache to the server's state: conversations, then every change since each sync point.
    async fn catch_up(&self) -> Result<()> {
        self.refresh_conversations().await?;
        let cache = self.cache()?;
        loop {
            let since: serde_json::Map<String, Value> =
                cache.sync_points().await?.into_iter().map(|(id, seq)| (id.to_string(), Value::from(seq))).collect();
            let page: SyncPage = self.request(events::SYNC, json!({ "since": since })).await?;
            for changes in &page.conversations {
                let oldest = cache.oldest_seq(changes.conversation_id).await?;
                for message in &changes.messages {
                    let is_new = cache.message(message.id).await?.is_none();
                    if is_new && oldest.is_some_and(|oldest| message.seq < oldest) {
                        continue;
                    }
                    cache.put_message(message).await?;
                    self.emit(ClientEvent::Message { message: message.clone(), is_new });
                }
                for cursor in &changes.read_cursors {
                    cache.set_read_cursor(cursor.conversation_id, cursor.user_id, cursor.seq).await?;
                }
                cache.set_sync_point(changes.conversation_id, changes.next_since).await?;
            }
            if !page.has_more {
                break;
            }
        }
        self.emit(ClientEvent::Synced);
        Ok(())
    }
}

/// Owns the connection: connects, catches up, handles events, and reconnects with backoff forever.
async fn supervise(client: Client) {
    let mut shutdown = client.0.shutdown.subscribe();
    let mut backoff = Backoff::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let target = client.state().session.as_ref().map(|s| (s.server_url.clone(), s.token.clone()));
        let Some((url, token)) = target else {
            if !matches!(client.connection_state(), ConnectionState::SignedOut { .. }) {
                client.set_status(ConnectionState::SignedOut { reason: None });
            }
            tokio::select! {
                _ = client.0.wake_supervisor.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        client.set_status(ConnectionState::Connecting);
        let last_error = match socketio::connect(&url, json!({ "token": token }), CONNECT_TIMEOUT).await {
            Ok((connection, mut incoming)) => {
                backoff.reset();
                client.state().connection = Some(connection.clone());
                client.set_status(ConnectionState::Connected);
                // Events that arrive meanwhile wait in `incoming` and are applied after the catch-up.
                if let Err(e) = client.catch_up().await {
                    tracing::warn!(error = %e, "catch-up failed");
                }
                client.0.wake_outbox.notify_one();
                let reason = loop {
                    tokio::select! {
                        event = incoming.recv() => match event {
                            Some(Incoming::Event(name, data)) => {
                                if let Err(e) = client.handle_event(&name, data).await {
                                    tracing::warn!(event = name, error = %e, "applying an event failed");
                                }
                            }
                            Some(Incoming::Closed(reason)) => break reason,
                            None => break "connection task ended".to_owned(),
                        },
                        _ = client.0.resync.notified() => {
                            if let Err(e) = client.catch_up().await {
                                tracing::warn!(error = %e, "catch-up failed");
                            }
                        }
                        _ = shutdown.changed() => {
                            connection.close();
                            return;
                        }
                    }
                };
                // Presence is unknown while disconnected: show everyone offline until the next `onlineUsers`.
                let was_online = {
                    let mut state = client.state();
                    state.connection = None;
                    std::mem::take(&mut state.online)
                };
                for user_id in was_online {
                    client.emit(ClientEvent::Presence { user_id, online: false, last_seen: None });
                }
                client.end_calls_of_lost_connection().await;
                reason
            }
            Err(ConnectError::Refused(reason)) => {
                tracing::warn!(%reason, "the server refused the session");
                let _ = client.forget_session(Some(reason)).await;
                continue;
            }
            Err(ConnectError::Transport(e)) => e,
        };
        if client.state().session.is_none() {
            continue;
        }
        let delay = backoff.next_delay();
        client.set_status(ConnectionState::Reconnecting {
            attempt: backoff.attempts(),
            retry_in_ms: delay.as_millis() as u64,
            last_error,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = client.0.wake_supervisor.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Sends the outbox in order, one at a time, whenever there is a connection.
async fn send_outbox(client: Client) {
    let mut shutdown = client.0.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = client.0.wake_outbox.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.changed() => return,
        }
        while let Ok(Some(pending)) = next_pending(&client).await {
            #[derive(Deserialize)]
            struct Sent {
                message: Message,
            }
            let payload = json!({
                "conversationId": pending.conversation_id,
                "content": pending.content,
                "type": "text",
                "clientMsgId": pending.client_msg_id,
            });
            match client.request::<Sent>(events::SEND_MESSAGE, payload).await {
                Ok(Sent { message }) => {
                    let Ok(cache) = client.cache() else { break };
                    // Out of the outbox first, so that the message never shows as pending and sent at once.
                    let _ = cache.remove_pending(&pending.client_msg_id).await;
                    client.emit(ClientEvent::Outbox { conversation_id: pending.conversation_id });
                    let seq = message.seq;
                    if let Err(e) = client.apply_message(message, seq).await {
                        tracing::warn!(error = %e, "caching a sent message failed");
                    }
                }
                Err(Error::Server(body)) if needs_user(body.code) => {
                    if let Ok(cache) = client.cache() {
                        let _ = cache.set_pending_error(&pending.client_msg_id, Some(&body)).await;
                    }
                    client.emit(ClientEvent::Outbox { conversation_id: pending.conversation_id });
                }
                // Offline, timed out, or a transient server failure: try again later, same clientMsgId.
                Err(_) => break,
            }
        }
    }
}

async fn next_pending(client: &Client) -> Result<Option<Pending>> {
    client.connection()?;
    client.cache()?.next_to_send().await
}
