//! The Redis driver behind the Socket.IO cluster adapter.
//!
//! socketioxide-redis's own driver holds one multiplexed connection: when Redis restarts, that
//! connection is dead for good and so is the adapter (measured: ../shared/notes/socketio.md). This one
//! runs on redis's `ConnectionManager`, which reconnects with backoff and resubscribes to every channel
//! after a reconnect, so a node rejoins the cluster by itself once Redis is back. Messages published
//! while Redis was away are lost; clients catch up through `sync`.
//!
//! The driver receives its messages as RESP3 pushes, so every connection speaks RESP3
//! ([`connection_info`]), whatever the `--redis-url` says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, ConnectionInfo, FromRedisValue, IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// The connection settings of a Redis URL, on RESP3. The redis crate speaks RESP2 unless the URL
/// says `?protocol=resp3`, and on RESP2 it refuses the driver's push sender ("Can only pass push
/// sender to a connection using RESP3"): so a plain `redis://host:6379` is upgraded, and so is an
/// explicit `?protocol=resp2`, which could not work. Address, database and credentials stay as written.
pub fn connection_info(url: &str) -> redis::RedisResult<ConnectionInfo> {
    let info = url.into_connection_info()?;
    if info.redis_settings().protocol().supports_resp3() {
        return Ok(info);
    }
    tracing::info!("Redis: using RESP3, which the Socket.IO adapter needs (the URL did not ask for it)");
    let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    Ok(info.set_redis_settings(settings))
}

/// A [`Driver`] that survives Redis restarts.
#[derive(Clone)]
pub struct ReconnectingDriver {
    /// Channel → the adapter's receiver for it.
    handlers: Handlers,
    conn: ConnectionManager,
    /// Set while publishing fails, so that broadcasts give up on the cluster quickly (the hub then
    /// delivers to this node's sockets) instead of each waiting for Redis to come back.
    down: Arc<AtomicBool>,
}

/// How long a publish may take before the cluster counts as unreachable: normally, and while down.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(1);
const PUBLISH_TIMEOUT_WHILE_DOWN: Duration = Duration::from_millis(50);

/// A Redis failure, as the adapter's error type.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    #[error("Redis did not answer in time")]
    Timeout,
}

impl ReconnectingDriver {
    pub async fn connect(client: &redis::Client) -> Result<Self, DriverError> {
        let handlers: Handlers = Arc::default();
        let sink = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_automatic_resubscription()
            .set_push_sender(move |message: PushInfo| {
                deliver(message, &sink);
                Ok::<(), std::convert::Infallible>(())
            })
            // Keep trying while Redis is down (0.1 s doubling to 2 s), and fail commands fast meanwhile.
            .set_min_delay(Duration::from_millis(100))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(usize::MAX)
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let conn = ConnectionManager::new_with_config(client.clone(), config).await?;
        Ok(ReconnectingDriver { handlers, conn, down: Arc::default() })
    }
}

/// Hands a pub/sub message to the adapter's receiver for its channel.
fn deliver(message: PushInfo, handlers: &Handlers) {
    if !matches!(message.kind, PushKind::Message | PushKind::SMessage) || message.data.len() < 2 {
        return;
    }
    let mut data = message.data.into_iter();
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else { return };
    let (Ok(channel), Ok(payload)) = (String::from_redis_value(channel), Vec::<u8>::from_redis_value(payload)) else {
        tracing::warn!("unreadable Redis pub/sub message");
        return;
    };
    let sender = handlers.read().unwrap_or_else(|p| p.into_inner()).get(&channel).cloned();
    if let Some(sender) = sender
        && sender.try_send((channel, payload)).is_err()
    {
        tracing::warn!("cluster channel full; a message from another node was dropped");
    }
}

