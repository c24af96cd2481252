//! The Socket.IO namespace `/`: handshake authentication and one dispatcher, generated from the
//! protocol's table of requests; each request's [`Handle`] lives beside its domain function.
//!
//! Every client → server event is parsed with `TryData`, so a malformed payload is answered with an
//! `invalid_payload` ack instead of a handler that silently never runs.

use std::future::Future;
use std::time::Instant;

use confab_protocol::notifications::OnlineUsers;
use confab_protocol::{Ack, Request, UserId, error::Empty};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, Extension, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::Sid;
use socketioxide_core::adapter::DefinedAdapter;

use crate::accounts::{self, AuthUser};
use crate::error::{Error, Result};
use crate::hub::{token_room, user_room};
use crate::{AppState, calls, presence};

#[derive(Deserialize)]
struct Handshake {
    token: Option<String>,
}

/// Why a handshake was refused; its text is the `connect_error` message the client sees.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Registers the namespace. With a cluster adapter the returned value is a future that completes once
/// the node has joined the cluster (await it); with the local adapter it is `()`.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, state: AppState) -> A::InitRes {
    let for_auth = state.clone();
    let authenticate = move |s: SocketRef<A>, TryData(handshake): TryData<Handshake>| {
        let state = for_auth.clone();
        async move { authenticate(state, s, handshake.ok()).await }
    };
    let connected = move |s: SocketRef<A>, Extension(contacts): Extension<Contacts>| {
        let state = state.clone();
        async move { on_connect(state, s, contacts).await }
    };
    io.ns("/", connected.with(authenticate))
}

/// Runs before the client is told it is connected: checks the token, joins the rooms, registers the
/// event handlers (so that no event the client sends right after `connect` is lost) and counts the
/// socket for presence (so that its disconnect can never be handled before its connect).
async fn authenticate<A: Adapter>(
    state: AppState,
    s: SocketRef<A>,
    handshake: Option<Handshake>,
) -> Result<(), Refused> {
    let token = handshake.and_then(|h| h.token).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(Refused("unauthorized: missing token (connect with auth: {token})".into()));
    };
    let me = match accounts::authenticate(&state, &token).await {
        Ok(me) => me,
        Err(Error::Refused(_)) => return Err(Refused("unauthorized: invalid or revoked token".into())),
        Err(e) => {
            tracing::error!(error = %e, "handshake failed");
            return Err(Refused("unavailable: the server cannot check tokens right now".into()));
        }
    };
    s.join(vec![user_room(me.user.id), token_room(me.token_id), s.id.to_string()]);
    let user = me.user.clone();
    s.extensions.insert(me);
    register_handlers(&s, &state);
    let contacts = presence::socket_connected(&state, &user, s.id).await;
    s.extensions.insert(Contacts(contacts));
    Ok(())
}

/// The user's contacts when the socket connected, for its `onlineUsers`.
#[derive(Clone)]
struct Contacts(Vec<UserId>);

/// After `connect` reached the client: who is online among its contacts.
async fn on_connect<A: Adapter>(state: AppState, s: SocketRef<A>, Contacts(contacts): Contacts) {
    let online = OnlineUsers { user_ids: presence::online_among(&state, &contacts).await };
    s.emit(<OnlineUsers as confab_protocol::Push>::EVENT, &online).ok();
}

async fn on_disconnect<A: Adapter>(state: AppState, s: SocketRef<A>, me: AuthUser) {
    calls::socket_gone(&state, s.id).await;
    presence::socket_disconnected(&state, me.user.id, s.id).await;
}

/// One handler per socket for every event, dispatching by name: socketioxide stores each handler
/// registered with `on` in a map per socket, which for sixteen events was about 1.3 KiB of every
/// connection (heaptrack). An event the server does not know is answered `invalid_payload`.
fn register_handlers<A: Adapter>(s: &SocketRef<A>, state: &AppState) {
    let for_disconnect = state.clone();
    s.on_disconnect(move |s: SocketRef<A>, Extension(me): Extension<AuthUser>| {
        let state = for_disconnect.clone();
        async move { on_disconnect(state, s, me).await }
    });
    let state = state.clone();
    s.on_fallback(
        move |s: SocketRef<A>,
              Extension(me): Extension<AuthUser>,
              ack: AckSender<A>,
              Event(event): Event,
              TryData(data): TryData<serde_json::Value>| {
            let state = state.clone();
            async move { dispatch(&state, me, s.id, ack, &event, data).await }
        },
    );
}

type Payload = Result<serde_json::Value, socketioxide::ParserError>;

/// Who sent a socket request: what every [`Handle`] implementation runs with.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub state: &'a AppState,
    pub me: &'a AuthUser,
    /// The sending socket: it gets the ack, not the fan-out (see `messages::Origin`).
    pub sid: Sid,
}

/// A client → server request the server answers. Implemented beside the request's domain
/// function (`messages`, `calls`); the dispatcher below is generated from the protocol's table, so a
/// request added to `confab_protocol::events` does not compile until it is implemented.
pub trait Handle: Request {
    fn handle(self, caller: Caller<'_>) -> impl Future<Output = Result<Self::Ack>> + Send;
}

/// `dispatch`, with one arm per request of the protocol's table: runs the request's [`Handle`] and
/// acks its result with the request's ack type.
macro_rules! dispatcher {
    ($($request:ty),*) => {
        async fn dispatch<A: Adapter>(
            state: &AppState,
            me: AuthUser,
            sid: Sid,
            ack: AckSender<A>,
            event: &str,
            data: Payload,
        ) {
            let caller = Caller { state, me: &me, sid };
            match event {
                $(<$request as Request>::EVENT => answer::<A, $request>(caller, ack, data).await,)*
                unknown => {
                    let reply: Ack<Empty> = Err(Error::invalid(format!("unknown event {unknown:?}")).body()).into();
                    // Fails only if the client asked for no ack or is gone; nothing to do then.
                    ack.send(&reply).ok();
                }
            }
        }
    };
}

confab_protocol::for_each_request!(dispatcher);

/// Parses the payload as `R`, runs its handler and always acks with `R`'s ack type.
async fn answer<A: Adapter, R: Handle>(caller: Caller<'_>, ack: AckSender<A>, data: Payload) {
    let started = Instant::now();
    let result = match parse::<R>(R::EVENT, data) {
        Ok(request) => request.handle(caller).await,
        Err(e) => Err(e),
    };
    let reply: Ack<R::Ack> = result.map_err(|e| e.body()).into();
    // Fails only if the client asked for no ack or is gone; nothing to do then.
    ack.send(&reply).ok();
    caller.state.metrics.observe_event(R::EVENT, started.elapsed());
}

/// Every payload is one JSON object: serde would otherwise also accept a struct written as an array.
fn parse<T: DeserializeOwned>(event: &str, data: Payload) -> Result<T> {
    match data {
        Ok(value @ serde_json::Value::Object(_)) => {
            serde_json::from_value(value).map_err(|e| Error::invalid(format!("invalid {event} payload: {e}")))
        }
        Ok(_) => Err(Error::invalid(format!("the {event} payload must be an object"))),
        Err(e) => Err(Error::invalid(format!("invalid {event} payload: {e}"))),
    }
}
