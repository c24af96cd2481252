//! The Socket.IO v4 connection: [`confab_socketio`], shared with the load generator (why not `rust_socketio`: see there).
pub use confab_socketio::*;
