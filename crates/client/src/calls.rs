//! Calls on the client side: signaling through the server's call events, media through
//! [`confab_call::CallPeer`] — one peer per `callId`, never "the current call".
//!
//! This module is the one owner of a call's state. Each call is an entry with an explicit
//! [`CallPhase`] — outgoing `calling → active → ended`, incoming `ringing → answering → active →
//! ended` — and every change publishes the whole [`CallSnapshot`] as [`ClientEvent::Call`], which
//! the UI renders as it is (it only dismisses ended calls after a moment).
//!
//! The caller builds a peer and an offer, then `initiateCall`; the callee's devices ring
//! (`incomingCall` keeps the offer here) until one of them accepts (a peer, the answer,
//! `acceptCall`). ICE candidates trickle both ways through `iceCandidate`; those that arrive before
//! the peer exists wait. When the media connection drops, the caller restarts ICE (a new offer and
//! answer through `renegotiateCall`); if it does not recover, the call ends with a reason. Every
//! end — `endCall`, `callRejected`, `callEnded`, the media failing, or this device's socket
//! dropping (the server then ends its calls) — closes the peer and forgets the entry.
//!
//! Devices are the app's business: it gives the client a [`MediaDevices`] (microphone, speaker,
//! camera, a video sink towards the UI); tests give synthetic ones.
//!
//! ICE servers: each call's connection uses the server's list (`GET /api/calls/ice-servers`, with
//! time-limited TURN credentials; cached for half their lifetime and fetched while the devices
//! open, so it costs a call nothing on the critical path) and the user's own from settings on top.
//! A server without the endpoint, or one that does not answer within [`ICE_FETCH_TIMEOUT`], leaves
//! the user's servers alone (logged).
//!
//! Nothing for a call is dropped silently: pushes for a call this device is placing that overtake
//! `initiateCall`'s answer (it wakes the placing task, while pushes are applied on the connection's
//! task) — `callAccepted`, `callRejected`, `callEnded` and early `iceCandidate`s — are held and
//! replayed once the call has its id (the hold and the claim happen under the calls' lock, so none
//! falls between them); whatever is still dropped is logged, and if its call is known here, it is
//! one of the call's `problems`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_call::{
    AudioSink, AudioSource, CallConfig, CallEvent, CallMedia, CallPeer, CallState, CallStats, IceServer, VideoSource,
};
use confab_protocol::notifications::{
    CallAccepted, CallEndReason, CallEnded, CallRejected, CallRenegotiated, IceCandidateRelayed, IncomingCall,
};
use confab_protocol::requests::{
    AcceptCall, EndCall, IceCandidate, InitiateCall, RejectCall, RenegotiateCall, SdpKind,
};
use confab_protocol::rest::IceServers;
use confab_protocol::time::now_ms;
use confab_protocol::{CallType, ConversationId, ConversationKind, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::events::ClientEvent;

/// The call id an outgoing call goes by until the server names it: its media is opened (and its
/// problems reported) before `initiateCall` is answered.
pub const OUTGOING_CALL_ID: &str = "outgoing";

/// What a call sends and where it plays. The app opens real devices; tests use synthetic ones.
pub trait MediaDevices: Send + Sync + 'static {
    /// Media for a call. A device that cannot be opened is left out (the call goes on without it)
    /// and described in `problems` ("no microphone found"), which the UI shows. An outgoing call
    /// is opened as [`OUTGOING_CALL_ID`].
    fn open(&self, call_id: &str, call_type: CallType) -> OpenedMedia;

    /// The outgoing call opened as [`OUTGOING_CALL_ID`] now has the server's `call_id`.
    fn outgoing_named(&self, _call_id: &str) {}
}

/// The result of [`MediaDevices::open`].
#[derive(Default)]
pub struct OpenedMedia {
    /// What could be opened.
    pub media: CallMedia,
    /// What could not, in words for the user.
    pub problems: Vec<String>,
}

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallPhase {
    /// Outgoing, ringing at the other end.
    Calling,
    /// Incoming, waiting for accept or decline.
    Ringing,
    /// Incoming, accepted here, being connected.
    Answering,
    /// Answered.
    Active,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallDirection {
    Outgoing,
    Incoming,
}

/// Why a call ended: the server's reasons, and this device's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallEnd {
    Hangup,
    Cancelled,
    Rejected,
    Missed,
    Disconnected,
    AnsweredElsewhere,
    /// The other side was in another call (`initiateCall` refused with `busy`).
    Busy,
    /// Placing or answering the call failed (see `error`).
    Failed,
    /// Answered, but the media connection could never be made, and the call had no relay (no TURN
    /// server, neither from the server nor in settings): the two sides cannot reach each other
    /// directly, typically each behind its own router.
    NoRelay,
    /// Answered, but the media connection could never be made although a relay was configured.
    NotConnected,
}

impl From<CallEndReason> for CallEnd {
    fn from(reason: CallEndReason) -> Self {
        match reason {
            CallEndReason::Hangup => CallEnd::Hangup,
            CallEndReason::Cancelled => CallEnd::Cancelled,
            CallEndReason::Rejected => CallEnd::Rejected,
            CallEndReason::Missed => CallEnd::Missed,
            CallEndReason::Disconnected => CallEnd::Disconnected,
            CallEndReason::AnsweredElsewhere => CallEnd::AnsweredElsewhere,
        }
    }
}

