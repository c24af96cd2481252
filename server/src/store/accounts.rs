//! Users and their tokens.

use confab_protocol::{Millis, User, UserId};

use super::{Store, is_unique_violation, now_ms};
use crate::error::{Error, Result};

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User { id: r.id, username: r.username, display_name: r.display_name }
    }
}

/// The user a valid token belongs to.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token_id: i64,
    pub user: User,
}

impl Store {
    /// Creates an account; `conflict` if the (lower-case) username is taken.
    pub async fn create_user(&self, username: &str, display_name: &str, password_hash: &str) -> Result<User> {
        let row = sqlx::query_as::<_, UserRow>(
            "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id, username, display_name",
        )
        .bind(username)
        .bind(display_name)
        .bind(password_hash)
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| if is_unique_violation(&e) { Error::conflict("this username is taken") } else { e.into() })?;
        Ok(row.into())
    }

    /// The user and password hash of a username, if it exists.
    pub async fn credentials(&self, username: &str) -> Result<Option<(User, String)>> {
        let row: Option<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, username, display_name, password_hash FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, username, display_name, hash)| (User { id, username, display_name }, hash)))
    }

    pub async fn insert_token(&self, user_id: UserId, token_hash: &str) -> Result<i64> {
        Ok(sqlx::query_scalar("INSERT INTO tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(user_id)
            .bind(token_hash)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await?)
    }

    /// The owner of an unrevoked token.
    pub async fn token_owner(&self, token_hash: &str) -> Result<Option<TokenOwner>> {
        let row: Option<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT t.id, u.id, u.username, u.display_name FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(token_id, id, username, display_name)| TokenOwner {
            token_id,
            user: User { id, username, display_name },
        }))
    }

    pub async fn revoke_token(&self, token_id: i64) -> Result<()> {
        sqlx::query("UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(token_id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query_as::<_, UserRow>("SELECT id, username, display_name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query_as::<_, UserRow>("SELECT id, username, display_name FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    /// Users whose name starts with `prefix` (already lower-case and free of LIKE wildcards).
    pub async fn search_users(&self, prefix: &str, exclude: UserId, limit: u32) -> Result<Vec<User>> {
        // Range instead of LIKE: uses the unique index and needs no escaping. '\u{10FFFF}' sorts
        // after every character a username may hold.
        let upper = format!("{prefix}\u{10FFFF}");
        let rows = sqlx::query_as::<_, UserRow>(
            "SELECT id, username, display_name FROM users
             WHERE username >= $1 AND username < $2 AND id <> $3 ORDER BY username LIMIT $4",
        )
        .bind(prefix)
        .bind(upper)
        .bind(exclude)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    pub async fn set_last_seen(&self, user_id: UserId, at: Millis) -> Result<()> {
        sqlx::query("UPDATE users SET last_seen = $2 WHERE id = $1").bind(user_id).bind(at).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn last_seen(&self, user_id: UserId) -> Result<Option<Millis>> {
        let value: Option<Option<i64>> = sqlx::query_scalar("SELECT last_seen FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.flatten())
    }
}
