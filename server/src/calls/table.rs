//! Where call state lives: in this process, or in Redis when several nodes share it.
//!
//! The table offers only atomic primitives — insert a call if neither party is busy, load a call
//! with its version, replace or remove it if the version is unchanged (compare-and-swap). Every
//! decision (who may accept, what ending a ringing call means) is made once, in [`super`], on a
//! loaded [`Call`]; a lost race just loads again.
//!
//! With Redis a node can die holding a party's socket. Each node therefore renews a lease for the
//! parties it hosts ([`CallTable::renew`]); a call whose lease ran out is ended by whichever node
//! notices first ([`CallTable::expired`]).

use std::collections::HashMap;
use std::sync::Mutex;

use confab_protocol::{CallType, ConversationId, User, UserId};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::now_ms;

/// One call, as the signaling logic sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The direct conversation the call belongs to (its record is stored there).
    pub conversation_id: ConversationId,
    pub call_type: CallType,
    pub caller: User,
    /// The caller's device in the call (a socket id, which is also a room on every node).
    pub caller_sid: String,
    pub callee: UserId,
    /// The callee's device that answered; `None` while ringing.
    pub callee_sid: Option<String>,
    /// Wall-clock time of the answer, in ms since the epoch; `None` while ringing.
    pub answered_at_ms: Option<i64>,
}

impl Call {
    pub fn involves(&self, user: UserId) -> bool {
        self.caller.id == user || self.callee == user
    }
    pub fn duration_ms(&self) -> i64 {
        self.answered_at_ms.map_or(0, |t| (now_ms() - t).max(0))
    }
}

/// A call and the version a compare-and-swap must match.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub version: u64,
    pub call: Call,
}

/// Which party of a call a device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Caller,
    Callee,
}

impl Party {
    fn lease_field(self) -> &'static str {
        match self {
            Party::Caller => "lease:caller",
            Party::Callee => "lease:callee",
        }
    }
}

/// The outcome of [`CallTable::insert`].
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted {
    Yes,
    CallerBusy,
    CalleeBusy,
}

pub enum CallTable {
    /// One node: a map under a lock.
    Local(Mutex<HashMap<String, Versioned>>),
    /// Several nodes: Redis.
    Shared(SharedCalls),
}

impl CallTable {
    pub fn local() -> Self {
        CallTable::Local(Mutex::default())
    }

    fn map(map: &Mutex<HashMap<String, Versioned>>) -> std::sync::MutexGuard<'_, HashMap<String, Versioned>> {
        map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a new call unless the caller or the callee is already in one.
    pub async fn insert(&self, id: &str, call: &Call) -> Result<Inserted> {
        match self {
            CallTable::Local(map) => {
                let mut map = Self::map(map);
                if map.values().any(|c| c.call.involves(call.caller.id)) {
                    return Ok(Inserted::CallerBusy);
                }
                if map.values().any(|c| c.call.involves(call.callee)) {
                    return Ok(Inserted::CalleeBusy);
                }
                map.insert(id.to_owned(), Versioned { version: 1, call: call.clone() });
                Ok(Inserted::Yes)
            }
            CallTable::Shared(shared) => shared.insert(id, call).await,
        }
    }

    pub async fn load(&self, id: &str) -> Result<Option<Versioned>> {
        match self {
            CallTable::Local(map) => Ok(Self::map(map).get(id).cloned()),
            CallTable::Shared(shared) => Ok(shared.load(id).await?.map(|(v, _)| v)),
        }
    }