/// A call as the UI shows it: published whole on every change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallSnapshot {
    /// [`OUTGOING_CALL_ID`] until the server names an outgoing call.
    pub call_id: String,
    /// Set on the first snapshot under the server's id: the id this call had before.
    pub replaces: Option<String>,
    pub conversation_id: ConversationId,
    /// Who is on the other end, as the UI names them.
    pub peer_name: String,
    pub call_type: CallType,
    pub direction: CallDirection,
    pub phase: CallPhase,
    /// When it was answered (ms since the epoch).
    pub answered_at: Option<i64>,
    pub muted: bool,
    pub camera_on: bool,
    /// The media connection, once this device is a party.
    pub media: Option<CallState>,
    /// What the user should know ("no microphone found"), oldest first, without repeats.
    pub problems: Vec<String>,
    pub end_reason: Option<CallEnd>,
    /// The callee's reason when they declined.
    pub reject_reason: Option<String>,
    /// The server's duration, or the time since answering, once ended.
    pub duration_ms: i64,
    pub ended_at: Option<i64>,
    /// Why placing or answering failed.
    pub error: Option<String>,
}

impl CallSnapshot {
    pub(crate) fn new(
        call_id: &str,
        conversation_id: ConversationId,
        peer_name: String,
        call_type: CallType,
        direction: CallDirection,
    ) -> Self {
        CallSnapshot {
            call_id: call_id.to_owned(),
            replaces: None,
            conversation_id,
            peer_name,
            call_type,
            direction,
            phase: match direction {
                CallDirection::Outgoing => CallPhase::Calling,
                CallDirection::Incoming => CallPhase::Ringing,
            },
            answered_at: None,
            muted: false,
            camera_on: call_type == CallType::Video,
            media: None,
            problems: Vec::new(),
            end_reason: None,
            reject_reason: None,
            duration_ms: 0,
            ended_at: None,
            error: None,
        }
    }

    fn end(&mut self, reason: CallEnd, server_duration_ms: Option<i64>) {
        if self.phase == CallPhase::Ended {
            return;
        }
        let now = now_ms();
        let measured = self.answered_at.map_or(0, |at| (now - at).max(0));
        self.phase = CallPhase::Ended;
        self.end_reason = Some(reason);
        self.ended_at = Some(now);
        self.duration_ms = server_duration_ms.filter(|&d| d > 0).unwrap_or(measured);
    }

    fn problem(&mut self, message: String) {
        if !self.problems.contains(&message) {
            self.problems.push(message);
        }
    }
}

/// Where calls get their ICE servers, for showing (credentials left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct IceServerSources {
    /// The server's STUN/TURN servers (`GET /api/calls/ice-servers`); empty when it has none.
    pub from_server: Vec<IceServer>,
    /// Why the server's list could not be had (a server older than the endpoint, offline).
    pub server_error: Option<String>,
    /// The user's own, from settings: added on top of the server's.
    pub from_settings: Vec<IceServer>,
}

/// One call this device takes part in (or that rings here).
struct Entry {
    view: CallSnapshot,
    /// This device made the first offer (the caller): it is the one that restarts ICE.
    offerer: bool,
    /// The caller's offer SDP while the call rings here; taken when this device accepts.
    offer: Option<String>,
    /// Candidates from the other side that came before the peer existed.
    early_candidates: Vec<Value>,
    /// The media connection, once this device is a party.
    peer: Option<Arc<CallPeer>>,
    /// The user hung up an outgoing call before the server named it: end it once named.
    cancel_when_named: bool,
    /// The ICE servers this call's connection was built with (the server's, then the user's).
    ice_servers: Vec<IceServer>,
    /// The media connection has been connected at least once.
    connected: bool,
}

impl Entry {
    fn new(view: CallSnapshot, offerer: bool, offer: Option<String>) -> Entry {
        Entry {
            view,
            offerer,
            offer,
            early_candidates: Vec::new(),
            peer: None,
            cancel_when_named: false,
            ice_servers: Vec::new(),
            connected: false,
        }
    }

    /// A TURN server is among the call's ICE servers.
    fn has_relay(&self) -> bool {
        self.ice_servers.iter().flat_map(|s| &s.urls).any(|url| url.starts_with("turn:") || url.starts_with("turns:"))
    }
}

/// The calls of one client.
#[derive(Default)]
pub(crate) struct Calls {
    /// Devices from the app; calls without them send and play nothing.
    devices: Mutex<Option<Arc<dyn MediaDevices>>>,
    /// ICE servers and addresses, from the app's settings.
    config: Mutex<CallConfig>,
    /// By call id. Locked before `early_pushes` when both are.
    entries: Mutex<HashMap<String, Entry>>,
    /// Call pushes for an id not known yet while an outgoing call waits for its id (the push can
    /// overtake `initiateCall`'s answer on its way to the task that placed the call), in arrival
    /// order, with when they came.
    early_pushes: Mutex<Vec<(Instant, EarlyPush)>>,
    /// Calls that ended here lately: pushes for them (candidates still on their way) are expected.
    recently_ended: Mutex<VecDeque<String>>,
    /// The server's ICE servers as last fetched.
    server_ice: Mutex<ServerIce>,
    /// One fetch of the server's ICE servers at a time (concurrent calls share it).
    ice_fetch: tokio::sync::Mutex<()>,
    /// The REST client those fetches use, for one session (server URL and token).
    ice_api: Mutex<Option<(String, crate::api::Api)>>,
    /// How long an answered call may take to connect its media (`None`: [`CONNECT_TIMEOUT`]).
    connect_timeout: Mutex<Option<Duration>>,
}

/// The server's ICE servers, for one session.
#[derive(Default)]
struct ServerIce {
    /// Whose list it is (server URL and token): another sign-in fetches again.
    session: String,
    /// The list and when it was fetched.
    fetched: Option<(Instant, IceServers)>,
    /// Why the last fetch failed, if it did, and when.
    error: Option<String>,
    failed_at: Option<Instant>,
}

