//! The load generator's Socket.IO connections: its own TCP sockets and small websocket buffers, with
//! the packet codec and the handshake of `confab_socketio` (the desktop client core's too).
//!
//! Each connection is one task owning its websocket: it answers pings, writes the sends it is handed
//! (each with the next ack id of this connection) and attributes acks and `messageReceived` events to
//! the step and message they belong to, using the `lt:<step>:<k>:<scheduled µs>:` prefix of the content.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use confab_protocol::notifications::MessageReceived;
use confab_protocol::requests::SendMessage;
use confab_protocol::{Push, Request};
use confab_socketio::{PONG, Packet, write_event};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::step::Step;

type Ws = WebSocketStream<Tcp>;

/// The TCP stream, optionally re-arming `TCP_QUICKACK` after every read (`--quickack`).
///
/// Diagnostic: Linux delays ACKs (40 ms at least) when it expects to piggyback them; a server that
/// leaves Nagle's algorithm on (no `TCP_NODELAY`) then holds its next small write until that ACK
/// comes. Quick ACKs on the client side remove that stall, so comparing runs with and without this
/// flag measures what the server's missing `TCP_NODELAY` costs. Quick-ack mode is not sticky (the
/// kernel leaves it on its own), hence re-arming it after each read.
pub struct Tcp {
    stream: TcpStream,
    quickack: bool,
}

impl Tcp {
    fn rearm(&self) {
        if self.quickack {
            use std::os::fd::AsRawFd;
            let one: libc::c_int = 1;
            // SAFETY: a valid socket descriptor and a c_int option value of the stated size.
            unsafe {
                libc::setsockopt(
                    self.stream.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_QUICKACK,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
    }
}

impl tokio::io::AsyncRead for Tcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let poll = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        if poll.is_ready() {
            self.rearm();
        }
        poll
    }
}

impl tokio::io::AsyncWrite for Tcp {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A server to connect to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// As given: `http://host:port`.
    pub base: String,
    pub addr: SocketAddr,
    pub ws_url: String,
}

impl Endpoint {
    pub fn parse(base: &str) -> anyhow::Result<Endpoint> {
        let base = base.trim_end_matches('/').to_owned();
        let host_port = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("ws://"))
            .ok_or_else(|| anyhow!("{base}: only http:// (or ws://) servers are supported"))?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(host_port)
            .with_context(|| format!("resolving {host_port}"))?
            .next()
            .ok_or_else(|| anyhow!("{host_port} resolves to nothing"))?;
        let ws_url = format!("ws://{host_port}/socket.io/?EIO=4&transport=websocket");
        Ok(Endpoint { base, addr, ws_url })
    }
}

/// What a connection sends when asked to: the `sendMessage` payload around the content.
#[derive(Debug, Clone)]
pub enum SendSpec {
    /// Confab: `{conversationId, content, clientMsgId}`; clientMsgIds are `<run>-<step>-<k>`, unique per
    /// run so that accounts reused from an earlier run never hit Confab's idempotent-retry path.
    Confab { conversation_id: i64, run: String },
    /// The seed: `{conversationId, recipientId, content, type}`.
    Reference { conversation_id: String, recipient_id: String },
}

/// A request to the connection task.
pub enum Command {
    Send { step: Arc<Step>, k: u64, sched_us: u64 },
}

/// State shared by every connection task.
pub struct Shared {
    /// Time zero of the run: every timestamp is µs since this instant, in this one process.
    pub origin: Instant,
    /// Steps by id, so a late delivery is still counted against its own step.
    pub steps: RwLock<Vec<Arc<Step>>>,
    /// Padding so the content has `--size` bytes.
    pub content_size: usize,
    /// Connections that ended before the run did.
    pub disconnects: std::sync::atomic::AtomicU64,
    /// `messageReceived` events whose content is not ours.
    pub foreign: std::sync::atomic::AtomicU64,
    pub closing: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }
}

fn ws_config() -> WebSocketConfig {
    // tungstenite's default read and write buffers are 128 KiB each, eagerly allocated: with 10k
    // connections that alone would be 2.5 GiB in the generator. Our frames are small.
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_message_size(Some(1 << 20))
}

