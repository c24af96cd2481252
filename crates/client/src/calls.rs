//! Calls on the client side: signaling through the server's call events, media through
//! [`confab_call::CallPeer`] — one peer per `callId`, never "the current call".
//!
//! The caller builds a peer and an offer, then `initiateCall`; the callee's devices ring
//! (`incomingCall` keeps the offer here) until one of them accepts (a peer, the answer,
//! `acceptCall`). ICE candidates trickle both ways through `iceCandidate`; those that arrive before
//! the peer exists wait. When the media connection drops, the caller restarts ICE (a new offer and
//! answer through `renegotiateCall`); if it does not recover, the call ends with a reason. Every end — `endCall`, `callRejected`, `callEnded`, the media failing, or
//! this device's socket dropping (the server then ends its calls) — closes the peer.
//!
//! Devices are the app's business: it gives the client a [`MediaDevices`] (microphone, speaker,
//! camera, a video sink towards the UI); tests give synthetic ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use confab_call::{
    AudioSink, AudioSource, CallConfig, CallEvent, CallMedia, CallPeer, CallState, CallStats, VideoSource,
};
use confab_protocol::notifications::{
    CallAccepted, CallEndReason, CallEnded, CallRenegotiated, IceCandidateRelayed, IncomingCall,
};
use confab_protocol::requests::{
    AcceptCall, EndCall, IceCandidate, InitiateCall, RejectCall, RenegotiateCall, SdpKind,
};
use confab_protocol::{CallType, ConversationId};
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

/// One call this device takes part in (or that rings here).
struct Entry {
    call_type: CallType,
    /// This device made the first offer (the caller): it is the one that restarts ICE.
    offerer: bool,
    /// The caller's offer SDP while the call rings here; taken when this device accepts.
    offer: Option<String>,
    /// Candidates from the other side that came before the peer existed.
    early_candidates: Vec<Value>,
    /// The media connection, once this device is a party.
    peer: Option<Arc<CallPeer>>,
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
}

impl Calls {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn peer(&self, call_id: &str) -> Option<Arc<CallPeer>> {
        self.entries().get(call_id).and_then(|e| e.peer.clone())
    }

    /// Forgets a call; returns its peer to close.
    fn remove(&self, call_id: &str) -> Option<Arc<CallPeer>> {
        self.entries().remove(call_id).and_then(|e| e.peer)
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
        for message in opened.problems {
            self.emit(ClientEvent::CallProblem { call_id: call_id.to_owned(), message });
        }
        let config = self.calls().config.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let (peer, events) = CallPeer::new(config, opened.media).await?;
        Ok((Arc::new(peer), PeerEvents(events)))
    }