impl ServerIce {
    /// The list if it is younger than half its lifetime (`fresh`) or still valid at all.
    fn usable(&self, session: &str, fresh: bool) -> Option<Vec<IceServer>> {
        let (at, list) = self.fetched.as_ref().filter(|_| self.session == session)?;
        let ttl = Duration::from_secs(list.ttl_seconds);
        let limit = if fresh { ttl / 2 } else { ttl };
        (at.elapsed() < limit).then(|| list.ice_servers.clone())
    }
}

/// A call push that came before its call was known here.
enum EarlyPush {
    Accepted(CallAccepted),
    Rejected(CallRejected),
    Ended(CallEnded),
    Candidate(IceCandidateRelayed),
}

impl EarlyPush {
    fn call_id(&self) -> &str {
        match self {
            EarlyPush::Accepted(e) => &e.call_id,
            EarlyPush::Rejected(e) => &e.call_id,
            EarlyPush::Ended(e) => &e.call_id,
            EarlyPush::Candidate(e) => &e.call_id,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            EarlyPush::Accepted(_) => "callAccepted",
            EarlyPush::Rejected(_) => "callRejected",
            EarlyPush::Ended(_) => "callEnded",
            EarlyPush::Candidate(_) => "iceCandidate",
        }
    }
}

/// Early pushes kept at most, and for how long (pushes of calls on other devices are never
/// claimed; a call's candidates are a few dozen at most).
const MAX_EARLY_PUSHES: usize = 200;
const EARLY_PUSH_TTL: Duration = Duration::from_secs(30);
/// Ended calls remembered, to tell late pushes for them from unexplained ones.
const RECENTLY_ENDED: usize = 32;

/// How long a call waits for the server's ICE servers before going on with the user's alone. On
/// loopback or a LAN the answer takes milliseconds; a server that takes seconds is unreachable or
/// overloaded, and the call's signaling goes through it too. 2 s bounds what a slow server adds to
/// a call (the fetch runs while the devices open, and a fresh list is cached for half its
/// lifetime, so usually it adds nothing).
pub const ICE_FETCH_TIMEOUT: Duration = Duration::from_secs(2);

/// After a failed fetch of the server's ICE servers, calls go on without asking again for this long
/// (a server older than the endpoint would otherwise cost every call a round trip).
const ICE_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How long an answered call may take to connect its media before it ends as
/// [`CallEnd::NoRelay`] or [`CallEnd::NotConnected`]. A direct call connects in well under a
/// second, a relayed one in a few; the engine itself gives up only after 30 s of checking.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl Calls {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn peer(&self, call_id: &str) -> Option<Arc<CallPeer>> {
        self.entries().get(call_id).and_then(|e| e.peer.clone())
    }
}

/// How long the media may stay disconnected before an ICE restart, and how many restarts are tried
/// (the connection counts as failed — and the call ends — after `CallConfig::failed_timeout`).
const ICE_RESTART_DELAY: std::time::Duration = std::time::Duration::from_secs(2);
const ICE_RESTART_ATTEMPTS: u32 = 3;

fn description(kind: &str, sdp: &str) -> Value {
    json!({"type": kind, "sdp": sdp})
}

fn sdp_of(description: &Value) -> Result<String> {
    description["sdp"].as_str().map(str::to_owned).ok_or_else(|| Error::Protocol("a description without sdp".into()))
}

impl Client {
    /// Where calls get their microphone, speaker, camera and video sink.
    pub fn set_media_devices(&self, devices: Arc<dyn MediaDevices>) {
        *self.calls().devices.lock().unwrap_or_else(|p| p.into_inner()) = Some(devices);
    }

    /// ICE servers and local addresses for the next calls (from settings; none by default). The
    /// server's ICE servers come first; these are added on top.
    pub fn set_call_config(&self, config: CallConfig) {
        *self.calls().config.lock().unwrap_or_else(|p| p.into_inner()) = config;
        self.prefetch_ice_servers();
    }

    /// How long an answered call may take to connect its media ([`CONNECT_TIMEOUT`] by default).
    pub fn set_call_connect_timeout(&self, timeout: Duration) {
        *self.calls().connect_timeout.lock().unwrap_or_else(|p| p.into_inner()) = Some(timeout);
    }

    /// The ICE servers a call's media connection was built with: the server's (with their TURN
    /// credentials), then the user's.
    pub fn call_ice_servers(&self, call_id: &str) -> Option<Vec<IceServer>> {
        self.calls().entries().get(call_id).filter(|e| e.peer.is_some()).map(|e| e.ice_servers.clone())
    }

    /// Where the next call's ICE servers come from: the server's list (fetched if the cached one is
    /// stale) and the user's own. Credentials are left out: this is for showing.
    pub async fn ice_server_sources(&self) -> IceServerSources {
        let from_server = self.server_ice_servers().await;
        let server_error = self.calls().server_ice.lock().unwrap_or_else(|p| p.into_inner()).error.clone();
        let from_settings = self.calls().config.lock().unwrap_or_else(|p| p.into_inner()).ice_servers.clone();
        let shown = |list: Vec<IceServer>| {
            list.into_iter().map(|s| IceServer { urls: s.urls, ..IceServer::default() }).collect()
        };
        IceServerSources { from_server: shown(from_server), server_error, from_settings: shown(from_settings) }
    }

    /// Whose ICE servers would be fetched now (server URL and token), if anyone is signed in.
    fn ice_session(&self) -> Option<String> {
        let state = self.state();
        state.session.as_ref().map(|s| format!("{}#{}", s.server_url, s.token))
    }

