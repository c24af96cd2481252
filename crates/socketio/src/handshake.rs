//! The Socket.IO handshake on an open websocket, whatever stream it runs on.

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message as Frame, Utf8Bytes};

use crate::packet::{Open, PONG, Packet};

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

fn transport(error: impl std::fmt::Display) -> ConnectError {
    ConnectError::Transport(error.to_string())
}

/// Connects to the namespace `/` over `ws`, a websocket just opened on
/// `/socket.io/?EIO=4&transport=websocket`: reads Engine.IO's open packet, sends `40{auth}` (`auth`:
/// a JSON object as text), answers pings meanwhile and returns the open packet's timing once the
/// server has accepted (`40…`), or [`ConnectError::Refused`] with its message (`44…`). Other packets
/// before that are ignored. It has no timeout of its own: the caller bounds it.
pub async fn handshake<S>(ws: &mut WebSocketStream<S>, auth: &str) -> Result<Open, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let first = next_text(ws).await?;
    let Packet::Open(open) = Packet::parse(&first) else {
        return Err(ConnectError::Transport(format!("unexpected open packet {:?}", first.as_str())));
    };
    ws.send(Frame::text(format!("40{auth}"))).await.map_err(transport)?;
    loop {
        let text = next_text(ws).await?;
        match Packet::parse(&text) {
            Packet::Ping => ws.send(Frame::text(PONG)).await.map_err(transport)?,
            Packet::Connect => return Ok(open),
            Packet::ConnectError(message) => return Err(ConnectError::Refused(message)),
            Packet::Close | Packet::Disconnect => return Err(transport("closed during the handshake")),
            _ => {}
        }
    }
}

async fn next_text<S>(ws: &mut WebSocketStream<S>) -> Result<Utf8Bytes, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match ws.next().await {
            Some(Ok(Frame::Text(text))) => return Ok(text),
            Some(Ok(Frame::Close(_))) | None => return Err(transport("closed during the handshake")),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(transport(e)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;

    /// A websocket pair over memory: (client side, server side).
    pub(crate) async fn pair() -> (WebSocketStream<DuplexStream>, WebSocketStream<DuplexStream>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        (
            WebSocketStream::from_raw_socket(client, Role::Client, None).await,
            WebSocketStream::from_raw_socket(server, Role::Server, None).await,
        )
    }

    /// The server's side: the next text frame.
    pub(crate) async fn recv(ws: &mut WebSocketStream<DuplexStream>) -> String {
        next_text(ws).await.unwrap().to_string()
    }

    pub(crate) async fn send(ws: &mut WebSocketStream<DuplexStream>, text: &str) {
        ws.send(Frame::text(text)).await.unwrap();
    }

    #[tokio::test]
    async fn accepted_after_answering_pings() {
        let (mut client, mut server) = pair().await;
        let server = tokio::spawn(async move {
            send(&mut server, r#"0{"sid":"s","pingInterval":300,"pingTimeout":200}"#).await;
            assert_eq!(recv(&mut server).await, r#"40{"token":"t"}"#);
            send(&mut server, "2").await;
            assert_eq!(recv(&mut server).await, "3");
            send(&mut server, r#"42["early",1]"#).await;
            send(&mut server, r#"40{"sid":"n"}"#).await;
            server
        });
        let open = handshake(&mut client, r#"{"token":"t"}"#).await.unwrap();
        assert_eq!(open.liveness(), Duration::from_millis(500));
        server.await.unwrap();
    }

    #[tokio::test]
    async fn refused_with_the_servers_message() {
        let (mut client, mut server) = pair().await;
        tokio::spawn(async move {
            send(&mut server, r#"0{"sid":"s","pingInterval":300,"pingTimeout":200}"#).await;
            recv(&mut server).await;
            send(&mut server, r#"44{"message":"invalid token"}"#).await;
            server
        });
        let error = handshake(&mut client, "{}").await.unwrap_err();
        assert!(matches!(&error, ConnectError::Refused(message) if message == "invalid token"), "{error:?}");
    }

    #[tokio::test]
    async fn not_socket_io() {
        let (mut client, mut server) = pair().await;
        tokio::spawn(async move {
            send(&mut server, "hello").await;
            server
        });
        let error = handshake(&mut client, "{}").await.unwrap_err();
        assert!(matches!(&error, ConnectError::Transport(message) if message.contains("hello")), "{error:?}");

        let (mut client, server) = pair().await;
        drop(server);
        assert!(matches!(handshake(&mut client, "{}").await, Err(ConnectError::Transport(_))));
    }
}
