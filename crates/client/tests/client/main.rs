//! `confab-client` against a real `confab-server` process: chat, reconnection across server
//! kills, the persisted outbox, the offline cache, and sync convergence.

mod chat;
mod resilience;
mod support;