    /// Replaces the call if it is still at `version`; false if it changed or ended meanwhile.
    pub async fn replace(&self, id: &str, version: u64, call: &Call) -> Result<bool> {
        match self {
            CallTable::Local(map) => {
                let mut map = Self::map(map);
                match map.get_mut(id) {
                    Some(current) if current.version == version => {
                        *current = Versioned { version: version + 1, call: call.clone() };
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            CallTable::Shared(shared) => shared.replace(id, version, call).await,
        }
    }

    /// Removes the call if it is still at `version`; true for exactly one caller.
    pub async fn remove(&self, id: &str, current: &Versioned) -> Result<bool> {
        match self {
            CallTable::Local(map) => {
                let mut map = Self::map(map);
                if map.get(id).is_some_and(|c| c.version == current.version) {
                    map.remove(id);
                    return Ok(true);
                }
                Ok(false)
            }
            CallTable::Shared(shared) => shared.remove(id, current).await,
        }
    }

    /// Renews the leases of the parties this node hosts; returns the ids of calls that no longer exist.
    pub async fn renew(&self, parties: &[(String, Party)]) -> Result<Vec<String>> {
        match self {
            CallTable::Local(map) => {
                let map = Self::map(map);
                Ok(parties.iter().filter(|(id, _)| !map.contains_key(id)).map(|(id, _)| id.clone()).collect())
            }
            CallTable::Shared(shared) => shared.renew(parties).await,
        }
    }

    /// Calls with a party whose lease ran out (their node died). Only with Redis: one process knows
    /// its own sockets' fate at once.
    pub async fn expired(&self) -> Result<Vec<(String, Versioned)>> {
        match self {
            CallTable::Local(_) => Ok(Vec::new()),
            CallTable::Shared(shared) => shared.expired().await,
        }
    }
}

/// Call state in Redis: a hash per call (`v` version, `call` JSON, `lease:*` expiry times), a
/// busy key per user naming their call, and the set of call ids (for the expiry sweep).
pub struct SharedCalls {
    conn: redis::aio::ConnectionManager,
    /// `<prefix>:call` — keys are `<prefix>:call:<id>`, `<prefix>:call-busy:<user>`, `<prefix>:calls`.
    prefix: String,
    /// How long a party's lease lasts without renewal.
    lease_ms: i64,
}

/// KEYS: call, caller busy, callee busy, call set; ARGV: id, call JSON, caller lease expiry, call key
/// prefix. Returns 0 (stored), 1 (caller busy), 2 (callee busy). A busy key naming a call that no
/// longer exists is stale and ignored.
const INSERT: &str = r"
local function busy(key)
  local id = redis.call('GET', key)
  if not id then return false end
  if redis.call('EXISTS', ARGV[4] .. id) == 1 then return true end
  redis.call('DEL', key)
  return false
end
if busy(KEYS[2]) then return 1 end
if busy(KEYS[3]) then return 2 end
redis.call('HSET', KEYS[1], 'v', 1, 'call', ARGV[2], 'lease:caller', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
return 0
";

/// KEYS: call; ARGV: expected version, new call JSON. Returns 1 if replaced.
const REPLACE: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', tonumber(ARGV[1]) + 1, 'call', ARGV[2])
return 1
";

/// KEYS: call, caller busy, callee busy, call set; ARGV: expected version, id. Returns 1 if removed.
const REMOVE: &str = r"
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if redis.call('GET', KEYS[i]) == ARGV[2] then redis.call('DEL', KEYS[i]) end
end
redis.call('SREM', KEYS[4], ARGV[2])
return 1
";

/// KEYS: call; ARGV: lease field, expiry. Returns 0 if the call is gone (and creates nothing).
const RENEW: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

impl SharedCalls {
    pub fn new(conn: redis::aio::ConnectionManager, prefix: &str, lease_ms: u64) -> Self {
        SharedCalls { conn, prefix: format!("{prefix}:call"), lease_ms: lease_ms as i64 }
    }

    fn call_key(&self, id: &str) -> String {
        format!("{}:{id}", self.prefix)
    }
    fn busy_key(&self, user: UserId) -> String {
        format!("{}-busy:{user}", self.prefix)
    }
    fn set_key(&self) -> String {
        format!("{}s", self.prefix)
    }

    async fn insert(&self, id: &str, call: &Call) -> Result<Inserted> {
        let outcome: i64 = redis::Script::new(INSERT)
            .key(self.call_key(id))
            .key(self.busy_key(call.caller.id))
            .key(self.busy_key(call.callee))
            .key(self.set_key())
            .arg(id)
            .arg(to_json(call)?)
            .arg(now_ms() + self.lease_ms)
            .arg(format!("{}:", self.prefix))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match outcome {
            0 => Inserted::Yes,
            1 => Inserted::CallerBusy,
            _ => Inserted::CalleeBusy,
        })
    }

    /// The call and the earliest expiry among its leases.
    async fn load(&self, id: &str) -> Result<Option<(Versioned, Option<i64>)>> {
        let fields: HashMap<String, String> =
            redis::cmd("HGETALL").arg(self.call_key(id)).query_async(&mut self.conn.clone()).await?;
        let (Some(version), Some(json)) = (fields.get("v"), fields.get("call")) else { return Ok(None) };
        let version = version.parse().map_err(|_| crate::Error::Corrupt(format!("call {id} version {version}")))?;
        let call = serde_json::from_str(json).map_err(|e| crate::Error::Corrupt(format!("call {id}: {e}")))?;
        let lease = [Party::Caller, Party::Callee]
            .iter()
            .filter_map(|p| fields.get(p.lease_field()).and_then(|v| v.parse::<i64>().ok()))
            .min();
        Ok(Some((Versioned { version, call }, lease)))
    }

    async fn replace(&self, id: &str, version: u64, call: &Call) -> Result<bool> {
        let replaced: i64 = redis::Script::new(REPLACE)
            .key(self.call_key(id))
            .arg(version)
            .arg(to_json(call)?)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(replaced == 1)
    }

    async fn remove(&self, id: &str, current: &Versioned) -> Result<bool> {
        let removed: i64 = redis::Script::new(REMOVE)
            .key(self.call_key(id))
            .key(self.busy_key(current.call.caller.id))
            .key(self.busy_key(current.call.callee))
            .key(self.set_key())
            .arg(current.version)
            .arg(id)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed == 1)
    }

    async fn renew(&self, parties: &[(String, Party)]) -> Result<Vec<String>> {
        let expiry = now_ms() + self.lease_ms;
        let mut gone = Vec::new();
        for (id, party) in parties {
            let alive: i64 = redis::Script::new(RENEW)
                .key(self.call_key(id))
                .arg(party.lease_field())
                .arg(expiry)
                .invoke_async(&mut self.conn.clone())
                .await?;
            if alive == 0 {
                gone.push(id.clone());
            }
        }
        Ok(gone)
    }

    async fn expired(&self) -> Result<Vec<(String, Versioned)>> {
        let ids: Vec<String> = redis::cmd("SMEMBERS").arg(self.set_key()).query_async(&mut self.conn.clone()).await?;
        let now = now_ms();
        let mut expired = Vec::new();
        for id in ids {
            match self.load(&id).await? {
                None => {
                    let _: i64 =
                        redis::cmd("SREM").arg(self.set_key()).arg(&id).query_async(&mut self.conn.clone()).await?;
                }
                Some((current, Some(lease))) if lease < now => expired.push((id, current)),
                Some(_) => {}
            }
        }
        Ok(expired)
    }
}

fn to_json(call: &Call) -> Result<String> {
    serde_json::to_string(call).map_err(|e| crate::Error::Corrupt(format!("a call does not serialize: {e}")))
}
