//! Accounts for the Confab target, made through the REST API as a client would: register, befriend,
//! create the conversation. Users go in groups of `group_size`: the first user of each group befriends
//! the others (request, then the other accepts) and creates the conversation (direct for 2, a group
//! otherwise).
//!
//! Registration hashes a password with Argon2id on the server (tens of ms each), so thousands of
//! accounts take minutes. With `--accounts FILE` they are written to a file and reused by later runs
//! against the same database (tokens stay valid until logout); missing groups are added.

use std::path::Path;

use anyhow::{Context, bail};
use confab_protocol::Session;
use confab_protocol::error::Empty;
use confab_protocol::notifications::FriendAdded;
use confab_protocol::requests::{NewConversation, NewFriendRequest, Register};
use confab_protocol::rest::{FriendRequestCreated, Me, OneConversation};
use futures_util::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accounts {
    pub group_size: usize,
    /// Group `g` is `users[g * group_size .. (g + 1) * group_size]`, talking in `conversations[g]`.
    pub users: Vec<User>,
    pub conversations: Vec<i64>,
}

const PASSWORD: &str = "load-test-password";

/// The body of a request that has none (a GET).
const NO_BODY: Option<&Empty> = None;

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// `body`, if any, goes as JSON; the answer is parsed as `A`.
    async fn call<A: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<A> {
        // Retries: a server under setup load may answer rate_limited (if limits were not raised) or
        // drop a connection; a few patient retries beat a failed run.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
            if let Some(body) = body {
                request = request.json(body);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let outcome = request.send().await;
            match outcome {
                Ok(response) if response.status().is_success() => {
                    return response.json().await.with_context(|| format!("{method} {path}: unexpected answer"));
                }
                Ok(response) if response.status().as_u16() == 429 && attempt < 20 => {
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(1u64);
                    tokio::time::sleep(std::time::Duration::from_secs(wait.min(10))).await;
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    bail!("{method} {path}: {status} {text}");
                }
                Err(e) if attempt < 5 => {
                    eprintln!("  {method} {path}: {e}; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e).with_context(|| format!("{method} {path}")),
            }
        }
    }
}

/// Returns at least `users` accounts in groups of `group_size`, from `cache` if it holds them.
pub async fn ensure(
    base: &str,
    users: usize,
    group_size: usize,
    concurrency: usize,
    cache: Option<&Path>,
) -> anyhow::Result<Accounts> {
    let api =
        Api { http: reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?, base: base.to_owned() };
    let mut accounts = match cache {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let accounts: Accounts =
                serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            if accounts.group_size != group_size {
                bail!("{} holds groups of {}, not {group_size}: use another file", path.display(), accounts.group_size);
            }
            // Still valid on this server? (A fresh database would refuse every token.)
            if let Some(user) = accounts.users.first() {
                api.call::<Me>(reqwest::Method::GET, "/api/users/me", Some(&user.token), NO_BODY)
                    .await
                    .with_context(|| format!("{}: its first token is not valid on {base}", path.display()))?;
            }
            eprintln!("accounts: {} users from {}", accounts.users.len(), path.display());
            accounts
        }
        _ => Accounts { group_size, users: Vec::new(), conversations: Vec::new() },
    };

    let groups_wanted = users.div_ceil(group_size);
    let have = accounts.conversations.len();
    if groups_wanted > have {
        let new_groups = groups_wanted - have;
        eprintln!("accounts: creating {} users in {new_groups} conversations on {base}", new_groups * group_size);
        let started = std::time::Instant::now();
        // Unique per run, short enough for the 32-character username limit.
        let tag = format!(
            "lt{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() % 10_000_000_000
        );
        let created: Vec<User> = futures_util::stream::iter(0..new_groups * group_size)
            .map(|i| {
                let api = &api;
                let username = format!("{tag}_{}", have * group_size + i);
                async move {
                    let body = Register { username, password: PASSWORD.to_owned(), display_name: None };
                    let session: Session =
                        api.call(reqwest::Method::POST, "/api/auth/register", None, Some(&body)).await?;
                    Ok::<_, anyhow::Error>(User { id: session.user.id, username: body.username, token: session.token })
                }
            })
            .buffered(concurrency)
            .try_collect()
            .await?;
        eprintln!("accounts: registered {} users in {:.1}s", created.len(), started.elapsed().as_secs_f64());

        let conversations: Vec<i64> = futures_util::stream::iter(created.chunks(group_size))
            .map(|group| make_group(&api, group))
            .buffered(concurrency)
            .try_collect()
            .await?;
        accounts.users.extend(created);
        accounts.conversations.extend(conversations);
        eprintln!("accounts: ready after {:.1}s", started.elapsed().as_secs_f64());
        if let Some(path) = cache {
            std::fs::write(path, serde_json::to_vec(&accounts)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(accounts)
}

/// The first member befriends the others and creates the conversation; returns its id.
async fn make_group(api: &Api, group: &[User]) -> anyhow::Result<i64> {
    let owner = &group[0];
    for member in &group[1..] {
        // A pending request (201): new accounts never asked each other first.
        let body = NewFriendRequest { username: member.username.clone() };
        let created: FriendRequestCreated =
            api.call(reqwest::Method::POST, "/api/friends/requests", Some(&owner.token), Some(&body)).await?;
        let id = created.request.id;
        let path = format!("/api/friends/requests/{id}/accept");
        let _: FriendAdded = api.call(reqwest::Method::POST, &path, Some(&member.token), Some(&Empty {})).await?;
    }
    let participant_ids: Vec<i64> = group[1..].iter().map(|u| u.id).collect();
    // One other member and no title: a direct conversation; more: a group, which needs a title.
    let title = (participant_ids.len() > 1).then(|| "load test".to_owned());
    let body = NewConversation { participant_ids, title };
    let answer: OneConversation =
        api.call(reqwest::Method::POST, "/api/messages/conversations", Some(&owner.token), Some(&body)).await?;
    Ok(answer.conversation.id)
}
