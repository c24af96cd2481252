//! A small Socket.IO v4 client (Engine.IO v4, websocket transport, namespace `/`, JSON packets).
//!
//! Why not `rust_socketio`: its ack ids are random in 0..999, so concurrent acks collide (measured
//! against this server: see `examples/rust_socketio_acks.rs` and docs/architecture.md), a collision can
//! panic its background task, timed-out acks leak, `connect()` reports success for a refused handshake,
//! and its reconnect logic has open bugs. Confab's client sends, reacts and types concurrently and owns
//! reconnection itself, so it speaks the protocol directly: this module is one connection, nothing more.
//!
//! Wire format used (text frames only):
//! - Engine.IO: `0{handshake}` open, `2` ping → `3` pong, `1` close, `4…` message.
//! - Socket.IO inside `4`: `0{auth}` connect / `0{sid}` ok / `4{message}` refused, `1` disconnect,
//!   `2[ "event", data ]` event, `2<id>[…]` event wanting an ack, `3<id>[data]` ack.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message as Frame;

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server refused the handshake (bad or revoked token). Retrying will not help.
    #[error("refused: {0}")]
    Refused(String),
    /// Network or protocol failure; worth retrying.
    #[error("connection failed: {0}")]
    Transport(String),
}

/// Why an emit with ack failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    #[error("not connected")]
    Disconnected,
    #[error("no acknowledgement within {0:?}")]
    Timeout(Duration),
}

/// What the connection delivers.
#[derive(Debug)]
pub enum Incoming {
    /// A server → client event and its first argument.
    Event(String, Value),
    /// The connection ended; no more events follow.
    Closed(String),
}

enum Command {
    Send(String),
    Close,
}

type PendingAcks = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A handle to one live connection. Cloning shares it; dropping the last handle does not close it
/// (call [`Connection::close`]).
#[derive(Clone)]
pub struct Connection {
    commands: mpsc::UnboundedSender<Command>,
    acks: PendingAcks,
    next_ack: Arc<AtomicU64>,
}

/// `http(s)://host:port` → `ws(s)://host:port/socket.io/?EIO=4&transport=websocket`.
fn websocket_url(base: &str) -> Result<String, ConnectError> {
    let base = base.trim_end_matches('/');
    let rest = if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}")
    } else if base.starts_with("ws://") || base.starts_with("wss://") {
        base.to_owned()
    } else {
        return Err(ConnectError::Transport(format!("unsupported server address {base:?}")));
    };
    Ok(format!("{rest}/socket.io/?EIO=4&transport=websocket"))
}

/// Opens a connection and completes the namespace handshake with `auth`. Returns once the server
/// has accepted (so emits cannot race its authentication) or refused.
pub async fn connect(
    base_url: &str,
    auth: Value,
    timeout: Duration,
) -> Result<(Connection, mpsc::UnboundedReceiver<Incoming>), ConnectError> {
    let url = websocket_url(base_url)?;
    let attempt = async {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(url.as_str()).await.map_err(|e| ConnectError::Transport(e.to_string()))?;
        // Engine.IO open packet: `0{"sid":…,"pingInterval":…,"pingTimeout":…}`.
        let open = next_text(&mut ws).await?;
        let handshake: Value = open
            .strip_prefix('0')
            .and_then(|json| serde_json::from_str(json).ok())
            .ok_or_else(|| ConnectError::Transport(format!("unexpected open packet {open:?}")))?;
        let ping_interval = handshake["pingInterval"].as_u64().unwrap_or(25_000);
        let ping_timeout = handshake["pingTimeout"].as_u64().unwrap_or(20_000);
        ws.send(Frame::text(format!("40{auth}"))).await.map_err(|e| ConnectError::Transport(e.to_string()))?;
        loop {
            let packet = next_text(&mut ws).await?;
            if packet == "2" {
                ws.send(Frame::text("3")).await.map_err(|e| ConnectError::Transport(e.to_string()))?;
            } else if packet.starts_with("40") {
                return Ok((ws, Duration::from_millis(ping_interval + ping_timeout)));
            } else if let Some(error) = packet.strip_prefix("44") {
                let message = serde_json::from_str::<Value>(error)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| error.to_owned());
                return Err(ConnectError::Refused(message));
            }
        }
    };
    let (ws, liveness) = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ConnectError::Transport(format!("no handshake within {timeout:?}")))??;

    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let acks: PendingAcks = Arc::default();
    tokio::spawn(run(ws, command_rx, events_tx, acks.clone(), liveness));
    Ok((Connection { commands, acks, next_ack: Arc::new(AtomicU64::new(0)) }, events))
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_text(ws: &mut Ws) -> Result<String, ConnectError> {
    loop {
        match ws.next().await {
            Some(Ok(Frame::Text(text))) => return Ok(text.to_string()),
            Some(Ok(Frame::Close(_))) | None => return Err(ConnectError::Transport("closed during handshake".into())),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(ConnectError::Transport(e.to_string())),
        }
    }
}

