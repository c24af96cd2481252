//! The local SQLite cache of one account: conversations, messages in their current state, sync
//! points, read cursors, and the outbox of messages not yet acknowledged.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_protocol::{Conversation, ConversationId, ErrorBody, Message, MessageId, Seq, UserId};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::error::Result;
use crate::outbox::{Pending, SendState};

/// Unread messages are counted up to this many (the UI shows "999+"): a summary is made for every
/// message that arrives, so its cost must not grow with a long unread history (a burst of 10,000
/// messages into a closed conversation would otherwise cost quadratic time).
pub const MAX_UNREAD_COUNTED: i64 = 1000;

/// What [`Cache::put_messages`] did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Not cached before.
    New,
    /// A newer state of a cached message.
    Changed,
    /// The cache already held this state or a newer one: nothing was written.
    AlreadyHeld,
}

#[derive(Clone)]
pub struct Cache {
    pool: SqlitePool,
    /// SQL statements run so far: what tests read to show a path's cost does not grow with the
    /// size of the cache (e.g. one sent message with 1 or 50 conversations).
    statements: Arc<AtomicU64>,
    /// Per conversation, the seqs applied above its sync point that do not follow it yet: pushes
    /// arrive slightly out of order under load (concurrent senders), and the missing one usually
    /// comes moments later. The sync point then moves over all of them at once instead of a
    /// catch-up re-reading what is already stored.
    ahead: Arc<Mutex<HashMap<ConversationId, BTreeSet<Seq>>>>,
    /// A check for gaps that stayed open is scheduled ([`Cache::arm_gap_check`]).
    gap_check: Arc<AtomicBool>,
}

