//! `confab-server`: Confab's self-hostable messaging server — REST and Socket.IO on one port,
//! persisted in SQLite (embedded, the default) or PostgreSQL.
//!
//! # Layout
//! - [`config`]: command line / environment ([`Config`]).
//! - [`http`]: the REST API (thin axum handlers) and `/healthz`, `/metrics`.
//! - [`socket`]: the Socket.IO namespace: handshake authentication and one dispatcher with a thin arm per event.
//! - Domain modules, called by both of the above — one code path per operation:
//!   [`accounts`] (register, login, tokens), [`friends`], [`conversations`], [`messages`]
//!   (send, edit, delete, reactions, pins, read cursors, typing, history, sync; who may change a
//!   message is one pure function, [`messages::rules::decide`]), [`calls`] (signaling and call
//!   state), [`presence`] (who is online).
//! - Calls across networks: [`ice`] (the STUN/TURN servers and time-limited TURN credentials handed
//!   to clients) and [`relay`] (the bundled TURN/STUN relay, `--turn-listen`). The rules live here; the store only applies what they
//!   decide, in the same transaction as the reads they decided on.
//! - [`store`]: every SQL statement, behind [`store::Store`].
//! - [`hub`]: delivery of events to users' devices through Socket.IO rooms; [`cluster`]: the Redis
//!   driver that lets rooms span several nodes and survives Redis restarts.
//! - [`ratelimit`], [`metrics`], [`error`]: cross-cutting pieces.
//!
//! # How a message flows
//! `sendMessage` (socket) or `POST …/messages` (REST) → [`messages::send`]: rate limit, validate,
//! [`store::Store::insert_message`] (on SQLite the message writer thread stores whatever queued
//! meanwhile in one transaction: membership check, next `seq`, insert; a repeated `clientMsgId`
//! hits the unique index) → [`hub::Hub::to_users`] emits `messageReceived` to the room
//! of every member (all their devices) except the sending socket → the ack carries the stored message.
//! Nothing is acknowledged before it is committed.

pub mod accounts;
pub mod calls;
pub mod cluster;
pub mod config;
pub mod conversations;
pub mod error;
pub mod friends;
pub mod http;
pub mod hub;
pub mod ice;
pub mod messages;
pub mod metrics;
pub mod presence;
pub mod ratelimit;
pub mod relay;
pub mod socket;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

pub use config::Config;
pub use error::{Error, Result};

use socketioxide::SocketIo;

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub store: store::Store,
    pub hub: hub::Hub,
    pub presence: presence::Presence,
    /// Presence across nodes, when Redis is configured.
    pub shared_presence: Option<presence::SharedPresence>,
    pub limits: ratelimit::RateLimits,
    pub calls: calls::Calls,
    pub metrics: metrics::Metrics,
    /// The ICE servers (and TURN credentials) handed to clients.
    pub ice: ice::IceServerList,
    /// The bundled TURN relay, when `--turn-listen` is set; stopped by [`serve`].
    pub relay: Option<relay::Relay>,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Opens the database named by the configuration (creating it and applying migrations).
pub async fn open_store(config: &Config) -> Result<store::Store> {
    match &config.database_url {
        Some(url) => store::Store::open_url(url).await,
        None => {
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| Error::Config(format!("cannot create data dir {}: {e}", config.data_dir.display())))?;
            store::Store::open_sqlite(&config.data_dir.join("confab.db")).await
        }
    }
}

/// Builds the whole application: the axum router with the Socket.IO layer, and its state. With a
/// Redis URL the Socket.IO rooms span every node that uses the same Redis and prefix.
pub async fn app(config: Config, store: store::Store) -> Result<(axum::Router, AppState)> {
    let builder = SocketIo::builder()
        // A websocket frame larger than this closes the connection (the default is 64 MiB).
        .ws_max_message_size(confab_protocol::limits::MAX_WS_MESSAGE_BYTES)
        .ws_max_frame_size(confab_protocol::limits::MAX_WS_MESSAGE_BYTES)
        .max_payload(confab_protocol::limits::MAX_WS_MESSAGE_BYTES as u64)
        // Each websocket's read buffer is allocated and zeroed at this size and stays (default 4 KiB):
        // 1 KiB holds most events; a bigger frame grows it. Measured: −3 KiB per idle connection.
        .ws_read_buffer_size(1024)
        // A vanished client (sleep, network loss) is noticed within 20 s rather than the default 45 s,
        // so that its presence and calls end promptly. A killed process is noticed at once (TCP reset).
        .ping_interval(Duration::from_secs(10))
        .ping_timeout(Duration::from_secs(10));
    let metrics = metrics::Metrics::new();
    let secret = ice::shared_secret(&config)?;
    let relay = match (&config.turn_listen, &secret) {
        (Some(_), Some(secret)) => Some(relay::Relay::start(&config, secret).await?),
        _ => None,
    };
    let calls_network = (ice::IceServerList::new(&config, secret, relay.as_ref()), relay);
    match config.redis_url.clone() {
        None => {
            let (layer, io) = builder.build_layer();
            let hub = hub::Hub::new(io.clone(), metrics.events_dropped.clone());
            let state = new_state(config, store, hub, metrics, None, calls_network);
            socket::register(&io, state.clone());
            Ok((detached_from_read_buffers(http::router(state.clone()).layer(layer)), state))
        }
        Some(url) => {
            use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
            let unusable = |e: &dyn std::fmt::Display| Error::Config(format!("Redis at {url}: {e}"));
            let info = cluster::connection_info(&url).map_err(|e| unusable(&e))?;
            let client = redis::Client::open(info).map_err(|e| unusable(&e))?;
            let driver = cluster::ReconnectingDriver::connect(&client).await.map_err(|e| unusable(&e))?;
            let adapter_config = RedisAdapterConfig::new().with_prefix(config.redis_prefix.clone());
            let adapter = RedisAdapterCtr::new_with_driver(driver, adapter_config);
            let (layer, io) =
                builder.with_adapter::<CustomRedisAdapter<_, cluster::ReconnectingDriver>>(adapter).build_layer();
            // Commands (rate-limit buckets, presence, call state) on a connection of their own, which also reconnects.
            let commands = redis::aio::ConnectionManager::new(client).await.map_err(|e| unusable(&e))?;
            let hub = hub::Hub::new(io.clone(), metrics.events_dropped.clone());
            let state = new_state(config, store, hub, metrics, Some(commands), calls_network);
            socket::register(&io, state.clone()).await.map_err(|e| unusable(&e))?;
            tracing::info!(prefix = %state.config.redis_prefix, "Socket.IO rooms, rate limits and presence shared through Redis");
            Ok((detached_from_read_buffers(http::router(state.clone()).layer(layer)), state))
        }
    }
}