/// The connection task: reads frames, answers pings, resolves acks, forwards events, and declares
/// the connection dead when the server's pings stop (`pingInterval + pingTimeout`).
async fn run(
    mut ws: Ws,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Incoming>,
    acks: PendingAcks,
    liveness: Duration,
) {
    let reason = loop {
        tokio::select! {
            frame = tokio::time::timeout(liveness, ws.next()) => match frame {
                Err(_) => break "ping timeout".to_owned(),
                Ok(None) => break "connection closed".to_owned(),
                Ok(Some(Err(e))) => break format!("transport error: {e}"),
                Ok(Some(Ok(Frame::Text(text)))) => {
                    if let Some(reply) = handle_packet(&text, &events, &acks) {
                        match reply {
                            Reply::Pong => {
                                if let Err(e) = ws.send(Frame::text("3")).await {
                                    break format!("transport error: {e}");
                                }
                            }
                            Reply::Closed(reason) => break reason,
                        }
                    }
                }
                Ok(Some(Ok(Frame::Close(_)))) => break "connection closed".to_owned(),
                Ok(Some(Ok(_))) => {}
            },
            command = commands.recv() => match command {
                Some(Command::Send(text)) => {
                    if let Err(e) = ws.send(Frame::text(text)).await {
                        break format!("transport error: {e}");
                    }
                }
                Some(Command::Close) | None => {
                    let _ = ws.send(Frame::text("41")).await;
                    let _ = ws.close(None).await;
                    break "closed by the client".to_owned();
                }
            },
        }
    };
    // Pending acks fail now (their senders are dropped) rather than at their timeouts.
    acks.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let _ = events.send(Incoming::Closed(reason));
}

enum Reply {
    Pong,
    Closed(String),
}

fn handle_packet(text: &str, events: &mpsc::UnboundedSender<Incoming>, acks: &PendingAcks) -> Option<Reply> {
    match text.as_bytes().first() {
        Some(b'2') => return Some(Reply::Pong),
        Some(b'1') => return Some(Reply::Closed("closed by the server".into())),
        Some(b'4') => {}
        _ => return None,
    }
    let packet = &text[1..];
    match packet.as_bytes().first() {
        Some(b'1') => Some(Reply::Closed("disconnected by the server".into())),
        Some(b'2') => {
            let (_, args) = split_id(&packet[1..]);
            if let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(args)
                && let Some(Value::String(name)) = args.first().cloned()
            {
                let data = if args.len() > 1 { args.swap_remove(1) } else { Value::Null };
                let _ = events.send(Incoming::Event(name, data));
            }
            None
        }
        Some(b'3') => {
            let (id, args) = split_id(&packet[1..]);
            if let Some(id) = id
                && let Some(tx) = acks.lock().unwrap_or_else(|p| p.into_inner()).remove(&id)
            {
                let data = match serde_json::from_str::<Value>(args) {
                    Ok(Value::Array(mut args)) if !args.is_empty() => args.swap_remove(0),
                    _ => Value::Null,
                };
                let _ = tx.send(data);
            }
            None
        }
        _ => None,
    }
}

/// `123["x"]` → `(Some(123), "[\"x\"]")`; a namespace prefix (`/ns,`) is not used by Confab.
fn split_id(s: &str) -> (Option<u64>, &str) {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    (s[..digits].parse().ok(), &s[digits..])
}

impl Connection {
    /// Emits an event without asking for an ack.
    pub fn emit(&self, event: &str, data: &Value) -> Result<(), EmitError> {
        let frame = format!("42{}", Value::Array(vec![Value::from(event), data.clone()]));
        self.commands.send(Command::Send(frame)).map_err(|_| EmitError::Disconnected)
    }

    /// Emits an event and waits for its ack. Ack ids are unique per connection, so any number of
    /// these may be in flight at once.
    pub async fn emit_with_ack(&self, event: &str, data: &Value, timeout: Duration) -> Result<Value, EmitError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        let frame = format!("42{id}{}", Value::Array(vec![Value::from(event), data.clone()]));
        if self.commands.send(Command::Send(frame)).is_err() {
            self.acks.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            return Err(EmitError::Disconnected);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(EmitError::Disconnected),
            Err(_) => {
                self.acks.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                Err(EmitError::Timeout(timeout))
            }
        }
    }

    /// Closes the connection (a namespace disconnect, then the websocket close).
    pub fn close(&self) {
        let _ = self.commands.send(Command::Close);
    }

    /// True until the connection task has ended.
    pub fn is_open(&self) -> bool {
        !self.commands.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            websocket_url("http://127.0.0.1:4000/").unwrap(),
            "ws://127.0.0.1:4000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            websocket_url("https://chat.example").unwrap(),
            "wss://chat.example/socket.io/?EIO=4&transport=websocket"
        );
        assert!(websocket_url("ftp://x").is_err());
    }

    #[test]
    fn packets() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let acks: PendingAcks = Arc::default();
        let (ack_tx, mut ack_rx) = oneshot::channel();
        acks.lock().unwrap().insert(17, ack_tx);
        assert!(matches!(handle_packet("2", &tx, &acks), Some(Reply::Pong)));
        assert!(handle_packet(r#"42["messageReceived",{"id":1}]"#, &tx, &acks).is_none());
        let Incoming::Event(name, data) = rx.try_recv().unwrap() else { panic!() };
        assert_eq!((name.as_str(), data["id"].as_i64()), ("messageReceived", Some(1)));
        assert!(handle_packet(r#"4317[{"success":true}]"#, &tx, &acks).is_none());
        assert_eq!(ack_rx.try_recv().unwrap()["success"], true);
        assert!(matches!(handle_packet("41", &tx, &acks), Some(Reply::Closed(_))));
    }
}
