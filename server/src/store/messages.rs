//! Messages and every change to them. Each change takes the conversation's next `seq` in the same
//! transaction that applies it, so `seq`s have no gaps and `sync` can replay by them.

use std::collections::HashMap;

use confab_protocol::{CallRecord, ConversationId, Message, MessageId, MessageType, Seq, UserId};
use sqlx::AnyConnection;

use super::conversations::member_ids;
use super::writer::{NewMessage, Written};
use super::{Store, fetch_in, now_ms};
use crate::error::{Error, Result};

const MESSAGE_SELECT: &str = "SELECT m.id, m.conversation_id, m.seq, m.updated_seq, m.sender_id, u.username, m.kind,
       m.content, m.client_msg_id, m.call_json, m.created_at, m.edited_at, m.deleted_at, m.pinned_by
     FROM messages m JOIN users u ON u.id = m.sender_id";

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    conversation_id: i64,
    seq: i64,
    updated_seq: i64,
    sender_id: i64,
    username: String,
    kind: String,
    content: Option<String>,
    client_msg_id: Option<String>,
    call_json: Option<String>,
    created_at: i64,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
    pinned_by: Option<i64>,
}

impl TryFrom<MessageRow> for Message {
    type Error = Error;
    fn try_from(r: MessageRow) -> Result<Message> {
        let kind = match r.kind.as_str() {
            "text" => MessageType::Text,
            "call" => MessageType::Call,
            other => return Err(Error::Corrupt(format!("message kind {other:?}"))),
        };
        let call = r
            .call_json
            .map(|json| serde_json::from_str::<CallRecord>(&json).map_err(|e| Error::Corrupt(e.to_string())))
            .transpose()?;
        Ok(Message {
            id: r.id,
            conversation_id: r.conversation_id,
            seq: r.seq,
            updated_seq: r.updated_seq,
            sender_id: r.sender_id,
            sender_username: r.username,
            kind,
            content: r.content,
            client_msg_id: r.client_msg_id,
            timestamp: r.created_at,
            edited_at: r.edited_at,
            deleted_at: r.deleted_at,
            pinned: r.pinned_by.is_some(),
            pinned_by: r.pinned_by,
            reactions: Default::default(),
            call,
        })
    }
}

/// What `sendMessage` did.
pub struct SendOutcome {
    pub message: Message,
    /// False when the `clientMsgId` was already used: `message` is the stored one, nothing new happened.
    pub created: bool,
    /// Members of the conversation, to deliver to.
    pub members: Vec<UserId>,
}

/// The result of a change to a message (edit, delete, reaction, pin).
pub struct MessageChange {
    /// The message after the change.
    pub message: Message,
    /// The change's `seq`; `None` when the request changed nothing (e.g. a reaction already there).
    pub seq: Option<Seq>,
    pub members: Vec<UserId>,
}

/// What the rules ([`crate::messages::rules::decide`]) answer to a change of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The message is already so (a reaction already there, the same text): no `seq`, no event.
    Unchanged,
    /// Take the conversation's next `seq` and write this.
    Apply(Write<'a>),
}

/// A write to one message, stamped with the change's `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write<'a> {
    /// New text, marked edited.
    Edit(&'a str),
    /// Erased to a tombstone: text, call record, reactions and pin go.
    Delete,
    AddReaction {
        user_id: UserId,
        emoji: &'a str,
    },
    RemoveReaction {
        user_id: UserId,
        emoji: &'a str,
    },
    /// Pinned by this user, or (`None`) unpinned.
    Pin(Option<UserId>),
}

