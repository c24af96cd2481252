//! The message writer (SQLite): one thread that owns a connection and stores new messages in
//! batches — one transaction, one commit and one wake-up for everything that queued while the
//! previous batch was being written (group commit).
//!
//! Why a thread of its own: SQLite has one writer at a time anyway, and through sqlx every
//! statement is a hand-off to a connection's worker thread and back. Those hand-offs, not the SQL,
//! were most of the server's CPU per message (see docs/performance.md). Here a batch of messages is
//! a handful of cached statements run back to back on one thread.
//!
//! Every reply is sent after the batch's commit, so an acknowledged message is durable (WAL with
//! `synchronous = NORMAL`: a killed process loses no commit). Other writes (edits, reactions,
//! accounts…) stay on sqlx's pool and take SQLite's write lock in turn, waiting up to the busy
//! timeout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use confab_protocol::{ConversationId, UserId};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// At most this many messages go into one transaction, so that one batch's replies are not held
/// back long behind a very deep queue.
const MAX_BATCH: usize = 512;

/// Requests that may wait for the writer; beyond this senders wait for room (backpressure).
const QUEUE: usize = 4096;

/// A message to store.
pub(super) struct NewMessage {
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    /// `text` or `call`.
    pub kind: &'static str,
    pub content: String,
    pub client_msg_id: Option<String>,
    /// The call record, as JSON, of a `call` message.
    pub call_json: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What became of a [`NewMessage`].
pub(super) enum Written {
    /// Stored (and committed) with this id and seq.
    Stored {
        id: i64,
        seq: i64,
        sender_username: String,
        /// Every member of the conversation, to deliver to.
        members: Vec<UserId>,
    },
    /// The sender's `clientMsgId` was used before: nothing was stored.
    Repeat { members: Vec<UserId> },
    /// The conversation does not exist or the sender is not a member.
    NotMember,
}

struct Job {
    message: NewMessage,
    reply: oneshot::Sender<Result<Written>>,
}

/// The handle to the writer thread; cheap to clone. The thread ends when [`MessageWriter::stop`]
/// is called; requests after that are refused as `unavailable`.
#[derive(Clone)]
pub(super) struct MessageWriter {
    /// Jobs for the thread; `None` sent means "stop after what is queued before it".
    jobs: mpsc::Sender<Option<Job>>,
}

impl MessageWriter {
    /// Opens a connection of its own to the database file at `path` (already created and migrated)
    /// with `settings` (the PRAGMAs every connection gets), and starts the thread.
    pub fn start(path: &Path, settings: &str) -> Result<MessageWriter> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .and_then(|conn| conn.execute_batch(settings).map(|()| conn))
                .map_err(|e| Error::Config(format!("cannot open {} for writing: {e}", path.display())))?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let path: PathBuf = path.to_owned();
        std::thread::Builder::new()
            .name("confab-message-writer".into())
            .spawn(move || run(conn, queue, &path))
            .map_err(|e| Error::Config(format!("cannot start the message writer: {e}")))?;
        Ok(MessageWriter { jobs })
    }

    /// Stores `message` and returns once it is committed.
    pub async fn write(&self, message: NewMessage) -> Result<Written> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Some(Job { message, reply })).await.map_err(|_| stopped())?;
        // A dropped reply means the thread stopped before the job's turn: it was not stored.
        answer.await.map_err(|_| stopped())?
    }

    /// Lets the thread finish what is queued and waits until it has ended.
    pub async fn stop(&self) {
        if self.jobs.send(None).await.is_ok() {
            self.jobs.closed().await;
        }
    }
}

fn stopped() -> Error {
    Error::Database(sqlx::Error::PoolClosed)
}

/// The thread: takes whatever has queued (up to [`MAX_BATCH`]), writes it in one transaction,
/// answers, and waits for more.
fn run(mut conn: Connection, mut queue: mpsc::Receiver<Option<Job>>, path: &Path) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        match queue.blocking_recv() {
            Some(Some(job)) => batch.push(job),
            Some(None) | None => break,
        }
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Some(job)) => batch.push(job),
                Ok(None) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let messages: Vec<&NewMessage> = batch.iter().map(|job| &job.message).collect();
        match write_batch(&mut conn, &messages) {
            Ok(results) => {
                for (job, written) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(Ok(written));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, db = %path.display(), count = batch.len(), "storing messages failed");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(Error::Sqlite(e.to_string())));
                }
            }
        }
    }
    // Dropping the receiver makes `stop` return and refuses later and still-queued jobs.
}

