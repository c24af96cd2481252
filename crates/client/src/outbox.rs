//! The outbox: messages written on this device and not yet acknowledged by the server.
//!
//! Each entry goes `queued → sending → sent | failed`:
//! - **queued**: persisted at once (it survives a restart) and shown as pending;
//! - **sending**: the one entry in flight (only in memory: after a restart it is queued again);
//! - **sent**: the server acknowledged it — it leaves the outbox and becomes a [`Message`] in the cache;
//! - **failed**: the server refused it for a reason a retry cannot fix without the user
//!   ([`needs_user`]); the user retries (back to queued) or discards it.
//!
//! Offline, timeouts and transient server failures put the entry back to queued; it is sent again,
//! in order, with the same `clientMsgId`, which the server uses to store it once.
//! Every change publishes the conversation's whole outbox as [`ClientEvent::Outbox`].
//!
//! [`Message`]: confab_protocol::Message

use std::time::Duration;

use confab_protocol::requests::SendMessage;
use confab_protocol::time::{now_ms, random_id};
use confab_protocol::{ConversationId, ErrorBody, ErrorCode, MessageType, validate};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::events::ClientEvent;

/// Where an outbox entry is on its way to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum SendState {
    Queued,
    Sending,
    Failed,
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Pending {
    pub conversation_id: ConversationId,
    pub client_msg_id: String,
    pub content: String,
    pub created_at: i64,
    pub state: SendState,
    /// Why the server refused it, when `failed`; cleared by a retry.
    pub error: Option<ErrorBody>,
}

/// Codes after which resending the same message cannot succeed without the user.
fn needs_user(code: ErrorCode) -> bool {
    !matches!(code, ErrorCode::Internal | ErrorCode::Unavailable)
}

/// How often the sender looks at the outbox without being woken (a missed wake-up costs this much).
const IDLE_CHECK: Duration = Duration::from_secs(5);

impl Client {
    /// Queues a message. It is persisted at once (survives a restart), shown as pending, and sent
    /// in order as soon as the connection allows, with a `clientMsgId` that makes retries safe.
    pub async fn send_message(&self, conversation_id: ConversationId, content: &str) -> Result<Pending> {
        let content = validate::content(content).map_err(Error::Server)?;
        let pending = Pending {
            conversation_id,
            client_msg_id: random_id(),
            content,
            created_at: now_ms(),
            state: SendState::Queued,
            error: None,
        };
        self.cache()?.enqueue(&pending).await?;
        self.publish_outbox(conversation_id).await;
        self.inner().wake_outbox.notify_one();
        Ok(pending)
    }

    /// Sends a failed message again.
    pub async fn retry_message(&self, client_msg_id: &str) -> Result<()> {
        let Some(entry) = self.pending(client_msg_id).await? else {
            return Err(Error::Server(ErrorBody::new(ErrorCode::NotFound, "no such pending message")));
        };
        self.cache()?.set_pending_error(client_msg_id, None).await?;
        self.publish_outbox(entry.conversation_id).await;
        self.inner().wake_outbox.notify_one();
        Ok(())
    }

    /// Drops a failed or pending message.
    pub async fn discard_message(&self, client_msg_id: &str) -> Result<()> {
        let entry = self.pending(client_msg_id).await?;
        self.cache()?.remove_pending(client_msg_id).await?;
        if let Some(p) = entry {
            self.publish_outbox(p.conversation_id).await;
        }
        Ok(())
    }

    /// The outbox of a conversation (queued, sending or failed), in the order written.
    pub async fn outbox(&self, conversation_id: ConversationId) -> Result<Vec<Pending>> {
        let mut entries = self.cache()?.outbox(Some(conversation_id)).await?;
        let sending = self.state().sending.clone();
        for entry in &mut entries {
            if Some(&entry.client_msg_id) == sending.as_ref() {
                entry.state = SendState::Sending;
            }
        }
        Ok(entries)
    }

    /// One outbox entry, by its `clientMsgId`.
    async fn pending(&self, client_msg_id: &str) -> Result<Option<Pending>> {
        Ok(self.cache()?.outbox(None).await?.into_iter().find(|p| p.client_msg_id == client_msg_id))
    }

    /// Tells the UI the conversation's outbox as it now is.
    async fn publish_outbox(&self, conversation_id: ConversationId) {
        match self.outbox(conversation_id).await {
            Ok(pending) => self.emit(ClientEvent::Outbox { conversation_id, pending }),
            Err(e) => tracing::warn!(error = %e, "reading the outbox failed"),
        }
    }

    fn set_sending(&self, client_msg_id: Option<String>) {
        self.state().sending = client_msg_id;
    }

    /// Sends one entry; returns whether the sender should go on with the next one.
    async fn send_one(&self, pending: Pending) -> bool {
        let Ok(cache) = self.cache() else { return false };
        let conversation_id = pending.conversation_id;
        self.set_sending(Some(pending.client_msg_id.clone()));
        self.publish_outbox(conversation_id).await;
        let request = SendMessage {
            conversation_id,
            content: pending.content.clone(),
            kind: Some(MessageType::Text),
            client_msg_id: pending.client_msg_id.clone(),
            recipient_id: None,
        };
        let result = self.request(&request).await;
        self.set_sending(None);
        match result {
            Ok(ack) => {
                // Out of the outbox first, so that the message never shows as pending and sent at once.
                let _ = cache.remove_pending(&pending.client_msg_id).await;
                self.publish_outbox(conversation_id).await;
                let seq = ack.message.seq;
                if let Err(e) = self.apply_message(ack.message, seq).await {
                    tracing::warn!(error = %e, "caching a sent message failed");
                }
                true
            }
            Err(Error::Server(body)) if needs_user(body.code) => {
                let _ = cache.set_pending_error(&pending.client_msg_id, Some(&body)).await;
                self.publish_outbox(conversation_id).await;
                true
            }
            // Offline, timed out, or a transient server failure: queued again, same clientMsgId.
            Err(_) => {
                self.publish_outbox(conversation_id).await;
                false
            }
        }
    }

    async fn next_to_send(&self) -> Result<Option<Pending>> {
        self.connection()?;
        self.cache()?.next_to_send().await
    }
}

/// Sends the outbox in order, one at a time, whenever there is a connection.
pub(crate) async fn run(client: Client) {
    let mut shutdown = client.inner().shutdown.subscribe();
    loop {
        tokio::select! {
            _ = client.inner().wake_outbox.notified() => {}
            _ = tokio::time::sleep(IDLE_CHECK) => {}
            _ = shutdown.changed() => return,
        }
        while let Ok(Some(pending)) = client.next_to_send().await {
            if !client.send_one(pending).await {
                break;
            }
        }
    }
}
