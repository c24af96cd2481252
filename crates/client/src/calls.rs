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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use confab_call::{
    AudioSink, AudioSource, CallConfig, CallEvent, CallMedia, CallPeer, CallState, CallStats, VideoSource,
};
use confab_protocol::notifications::{
    CallAccepted, CallEndReason, CallEnded, CallRejected, CallRenegotiated, IceCandidateRelayed, IncomingCall,
};
use confab_protocol::requests::{
    AcceptCall, EndCall, IceCandidate, InitiateCall, RejectCall, RenegotiateCall, SdpKind,
};
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

/// Why a call ended: the server's reasons, and two of this device's own.
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
}

impl Entry {
    fn new(view: CallSnapshot, offerer: bool, offer: Option<String>) -> Entry {
        Entry { view, offerer, offer, early_candidates: Vec::new(), peer: None, cancel_when_named: false }
    }
}

/// The calls of one client.
#[derive(Default)]
pub(crate) struct Calls {
    /// Devices from the app; calls without them send and play nothing.
    devices: Mutex<Option<Arc<dyn MediaDevices>>>,
    /// ICE servers and addresses, from the app's settings.
    config: Mutex<CallConfig>,
    /// By call id.
    entries: Mutex<HashMap<String, Entry>>,
    /// Call pushes for an id not known yet while an outgoing call waits for its id (the push can
    /// overtake `initiateCall`'s answer on its way to the task that placed the call).
    early_pushes: Mutex<Vec<EarlyPush>>,
}

/// A call push that came before its call was known here.
enum EarlyPush {
    Accepted(CallAccepted),
    Rejected(CallRejected),
    Ended(CallEnded),
}

impl EarlyPush {
    fn call_id(&self) -> &str {
        match self {
            EarlyPush::Accepted(e) => &e.call_id,
            EarlyPush::Rejected(e) => &e.call_id,
            EarlyPush::Ended(e) => &e.call_id,
        }
    }
}

/// Early pushes kept at most (pushes of calls on other devices are never claimed).
const MAX_EARLY_PUSHES: usize = 20;

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

    /// ICE servers and local addresses for the next calls (from settings; none by default).
    pub fn set_call_config(&self, config: CallConfig) {
        *self.calls().config.lock().unwrap_or_else(|p| p.into_inner()) = config;
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

    /// Builds a peer with this client's devices and configuration, and starts pumping its events.
    async fn new_peer(&self, call_id: &str, call_type: CallType) -> Result<(Arc<CallPeer>, PeerEvents)> {
        let devices = self.calls().devices.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let opened = match devices {
            // Opening a device blocks (ALSA, V4L2): not on an async worker.
            Some(devices) => {
                let id = call_id.to_owned();
                tokio::task::spawn_blocking(move || devices.open(&id, call_type))
                    .await
                    .map_err(|e| Error::Protocol(format!("opening devices panicked: {e}")))?
            }
            None => OpenedMedia::default(),
        };
        if !opened.problems.is_empty() {
            self.update_call(call_id, |entry| {
                for message in opened.problems {
                    entry.view.problem(message);
                }
            });
        }
        let config = self.calls().config.lock().unwrap_or_else(|p| p.into_inner()).clone();
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
        let named = {
            let mut entries = self.calls().entries();
            entries.remove(OUTGOING_CALL_ID).map(|mut entry| {
                entry.view.call_id = call_id.clone();
                entry.view.replaces = Some(OUTGOING_CALL_ID.to_owned());
                entry.peer = unnamed.take();
                let named = (entry.view.clone(), entry.cancel_when_named);
                entries.insert(call_id.clone(), entry);
                named
            })
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
        // Pushes for this call that overtook the answer.
        let early: Vec<EarlyPush> = {
            let mut pushes = self.calls().early_pushes.lock().unwrap_or_else(|p| p.into_inner());
            let (mine, others) = std::mem::take(&mut *pushes).into_iter().partition(|p| p.call_id() == call_id);
            *pushes = others;
            mine
        };
        for push in early {
            match push {
                EarlyPush::Accepted(e) => self.on_call_accepted(&e).await,
                EarlyPush::Rejected(e) => self.on_call_rejected(e).await,
                EarlyPush::Ended(e) => self.on_call_ended(e).await,
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
                        client.update_call(&call_id, |entry| entry.view.media = Some(state));
                        match state {
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
    fn keep_early(&self, call_id: &str, push: impl FnOnce() -> EarlyPush) -> bool {
        let entries = self.calls().entries();
        if entries.contains_key(call_id) || !entries.contains_key(OUTGOING_CALL_ID) {
            return false;
        }
        drop(entries);
        let mut pushes = self.calls().early_pushes.lock().unwrap_or_else(|p| p.into_inner());
        pushes.push(push());
        let excess = pushes.len().saturating_sub(MAX_EARLY_PUSHES);
        pushes.drain(..excess);
        true
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
            return;
        }
        if let Some(peer) = self.calls().peer(call_id)
            && let Err(e) = peer.set_answer(description("answer", &accepted.sdp)).await
        {
            self.update_call(call_id, |entry| entry.view.problem(format!("the answer was unusable: {e}")));
            let _ = self.end_call(call_id).await;
        }
    }

    pub(crate) async fn on_call_rejected(&self, rejected: CallRejected) {
        if self.keep_early(&rejected.call_id, || EarlyPush::Rejected(rejected.clone())) {
            return;
        }
        self.update_call(&rejected.call_id, |entry| entry.view.reject_reason = rejected.reason.clone());
        self.finish_call(&rejected.call_id, CallEnd::Rejected, None).await;
    }

    pub(crate) async fn on_call_ended(&self, ended: CallEnded) {
        if self.keep_early(&ended.call_id, || EarlyPush::Ended(ended.clone())) {
            return;
        }
        self.finish_call(&ended.call_id, ended.reason.into(), Some(ended.duration_ms)).await;
    }

    /// A candidate from the other side: to the peer, or kept until the peer exists.
    pub(crate) async fn on_remote_candidate(&self, relayed: &IceCandidateRelayed) {
        let call_id = &relayed.call_id;
        let candidate = relayed.candidate.clone();
        let peer = {
            let mut entries = self.calls().entries();
            match entries.get_mut(call_id) {
                Some(Entry { peer: Some(peer), .. }) => Some(peer.clone()),
                Some(entry) => {
                    entry.early_candidates.push(candidate.clone());
                    None
                }
                None => None,
            }
        };
        if let Some(peer) = peer
            && let Err(e) = peer.add_remote_candidate(candidate).await
        {
            tracing::debug!(error = %e, call_id, "a remote candidate was refused");
        }
    }

    /// The other side's new offer (answered here) or answer (an ICE restart); the UI hears
    /// [`ClientEvent::CallRenegotiated`] once it is applied.
    pub(crate) fn on_renegotiate(&self, renegotiated: CallRenegotiated) {
        let CallRenegotiated { call_id, kind, sdp, .. } = renegotiated;
        let Some(peer) = self.calls().peer(&call_id) else { return };
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