impl Driver for ReconnectingDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let limit = if self.down.load(Ordering::Relaxed) { PUBLISH_TIMEOUT_WHILE_DOWN } else { PUBLISH_TIMEOUT };
        let result = match tokio::time::timeout(limit, self.conn.clone().publish::<_, _, redis::Value>(chan, val)).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(DriverError::Redis(e)),
            Err(_) => Err(DriverError::Timeout),
        };
        let was_down = self.down.swap(result.is_err(), Ordering::Relaxed);
        match (&result, was_down) {
            (Err(e), false) => tracing::error!(error = %e, "Redis unreachable: delivering to this node's sockets only"),
            (Ok(()), true) => tracing::info!("Redis is back: delivering across nodes again"),
            _ => {}
        }
        result
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers.write().unwrap_or_else(|p| p.into_inner()).insert(chan.clone(), tx);
        self.conn.clone().subscribe(chan.as_str()).await?;
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers.write().unwrap_or_else(|p| p.into_inner()).remove(&chan);
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let mut conn = self.conn.clone();
        let (_, count): (String, u16) = redis::cmd("PUBSUB").arg("NUMSUB").arg(chan).query_async(&mut conn).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use redis::ConnectionAddr;

    use super::*;

    /// What a connection is made of, to compare.
    #[derive(Debug, PartialEq)]
    struct Parts {
        /// Host and port, if TCP.
        tcp: Option<(String, u16)>,
        db: i64,
        username: Option<String>,
        password: Option<String>,
        protocol: ProtocolVersion,
    }

    fn parts(url: &str) -> Parts {
        let info = connection_info(url).unwrap();
        let redis = info.redis_settings();
        Parts {
            tcp: match info.addr() {
                ConnectionAddr::Tcp(host, port) => Some((host.clone(), *port)),
                _ => None,
            },
            db: redis.db(),
            username: redis.username().map(Into::into),
            password: redis.password().map(Into::into),
            protocol: redis.protocol(),
        }
    }

    /// RESP3 to `host:port`, database 0, no credentials.
    fn resp3(host: &str, port: u16) -> Parts {
        Parts {
            tcp: Some((host.to_owned(), port)),
            db: 0,
            username: None,
            password: None,
            protocol: ProtocolVersion::RESP3,
        }
    }

    #[test]
    fn a_plain_url_gets_resp3() {
        assert_eq!(parts("redis://127.0.0.1:6379"), resp3("127.0.0.1", 6379));
        assert_eq!(parts("redis://redis.internal"), resp3("redis.internal", 6379));
    }

    #[test]
    fn a_url_that_asks_for_resp3_keeps_it_and_one_that_asks_for_resp2_is_upgraded() {
        for url in ["redis://127.0.0.1:6379/?protocol=resp3", "redis://127.0.0.1:6379/?protocol=3"] {
            assert_eq!(parts(url), resp3("127.0.0.1", 6379), "{url}");
        }
        for url in ["redis://127.0.0.1:6379/?protocol=resp2", "redis://127.0.0.1:6379/?protocol=2"] {
            assert_eq!(parts(url), resp3("127.0.0.1", 6379), "{url}");
        }
    }

    #[test]
    fn database_and_credentials_stay_as_written() {
        assert_eq!(
            parts("redis://:s%40cret@redis.internal:6380/2"),
            Parts { db: 2, password: Some("s@cret".into()), ..resp3("redis.internal", 6380) }
        );
        assert_eq!(
            parts("redis://confab:secret@10.0.0.7:6379/3?protocol=resp3"),
            Parts {
                db: 3,
                username: Some("confab".into()),
                password: Some("secret".into()),
                ..resp3("10.0.0.7", 6379)
            }
        );
        let socket = connection_info("redis+unix:///run/redis.sock?db=4&pass=secret").unwrap();
        assert!(matches!(socket.addr(), ConnectionAddr::Unix(path) if path.to_str() == Some("/run/redis.sock")));
        assert_eq!(
            parts("redis+unix:///run/redis.sock?db=4&pass=secret"),
            Parts { tcp: None, db: 4, password: Some("secret".into()), ..resp3("", 0) }
        );
    }

    #[test]
    fn what_redis_cannot_parse_is_still_an_error() {
        // This build has no TLS for Redis: `rediss://` is refused as before, not silently downgraded.
        let tls = connection_info("rediss://redis.internal:6380/1").unwrap_err();
        assert!(tls.to_string().contains("TLS"), "{tls}");
        for url in ["http://127.0.0.1:6379", "redis://127.0.0.1:6379/x", "redis://127.0.0.1/?protocol=4", "nonsense"] {
            assert!(connection_info(url).is_err(), "{url}");
        }
    }
}