/// Opens one connection (optionally from a given source address) and completes the namespace
/// handshake with `auth` (a JSON object). Returns once the server has sent CONNECT.
pub async fn connect(
    endpoint: &Endpoint,
    source: Option<IpAddr>,
    auth: &str,
    timeout: Duration,
    quickack: bool,
) -> anyhow::Result<Ws> {
    let attempt = async {
        let socket = match endpoint.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("binding {ip}"))?;
        }
        let stream = socket.connect(endpoint.addr).await.with_context(|| format!("connecting to {}", endpoint.addr))?;
        stream.set_nodelay(true)?;
        let stream = Tcp { stream, quickack };
        let (mut ws, _) =
            tokio_tungstenite::client_async_with_config(endpoint.ws_url.as_str(), stream, Some(ws_config()))
                .await
                .context("websocket handshake")?;
        confab_socketio::handshake(&mut ws, auth).await.context("Socket.IO handshake")?;
        Ok(ws)
    };
    tokio::time::timeout(timeout, attempt).await.map_err(|_| anyhow!("no Socket.IO handshake within {timeout:?}"))?
}

/// The connection task: runs until the server closes the connection or every command sender is gone.
pub async fn run(mut ws: Ws, mut commands: mpsc::UnboundedReceiver<Command>, spec: SendSpec, shared: Arc<Shared>) {
    let mut next_ack: u64 = 0;
    let mut pending: HashMap<u64, (Arc<Step>, u64, u64)> = HashMap::new();
    let mut frame = String::new();
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let text = match incoming {
                    Some(Ok(Frame::Text(text))) => text,
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_) | Frame::Binary(_) | Frame::Frame(_))) => continue,
                    Some(Ok(Frame::Close(_))) | Some(Err(_)) | None => break,
                };
                match Packet::parse(&text) {
                    // Only `messageReceived` matters; other events (presence, onlineUsers, …) are
                    // skipped unparsed.
                    Packet::Event { name, args, .. } if name == <MessageReceived as Push>::EVENT => {
                        on_event(args, &shared)
                    }
                    Packet::Ack { id, args } => on_ack(id, args, &mut pending, &shared),
                    Packet::Close | Packet::Disconnect => break,
                    // Pings are answered (the guard sends the pong); a failed send ends the connection.
                    Packet::Ping if ws.send(Frame::text(PONG)).await.is_err() => break,
                    _ => {}
                }
            }
            command = commands.recv() => {
                let Some(Command::Send { step, k, sched_us }) = command else { break };
                let id = next_ack;
                next_ack += 1;
                frame.clear();
                build_send(&mut frame, id, &spec, &step, k, sched_us, shared.content_size);
                pending.insert(id, (step.clone(), k, sched_us));
                let now = shared.now_us();
                step.record_sent(k, sched_us, now);
                if ws.send(Frame::text(frame.as_str())).await.is_err() {
                    break;
                }
            }
        }
    }
    if !shared.closing.load(Ordering::Relaxed) {
        shared.disconnects.fetch_add(1, Ordering::Relaxed);
    }
}

/// `42<ack>["sendMessage",{…}]`, the payload written by hand (serde costs more per message, and this is
/// the measured path): the content is ASCII without quotes or backslashes, so it needs no escaping.
/// The Confab payload is a [`SendMessage`]; the unit test below parses it back into one.
fn build_send(out: &mut String, ack: u64, spec: &SendSpec, step: &Step, k: u64, sched_us: u64, size: usize) {
    use std::fmt::Write;
    let mut content = format!("lt:{}:{k}:{sched_us}:", step.id);
    while content.len() < size {
        content.push('x');
    }
    // The seed's server uses the same event name.
    write_event(out, Some(ack), <SendMessage as Request>::EVENT, |out| {
        let _ = match spec {
            SendSpec::Confab { conversation_id, run } => write!(
                out,
                r#"{{"conversationId":{conversation_id},"content":"{content}","clientMsgId":"{run}-{}-{k}"}}"#,
                step.id
            ),
            SendSpec::Reference { conversation_id, recipient_id } => write!(
                out,
                r#"{{"conversationId":"{conversation_id}","recipientId":"{recipient_id}","content":"{content}","type":"text"}}"#
            ),
        };
    });
}

