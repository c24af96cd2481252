//! Conversations, their members and read cursors.

use std::collections::HashMap;

use confab_protocol::{Conversation, ConversationId, ConversationKind, Member, Seq, User, UserId};
use sqlx::AnyConnection;

use super::{Store, fetch_in, is_unique_violation, messages::latest_messages, now_ms};
use crate::error::{Error, Result};

/// The key that makes a direct conversation unique per pair of users.
fn direct_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

fn kind_of(s: &str) -> Result<ConversationKind> {
    match s {
        "direct" => Ok(ConversationKind::Direct),
        "group" => Ok(ConversationKind::Group),
        other => Err(Error::Corrupt(format!("conversation kind {other:?}"))),
    }
}

impl Store {
    /// Creates a direct conversation, or returns the existing one. `Ok((id, created))`.
    pub async fn create_direct(&self, creator: UserId, other: UserId) -> Result<(ConversationId, bool)> {
        let key = direct_key(creator, other);
        let mut tx = self.write().await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
        let id = insert_conversation(&mut tx, "direct", None, Some(&key), creator, &[creator, other]).await?;
        tx.commit().await?;
        Ok((id, true))
    }

    pub async fn create_group(&self, creator: UserId, title: &str, members: &[UserId]) -> Result<ConversationId> {
        let mut tx = self.write().await?;
        let id = insert_conversation(&mut tx, "group", Some(title), None, creator, members).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn member_ids(&self, conversation_id: ConversationId) -> Result<Vec<UserId>> {
        let mut conn = self.pool.acquire().await?;
        member_ids(&mut conn, conversation_id).await
    }

    /// The members of a conversation the user belongs to; `not_found` otherwise.
    pub async fn members_if_member(&self, conversation_id: ConversationId, user_id: UserId) -> Result<Vec<UserId>> {
        let members = self.member_ids(conversation_id).await?;
        if members.contains(&user_id) { Ok(members) } else { Err(Error::not_found("conversation")) }
    }

    /// Ids of conversations the user belongs to.
    pub async fn conversation_ids(&self, user_id: UserId) -> Result<Vec<ConversationId>> {
        Ok(sqlx::query_scalar(
            "SELECT conversation_id FROM conversation_members WHERE user_id = $1 ORDER BY conversation_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Everyone who should see this user's presence: friends and members of shared conversations.
    pub async fn related_user_ids(&self, user_id: UserId) -> Result<Vec<UserId>> {
        Ok(sqlx::query_scalar(
            "SELECT friend_id FROM friendships WHERE user_id = $1
             UNION
             SELECT o.user_id FROM conversation_members m JOIN conversation_members o ON o.conversation_id = m.conversation_id
             WHERE m.user_id = $1 AND o.user_id <> $1",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// The user's conversations (or the one given), most recent activity first. `online` flags are
    /// left false: presence is not the store's business.
    pub async fn conversations(&self, user_id: UserId, only: Option<ConversationId>) -> Result<Vec<Conversation>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<(i64, String, Option<String>, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.id, c.kind, c.title, c.last_seq, c.created_at,
                    (SELECT COUNT(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq
                       AND x.sender_id <> m.user_id AND x.deleted_at IS NULL) AS unread
             FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = $1
             WHERE $2 IS NULL OR c.id = $2
             ORDER BY c.last_activity_at DESC, c.id DESC",
        )
        .bind(user_id)
        .bind(only)
        .fetch_all(&mut *conn)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();

        let mut members: HashMap<i64, Vec<Member>> = HashMap::new();
        let member_rows: Vec<(i64, i64, String, String, i64)> = fetch_in(
            &mut conn,
            "SELECT m.conversation_id, u.id, u.username, u.display_name, m.last_read_seq
             FROM conversation_members m JOIN users u ON u.id = m.user_id WHERE m.conversation_id IN ({ids})
             ORDER BY m.conversation_id, u.username",
            &ids,
        )
        .await?;
        for (conversation_id, id, username, display_name, last_read_seq) in member_rows {
            members.entry(conversation_id).or_default().push(Member {
                user: User { id, username, display_name },
                online: false,
                last_read_seq,
            });
        }
        let mut latest = latest_messages(&mut conn, &ids).await?;

        rows.into_iter()
            .map(|(id, kind, title, last_seq, created_at, unread)| {
                Ok(Conversation {
                    id,
                    kind: kind_of(&kind)?,
                    title,
                    members: members.remove(&id).unwrap_or_default(),
                    last_message: latest.remove(&id),
                    unread_count: unread,
                    last_seq,
                    created_at,
                })
            })
            .collect()
    }

    /// Moves the user's read cursor forward (never back, never past `last_seq`).
    /// Returns the cursor after the call and whether it moved.
    pub async fn mark_read(&self, conversation_id: ConversationId, user_id: UserId, seq: Seq) -> Result<(Seq, bool)> {
        let mut tx = self.write().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT m.last_read_seq, c.last_seq FROM conversation_members m JOIN conversations c ON c.id = m.conversation_id
             WHERE m.conversation_id = $1 AND m.user_id = $2",
        )
        .bind(conversation_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (current, last_seq) = row.ok_or_else(|| Error::not_found("conversation"))?;
        let target = seq.min(last_seq);
        if target <= current {
            return Ok((current, false));
        }
        sqlx::query("UPDATE conversation_members SET last_read_seq = $3 WHERE conversation_id = $1 AND user_id = $2")
            .bind(conversation_id)
            .bind(user_id)
            .bind(target)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((target, true))
    }

    /// `(user_id, last_read_seq)` of every member.
    pub async fn read_cursors(&self, conversation_id: ConversationId) -> Result<Vec<(UserId, Seq)>> {
        Ok(sqlx::query_as(
            "SELECT user_id, last_read_seq FROM conversation_members WHERE conversation_id = $1 ORDER BY user_id",
        )
        .bind(conversation_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// `last_seq` of every conversation of the user.
    pub async fn last_seqs(&self, user_id: UserId) -> Result<Vec<(ConversationId, Seq)>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.last_seq FROM conversations c JOIN conversation_members m ON m.conversation_id = c.id
             WHERE m.user_id = $1 ORDER BY c.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }
}

pub(super) async fn member_ids(conn: &mut AnyConnection, conversation_id: ConversationId) -> Result<Vec<UserId>> {
    Ok(sqlx::query_scalar("SELECT user_id FROM conversation_members WHERE conversation_id = $1 ORDER BY user_id")
        .bind(conversation_id)
        .fetch_all(conn)
        .await?)
}

async fn insert_conversation(
    conn: &mut AnyConnection,
    kind: &str,
    title: Option<&str>,
    key: Option<&str>,
    creator: UserId,
    members: &[UserId],
) -> Result<ConversationId> {
    let now = now_ms();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO conversations (kind, title, direct_key, created_by, created_at, last_activity_at)
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(kind)
    .bind(title)
    .bind(key)
    .bind(creator)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) { Error::conflict("this conversation already exists") } else { e.into() }
    })?;
    for member in members {
        sqlx::query("INSERT INTO conversation_members (conversation_id, user_id, joined_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(member)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}