/// One transaction for the whole batch. A message that cannot be stored (not a member, a repeated
/// `clientMsgId`) gets its own answer; the others are still committed. An `Err` means nothing of
/// the batch was stored.
fn write_batch(conn: &mut Connection, batch: &[&NewMessage]) -> rusqlite::Result<Vec<Written>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut results = Vec::with_capacity(batch.len());
    // Members of each conversation seen in this batch: nothing else writes while it holds the lock.
    let mut members: HashMap<ConversationId, Vec<(UserId, String)>> = HashMap::new();
    for message in batch {
        let conversation_members = match members.get(&message.conversation_id) {
            Some(found) => found,
            None => {
                let found = members_with_names(&tx, message.conversation_id)?;
                members.entry(message.conversation_id).or_insert(found)
            }
        };
        let Some((_, sender_username)) = conversation_members.iter().find(|(id, _)| *id == message.sender_id) else {
            results.push(Written::NotMember);
            continue;
        };
        let member_ids = || conversation_members.iter().map(|(id, _)| *id).collect();
        let inserted = tx
            .prepare_cached(
                "INSERT INTO messages (conversation_id, seq, updated_seq, sender_id, kind, content, client_msg_id, call_json, created_at)
                 SELECT id, last_seq + 1, last_seq + 1, ?2, ?3, ?4, ?5, ?6, ?7 FROM conversations WHERE id = ?1
                 RETURNING id, seq",
            )?
            .query_row(
                rusqlite::params![
                    message.conversation_id,
                    message.sender_id,
                    message.kind,
                    message.content,
                    message.client_msg_id,
                    message.call_json,
                    message.created_at
                ],
                |row| Ok((row.get(0)?, row.get(1)?)),
            );
        results.push(match inserted {
            Ok((id, seq)) => {
                Written::Stored { id, seq, sender_username: sender_username.clone(), members: member_ids() }
            }
            // A constraint failure undoes only its statement; the rest of the batch stands.
            Err(e) if is_unique_violation(&e) && message.client_msg_id.is_some() => {
                Written::Repeat { members: member_ids() }
            }
            Err(rusqlite::Error::QueryReturnedNoRows) => Written::NotMember,
            // Anything else (disk full, I/O) may have rolled the transaction back already, and
            // later statements would then commit one by one: give up on the whole batch.
            Err(e) => return Err(e),
        });
    }
    tx.commit()?;
    Ok(results)
}

fn members_with_names(conn: &Connection, conversation_id: ConversationId) -> rusqlite::Result<Vec<(UserId, String)>> {
    conn.prepare_cached(
        "SELECT m.user_id, u.username FROM conversation_members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ?1 ORDER BY m.user_id",
    )?
    .query_map([conversation_id], |row| Ok((row.get(0)?, row.get(1)?)))?
    .collect()
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn text(conversation_id: ConversationId, sender_id: UserId, content: &str, client_msg_id: &str) -> NewMessage {
        NewMessage {
            conversation_id,
            sender_id,
            kind: "text",
            content: content.into(),
            client_msg_id: Some(client_msg_id.into()),
            call_json: None,
            created_at: 1,
        }
    }

    /// One batch holding a stranger's message and a repeat between good ones: each gets its own
    /// answer, the good ones are committed with consecutive seqs, nothing else is stored.
    #[tokio::test]
    async fn a_batch_answers_each_message_and_commits_the_good_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confab.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        let ann = store.create_user("ann", "Ann", "x").await.unwrap().id;
        let bob = store.create_user("bob", "Bob", "x").await.unwrap().id;
        let eve = store.create_user("eve", "Eve", "x").await.unwrap().id;
        let (conversation, _) = store.create_direct(ann, bob).await.unwrap();

        let mut conn = Connection::open(&path).unwrap();
        let batch = [
            text(conversation, ann, "one", "a1"),
            text(conversation, eve, "intruder", "e1"),
            text(conversation, bob, "two", "b1"),
            text(conversation, ann, "one again", "a1"),
            text(conversation + 100, ann, "nowhere", "a2"),
            text(conversation, ann, "three", "a3"),
        ];
        let results = write_batch(&mut conn, &batch.iter().collect::<Vec<_>>()).unwrap();

        let seqs: Vec<Option<i64>> = results
            .iter()
            .map(|r| match r {
                Written::Stored { seq, members, sender_username, .. } => {
                    assert_eq!(members, &[ann, bob]);
                    assert!(["ann", "bob"].contains(&sender_username.as_str()));
                    Some(*seq)
                }
                _ => None,
            })
            .collect();
        assert_eq!(seqs, [Some(1), None, Some(2), None, None, Some(3)]);
        assert!(matches!(results[1], Written::NotMember));
        assert!(matches!(&results[3], Written::Repeat { members } if members == &[ann, bob]));
        assert!(matches!(results[4], Written::NotMember));

        // What another connection sees after the commit.
        let (history, _) = store.history(conversation, None, None, 50).await.unwrap();
        let stored: Vec<(i64, &str)> =
            history.iter().rev().map(|m| (m.seq, m.content.as_deref().unwrap_or_default())).collect();
        assert_eq!(stored, [(1, "one"), (2, "two"), (3, "three")]);
        let last_seq: i64 = conn
            .query_row("SELECT last_seq FROM conversations WHERE id = ?1", [conversation], |row| row.get(0))
            .unwrap();
        assert_eq!(last_seq, 3);
        store.close().await;
    }

    /// After `stop`, sends are refused as `unavailable`, not lost silently or hung.
    #[tokio::test]
    async fn a_stopped_writer_refuses_as_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confab.db");
        let store = Store::open_sqlite(&path).await.unwrap();
        let writer = store.writer.clone().unwrap();
        writer.stop().await;
        let refused = writer.write(text(1, 1, "late", "l1")).await.err().unwrap();
        assert_eq!(refused.body().code, confab_protocol::ErrorCode::Unavailable);
        store.close().await;
    }
}
