//! `confab-client` against a real `confab-server` process: chat, reconnection across server
//! kills, the persisted outbox, the offline cache, sync convergence, and calls with real media.

mod calls;
mod chat;
mod events;
mod resilience;
mod soak;
mod support;