/// Puts [`detach_from_read_buffer`] in front of everything (the Socket.IO layer included).
fn detached_from_read_buffers(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::map_request(detach_from_read_buffer))
}

/// Replaces the URI and header values of `request` with copies that own their bytes. hyper parses
/// them as slices of the connection's read buffer (16 KiB), and socketioxide keeps each socket's
/// request for the socket's lifetime, which kept that whole buffer alive per connection — the
/// largest cost of an idle connection (heaptrack, docs/performance.md).
async fn detach_from_read_buffer(mut request: axum::extract::Request) -> axum::extract::Request {
    let headers = std::mem::take(request.headers_mut());
    let mut owned = axum::http::HeaderMap::with_capacity(headers.len());
    for (name, value) in &headers {
        let mut copy = axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        owned.append(name.clone(), copy);
    }
    *request.headers_mut() = owned;
    if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
        *request.uri_mut() = uri;
    }
    request
}

fn new_state(
    config: Config,
    store: store::Store,
    hub: hub::Hub,
    metrics: metrics::Metrics,
    redis: Option<redis::aio::ConnectionManager>,
    (ice, relay): (ice::IceServerList, Option<relay::Relay>),
) -> AppState {
    let mut limits = ratelimit::RateLimits::new(&config.rate_limits);
    let mut shared_presence = None;
    let mut call_table = calls::CallTable::local();
    if let Some(conn) = redis {
        call_table = calls::CallTable::Shared(calls::SharedCalls::new(
            conn.clone(),
            &config.redis_prefix,
            config.presence_ttl_ms,
        ));
        limits = limits.shared_through(conn.clone(), &config.redis_prefix);
        shared_presence = Some(presence::SharedPresence::new(conn, &config.redis_prefix, config.presence_ttl_ms));
    }
    AppState(Arc::new(Shared {
        config,
        store,
        hub,
        presence: presence::Presence::default(),
        shared_presence,
        limits,
        calls: calls::Calls::new(call_table),
        metrics,
        ice,
        relay,
    }))
}

/// How long a connection may leave sent data unacknowledged (its reader stalled) before it is cut.
pub const STALLED_PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// Serves until `shutdown` resolves, then closes the sockets and waits for in-flight writes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let janitor = {
        let state = state.clone();
        tokio::spawn(async move {
            // Presence entries and call leases are renewed three times per lifetime; idle rate-limit keys go each minute.
            let mut presence_tick = tokio::time::interval(Duration::from_millis(state.config.presence_ttl_ms / 3));
            let mut limits_tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = presence_tick.tick() => {
                        presence::heartbeat(&state).await;
                        presence::sweep(&state).await;
                        calls::heartbeat(&state).await;
                    }
                    _ = limits_tick.tick() => state.limits.forget_idle(),
                }
            }
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let hub = state.hub.clone();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: closing sockets");
        // Websocket connections are upgraded and would keep the server open: close them first.
        hub.close().await;
        let _ = stop_tx.send(());
    };
    tokio::spawn(signal);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        // Events are small and latency matters more than packet count (Nagle would hold them).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "setting TCP_NODELAY failed");
        }
        // A peer that stops reading (a hung device, or one that never reads on purpose) would hold
        // its connection — and the writer blocked on it — forever: the kernel aborts a connection
        // whose sent data (or zero-window probes) go unacknowledged this long.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Err(e) = socket2::SockRef::from(&*tcp).set_tcp_user_timeout(Some(STALLED_PEER_TIMEOUT)) {
            tracing::warn!(error = %e, "setting TCP_USER_TIMEOUT failed");
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = tcp; // elsewhere the heartbeat and the OS's own retransmission limits apply
    });
    let result = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
        })
        .await;
    janitor.abort();
    if let Some(relay) = &state.relay {
        relay.close().await;
    }
    // Waits for queries in flight: a write that began before shutdown commits (and is acked).
    state.store.close().await;
    tracing::info!("stopped");
    result
}
