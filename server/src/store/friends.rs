//! Friendships and friend requests.

use confab_protocol::{FriendRequest, FriendRequests, Millis, User, UserId};

use super::{Store, Tx, now_ms};
use crate::error::{Error, Result};

/// What `POST /api/friends/requests` did.
pub enum RequestOutcome {
    /// A new pending request.
    Requested(FriendRequest),
    /// The other user had already asked: now they are friends. Carries the request that was accepted.
    Accepted(FriendRequest),
}

const REQUEST_SELECT: &str =
    "SELECT r.id, r.created_at, f.id, f.username, f.display_name, t.id, t.username, t.display_name
     FROM friend_requests r JOIN users f ON f.id = r.from_user JOIN users t ON t.id = r.to_user";

type RequestRow = (i64, i64, i64, String, String, i64, String, String);

fn request_from_row((id, created_at, fid, fname, fdisplay, tid, tname, tdisplay): RequestRow) -> FriendRequest {
    FriendRequest {
        id,
        from: User { id: fid, username: fname, display_name: fdisplay },
        to: User { id: tid, username: tname, display_name: tdisplay },
        created_at,
    }
}

impl Store {
    /// Friends of a user with their `last_seen`, by username.
    pub async fn friends(&self, user_id: UserId) -> Result<Vec<(User, Option<Millis>)>> {
        let rows: Vec<(i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT u.id, u.username, u.display_name, u.last_seen FROM friendships f JOIN users u ON u.id = f.friend_id
             WHERE f.user_id = $1 ORDER BY u.username",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, username, display_name, last_seen)| (User { id, username, display_name }, last_seen))
            .collect())
    }

    pub async fn are_friends(&self, a: UserId, b: UserId) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2")
            .bind(a)
            .bind(b)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// The friend ids among `candidates`.
    pub async fn friend_ids(&self, user_id: UserId) -> Result<Vec<UserId>> {
        Ok(sqlx::query_scalar("SELECT friend_id FROM friendships WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?)
    }

    async fn request_by_id(tx: &mut Tx, id: i64) -> Result<Option<FriendRequest>> {
        let row: Option<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{REQUEST_SELECT} WHERE r.id = $1")))
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        Ok(row.map(request_from_row))
    }

    async fn befriend(tx: &mut Tx, a: UserId, b: UserId) -> Result<()> {
        let now = now_ms();
        for (x, y) in [(a, b), (b, a)] {
            sqlx::query(
                "INSERT INTO friendships (user_id, friend_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(x)
            .bind(y)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query(
            "DELETE FROM friend_requests WHERE (from_user = $1 AND to_user = $2) OR (from_user = $2 AND to_user = $1)",
        )
        .bind(a)
        .bind(b)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn request_friend(&self, from: UserId, to: UserId) -> Result<RequestOutcome> {
        let mut tx = self.write().await?;
        let friends: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM friendships WHERE user_id = $1 AND friend_id = $2")
                .bind(from)
                .bind(to)
                .fetch_optional(&mut *tx)
                .await?;
        if friends.is_some() {
            return Err(Error::conflict("you are already friends"));
        }
        let existing: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, from_user FROM friend_requests WHERE (from_user = $1 AND to_user = $2) OR (from_user = $2 AND to_user = $1)",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        if existing.iter().any(|&(_, sender)| sender == from) {
            return Err(Error::conflict("you have already sent this user a request"));
        }
        if let Some(&(theirs, _)) = existing.first() {
            let request =
                Self::request_by_id(&mut tx, theirs).await?.ok_or_else(|| Error::not_found("friend request"))?;
            Self::befriend(&mut tx, from, to).await?;
            tx.commit().await?;
            return Ok(RequestOutcome::Accepted(request));
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO friend_requests (from_user, to_user, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(from)
        .bind(to)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let request = Self::request_by_id(&mut tx, id).await?.ok_or_else(|| Error::not_found("friend request"))?;
        tx.commit().await?;
        Ok(RequestOutcome::Requested(request))
    }

    pub async fn friend_requests(&self, user_id: UserId) -> Result<FriendRequests> {
        let rows: Vec<RequestRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{REQUEST_SELECT} WHERE r.from_user = $1 OR r.to_user = $1 ORDER BY r.id"
        )))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let (incoming, outgoing) =
            rows.into_iter().map(request_from_row).partition(|r: &FriendRequest| r.to.id == user_id);
        Ok(FriendRequests { incoming, outgoing })
    }

    /// Accepts a request addressed to `by`.
    pub async fn accept_request(&self, id: i64, by: UserId) -> Result<FriendRequest> {
        let mut tx = self.write().await?;
        let request = Self::request_by_id(&mut tx, id)
            .await?
            .filter(|r| r.to.id == by)
            .ok_or_else(|| Error::not_found("friend request"))?;
        Self::befriend(&mut tx, request.from.id, request.to.id).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Declines (recipient) or withdraws (sender) a request.
    pub async fn remove_request(&self, id: i64, by: UserId) -> Result<FriendRequest> {
        let mut tx = self.write().await?;
        let request = Self::request_by_id(&mut tx, id)
            .await?
            .filter(|r| r.to.id == by || r.from.id == by)
            .ok_or_else(|| Error::not_found("friend request"))?;
        sqlx::query("DELETE FROM friend_requests WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(request)
    }

    /// Ends a friendship; false if there was none.
    pub async fn remove_friend(&self, a: UserId, b: UserId) -> Result<bool> {
        let mut tx = self.write().await?;
        let removed = sqlx::query(
            "DELETE FROM friendships WHERE (user_id = $1 AND friend_id = $2) OR (user_id = $2 AND friend_id = $1)",
        )
        .bind(a)
        .bind(b)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(removed > 0)
    }
}
