//! The connection: one Socket.IO connection per signed-in account, supervised forever. It connects,
//! catches up (see [`crate::sync`]), applies pushed events in order, and after any drop waits with
//! [`Backoff`] (jitter included) before trying again; "retry now" and sign-in skip the wait.
//! A session the server refuses signs out. Typed requests go through [`Client::request`].
//!
//! While disconnected, the last known presence stays: the UI marks it stale rather than showing
//! everyone offline (which would be a guess), and the next `onlineUsers` corrects it.

use std::time::Duration;

use confab_protocol::backoff::Backoff;
use confab_protocol::{Ack, Request, ServerEvent};
use serde::Serialize;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::events::ConnectionState;
use crate::socketio::{self, ConnectError, Connection, Incoming};

/// How long to wait for an ack before treating the connection as unusable for that request.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most pushed events applied as one batch (a burst is applied in slices of this many, so other
/// work such as a resync request is not held up for long).
const MAX_BATCH: usize = 500;
/// How long a batch that found a burst arriving waits for more (see `serve`).
const BURST_WAIT: Duration = Duration::from_millis(10);

/// Moves what is waiting into `batch` (up to [`MAX_BATCH`]); the close reason if it found one.
fn drain(
    incoming: &mut tokio::sync::mpsc::UnboundedReceiver<Incoming>,
    batch: &mut Vec<(String, serde_json::Value)>,
) -> Option<String> {
    while batch.len() < MAX_BATCH {
        match incoming.try_recv() {
            Ok(Incoming::Event(name, data)) => batch.push((name, data)),
            Ok(Incoming::Closed(reason)) => return Some(reason),
            Err(_) => break,
        }
    }
    None
}

/// The Socket.IO `auth` of a connection.
#[derive(Serialize)]
struct Auth<'a> {
    token: &'a str,
}

impl Client {
    /// Sends a request on the live connection and returns its ack's data, or the server's refusal.
    pub async fn request<R: Request>(&self, request: &R) -> Result<R::Ack> {
        let payload = serde_json::to_value(request)?;
        let ack = self
            .connection()?
            .emit_with_ack(R::EVENT, &payload, ACK_TIMEOUT)
            .await
            .map_err(|e| Error::Offline(e.to_string()))?;
        let ack: Ack<R::Ack> = serde_json::from_value(ack)?;
        ack.into_result().map_err(Error::Server)
    }

    /// Sends a request without waiting for its ack (typing, ICE candidates); dropped when offline.
    pub(crate) fn send_and_forget<R: Request>(&self, request: &R) {
        let sent = serde_json::to_value(request)
            .map_err(Error::from)
            .and_then(|payload| self.connection()?.emit(R::EVENT, &payload).map_err(|e| Error::Offline(e.to_string())));
        if let Err(e) = sent {
            tracing::debug!(event = R::EVENT, error = %e, "not sent");
        }
    }

    /// The live connection, if any.
    pub(crate) fn connection(&self) -> Result<Connection> {
        self.state()
            .connection
            .clone()
            .filter(Connection::is_open)
            .ok_or_else(|| Error::Offline("not connected".into()))
    }

    pub(crate) fn drop_connection(&self) {
        if let Some(connection) = self.state().connection.take() {
            connection.close();
        }
    }

    /// Skips the reconnect wait.
    pub fn retry_now(&self) {
        self.inner().wake_supervisor.notify_one();
    }

    /// Applies pushed events, in order (see [`Client::handle_events`]).
    async fn on_pushes(&self, batch: Vec<(String, serde_json::Value)>) {
        let mut events = Vec::with_capacity(batch.len());
        for (name, data) in batch {
            match ServerEvent::parse(&name, data) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => tracing::debug!(event = name, "ignoring unknown event"),
                Err(e) => tracing::warn!(event = name, error = %e, "a malformed event"),
            }
        }
        self.handle_events(events).await;
    }

    /// Serves one connection until it drops; returns why.
    async fn serve(
        &self,
        connection: Connection,
        mut incoming: tokio::sync::mpsc::UnboundedReceiver<Incoming>,
    ) -> Option<String> {
        let mut shutdown = self.inner().shutdown.subscribe();
        self.state().connection = Some(connection.clone());
        self.set_status(ConnectionState::Connected);
        // Events that arrive meanwhile wait in `incoming` and are applied after the catch-up.
        if let Err(e) = self.catch_up().await {
            tracing::warn!(error = %e, "catch-up failed");
        }
        self.inner().wake_outbox.notify_one();
        let reason = loop {
            tokio::select! {
                event = incoming.recv() => match event {
                    Some(Incoming::Event(name, data)) => {
                        // Events that queued meanwhile (a burst) are applied together: a run of
                        // new messages costs one summary per conversation, not one per message.
                        let mut batch = vec![(name, data)];
                        let mut closed = drain(&mut incoming, &mut batch);
                        // More than one waiting: a burst is arriving. Waiting a moment for more makes
                        // fewer, larger batches (each costs a summary, a webview event and a
                        // notification), so a slowly arriving burst costs what a fast one does.
                        if closed.is_none() && batch.len() > 1 && batch.len() < MAX_BATCH {
                            tokio::time::sleep(BURST_WAIT).await;
                            closed = drain(&mut incoming, &mut batch);
                        }
                        self.on_pushes(batch).await;
                        if let Some(reason) = closed {
                            break reason;
                        }
                    }
                    Some(Incoming::Closed(reason)) => break reason,
                    None => break "connection task ended".to_owned(),
                },
                _ = self.inner().resync.notified() => {
                    if let Err(e) = self.catch_up().await {
                        tracing::warn!(error = %e, "catch-up failed");
                    }
                }
                _ = shutdown.changed() => {
                    connection.close();
                    return None;
                }
            }
        };
        self.state().connection = None;
        self.end_calls_of_lost_connection().await;
        Some(reason)
    }
}

/// Owns the connection: connects, catches up, handles events, and reconnects with backoff forever.
pub(crate) async fn supervise(client: Client) {
    let mut shutdown = client.inner().shutdown.subscribe();
    let mut backoff = Backoff::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let target = client.state().session.as_ref().map(|s| (s.server_url.clone(), s.token.clone()));
        let Some((url, token)) = target else {
            if !matches!(client.connection_state(), ConnectionState::SignedOut { .. }) {
                client.set_status(ConnectionState::SignedOut { reason: None });
            }
            tokio::select! {
                _ = client.inner().wake_supervisor.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        client.set_status(ConnectionState::Connecting);
        let auth = match serde_json::to_value(Auth { token: &token }) {
            Ok(auth) => auth,
            Err(e) => {
                tracing::error!(error = %e, "encoding the auth");
                return;
            }
        };
        let last_error = match socketio::connect(&url, auth, CONNECT_TIMEOUT).await {
            Ok((connection, incoming)) => {
                backoff.reset();
                match client.serve(connection, incoming).await {
                    Some(reason) => reason,
                    None => return,
                }
            }
            Err(ConnectError::Refused(reason)) => {
                tracing::warn!(%reason, "the server refused the session");
                let _ = client.forget_session(Some(reason)).await;
                continue;
            }
            Err(ConnectError::Transport(e)) => e,
        };
        if client.state().session.is_none() {
            continue;
        }
        let delay = backoff.next_delay();
        client.set_status(ConnectionState::Reconnecting {
            attempt: backoff.attempts(),
            retry_in_ms: delay.as_millis() as u64,
            last_error,
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = client.inner().wake_supervisor.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
