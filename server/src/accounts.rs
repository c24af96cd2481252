//! Registration, login, logout and token checks.
//!
//! Passwords are hashed with Argon2id (on the blocking pool: a hash takes tens of milliseconds).
//! Tokens are 256 random bits; only their SHA-256 is stored, so a leaked database grants no session.

use std::net::IpAddr;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confab_protocol::requests::{Login, Register};
use confab_protocol::{Session, User, validate};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{Error, Result};
use crate::ratelimit::{Bucket, Key};

/// The authenticated user of a request or socket.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    /// The token's row, to revoke it and find its sockets.
    pub token_id: i64,
}

fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Argon2 takes 19 MiB and tens of milliseconds per hash: at most one hash per core runs at once,
/// so a burst of registrations or (failed) logins neither starves the server nor piles up memory.
async fn hashing_permit() -> Result<tokio::sync::SemaphorePermit<'static>> {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get))
    });
    permits.acquire().await.map_err(|e| Error::PasswordHash(e.to_string()))
}

async fn hash_password(password: String) -> Result<String> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| Error::PasswordHash(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::PasswordHash(e.to_string()))
    })
    .await
    .map_err(|e| Error::PasswordHash(e.to_string()))?
}

/// A hash to verify against when the user does not exist, so that an unknown username takes as
/// long as a wrong password and the two cannot be told apart.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::encode_b64(b"confab-decoy-salt").expect("static salt is valid");
        Argon2::default().hash_password(b"decoy password", &salt).map(|h| h.to_string()).unwrap_or_default()
    })
}

async fn verify_password(password: String, hash: Option<String>) -> Result<bool> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let stored = hash.as_deref().unwrap_or_else(|| decoy_hash());
        let parsed = PasswordHash::new(stored).map_err(|e| Error::PasswordHash(e.to_string()))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(matches && hash.is_some())
    })
    .await
    .map_err(|e| Error::PasswordHash(e.to_string()))?
}

async fn open_session(state: &AppState, user: User) -> Result<Session> {
    let token = new_token();
    state.store.insert_token(user.id, &hash_token(&token)).await?;
    Ok(Session { token, user })
}

pub async fn register(state: &AppState, ip: IpAddr, request: Register) -> Result<Session> {
    state.limits.check(Bucket::Register, Key::Ip(ip)).await?;
    let username = validate::username(&request.username)?;
    validate::password(&request.password)?;
    let display_name = match request.display_name.as_deref() {
        Some(name) => validate::display_name(name)?,
        None => username.clone(),
    };
    let hash = hash_password(request.password).await?;
    let user = state.store.create_user(&username, &display_name, &hash).await?;
    tracing::info!(user_id = user.id, %username, "registered");
    open_session(state, user).await
}

pub async fn login(state: &AppState, ip: IpAddr, request: Login) -> Result<Session> {
    state.limits.check(Bucket::LoginIp, Key::Ip(ip)).await?;
    let username = request.username.trim().to_lowercase();
    state.limits.check(Bucket::Login, Key::Name(username.clone())).await?;
    let found = if validate::username(&username).is_ok() { state.store.credentials(&username).await? } else { None };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // Verified against a decoy when the user is unknown: both failures cost the same time.
    let verified = verify_password(request.password, hash).await?;
    match user {
        Some(user) if verified => open_session(state, user).await,
        _ => Err(Error::unauthorized("wrong username or password")),
    }
}

/// Revokes the token and disconnects every socket opened with it.
pub async fn logout(state: &AppState, auth: &AuthUser) -> Result<()> {
    state.store.revoke_token(auth.token_id).await?;
    state.hub.disconnect_token(auth.token_id).await;
    Ok(())
}

/// The user of a bearer token; `unauthorized` if it is unknown or revoked.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser> {
    let owner = state
        .store
        .token_owner(&hash_token(token))
        .await?
        .ok_or_else(|| Error::unauthorized("invalid or revoked token"))?;
    Ok(AuthUser { user: owner.user, token_id: owner.token_id })
}
