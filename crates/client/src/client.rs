//! [`Client`]: the public API of one signed-in account. It holds the shared state; the jobs live
//! beside it: [`crate::connection`] (socket and reconnect supervision), [`crate::sync`] (server
//! events into the cache), [`crate::outbox`] (sending in order), [`crate::calls`]; everything the
//! UI hears comes as [`ClientEvent`]s ([`crate::events`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use confab_protocol::notifications::MessageAck;
use confab_protocol::requests::{
    AddReaction, DeleteMessage, EditMessage, MarkRead, PinMessage, Reaction, RemoveReaction, UserTyping,
};
use confab_protocol::{Conversation, ConversationId, Friend, Message, MessageId, Request, Seq, User, UserId};
use tokio::sync::{Notify, broadcast, watch};

use crate::api::Api;
use crate::cache::Cache;
use crate::calls::Calls;
use crate::error::{Error, Result};
use crate::events::{ClientEvent, ConnectionState};
use crate::session::{self, SavedSession};
use crate::socketio::Connection;

/// How many events may wait for a slow UI before it is told it lagged (and re-reads).
const EVENT_BUFFER: usize = 4096;

pub(crate) struct Inner {
    /// Where the session file and the caches live.
    data_dir: PathBuf,
    events: broadcast::Sender<ClientEvent>,
    state: Mutex<State>,
    /// Wakes the connection supervisor (sign-in, "retry now").
    pub(crate) wake_supervisor: Notify,
    /// Wakes the outbox sender (new message, reconnected).
    pub(crate) wake_outbox: Notify,
    /// Asks the live connection to run a catch-up (a gap in seq was seen).
    pub(crate) resync: Notify,
    /// Set to true by [`Client::close`].
    pub(crate) shutdown: watch::Sender<bool>,
    /// Calls this device is in or that ring here.
    calls: Calls,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) session: Option<SavedSession>,
    cache: Option<Cache>,
    pub(crate) connection: Option<Connection>,
    status: Option<ConnectionState>,
    /// Who is online, as last heard (kept while disconnected: the UI marks it stale).
    pub(crate) online: HashSet<UserId>,
    /// The outbox entry in flight, if any.
    pub(crate) sending: Option<String>,
}

/// The client core. Cheap to clone; all clones share one account and connection.
#[derive(Clone)]
pub struct Client(Arc<Inner>);

impl Client {
    /// Opens the client on a data directory, resuming a remembered session (and connecting) if any.
    pub async fn open(data_dir: impl Into<PathBuf>) -> Result<Client> {
        let data_dir = data_dir.into();
        std::fs::create_dir_all(&data_dir)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
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
        tokio::spawn(crate::connection::supervise(client.clone()));
        tokio::spawn(crate::outbox::run(client.clone()));
        Ok(client)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.0
    }

    pub(crate) fn state(&self) -> std::sync::MutexGuard<'_, State> {
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

    pub(crate) fn set_status(&self, status: ConnectionState) {
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

    pub(crate) fn cache(&self) -> Result<Cache> {
        self.state().cache.clone().ok_or(Error::SignedOut)
    }

    pub(crate) fn me(&self) -> Result<User> {
        self.state().session.as_ref().map(|s| s.user.clone()).ok_or(Error::SignedOut)
    }

    pub(crate) fn api(&self) -> Result<Api> {
        let state = self.state();
        let session = state.session.as_ref().ok_or(Error::SignedOut)?;
        Ok(Api::new(&session.server_url, Some(session.token.clone())))
    }

    async fn adopt_session(&self, saved: SavedSession) -> Result<()> {
        let cache = Cache::open(&self.0.data_dir.join(format!("cache-{}.db", saved.user.id))).await?;
        let old = {
            let mut state = self.state();
            state.session = Some(saved);
            state.online.clear();
            state.sending = None;
            state.cache.replace(cache)
        };
        if let Some(old) = old {
            old.close().await;
        }
        self.0.wake_supervisor.notify_one();
        // The UI shows the cached list at once, before the connection is up.
        self.publish_conversations().await
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
        // Written with fsync: not on an async worker.
        let (dir, to_save) = (self.0.data_dir.clone(), saved.clone());
        tokio::task::spawn_blocking(move || session::save(&dir, &to_save))
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))??;
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

    pub(crate) async fn forget_session(&self, reason: Option<String>) -> Result<()> {
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
        self.mark_presence(&mut conversations);
        Ok(conversations)
    }

    /// One conversation's summary as the list shows it (see [`Client::conversations`]).
    pub(crate) async fn conversation(&self, conversation_id: ConversationId) -> Result<Option<Conversation>> {
        let me = self.me()?;
        let mut conversation = self.cache()?.conversation(conversation_id, me.id).await?;
        self.mark_presence(conversation.as_mut_slice());
        Ok(conversation)
    }

    /// Members' `online` as last heard here (the cached list has it as of its fetch).
    fn mark_presence(&self, conversations: &mut [Conversation]) {
        let state = self.state();
        for member in conversations.iter_mut().flat_map(|c| c.members.iter_mut()) {
            member.online = state.online.contains(&member.user.id);
        }
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
        self.cache()?.put_messages(&page.messages.iter().collect::<Vec<_>>()).await?;
        Ok(page.has_more)
    }

    /// SQL statements the cache has run (0 when signed out): for tests and benchmarks of what a
    /// path costs.
    pub fn cache_statements(&self) -> u64 {
        self.state().cache.as_ref().map_or(0, Cache::statements)
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
        self.publish_conversations().await?;
        Ok(conversation)
    }

    // ---- changing messages (the socket, need the server) ----

    /// Runs a message change and applies the acknowledged state (the server does not echo our own
    /// changes back to this socket).
    async fn change<R: Request<Ack = MessageAck>>(&self, request: R) -> Result<Message> {
        let message = self.request(&request).await?.message;
        self.apply_message(message.clone(), message.updated_seq).await?;
        Ok(message)
    }

    pub async fn edit_message(&self, message_id: MessageId, content: &str) -> Result<Message> {
        self.change(EditMessage { message_id, content: content.to_owned() }).await
    }

    pub async fn delete_message(&self, message_id: MessageId) -> Result<Message> {
        self.change(DeleteMessage { message_id }).await
    }

    pub async fn react(&self, message_id: MessageId, emoji: &str, add: bool) -> Result<Message> {
        let reaction = Reaction { message_id, emoji: emoji.to_owned() };
        if add { self.change(AddReaction(reaction)).await } else { self.change(RemoveReaction(reaction)).await }
    }

    pub async fn pin(&self, message_id: MessageId, pinned: bool) -> Result<Message> {
        self.change(PinMessage { message_id, pinned }).await
    }

    /// Moves your read cursor (works offline for the local unread count; the server learns it when
    /// you next mark read online). Publishes the conversation's new summary.
    pub async fn mark_read(&self, conversation_id: ConversationId, seq: Seq) -> Result<()> {
        let me = self.me()?;
        let cache = self.cache()?;
        cache.set_read_cursor(conversation_id, me.id, seq).await?;
        let result = match self.request(&MarkRead { conversation_id, seq }).await {
            Ok(cursor) => cache.set_read_cursor(conversation_id, me.id, cursor.seq).await,
            Err(Error::Offline(_)) => Ok(()),
            Err(e) => Err(e),
        };
        self.publish_conversation(conversation_id).await?;
        result
    }

    /// Tells the other members you are (not) typing. Fire and forget.
    pub fn set_typing(&self, conversation_id: ConversationId, is_typing: bool) {
        self.send_and_forget(&UserTyping { conversation_id, is_typing });
    }
}