    /// The server's ICE servers for a call: the cached list while it is fresh; one older but still
    /// valid at once (a fresh one is fetched in the background); else fetched now (at most
    /// [`ICE_FETCH_TIMEOUT`]). On failure a list still valid, else none (logged); after a failure
    /// calls do not ask again for [`ICE_RETRY_AFTER`].
    async fn server_ice_servers(&self) -> Vec<IceServer> {
        let Some(session) = self.ice_session() else { return Vec::new() };
        let (fresh, valid, failed_lately) = {
            let ice = self.calls().server_ice.lock().unwrap_or_else(|p| p.into_inner());
            let failed_lately =
                ice.session == session && ice.failed_at.is_some_and(|at| at.elapsed() < ICE_RETRY_AFTER);
            (ice.usable(&session, true), ice.usable(&session, false), failed_lately)
        };
        if let Some(list) = fresh {
            return list;
        }
        if let Some(list) = valid {
            if !failed_lately {
                self.prefetch_ice_servers();
            }
            return list;
        }
        if failed_lately {
            return Vec::new();
        }
        self.fetch_server_ice(&session).await
    }

    /// Fetches the server's ICE servers (one fetch at a time; a fresh list fetched meanwhile is
    /// taken as is) and keeps them, or why they could not be had.
    async fn fetch_server_ice(&self, session: &str) -> Vec<IceServer> {
        let _one = self.calls().ice_fetch.lock().await;
        let fresh = self.calls().server_ice.lock().unwrap_or_else(|p| p.into_inner()).usable(session, true);
        if let Some(list) = fresh {
            return list;
        }
        // One HTTP client per session, so later fetches reuse its connection (a new client costs
        // tens of milliseconds: TLS roots, a new connection).
        let api = {
            let mut cached = self.calls().ice_api.lock().unwrap_or_else(|p| p.into_inner());
            match &*cached {
                Some((key, api)) if key == session => Ok(api.clone()),
                _ => self.api().inspect(|api| *cached = Some((session.to_owned(), api.clone()))),
            }
        };
        let fetched = match api {
            Ok(api) => match tokio::time::timeout(ICE_FETCH_TIMEOUT, api.ice_servers()).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {ICE_FETCH_TIMEOUT:?}")),
            },
            Err(e) => Err(e.to_string()),
        };
        let mut ice = self.calls().server_ice.lock().unwrap_or_else(|p| p.into_inner());
        if ice.session != session {
            *ice = ServerIce { session: session.to_owned(), ..ServerIce::default() };
        }
        match fetched {
            Ok(list) => {
                let servers = list.ice_servers.clone();
                ice.fetched = Some((Instant::now(), list));
                ice.error = None;
                ice.failed_at = None;
                servers
            }
            Err(e) => {
                tracing::info!(error = %e, "the server's ICE servers could not be had; calls use the user's alone");
                ice.error = Some(e);
                ice.failed_at = Some(Instant::now());
                ice.usable(session, false).unwrap_or_default()
            }
        }
    }

    /// Fetches the server's ICE servers in the background if the cached list is not fresh (the app
    /// set up calls, or a call rings here: by the time one is placed or accepted, the list is at
    /// hand).
    fn prefetch_ice_servers(&self) {
        let Some(session) = self.ice_session() else { return };
        {
            let ice = self.calls().server_ice.lock().unwrap_or_else(|p| p.into_inner());
            let failed_lately =
                ice.session == session && ice.failed_at.is_some_and(|at| at.elapsed() < ICE_RETRY_AFTER);
            if failed_lately || ice.usable(&session, true).is_some() {
                return;
            }
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let client = self.clone();
        runtime.spawn(async move {
            client.fetch_server_ice(&session).await;
        });
    }

    /// The calls of this device as they are now (ringing, under way).
    pub fn calls_now(&self) -> Vec<CallSnapshot> {
        self.calls().entries().values().map(|e| e.view.clone()).collect()
    }

    /// Changes a call's state and publishes its snapshot; false if there is no such call.
    fn update_call(&self, call_id: &str, change: impl FnOnce(&mut Entry)) -> bool {
        let snapshot = {
            let mut entries = self.calls().entries();
            let Some(entry) = entries.get_mut(call_id) else { return false };
            let before = entry.view.clone();
            change(entry);
            (entry.view != before).then(|| entry.view.clone())
        };
        if let Some(snapshot) = snapshot {
            self.emit(ClientEvent::Call(Box::new(snapshot)));
        }
        true
    }

    /// Ends a call here: publishes the ended snapshot, forgets the entry and closes its peer.
    async fn finish_call(&self, call_id: &str, reason: CallEnd, server_duration_ms: Option<i64>) {
        let entry = self.calls().entries().remove(call_id);
        let Some(mut entry) = entry else { return };
        {
            let mut ended = self.calls().recently_ended.lock().unwrap_or_else(|p| p.into_inner());
            ended.push_back(call_id.to_owned());
            if ended.len() > RECENTLY_ENDED {
                ended.pop_front();
            }
        }
        entry.view.end(reason, server_duration_ms);
        self.emit(ClientEvent::Call(Box::new(entry.view)));
        if let Some(peer) = entry.peer
            && let Err(e) = peer.close().await
        {
            tracing::debug!(error = %e, call_id, "closing a call's peer");
        }
    }

    /// The name of the other member of a direct conversation, as cached.
    async fn peer_name(&self, conversation_id: ConversationId) -> String {
        let me = self.me().map(|u| u.id).unwrap_or_default();
        let conversation = match self.cache() {
            Ok(cache) => cache.conversation(conversation_id, me).await.ok().flatten(),
            Err(_) => None,
        };
        conversation
            .and_then(|c| match c.kind {
                ConversationKind::Direct => {
                    c.members.into_iter().find(|m| m.user.id != me).map(|m| m.user.display_name)
                }
                ConversationKind::Group => c.title,
            })
            .unwrap_or_default()
    }

    /// Builds a peer with this client's devices and configuration (the server's ICE servers, then
    /// the user's), and starts pumping its events.
    async fn new_peer(&self, call_id: &str, call_type: CallType) -> Result<(Arc<CallPeer>, PeerEvents)> {
        let devices = self.calls().devices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let open = async {
            match devices {
                // Opening a device blocks (ALSA, V4L2): not on an async worker.
                Some(devices) => {
                    let id = call_id.to_owned();
                    tokio::task::spawn_blocking(move || devices.open(&id, call_type))
                        .await
                        .map_err(|e| Error::Protocol(format!("opening devices panicked: {e}")))
                }
                None => Ok(OpenedMedia::default()),
            }
        };
        let (opened, from_server) = tokio::join!(open, self.server_ice_servers());
        let opened = opened?;
        if !opened.problems.is_empty() {
            self.update_call(call_id, |entry| {
                for message in opened.problems {
                    entry.view.problem(message);
                }
            });
        }
        let mut config = self.calls().config.lock().unwrap_or_else(|p| p.into_inner()).clone();
        config.ice_servers = from_server.into_iter().chain(config.ice_servers).collect();
        self.update_call(call_id, |entry| entry.ice_servers = config.ice_servers.clone());
        let (peer, events) = CallPeer::new(config, opened.media).await?;
        Ok((Arc::new(peer), PeerEvents(events)))
    }

    /// Calls the other member of a direct conversation; returns the call id. The call is published
    /// as [`OUTGOING_CALL_ID`] at once, then under the server's id; it rings until `callAccepted`,
    /// `callRejected` or `callEnded` arrives. A failure ends it (`busy` or `failed`) and is returned.
    pub async fn start_call(&self, conversation_id: ConversationId, call_type: CallType) -> Result<String> {
        let peer_name = self.peer_name(conversation_id).await;
        let view = CallSnapshot::new(OUTGOING_CALL_ID, conversation_id, peer_name, call_type, CallDirection::Outgoing);
        {
            let mut entries = self.calls().entries();
            if entries.contains_key(OUTGOING_CALL_ID) {
                return Err(Error::Server(confab_protocol::ErrorBody::new(ErrorCode::Busy, "a call is being placed")));
            }
            entries.insert(OUTGOING_CALL_ID.to_owned(), Entry::new(view.clone(), true, None));
        }
        self.emit(ClientEvent::Call(Box::new(view)));
        match self.place_call(conversation_id, call_type).await {
            Ok(call_id) => Ok(call_id),
            Err(e) => {
                let reason = match &e {
                    Error::Server(body) if body.code == ErrorCode::Busy => CallEnd::Busy,
                    _ => CallEnd::Failed,
                };
                self.update_call(OUTGOING_CALL_ID, |entry| entry.view.error = Some(e.to_string()));
                self.finish_call(OUTGOING_CALL_ID, reason, None).await;
                Err(e)
            }
        }
    }

    async fn place_call(&self, conversation_id: ConversationId, call_type: CallType) -> Result<String> {
        let (peer, events) = self.new_peer(OUTGOING_CALL_ID, call_type).await?;
        let placed = async {
            let offer = peer.create_offer().await?;
            self.request(&InitiateCall { conversation_id, call_type, sdp: sdp_of(&offer)? }).await
        }
        .await;
        let started = match placed {
            Ok(started) => started,
            Err(e) => {
                let _ = peer.close().await;
                return Err(e);
            }
        };
        let call_id = started.call_id;
        if let Some(devices) = self.calls().devices.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            devices.outgoing_named(&call_id);
        }
        let mut unnamed = Some(peer);
        // Named and its held pushes claimed under one lock: a push is either held before this (and
        // claimed here) or finds the call under its id after.
        let (named, early) = {
            let mut entries = self.calls().entries();
            let named = entries.remove(OUTGOING_CALL_ID).map(|mut entry| {
                entry.view.call_id = call_id.clone();
                entry.view.replaces = Some(OUTGOING_CALL_ID.to_owned());
                entry.peer = unnamed.take();
                let named = (entry.view.clone(), entry.cancel_when_named);
                entries.insert(call_id.clone(), entry);
                named
            });
            let mut pushes = self.calls().early_pushes.lock().unwrap_or_else(|p| p.into_inner());
            let (mine, others): (Vec<_>, Vec<_>) =
                std::mem::take(&mut *pushes).into_iter().partition(|(_, p)| p.call_id() == call_id);
            *pushes = others;
            (named, mine)
        };
        // Only `start_call` forgets the outgoing entry, after this returns; hang up if it ever did.
        let Some((snapshot, cancelled)) = named else {
            if let Some(peer) = unnamed {
                let _ = peer.close().await;
            }
            let _ = self.request(&EndCall { call_id: call_id.clone() }).await;
            return Err(Error::NoSuchCall(call_id));
        };
        self.emit(ClientEvent::Call(Box::new(snapshot)));
        self.pump(call_id.clone(), events);
        if cancelled {
            let _ = self.end_call(&call_id).await;
            return Ok(call_id);
        }
        // Pushes for this call that overtook the answer, in the order they came.
        if !early.is_empty() {
            tracing::debug!(call_id, held = early.len(), "replaying pushes that overtook initiateCall's answer");
        }
        for (_, push) in early {
            match push {
                EarlyPush::Accepted(e) => self.on_call_accepted(&e).await,
                EarlyPush::Rejected(e) => self.on_call_rejected(e).await,
                EarlyPush::Ended(e) => self.on_call_ended(e).await,
                EarlyPush::Candidate(e) => self.on_remote_candidate(&e).await,
            }
        }
        Ok(call_id)
    }

    /// Answers a ringing call on this device.
    pub async fn accept_call(&self, call_id: &str) -> Result<()> {
        let mut taken = None;
        self.update_call(call_id, |entry| {
            if let Some(offer) = entry.offer.take() {
                entry.view.phase = CallPhase::Answering;
                taken = Some((offer, entry.view.call_type));
            }
        });
        let (offer, call_type) = taken.ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?;
        let answered = async {
            let (peer, events) = self.new_peer(call_id, call_type).await?;
            let attached = async {
                let answer = peer.accept_offer(description("offer", &offer)).await?;
                let early = {
                    let mut entries = self.calls().entries();
                    let entry = entries.get_mut(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?;
                    entry.peer = Some(peer.clone());
                    std::mem::take(&mut entry.early_candidates)
                };
                for candidate in early {
                    peer.add_remote_candidate(candidate).await?;
                }
                self.request(&AcceptCall { call_id: call_id.to_owned(), sdp: sdp_of(&answer)? }).await
            }
            .await;
            match attached {
                Ok(_) => Ok(events),
                Err(e) => {
                    let _ = peer.close().await;
                    Err(e)
                }
            }
        }
        .await;
        match answered {
            Ok(events) => {
                self.update_call(call_id, |entry| {
                    entry.view.phase = CallPhase::Active;
                    entry.view.answered_at.get_or_insert_with(now_ms);
                });
                self.pump(call_id.to_owned(), events);
                self.connect_deadline(call_id.to_owned());
                Ok(())
            }
            Err(e) => {
                self.update_call(call_id, |entry| {
                    entry.view.problem(e.to_string());
                    entry.view.error = Some(e.to_string());
                });
                self.finish_call(call_id, CallEnd::Failed, None).await;
                Err(e)
            }
        }
    }

    /// Declines a call ringing here (every device of yours stops ringing).
    pub async fn reject_call(&self, call_id: &str, reason: Option<&str>) -> Result<()> {
        let request = RejectCall { call_id: call_id.to_owned(), reason: reason.map(str::to_owned) };
        let result = self.request(&request).await;
        self.finish_call(call_id, CallEnd::Rejected, None).await;
        result.map(drop)
    }

    /// Hangs up (or cancels a call that still rings at the other end, or is still being placed).
    pub async fn end_call(&self, call_id: &str) -> Result<()> {
        let mut placing = false;
        self.update_call(call_id, |entry| {
            if call_id == OUTGOING_CALL_ID {
                placing = true;
                entry.cancel_when_named = true;
                entry.view.end(CallEnd::Cancelled, None);
            }
        });
        if placing {
            // `place_call` ends it on the server as soon as it has an id.
            return Ok(());
        }
        let ringing_out = self.calls().entries().get(call_id).is_some_and(|e| e.view.phase == CallPhase::Calling);
        let result = self.request(&EndCall { call_id: call_id.to_owned() }).await;
        let reason = if ringing_out { CallEnd::Cancelled } else { CallEnd::Hangup };
        self.finish_call(call_id, reason, None).await;
        result.map(drop)
    }

    /// Stops (or resumes) sending your microphone.
    pub fn set_call_muted(&self, call_id: &str, muted: bool) -> Result<()> {
        self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_muted(muted);
        self.update_call(call_id, |entry| entry.view.muted = muted);
        Ok(())
    }

    /// Stops (or resumes) sending your camera.
    pub fn set_call_camera(&self, call_id: &str, on: bool) -> Result<()> {
        self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_camera(on);
        self.update_call(call_id, |entry| entry.view.camera_on = on);
        Ok(())
    }

    /// Sends from another microphone during a call (`None`: stop sending audio). The old one is
    /// closed; the other side notices nothing but the sound.
    pub fn switch_call_microphone(&self, call_id: &str, source: Option<Box<dyn AudioSource>>) -> Result<()> {
        Ok(self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_audio_source(source)?)
    }

    /// Plays a call into another speaker (`None`: play nothing).
    pub fn switch_call_speaker(&self, call_id: &str, sink: Option<Box<dyn AudioSink>>) -> Result<()> {
        self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_audio_sink(sink);
        Ok(())
    }

    /// Sends from another camera during a video call (`None`: no camera).
    pub fn switch_call_camera(&self, call_id: &str, source: Option<Box<dyn VideoSource>>) -> Result<()> {
        Ok(self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_video_source(source)?)
    }

    /// What went through a call's media so far.
    pub fn call_stats(&self, call_id: &str) -> Option<CallStats> {
        self.calls().peer(call_id).map(|p| p.stats())
    }

    /// The media state of a call this device is a party to.
    pub fn call_state(&self, call_id: &str) -> Option<CallState> {
        self.calls().peer(call_id).map(|p| p.state())
    }

    /// Restarts ICE on a call this device offered: a new offer with fresh credentials goes to the
    /// other device through `renegotiateCall`. Done by itself when the media connection drops.
    pub async fn restart_call_ice(&self, call_id: &str) -> Result<()> {
        let peer = self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?;
        let offer = peer.restart_ice().await?;
        let request = RenegotiateCall { call_id: call_id.to_owned(), kind: SdpKind::Offer, sdp: sdp_of(&offer)? };
        self.request(&request).await.map(drop)
    }

    /// While a call's media stays disconnected, the offering side restarts ICE a few times; if
    /// the connection still fails, the pump ends the call.
    fn recover(&self, call_id: String) {
        let offerer = self.calls().entries().get(&call_id).is_some_and(|e| e.offerer);
        if !offerer {
            return;
        }
        let client = self.clone();
        tokio::spawn(async move {
            for attempt in 1..=ICE_RESTART_ATTEMPTS {
                tokio::time::sleep(ICE_RESTART_DELAY).await;
                if client.call_state(&call_id) != Some(CallState::Disconnected) {
                    return;
                }
                tracing::info!(call_id, attempt, "media disconnected: restarting ICE");
                if let Err(e) = client.restart_call_ice(&call_id).await {
                    tracing::warn!(call_id, error = %e, "ICE restart failed");
                }
            }
        });
    }

    /// Once a call is answered, its media must connect within the connect timeout, or the call
    /// ends saying why ([`Client::could_not_connect`]) instead of staying at "connecting" for the
    /// 30 s the engine takes to give up.
    fn connect_deadline(&self, call_id: String) {
        let timeout = self.calls().connect_timeout.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(CONNECT_TIMEOUT);
        let client = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let stuck = client.calls().entries().get(&call_id).is_some_and(|e| !e.connected);
            if stuck {
                tracing::info!(call_id, ?timeout, "the media did not connect in time");
                client.could_not_connect(&call_id).await;
            }
        });
    }

    /// An answered call whose media never connected: it ends as [`CallEnd::NoRelay`] when it had
    /// no TURN server (the likely cause: the two sides cannot reach each other directly), else as
    /// [`CallEnd::NotConnected`]; the server ends it for the other side.
    async fn could_not_connect(&self, call_id: &str) {
        let Some(relay) = self.calls().entries().get(call_id).map(Entry::has_relay) else { return };
        let reason = if relay { CallEnd::NotConnected } else { CallEnd::NoRelay };
        tracing::warn!(call_id, ?reason, "the call's media could not connect");
        // The entry goes first, so the server's `callEnded` echo (if any) finds nothing to end.
        self.finish_call(call_id, reason, None).await;
        if let Err(e) = self.request(&EndCall { call_id: call_id.to_owned() }).await {
            tracing::debug!(call_id, error = %e, "ending a call that could not connect");
        }
    }

    /// Forwards a peer's candidates to the server and its state to the call's snapshot; a
    /// connection that failed ends the call.
    fn pump(&self, call_id: String, mut events: PeerEvents) {
        let client = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.0.recv().await {
                match event {
                    CallEvent::LocalCandidate(candidate) => {
                        client.send_and_forget(&IceCandidate { call_id: call_id.clone(), candidate });
                    }
                    CallEvent::SourceStopped { source, reason } => {
                        client.update_call(&call_id, |entry| {
                            entry.view.problem(format!("the {source} stopped: {reason}"))
                        });
                    }
                    CallEvent::State(state) => {
                        let mut was_connected = false;
                        client.update_call(&call_id, |entry| {
                            entry.view.media = Some(state);
                            entry.connected |= state == CallState::Connected;
                            was_connected = entry.connected;
                        });
                        match state {
                            CallState::Failed if !was_connected => {
                                client.could_not_connect(&call_id).await;
                                break;
                            }
                            CallState::Failed => {
                                client.update_call(&call_id, |entry| {
                                    entry.view.problem("the connection to the other side was lost".into())
                                });
                                let _ = client.end_call(&call_id).await;
                                break;
                            }
                            CallState::Closed => break,
                            CallState::Disconnected => client.recover(call_id.clone()),
                            _ => {}
                        }
                    }
                }
            }
        });
    }

    /// Keeps a push for a call not known here while an outgoing call waits for its id; true if kept.
    /// Held under the entries' lock, which `place_call` names the call under: no push falls between.
    fn keep_early(&self, call_id: &str, push: impl FnOnce() -> EarlyPush) -> bool {
        let entries = self.calls().entries();
        if entries.contains_key(call_id) || !entries.contains_key(OUTGOING_CALL_ID) {
            return false;
        }
        let mut pushes = self.calls().early_pushes.lock().unwrap_or_else(|p| p.into_inner());
        pushes.push((Instant::now(), push()));
        // Never claimed (a call of another device, or placing failed after the server named it).
        let excess = pushes.len().saturating_sub(MAX_EARLY_PUSHES);
        let stale = pushes.iter().skip(excess).take_while(|(at, _)| at.elapsed() > EARLY_PUSH_TTL).count();
        for (_, push) in pushes.drain(..excess + stale) {
            tracing::warn!(
                call_id = push.call_id(),
                event = push.name(),
                "a call push held for a call never named here is dropped"
            );
        }
        true
    }

    /// A push for a call not known here (and not held): logged, quietly if the call ended lately.
    fn unclaimed(&self, call_id: &str, event: &str) {
        let ended =
            self.calls().recently_ended.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|id| id == call_id);
        if ended {
            tracing::debug!(call_id, event, "a push for a call that ended here");
        } else {
            tracing::warn!(call_id, event, "a push for a call not known here is dropped");
        }
    }

    /// A call rings here: keep its offer until this device accepts.
    pub(crate) fn on_incoming_call(&self, call: &IncomingCall) {
        let view = CallSnapshot::new(
            &call.call_id,
            call.conversation_id,
            call.caller_username.clone(),
            call.call_type,
            CallDirection::Incoming,
        );
        self.calls().entries().insert(call.call_id.clone(), Entry::new(view.clone(), false, Some(call.sdp.clone())));
        self.emit(ClientEvent::Call(Box::new(view)));
        self.prefetch_ice_servers();
    }

    /// The callee answered: apply the answer (an unusable one ends the call).
    pub(crate) async fn on_call_accepted(&self, accepted: &CallAccepted) {
        let call_id = &accepted.call_id;
        if self.keep_early(call_id, || EarlyPush::Accepted(accepted.clone())) {
            return;
        }
        let answered = self.update_call(call_id, |entry| {
            if entry.view.phase != CallPhase::Ended {
                entry.view.phase = CallPhase::Active;
                entry.view.answered_at.get_or_insert_with(now_ms);
            }
        });
        if !answered {
            return self.unclaimed(call_id, "callAccepted");
        }
        let Some(peer) = self.calls().peer(call_id) else {
            // Only a call this device placed is accepted here, and it has its peer once named.
            tracing::warn!(call_id, "callAccepted for a call without a connection here");
            self.update_call(call_id, |entry| entry.view.problem("the answer came before the call was set up".into()));
            let _ = self.end_call(call_id).await;
            return;
        };
        match peer.set_answer(description("answer", &accepted.sdp)).await {
            Ok(()) => self.connect_deadline(call_id.clone()),
            Err(e) => {
                self.update_call(call_id, |entry| entry.view.problem(format!("the answer was unusable: {e}")));
                let _ = self.end_call(call_id).await;
            }
        }
    }

    pub(crate) async fn on_call_rejected(&self, rejected: CallRejected) {
        if self.keep_early(&rejected.call_id, || EarlyPush::Rejected(rejected.clone())) {
            return;
        }
        if !self.update_call(&rejected.call_id, |entry| entry.view.reject_reason = rejected.reason.clone()) {
            return self.unclaimed(&rejected.call_id, "callRejected");
        }
        self.finish_call(&rejected.call_id, CallEnd::Rejected, None).await;
    }

    pub(crate) async fn on_call_ended(&self, ended: CallEnded) {
        if self.keep_early(&ended.call_id, || EarlyPush::Ended(ended.clone())) {
            return;
        }
        let timeout = self.calls().connect_timeout.lock().unwrap_or_else(|p| p.into_inner()).unwrap_or(CONNECT_TIMEOUT);
        let never_connected = match self.calls().entries().get(&ended.call_id) {
            None => return self.unclaimed(&ended.call_id, "callEnded"),
            // The other side gave up connecting (its connect timeout ran out about when ours would):
            // its hang-up is this side's failure to connect too.
            Some(entry) => {
                let waited = entry.view.answered_at.map_or(0, |at| now_ms() - at);
                ended.reason == CallEndReason::Hangup
                    && !entry.connected
                    && entry.peer.is_some()
                    && u128::try_from(waited).unwrap_or(0) * 4 >= timeout.as_millis() * 3
            }
        };
        if never_connected {
            return self.could_not_connect(&ended.call_id).await;
        }
        self.finish_call(&ended.call_id, ended.reason.into(), Some(ended.duration_ms)).await;
    }

    /// A candidate from the other side: to the peer, or kept until the peer exists (or, while the
    /// call is being placed, until it has its id).
    pub(crate) async fn on_remote_candidate(&self, relayed: &IceCandidateRelayed) {
        let call_id = &relayed.call_id;
        if self.keep_early(call_id, || EarlyPush::Candidate(relayed.clone())) {
            return;
        }
        let candidate = relayed.candidate.clone();
        let peer = {
            let mut entries = self.calls().entries();
            match entries.get_mut(call_id) {
                Some(Entry { peer: Some(peer), .. }) => Some(peer.clone()),
                Some(entry) => {
                    entry.early_candidates.push(candidate.clone());
                    None
                }
                None => return self.unclaimed(call_id, "iceCandidate"),
            }
        };
        if let Some(peer) = peer
            && let Err(e) = peer.add_remote_candidate(candidate).await
        {
            tracing::warn!(error = %e, call_id, "a remote candidate was refused");
            self.update_call(call_id, |entry| {
                entry.view.problem(format!("a connection candidate from the other side was refused: {e}"))
            });
        }
    }

    /// The other side's new offer (answered here) or answer (an ICE restart); the UI hears
    /// [`ClientEvent::CallRenegotiated`] once it is applied.
    pub(crate) fn on_renegotiate(&self, renegotiated: CallRenegotiated) {
        let CallRenegotiated { call_id, kind, sdp, .. } = renegotiated;
        let Some(peer) = self.calls().peer(&call_id) else {
            return self.unclaimed(&call_id, "renegotiateCall");
        };
        let client = self.clone();
        tokio::spawn(async move {
            let applied = match kind {
                SdpKind::Offer => match peer.accept_offer(description("offer", &sdp)).await {
                    Ok(answer) => match sdp_of(&answer) {
                        Ok(sdp) => {
                            let reply = RenegotiateCall { call_id: call_id.clone(), kind: SdpKind::Answer, sdp };
                            client.request(&reply).await.map(drop)
                        }
                        Err(e) => Err(e),
                    },
                    Err(e) => Err(e.into()),
                },
                SdpKind::Answer => peer.set_answer(description("answer", &sdp)).await.map_err(Error::from),
            };
            match applied {
                Ok(()) => client.emit(ClientEvent::CallRenegotiated { call_id }),
                Err(e) => tracing::warn!(call_id, error = %e, "renegotiation failed"),
            }
        });
    }

    /// This device's socket dropped: the server ends every call it was in, so end them here too.
    pub(crate) async fn end_calls_of_lost_connection(&self) {
        let ids: Vec<String> = self.calls().entries().keys().cloned().collect();
        for call_id in ids {
            if call_id == OUTGOING_CALL_ID {
                // Still being placed: `place_call` fails on its own (no connection for the answer).
                continue;
            }
            self.finish_call(&call_id, CallEnd::Disconnected, None).await;
        }
    }
}

/// A peer's event stream.
struct PeerEvents(tokio::sync::mpsc::UnboundedReceiver<CallEvent>);