    /// Calls the other member of a direct conversation; returns the call id. The call rings until
    /// `callAccepted`, `callRejected` or `callEnded` arrives.
    pub async fn start_call(&self, conversation_id: ConversationId, call_type: CallType) -> Result<String> {
        let (peer, events) = self.new_peer(OUTGOING_CALL_ID, call_type).await?;
        let offer = match peer.create_offer().await {
            Ok(offer) => offer,
            Err(e) => {
                let _ = peer.close().await;
                return Err(e.into());
            }
        };
        let request = InitiateCall { conversation_id, call_type, sdp: sdp_of(&offer)? };
        let started = match self.request(&request).await {
            Ok(started) => started,
            Err(e) => {
                let _ = peer.close().await;
                return Err(e);
            }
        };
        if let Some(devices) = self.calls().devices.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            devices.outgoing_named(&started.call_id);
        }
        let entry = Entry { call_type, offerer: true, offer: None, early_candidates: Vec::new(), peer: Some(peer) };
        self.calls().entries().insert(started.call_id.clone(), entry);
        self.pump(started.call_id.clone(), events);
        Ok(started.call_id)
    }

    /// Answers a ringing call on this device.
    pub async fn accept_call(&self, call_id: &str) -> Result<()> {
        let (offer, call_type) = {
            let mut entries = self.calls().entries();
            let entry = entries.get_mut(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?;
            let offer = entry.offer.take().ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?;
            (offer, entry.call_type)
        };
        let (peer, events) = self.new_peer(call_id, call_type).await?;
        let answered = async {
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
        match answered {
            Ok(_) => {
                self.pump(call_id.to_owned(), events);
                Ok(())
            }
            Err(e) => {
                self.calls().remove(call_id);
                let _ = peer.close().await;
                Err(e)
            }
        }
    }

    /// Declines a call ringing here (every device of yours stops ringing).
    pub async fn reject_call(&self, call_id: &str, reason: Option<&str>) -> Result<()> {
        let request = RejectCall { call_id: call_id.to_owned(), reason: reason.map(str::to_owned) };
        let result = self.request(&request).await;
        self.close_call(call_id).await;
        result.map(drop)
    }

    /// Hangs up (or cancels a call that still rings at the other end).
    pub async fn end_call(&self, call_id: &str) -> Result<()> {
        let result = self.request(&EndCall { call_id: call_id.to_owned() }).await;
        self.close_call(call_id).await;
        result.map(drop)
    }

    /// Stops (or resumes) sending your microphone.
    pub fn set_call_muted(&self, call_id: &str, muted: bool) -> Result<()> {
        self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_muted(muted);
        Ok(())
    }

    /// Stops (or resumes) sending your camera.
    pub fn set_call_camera(&self, call_id: &str, on: bool) -> Result<()> {
        self.calls().peer(call_id).ok_or_else(|| Error::NoSuchCall(call_id.to_owned()))?.set_camera(on);
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

    pub(crate) async fn close_call(&self, call_id: &str) {
        if let Some(peer) = self.calls().remove(call_id)
            && let Err(e) = peer.close().await
        {
            tracing::debug!(error = %e, call_id, "closing a call's peer");
        }
    }

    /// Forwards a peer's candidates to the server and its state to the UI; a connection that
    /// failed ends the call.
    fn pump(&self, call_id: String, mut events: PeerEvents) {
        let client = self.clone();
        tokio::spawn(async move {
            while let Some(event) = events.0.recv().await {
                match event {
                    CallEvent::LocalCandidate(candidate) => {
                        client.send_and_forget(&IceCandidate { call_id: call_id.clone(), candidate });
                    }
                    CallEvent::SourceStopped { source, reason } => client.emit(ClientEvent::CallProblem {
                        call_id: call_id.clone(),
                        message: format!("the {source} stopped: {reason}"),
                    }),
                    CallEvent::State(state) => {
                        client.emit(ClientEvent::CallMedia { call_id: call_id.clone(), state });
                        match state {
                            CallState::Failed => {
                                client.emit(ClientEvent::CallProblem {
                                    call_id: call_id.clone(),
                                    message: "the connection to the other side was lost".into(),
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

    /// A call rings here: keep its offer until this device accepts.
    pub(crate) fn on_incoming_call(&self, call: &IncomingCall) {
        let entry = Entry {
            call_type: call.call_type,
            offerer: false,
            offer: Some(call.sdp.clone()),
            early_candidates: Vec::new(),
            peer: None,
        };
        self.calls().entries().insert(call.call_id.clone(), entry);
    }

    /// The callee answered: apply the answer (an unusable one ends the call).
    pub(crate) async fn on_call_accepted(&self, accepted: &CallAccepted) {
        let call_id = &accepted.call_id;
        if let Some(peer) = self.calls().peer(call_id)
            && let Err(e) = peer.set_answer(description("answer", &accepted.sdp)).await
        {
            self.emit(ClientEvent::CallProblem {
                call_id: call_id.clone(),
                message: format!("the answer was unusable: {e}"),
            });
            let _ = self.end_call(call_id).await;
        }
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
            self.close_call(&call_id).await;
            let ended = CallEnded { call_id, reason: CallEndReason::Disconnected, duration_ms: 0 };
            self.emit(ClientEvent::CallEnded(ended));
        }
    }
}

/// A peer's event stream.
struct PeerEvents(tokio::sync::mpsc::UnboundedReceiver<CallEvent>);