impl Cache {
    pub async fn open(path: &Path) -> Result<Cache> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await?;
        sqlx::migrate!("../../migrations/client").run(&pool).await?;
        Ok(Cache { pool, statements: Arc::default(), ahead: Arc::default(), gap_check: Arc::default() })
    }

    /// The pool, for one statement (counted).
    fn db(&self) -> &SqlitePool {
        self.statements.fetch_add(1, Ordering::Relaxed);
        &self.pool
    }

    /// How many SQL statements this cache has run.
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- conversations ----

    pub async fn put_conversation(&self, conversation: &Conversation) -> Result<()> {
        let activity = conversation.last_message.as_ref().map_or(conversation.created_at, |m| m.timestamp);
        sqlx::query(
            "INSERT INTO conversations (id, json, last_activity) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET json = excluded.json, last_activity = MAX(conversations.last_activity, excluded.last_activity)",
        )
        .bind(conversation.id)
        .bind(serde_json::to_string(conversation)?)
        .bind(activity)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Replaces the conversation list with the server's (conversations left are dropped).
    pub async fn replace_conversations(&self, conversations: &[Conversation]) -> Result<()> {
        for conversation in conversations {
            self.put_conversation(conversation).await?;
        }
        let mut query = sqlx::QueryBuilder::new("DELETE FROM conversations WHERE id NOT IN (-1");
        for conversation in conversations {
            query.push(", ").push_bind(conversation.id);
        }
        query.push(")");
        query.build().execute(self.db()).await?;
        Ok(())
    }

    /// Cached conversations, most recent activity first, each as [`Cache::conversation`] gives it.
    pub async fn conversations(&self, me: UserId) -> Result<Vec<Conversation>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT json FROM conversations ORDER BY last_activity DESC, id DESC")
                .fetch_all(self.db())
                .await?;
        let mut conversations = Vec::with_capacity(rows.len());
        for (json,) in rows {
            conversations.push(self.summarize(serde_json::from_str(&json)?, me).await?);
        }
        Ok(conversations)
    }

    /// One cached conversation with `lastMessage`, `unreadCount` and the members' read cursors as
    /// the cache knows them. Its cost does not depend on how many conversations there are.
    pub async fn conversation(&self, conversation_id: ConversationId, me: UserId) -> Result<Option<Conversation>> {
        let json: Option<String> = sqlx::query_scalar("SELECT json FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_optional(self.db())
            .await?;
        match json {
            Some(json) => Ok(Some(self.summarize(serde_json::from_str(&json)?, me).await?)),
            None => Ok(None),
        }
    }

    async fn summarize(&self, mut conversation: Conversation, me: UserId) -> Result<Conversation> {
        if let Some(last) = self.latest_message(conversation.id).await?
            && conversation.last_message.as_ref().is_none_or(|m| m.seq <= last.seq)
        {
            conversation.last_message = Some(last);
        }
        let cursors: Vec<(UserId, Seq)> =
            sqlx::query_as("SELECT user_id, seq FROM read_cursors WHERE conversation_id = $1")
                .bind(conversation.id)
                .fetch_all(self.db())
                .await?;
        for member in &mut conversation.members {
            if let Some(&(_, seq)) = cursors.iter().find(|(user, _)| *user == member.user.id) {
                member.last_read_seq = member.last_read_seq.max(seq);
            }
        }
        let read = cursors.iter().find(|(user, _)| *user == me).map_or(0, |&(_, seq)| seq);
        let unread: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE conversation_id = $1 AND seq > $2
             AND json_extract(json, '$.senderId') <> $3 AND json_extract(json, '$.deletedAt') IS NULL LIMIT $4)",
        )
        .bind(conversation.id)
        .bind(read)
        .bind(me)
        .bind(MAX_UNREAD_COUNTED)
        .fetch_one(self.db())
        .await?;
        // Counted over cached messages: exact once the cache holds everything after the cursor.
        conversation.unread_count = unread;
        Ok(conversation)
    }

    pub async fn has_conversation(&self, conversation_id: ConversationId) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_optional(self.db())
            .await?;
        Ok(found.is_some())
    }

    pub async fn set_muted(&self, conversation_id: ConversationId, muted: bool) -> Result<()> {
        sqlx::query("UPDATE conversations SET muted = $2 WHERE id = $1")
            .bind(conversation_id)
            .bind(muted)
            .execute(self.db())
            .await?;
        Ok(())
    }

    pub async fn is_muted(&self, conversation_id: ConversationId) -> Result<bool> {
        let muted: Option<bool> = sqlx::query_scalar("SELECT muted FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_optional(self.db())
            .await?;
        Ok(muted.unwrap_or(false))
    }

    // ---- messages ----

    /// Stores several message states in one transaction (a burst: one commit instead of two per
    /// message), each unless the cache already holds that state or a newer one. Returns, for each
    /// message, what was done ([`Stored`]).
    pub async fn put_messages(&self, messages: &[&Message]) -> Result<Vec<Stored>> {
        self.statements.fetch_add(1 + 2 * messages.len() as u64, Ordering::Relaxed);
        // IMMEDIATE: the transaction reads before it writes; a deferred one could not take the write
        // lock after another connection wrote meanwhile (SQLITE_BUSY_SNAPSHOT, which the busy
        // timeout does not wait out).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut stored = Vec::with_capacity(messages.len());
        let mut activity: HashMap<ConversationId, i64> = HashMap::new();
        for message in messages {
            let held: Option<Seq> = sqlx::query_scalar("SELECT updated_seq FROM messages WHERE id = $1")
                .bind(message.id)
                .fetch_optional(&mut *tx)
                .await?;
            if held.is_some_and(|held| held >= message.updated_seq) {
                stored.push(Stored::AlreadyHeld);
                continue;
            }
            sqlx::query(
                "INSERT INTO messages (id, conversation_id, seq, updated_seq, json) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET json = excluded.json, updated_seq = excluded.updated_seq
                 WHERE excluded.updated_seq >= messages.updated_seq",
            )
            .bind(message.id)
            .bind(message.conversation_id)
            .bind(message.seq)
            .bind(message.updated_seq)
            .bind(serde_json::to_string(message)?)
            .execute(&mut *tx)
            .await?;
            let latest = activity.entry(message.conversation_id).or_insert(message.timestamp);
            *latest = (*latest).max(message.timestamp);
            stored.push(if held.is_some() { Stored::Changed } else { Stored::New });
        }
        for (conversation_id, timestamp) in activity {
            self.statements.fetch_add(1, Ordering::Relaxed);
            sqlx::query("UPDATE conversations SET last_activity = MAX(last_activity, $2) WHERE id = $1")
                .bind(conversation_id)
                .bind(timestamp)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn message(&self, id: MessageId) -> Result<Option<Message>> {
        let json: Option<String> =
            sqlx::query_scalar("SELECT json FROM messages WHERE id = $1").bind(id).fetch_optional(self.db()).await?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// Up to `limit` messages with `seq < before` (all if `None`), oldest first.
    pub async fn messages(
        &self,
        conversation_id: ConversationId,
        before: Option<Seq>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT json FROM (SELECT json, seq FROM messages WHERE conversation_id = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3)
             ORDER BY seq ASC",
        )
        .bind(conversation_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(self.db())
        .await?;
        rows.into_iter().map(|(json,)| Ok(serde_json::from_str(&json)?)).collect()
    }

    /// Forgets the conversation's cached messages older than `seq`, so that what stays is a
    /// contiguous run of its newest history: readers page the cache first and go to the server
    /// only below its oldest message, so a hole in the cache would stay a hole.
    pub async fn forget_messages_before(&self, conversation_id: ConversationId, seq: Seq) -> Result<()> {
        sqlx::query("DELETE FROM messages WHERE conversation_id = $1 AND seq < $2")
            .bind(conversation_id)
            .bind(seq)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// The seq of the conversation's oldest cached message. The cache holds a contiguous run of the
    /// newest history, so a changed message older than this is not stored: it comes, current, with
    /// its page when the reader pages back to it.
    pub async fn oldest_seq(&self, conversation_id: ConversationId) -> Result<Option<Seq>> {
        Ok(sqlx::query_scalar("SELECT MIN(seq) FROM messages WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_one(self.db())
            .await?)
    }

    async fn latest_message(&self, conversation_id: ConversationId) -> Result<Option<Message>> {
        Ok(self.messages(conversation_id, None, 1).await?.pop())
    }

    // ---- sync points ----

    pub async fn sync_points(&self) -> Result<Vec<(ConversationId, Seq)>> {
        Ok(sqlx::query_as("SELECT conversation_id, seq FROM sync_points").fetch_all(self.db()).await?)
    }

    pub async fn sync_point(&self, conversation_id: ConversationId) -> Result<Seq> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM sync_points WHERE conversation_id = $1")
            .bind(conversation_id)
            .fetch_optional(self.db())
            .await?;
        Ok(seq.unwrap_or(0))
    }

    pub async fn set_sync_point(&self, conversation_id: ConversationId, seq: Seq) -> Result<()> {
        let seq = self.take_ahead(conversation_id, seq);
        sqlx::query(
            "INSERT INTO sync_points (conversation_id, seq) VALUES ($1, $2)
             ON CONFLICT (conversation_id) DO UPDATE SET seq = MAX(sync_points.seq, excluded.seq)",
        )
        .bind(conversation_id)
        .bind(seq)
        .execute(self.db())
        .await?;
        Ok(())
    }

    fn ahead(&self) -> std::sync::MutexGuard<'_, HashMap<ConversationId, BTreeSet<Seq>>> {
        self.ahead.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sync point `seq` extended over the seqs held ahead that follow it; forgets those and
    /// any below.
    fn take_ahead(&self, conversation_id: ConversationId, mut seq: Seq) -> Seq {
        let mut ahead = self.ahead();
        if let Some(held) = ahead.get_mut(&conversation_id) {
            while held.first().is_some_and(|&first| first <= seq + 1) {
                if let Some(first) = held.pop_first() {
                    seq = seq.max(first);
                }
            }
            if held.is_empty() {
                ahead.remove(&conversation_id);
            }
        }
        seq
    }

    /// Moves the sync point to `seq` if it directly follows it (and over the seqs held ahead that
    /// follow then); false if there is a gap: `seq` is held until the gap fills.
    pub async fn advance_sync_point(&self, conversation_id: ConversationId, seq: Seq) -> Result<bool> {
        self.advance_sync_point_over(conversation_id, &[seq]).await
    }

    /// [`Cache::advance_sync_point`] for several seqs of one conversation, in any order: one read
    /// and at most one write. False if a gap stays.
    pub async fn advance_sync_point_over(&self, conversation_id: ConversationId, seqs: &[Seq]) -> Result<bool> {
        let current = self.sync_point(conversation_id).await?;
        let next = {
            let mut ahead = self.ahead();
            let held = ahead.entry(conversation_id).or_default();
            held.extend(seqs.iter().copied().filter(|&seq| seq > current));
            let mut next = current;
            while held.first().is_some_and(|&first| first <= next + 1) {
                if let Some(first) = held.pop_first() {
                    next = next.max(first);
                }
            }
            if held.is_empty() {
                ahead.remove(&conversation_id);
            }
            next
        };
        if next > current {
            self.set_sync_point(conversation_id, next).await?;
        }
        Ok(!self.ahead().contains_key(&conversation_id))
    }

    /// Whether some conversation still has a seq applied beyond a gap (a missing change).
    pub fn has_gap(&self) -> bool {
        !self.ahead().is_empty()
    }

    /// Forgets the seqs held ahead (a catch-up brought the server's state).
    pub fn clear_ahead(&self) {
        self.ahead().clear();
    }

    /// True if no gap check was scheduled: the caller schedules one.
    pub fn arm_gap_check(&self) -> bool {
        !self.gap_check.swap(true, Ordering::AcqRel)
    }

    /// The scheduled gap check runs: a later gap schedules another.
    pub fn disarm_gap_check(&self) {
        self.gap_check.store(false, Ordering::Release);
    }

    /// The `updated_seq` of a cached message: which state of it the cache holds.
    pub async fn message_state(&self, id: MessageId) -> Result<Option<Seq>> {
        Ok(sqlx::query_scalar("SELECT updated_seq FROM messages WHERE id = $1")
            .bind(id)
            .fetch_optional(self.db())
            .await?)
    }

    // ---- read cursors ----

    pub async fn set_read_cursor(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> Result<()> {
        sqlx::query(
            "INSERT INTO read_cursors (conversation_id, user_id, seq) VALUES ($1, $2, $3)
             ON CONFLICT (conversation_id, user_id) DO UPDATE SET seq = MAX(read_cursors.seq, excluded.seq)",
        )
        .bind(conversation_id)
        .bind(user_id)
        .bind(seq)
        .execute(self.db())
        .await?;
        Ok(())
    }

    pub async fn read_cursor(&self, conversation_id: ConversationId, user_id: UserId) -> Result<Seq> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM read_cursors WHERE conversation_id = $1 AND user_id = $2")
                .bind(conversation_id)
                .bind(user_id)
                .fetch_optional(self.db())
                .await?;
        Ok(seq.unwrap_or(0))
    }

    // ---- outbox ----

    pub async fn enqueue(&self, pending: &Pending) -> Result<()> {
        sqlx::query("INSERT INTO outbox (conversation_id, client_msg_id, content, created_at) VALUES ($1, $2, $3, $4)")
            .bind(pending.conversation_id)
            .bind(&pending.client_msg_id)
            .bind(&pending.content)
            .bind(pending.created_at)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Every outbox entry (of one conversation, or all), in the order written.
    pub async fn outbox(&self, conversation_id: Option<ConversationId>) -> Result<Vec<Pending>> {
        let rows: Vec<(i64, String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT conversation_id, client_msg_id, content, created_at, error_json FROM outbox
             WHERE $1 IS NULL OR conversation_id = $1 ORDER BY local_id",
        )
        .bind(conversation_id)
        .fetch_all(self.db())
        .await?;
        rows.into_iter()
            .map(|(conversation_id, client_msg_id, content, created_at, error)| {
                let error: Option<ErrorBody> = error.map(|e| serde_json::from_str(&e)).transpose()?;
                let state = if error.is_some() { SendState::Failed } else { SendState::Queued };
                Ok(Pending { conversation_id, client_msg_id, content, created_at, state, error })
            })
            .collect()
    }

    /// The oldest entry that is waiting to be sent (not failed).
    pub async fn next_to_send(&self) -> Result<Option<Pending>> {
        Ok(self.outbox(None).await?.into_iter().find(|p| p.error.is_none()))
    }

    pub async fn remove_pending(&self, client_msg_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM outbox WHERE client_msg_id = $1").bind(client_msg_id).execute(self.db()).await?;
        Ok(())
    }

    /// Marks an entry failed (`Some`) or ready again (`None`).
    pub async fn set_pending_error(&self, client_msg_id: &str, error: Option<&ErrorBody>) -> Result<bool> {
        let json = error.map(serde_json::to_string).transpose()?;
        let updated = sqlx::query("UPDATE outbox SET error_json = $2 WHERE client_msg_id = $1")
            .bind(client_msg_id)
            .bind(json)
            .execute(self.db())
            .await?
            .rows_affected();
        Ok(updated > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use confab_protocol::{ConversationKind, Member, MessageType, User};

    fn user(id: UserId) -> User {
        User { id, username: format!("u{id}"), display_name: format!("U{id}") }
    }

    fn message(id: MessageId, seq: Seq, sender: UserId) -> Message {
        Message {
            id,
            conversation_id: 1,
            seq,
            updated_seq: seq,
            sender_id: sender,
            sender_username: format!("u{sender}"),
            kind: MessageType::Text,
            content: Some("hi".into()),
            client_msg_id: None,
            timestamp: seq,
            edited_at: None,
            deleted_at: None,
            pinned: false,
            pinned_by: None,
            reactions: Default::default(),
            call: None,
        }
    }

    #[tokio::test]
    async fn unread_counts_others_after_the_cursor_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache.db")).await.unwrap();
        let members = [1, 2].map(|id| Member { user: user(id), online: false, last_read_seq: 0 }).to_vec();
        let conversation = Conversation {
            id: 1,
            kind: ConversationKind::Direct,
            title: None,
            members,
            last_message: None,
            unread_count: 0,
            last_seq: 0,
            created_at: 0,
        };
        cache.put_conversation(&conversation).await.unwrap();
        cache.put_messages(&[&message(1, 1, 1)]).await.unwrap(); // mine
        for seq in 2..=6 {
            cache.put_messages(&[&message(seq, seq, 2)]).await.unwrap();
        }
        let mut deleted = message(7, 7, 2);
        deleted.deleted_at = Some(7);
        cache.put_messages(&[&deleted]).await.unwrap();
        cache.set_read_cursor(1, 1, 3).await.unwrap();
        let summary = cache.conversation(1, 1).await.unwrap().unwrap();
        assert_eq!(summary.unread_count, 3, "others' messages 4..=6; mine, read and deleted ones do not count");
        assert_eq!(summary.members[0].last_read_seq, 3, "members carry the cached read cursors");

        for seq in 8..(8 + MAX_UNREAD_COUNTED + 5) {
            cache.put_messages(&[&message(seq, seq, 2)]).await.unwrap();
        }
        assert_eq!(cache.conversation(1, 1).await.unwrap().unwrap().unread_count, MAX_UNREAD_COUNTED);
    }

    #[tokio::test]
    async fn out_of_order_seqs_advance_the_sync_point_once_the_gap_fills() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("cache.db")).await.unwrap();
        assert!(cache.advance_sync_point(1, 1).await.unwrap());
        assert!(!cache.advance_sync_point(1, 3).await.unwrap(), "2 is missing");
        assert!(!cache.advance_sync_point(1, 4).await.unwrap());
        assert!(cache.has_gap());
        assert!(cache.advance_sync_point(1, 2).await.unwrap());
        assert_eq!(cache.sync_point(1).await.unwrap(), 4, "over the seqs held ahead");
        assert!(!cache.has_gap());
        assert!(!cache.advance_sync_point(1, 9).await.unwrap());
        cache.set_sync_point(1, 9).await.unwrap();
        assert!(!cache.has_gap(), "a catch-up's sync point covers what was held");
    }
}
