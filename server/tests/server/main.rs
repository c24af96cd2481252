//! Integration tests: each starts a real server on a loopback port with a temporary data dir and
//! talks to it over HTTP and Socket.IO (rust_socketio), as a client would.

mod accounts;
mod calls;
mod durability;
mod faults;
mod fuzz;
mod interactions;
mod messaging;
mod multinode;
mod ops;
mod presence;
mod relay;
mod safety;
mod support;
