//! One client connection: a task owning the websocket, and [`Connection`] handles to talk to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::handshake::{ConnectError, handshake};
use crate::packet::{DISCONNECT, PONG, Packet, encode_event, first_arg};

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
        let open = handshake(&mut ws, &auth.to_string()).await?;
        Ok((ws, open))
    };
    let (ws, open) = tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| ConnectError::Transport(format!("no handshake within {timeout:?}")))??;
    Ok(Connection::start(ws, open.liveness()))
}

/// The connection task: reads frames, answers pings, resolves acks, forwards events, and declares
/// the connection dead when the server's pings stop (`pingInterval + pingTimeout`).
async fn run<S>(
    mut ws: WebSocketStream<S>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Incoming>,
    acks: PendingAcks,
    liveness: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
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
                                if let Err(e) = ws.send(Frame::text(PONG)).await {
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
                    let _ = ws.send(Frame::text(DISCONNECT)).await;
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
    match Packet::parse(text) {
        Packet::Ping => Some(Reply::Pong),
        Packet::Close => Some(Reply::Closed("closed by the server".into())),
        Packet::Disconnect => Some(Reply::Closed("disconnected by the server".into())),
        Packet::Event { name, args, .. } => {
            if let Ok(data) = first_arg(args) {
                let _ = events.send(Incoming::Event(name.into_owned(), data));
            }
            None
        }
        Packet::Ack { id, args } => {
            if let Some(tx) = acks.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
                let _ = tx.send(first_arg(args).unwrap_or(Value::Null));
            }
            None
        }
        _ => None,
    }
}

impl Connection {
    /// Starts the connection task on a websocket whose handshake is done.
    fn start<S>(ws: WebSocketStream<S>, liveness: Duration) -> (Connection, mpsc::UnboundedReceiver<Incoming>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::unbounded_channel();
        let acks: PendingAcks = Arc::default();
        tokio::spawn(run(ws, command_rx, events_tx, acks.clone(), liveness));
        (Connection { commands, acks, next_ack: Arc::new(AtomicU64::new(0)) }, events)
    }

    /// Emits an event without asking for an ack.
    pub fn emit(&self, event: &str, data: &Value) -> Result<(), EmitError> {
        self.commands.send(Command::Send(encode_event(None, event, data))).map_err(|_| EmitError::Disconnected)
    }

    /// Emits an event and waits for its ack. Ack ids are unique per connection, so any number of
    /// these may be in flight at once.
    pub async fn emit_with_ack(&self, event: &str, data: &Value, timeout: Duration) -> Result<Value, EmitError> {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        if self.commands.send(Command::Send(encode_event(Some(id), event, data))).is_err() {
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
    use serde_json::json;

    use super::*;
    use crate::handshake::tests::{pair, recv, send};

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
        assert!(handle_packet(r#"42["bare"]"#, &tx, &acks).is_none());
        let Incoming::Event(name, data) = rx.try_recv().unwrap() else { panic!() };
        assert_eq!((name.as_str(), data), ("bare", Value::Null));
        assert!(handle_packet(r#"4317[{"success":true}]"#, &tx, &acks).is_none());
        assert_eq!(ack_rx.try_recv().unwrap()["success"], true);
        assert!(matches!(handle_packet("41", &tx, &acks), Some(Reply::Closed(_))));
        assert!(matches!(handle_packet("1", &tx, &acks), Some(Reply::Closed(_))));
    }

    #[tokio::test]
    async fn acks_in_flight_and_timeouts() {
        let (client, mut server) = pair().await;
        let (conn, mut events) = Connection::start(client, Duration::from_secs(5));
        let (a, b) = (conn.clone(), conn.clone());
        let first = tokio::spawn(async move { a.emit_with_ack("a", &json!(1), Duration::from_secs(5)).await });
        assert_eq!(recv(&mut server).await, r#"420["a",1]"#);
        let second = tokio::spawn(async move { b.emit_with_ack("b", &json!(2), Duration::from_secs(5)).await });
        assert_eq!(recv(&mut server).await, r#"421["b",2]"#);
        // Answered out of order: each reaches its own caller.
        send(&mut server, r#"431[{"for":"b"}]"#).await;
        send(&mut server, r#"430[{"for":"a"}]"#).await;
        assert_eq!(first.await.unwrap().unwrap(), json!({"for": "a"}));
        assert_eq!(second.await.unwrap().unwrap(), json!({"for": "b"}));

        // An unanswered ack times out and is forgotten; its late answer is ignored.
        let timeout = Duration::from_millis(50);
        assert_eq!(conn.emit_with_ack("c", &json!(3), timeout).await, Err(EmitError::Timeout(timeout)));
        assert_eq!(recv(&mut server).await, r#"422["c",3]"#);
        assert!(conn.acks.lock().unwrap().is_empty());
        send(&mut server, "432[true]").await;

        // Events in order, pings answered, no ack ids reused.
        conn.emit("d", &json!({"x": [1]})).unwrap();
        assert_eq!(recv(&mut server).await, r#"42["d",{"x":[1]}]"#);
        send(&mut server, "2").await;
        assert_eq!(recv(&mut server).await, "3");
        send(&mut server, r#"42["news",{"n":1}]"#).await;
        let Some(Incoming::Event(name, data)) = events.recv().await else { panic!() };
        assert_eq!((name.as_str(), data), ("news", json!({"n": 1})));
        let pending = conn.clone();
        let pending = tokio::spawn(async move { pending.emit_with_ack("e", &json!(5), Duration::from_secs(5)).await });
        assert_eq!(recv(&mut server).await, r#"423["e",5]"#);

        // Closing fails what is pending at once and tells the server.
        conn.close();
        assert_eq!(pending.await.unwrap(), Err(EmitError::Disconnected));
        assert_eq!(recv(&mut server).await, "41");
        let Some(Incoming::Closed(reason)) = events.recv().await else { panic!() };
        assert_eq!(reason, "closed by the client");
        assert!(!conn.is_open());
        assert_eq!(conn.emit("f", &json!(null)), Err(EmitError::Disconnected));
        assert_eq!(conn.emit_with_ack("g", &json!(null), timeout).await, Err(EmitError::Disconnected));
        assert!(conn.acks.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn dead_without_pings() {
        let (client, mut server) = pair().await;
        let (conn, mut events) = Connection::start(client, Duration::from_millis(100));
        send(&mut server, "2").await;
        assert_eq!(recv(&mut server).await, "3");
        let Some(Incoming::Closed(reason)) = events.recv().await else { panic!() };
        assert_eq!(reason, "ping timeout");
        assert!(!conn.is_open());
    }

    #[tokio::test]
    async fn closed_by_the_server() {
        let (client, mut server) = pair().await;
        let (_conn, mut events) = Connection::start(client, Duration::from_secs(5));
        send(&mut server, "41").await;
        let Some(Incoming::Closed(reason)) = events.recv().await else { panic!() };
        assert_eq!(reason, "disconnected by the server");
    }
}