#[derive(Deserialize)]
struct Delivered {
    content: Option<String>,
}

/// `args`: those of a `messageReceived` event (the message first).
fn on_event(args: &str, shared: &Shared) {
    let now = shared.now_us();
    let Ok(message) = Delivered::deserialize(&mut serde_json::Deserializer::from_str(args)) else {
        shared.foreign.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let parsed = message.content.as_deref().and_then(parse_content);
    let Some((step_id, k, sched_us)) = parsed else {
        shared.foreign.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let step = shared.steps.read().unwrap_or_else(|p| p.into_inner()).get(step_id as usize).cloned();
    match step {
        Some(step) => step.record_delivery(k, sched_us, now),
        None => {
            shared.foreign.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `lt:<step>:<k>:<scheduled µs>:xxx…`
fn parse_content(content: &str) -> Option<(u32, u64, u64)> {
    let mut parts = content.strip_prefix("lt:")?.splitn(4, ':');
    let step = parts.next()?.parse().ok()?;
    let k = parts.next()?.parse().ok()?;
    let sched = parts.next()?.parse().ok()?;
    Some((step, k, sched))
}

#[derive(Deserialize)]
struct AckBody {
    success: Option<bool>,
    error: Option<AckError>,
}

#[derive(Deserialize)]
struct AckError {
    code: Option<String>,
}

fn on_ack(id: u64, args: &str, pending: &mut HashMap<u64, (Arc<Step>, u64, u64)>, shared: &Shared) {
    let now = shared.now_us();
    let Some((step, k, sched_us)) = pending.remove(&id) else { return };
    let error = if args.is_empty() {
        Some("unsuccessful".to_owned())
    } else {
        match AckBody::deserialize(&mut serde_json::Deserializer::from_str(args)) {
            Ok(AckBody { success: Some(true), .. }) => None,
            Ok(AckBody { error: Some(AckError { code: Some(code) }), .. }) => Some(code),
            Ok(_) => Some("unsuccessful".to_owned()),
            Err(_) => Some("unparsable_ack".to_owned()),
        }
    };
    step.record_ack(k, sched_us, now, error);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trip() {
        let step = Step::new(3, 100.0, 0.0, 1.0, 0, 1);
        let mut out = String::new();
        let spec = SendSpec::Confab { conversation_id: 9, run: "r1".into() };
        build_send(&mut out, 7, &spec, &step, 42, 123456, 64);
        assert!(out.starts_with(r#"427["sendMessage",{"conversationId":9,"content":"lt:3:42:123456:xx"#), "{out}");
        let Packet::Event { ack_id: Some(7), name, args } = Packet::parse(&out) else { panic!("{out}") };
        assert_eq!(name, <SendMessage as Request>::EVENT);
        // The hand-written bytes are a `SendMessage`, field for field.
        let mut parser = serde_json::Deserializer::from_str(args).into_iter::<SendMessage>();
        let message = parser.next().unwrap().unwrap();
        assert!(parser.next().is_none(), "one argument: {args}");
        assert_eq!(message.conversation_id, 9);
        assert_eq!(message.client_msg_id, "r1-3-42");
        assert_eq!((message.kind, message.recipient_id), (None, None));
        assert_eq!(message.content.len(), 64);
        assert_eq!(parse_content(&message.content), Some((3, 42, 123456)));
        // …and nothing but one: serde writes the same bytes.
        assert_eq!(serde_json::to_string(&message).unwrap(), args);

        out.clear();
        let spec = SendSpec::Reference { conversation_id: "c".into(), recipient_id: "u".into() };
        build_send(&mut out, 0, &spec, &step, 1, 2, 32);
        assert_eq!(
            out,
            r#"420["sendMessage",{"conversationId":"c","recipientId":"u","content":"lt:3:1:2:xxxxxxxxxxxxxxxxxxxxxxx","type":"text"}]"#
        );
    }
}