impl Store {
    /// Stores a message (or finds the one with the same `clientMsgId`). The caller must be a member.
    ///
    /// The hot path of the server. On SQLite the message goes to the writer thread, which stores
    /// whatever queued together in one transaction (see [`super::writer`]). On PostgreSQL one
    /// transaction per message: the seq under the conversation's row lock (writers on several
    /// nodes), and PostgreSQL groups concurrent commits itself. Either way the stored message is
    /// built here rather than read back, and a repeated `clientMsgId` is found by the unique index
    /// rather than looked up first.
    pub async fn insert_message(
        &self,
        conversation_id: ConversationId,
        sender_id: UserId,
        kind: MessageType,
        content: &str,
        client_msg_id: Option<&str>,
        call: Option<&CallRecord>,
    ) -> Result<SendOutcome> {
        let now = now_ms();
        let call_json = call.map(serde_json::to_string).transpose().map_err(|e| Error::Corrupt(e.to_string()))?;
        let kind_name = match kind {
            MessageType::Text => "text",
            MessageType::Call => "call",
        };
        let new = NewMessage {
            conversation_id,
            sender_id,
            kind: kind_name,
            content: content.to_owned(),
            client_msg_id: client_msg_id.map(str::to_owned),
            call_json,
            created_at: now,
        };
        let written = match &self.writer {
            Some(writer) => writer.write(new).await?,
            None => self.insert_in_transaction(&new).await?,
        };
        let (id, seq, sender_username, members) = match written {
            Written::Stored { id, seq, sender_username, members } => (id, seq, sender_username, members),
            Written::NotMember => return Err(Error::not_found("conversation")),
            // A repeated clientMsgId (a retry, or two sends of one racing): the first one won.
            Written::Repeat { members } => {
                let client_msg_id =
                    client_msg_id.ok_or_else(|| Error::Corrupt("a repeat without a clientMsgId".into()))?;
                return self.resend(conversation_id, sender_id, client_msg_id, members).await;
            }
        };
        let message = Message {
            id,
            conversation_id,
            seq,
            updated_seq: seq,
            sender_id,
            sender_username,
            kind,
            content: Some(content.to_owned()),
            client_msg_id: client_msg_id.map(str::to_owned),
            timestamp: now,
            edited_at: None,
            deleted_at: None,
            pinned: false,
            pinned_by: None,
            reactions: Default::default(),
            call: call.cloned(),
        };
        Ok(SendOutcome { message, created: true, members })
    }

    /// [`Store::insert_message`] on PostgreSQL. The members are read before the write, so that
    /// nothing after the commit can fail: an error answer for a stored message would make the
    /// client retry, get the stored one back, and nobody would be told of it.
    async fn insert_in_transaction(&self, new: &NewMessage) -> Result<Written> {
        let mut tx = self.write().await?;
        let members = members_with_names(&mut tx, new.conversation_id).await?;
        let Some(sender_username) = members.iter().find(|(id, _)| *id == new.sender_id).map(|(_, name)| name.clone())
        else {
            return Ok(Written::NotMember);
        };
        let members = members.into_iter().map(|(id, _)| id).collect();
        let seq = next_seq(&mut tx, new.conversation_id, true).await?;
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO messages (conversation_id, seq, updated_seq, sender_id, kind, content, client_msg_id, call_json, created_at)
             VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(new.conversation_id)
        .bind(seq)
        .bind(new.sender_id)
        .bind(new.kind)
        .bind(&new.content)
        .bind(new.client_msg_id.as_deref())
        .bind(new.call_json.as_deref())
        .bind(new.created_at)
        .fetch_one(&mut *tx)
        .await;
        match id {
            Ok(id) => {
                tx.commit().await?;
                Ok(Written::Stored { id, seq, sender_username, members })
            }
            Err(e) => {
                tx.rollback().await?;
                if super::is_unique_violation(&e) && new.client_msg_id.is_some() {
                    Ok(Written::Repeat { members })
                } else {
                    Err(e.into())
                }
            }
        }
    }

    /// The stored message of a repeated `clientMsgId`.
    async fn resend(
        &self,
        conversation_id: ConversationId,
        sender_id: UserId,
        client_msg_id: &str,
        members: Vec<UserId>,
    ) -> Result<SendOutcome> {
        let mut conn = self.pool.acquire().await?;
        let existing: (i64, i64) =
            sqlx::query_as("SELECT id, conversation_id FROM messages WHERE sender_id = $1 AND client_msg_id = $2")
                .bind(sender_id)
                .bind(client_msg_id)
                .fetch_one(&mut *conn)
                .await?;
        if existing.1 != conversation_id {
            return Err(Error::conflict("this clientMsgId was already used in another conversation"));
        }
        let message = load_message(&mut conn, existing.0).await?;
        Ok(SendOutcome { message, created: false, members })
    }

    /// Changes a message: loads it and its conversation's members, asks `decide` (the rules, see
    /// [`crate::messages::rules`]) what to do, and writes that — all in one transaction, so the
    /// decision holds for the state it was made on. `not_found` if there is no such message.
    pub async fn change_message<'a>(
        &self,
        message_id: MessageId,
        decide: impl FnOnce(&Message, &[UserId]) -> Result<Decision<'a>>,
    ) -> Result<MessageChange> {
        let mut tx = self.write().await?;
        let message = load_message(&mut tx, message_id).await.map_err(|e| match e {
            Error::Database(sqlx::Error::RowNotFound) => Error::not_found("message"),
            e => e,
        })?;
        let members = member_ids(&mut tx, message.conversation_id).await?;
        let write = match decide(&message, &members)? {
            Decision::Unchanged => return Ok(MessageChange { message, seq: None, members }),
            Decision::Apply(write) => write,
        };
        let seq = next_seq(&mut tx, message.conversation_id, false).await?;
        let now = now_ms();
        match write {
            Write::Edit(content) => {
                sqlx::query("UPDATE messages SET content = $2, edited_at = $3, updated_seq = $4 WHERE id = $1")
                    .bind(message_id)
                    .bind(content)
                    .bind(now)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
            Write::Delete => {
                // Erase, not hide: the text, its reactions and its pin go; the row stays as a tombstone
                // so that seq order and replies keep their place.
                sqlx::query(
                    "UPDATE messages SET content = NULL, call_json = NULL, deleted_at = $2, pinned_at = NULL, pinned_by = NULL,
                     updated_seq = $3 WHERE id = $1",
                )
                .bind(message_id)
                .bind(now)
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM reactions WHERE message_id = $1").bind(message_id).execute(&mut *tx).await?;
            }
            Write::AddReaction { user_id, emoji } => {
                sqlx::query("INSERT INTO reactions (message_id, user_id, emoji, added_seq) VALUES ($1, $2, $3, $4)")
                    .bind(message_id)
                    .bind(user_id)
                    .bind(emoji)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                touch(&mut tx, message_id, seq).await?;
            }
            Write::RemoveReaction { user_id, emoji } => {
                sqlx::query("DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3")
                    .bind(message_id)
                    .bind(user_id)
                    .bind(emoji)
                    .execute(&mut *tx)
                    .await?;
                touch(&mut tx, message_id, seq).await?;
            }
            Write::Pin(by) => {
                let at = by.map(|_| now);
                sqlx::query("UPDATE messages SET pinned_at = $2, pinned_by = $3, updated_seq = $4 WHERE id = $1")
                    .bind(message_id)
                    .bind(at)
                    .bind(by)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let message = load_message(&mut tx, message_id).await?;
        tx.commit().await?;
        Ok(MessageChange { message, seq: Some(seq), members })
    }

    /// A page of history: `before` → `seq < before`, newest first; `after` → `seq > after`, oldest
    /// first; neither → the newest page. Returns the page and whether more exist in that direction.
    pub async fn history(
        &self,
        conversation_id: ConversationId,
        before: Option<Seq>,
        after: Option<Seq>,
        limit: u32,
    ) -> Result<(Vec<Message>, bool)> {
        let mut conn = self.pool.acquire().await?;
        let fetch = i64::from(limit) + 1;
        let rows: Vec<MessageRow> = match after {
            Some(after) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.seq > $2 ORDER BY m.seq ASC LIMIT $3"
                )))
                .bind(conversation_id)
                .bind(after)
                .bind(fetch)
                .fetch_all(&mut *conn)
                .await?
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
                )))
                .bind(conversation_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(fetch)
                .fetch_all(&mut *conn)
                .await?
            }
        };
        let mut messages = to_messages(&mut conn, rows).await?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        Ok((messages, has_more))
    }

    /// Pinned messages, most recently pinned first.
    pub async fn pins(&self, conversation_id: ConversationId) -> Result<Vec<Message>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.pinned_by IS NOT NULL ORDER BY m.pinned_at DESC, m.id DESC"
        )))
        .bind(conversation_id)
        .fetch_all(&mut *conn)
        .await?;
        to_messages(&mut conn, rows).await
    }

    /// Messages created or changed after `since`, in their current state, by `updated_seq`.
    pub async fn changes_since(
        &self,
        conversation_id: ConversationId,
        since: Seq,
        limit: u32,
    ) -> Result<(Vec<Message>, bool)> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{MESSAGE_SELECT} WHERE m.conversation_id = $1 AND m.updated_seq > $2 ORDER BY m.updated_seq ASC LIMIT $3"
        )))
        .bind(conversation_id)
        .bind(since)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *conn)
        .await?;
        let mut messages = to_messages(&mut conn, rows).await?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        Ok((messages, has_more))
    }

    /// The conversation of a message and its sender, if it exists.
    pub async fn message(&self, message_id: MessageId) -> Result<Option<Message>> {
        let mut conn = self.pool.acquire().await?;
        match load_message(&mut conn, message_id).await {
            Ok(m) => Ok(Some(m)),
            Err(Error::Database(sqlx::Error::RowNotFound)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The members of a conversation with their names, by id.
async fn members_with_names(
    conn: &mut AnyConnection,
    conversation_id: ConversationId,
) -> Result<Vec<(UserId, String)>> {
    Ok(sqlx::query_as(
        "SELECT m.user_id, u.username FROM conversation_members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = $1 ORDER BY m.user_id",
    )
    .bind(conversation_id)
    .fetch_all(conn)
    .await?)
}

/// Takes the conversation's next seq (the row lock serializes writers of one conversation).
async fn next_seq(conn: &mut AnyConnection, conversation_id: ConversationId, activity: bool) -> Result<Seq> {
    let query = if activity {
        sqlx::query_scalar(
            "UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = $2 WHERE id = $1 RETURNING last_seq",
        )
        .bind(conversation_id)
        .bind(now_ms())
    } else {
        sqlx::query_scalar("UPDATE conversations SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq")
            .bind(conversation_id)
    };
    query.fetch_optional(conn).await?.ok_or_else(|| Error::not_found("conversation"))
}

async fn touch(conn: &mut AnyConnection, message_id: MessageId, seq: Seq) -> Result<()> {
    sqlx::query("UPDATE messages SET updated_seq = $2 WHERE id = $1").bind(message_id).bind(seq).execute(conn).await?;
    Ok(())
}

async fn load_message(conn: &mut AnyConnection, message_id: MessageId) -> Result<Message> {
    let row: MessageRow = sqlx::query_as(sqlx::AssertSqlSafe(format!("{MESSAGE_SELECT} WHERE m.id = $1")))
        .bind(message_id)
        .fetch_one(&mut *conn)
        .await?;
    let mut messages = to_messages(conn, vec![row]).await?;
    messages.pop().ok_or(Error::Database(sqlx::Error::RowNotFound))
}

/// The newest message of each conversation.
pub(super) async fn latest_messages(
    conn: &mut AnyConnection,
    conversation_ids: &[ConversationId],
) -> Result<HashMap<ConversationId, Message>> {
    let sql = format!(
        "{MESSAGE_SELECT} WHERE m.id IN (SELECT MAX(id) FROM messages WHERE conversation_id IN ({{ids}}) GROUP BY conversation_id)"
    );
    let rows: Vec<MessageRow> = fetch_in(&mut *conn, &sql, conversation_ids).await?;
    Ok(to_messages(conn, rows).await?.into_iter().map(|m| (m.conversation_id, m)).collect())
}

/// Converts rows and attaches their reactions (one query for the whole page).
async fn to_messages(conn: &mut AnyConnection, rows: Vec<MessageRow>) -> Result<Vec<Message>> {
    let mut messages = rows.into_iter().map(Message::try_from).collect::<Result<Vec<_>>>()?;
    if messages.is_empty() {
        return Ok(messages);
    }
    let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
    let reactions: Vec<(i64, i64, String)> = fetch_in(
        &mut *conn,
        "SELECT message_id, user_id, emoji FROM reactions WHERE message_id IN ({ids}) ORDER BY added_seq",
        &ids,
    )
    .await?;
    let index: HashMap<MessageId, usize> = messages.iter().enumerate().map(|(i, m)| (m.id, i)).collect();
    for (message_id, user_id, emoji) in reactions {
        if let Some(&i) = index.get(&message_id) {
            messages[i].reactions.entry(emoji).or_default().push(user_id);
        }
    }
    Ok(messages)
}
