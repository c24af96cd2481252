//! [`CallPeer`]: one call's WebRTC peer connection and the media flowing over it.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
    Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;
use webrtc::runtime::TokioRuntime;

use crate::Encoded;
use crate::audio::{self, AudioReceiver, AudioSink, AudioSource, SendGate};
use crate::config::CallConfig;
use crate::error::{Error, Result};
use crate::stats::{CallStats, Counters};
use crate::switch::{SinkSlot, SourceSlot, SourceSwitch, replace_sink};
use crate::video::{self, Assembled, FrameAssembler, VideoSink, VideoSource};

/// Payload types offered, the ones browsers use too.
const OPUS_PAYLOAD_TYPE: u8 = 111;
const VP8_PAYLOAD_TYPE: u8 = 96;
/// Encoded frames that may wait for the network before the capture thread blocks.
const SEND_QUEUE: usize = 8;

/// Where a call's connection stands (the browser's `RTCPeerConnectionState`, simplified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CallState {
    /// Not started yet.
    New,
    /// ICE and DTLS are working on it.
    Connecting,
    /// Media can flow.
    Connected,
    /// Traffic stopped; it may come back (or an ICE restart may bring it back).
    Disconnected,
    /// Gave up; the call's media is over.
    Failed,
    /// Closed by [`CallPeer::close`].
    Closed,
}

impl CallState {
    /// Whether the connection is gone for good or for now (disconnected, failed or closed).
    pub fn is_down(self) -> bool {
        matches!(self, CallState::Disconnected | CallState::Failed | CallState::Closed)
    }
}

/// Something the app must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// A local ICE candidate, as the browser's `RTCIceCandidateInit` JSON (`candidate`, `sdpMid`,
    /// `sdpMLineIndex`, `usernameFragment`): send it as the `candidate` of an `iceCandidate`.
    LocalCandidate(Value),
    /// The connection's state changed.
    State(CallState),
    /// The microphone or the camera stopped delivering (a device unplugged or stalled): that side of
    /// the call sends nothing more; tell the user.
    SourceStopped {
        /// `"microphone"` or `"camera"`.
        source: &'static str,
        /// Why, in words.
        reason: String,
    },
}

/// What a call sends and where what it receives goes. Every part is optional: no microphone means
/// receive-only audio; video is negotiated when a video source or sink is given.
#[derive(Default)]
pub struct CallMedia {
    /// The microphone (or a test source); `None` sends no audio.
    pub audio_source: Option<Box<dyn AudioSource>>,
    /// The speaker (or a test sink); `None` discards received audio.
    pub audio_sink: Option<Box<dyn AudioSink>>,
    /// The camera (or a test source); `None` sends no video.
    pub video_source: Option<Box<dyn VideoSource>>,
    /// Where received pictures go (the UI); `None` discards them.
    pub video_sink: Option<Box<dyn VideoSink>>,
}

/// One call's peer connection. The app keeps one per `callId`; nothing here knows about "the
/// current call".
///
/// Signaling goes through the app: [`create_offer`](Self::create_offer) /
/// [`accept_offer`](Self::accept_offer) / [`set_answer`](Self::set_answer) take and return the
/// browser's `RTCSessionDescriptionInit` JSON (`{type, sdp}`), the `sdp` field of the call events;
/// candidates travel as [`CallEvent::LocalCandidate`] and [`add_remote_candidate`](Self::add_remote_candidate).
pub struct CallPeer {
    /// The connection.
    pc: Arc<dyn PeerConnection>,
    /// Remote candidates that came before the remote description; `None` once it is set.
    early_candidates: tokio::sync::Mutex<Option<Vec<RTCIceCandidateInit>>>,
    /// Gates the microphone (mute).
    audio_gate: Arc<SendGate>,
    /// Gates the camera (camera off); `None` in an audio-only call.
    video_gate: Option<Arc<SendGate>>,
    /// Replaces the microphone the audio capture thread reads.
    audio_source: SourceSwitch<Box<dyn AudioSource>>,
    /// Replaces the camera the video capture thread reads; `None` in an audio-only call.
    video_source: Option<SourceSwitch<Box<dyn VideoSource>>>,
    /// The speaker received audio plays into.
    audio_sink: SinkSlot<Box<dyn AudioSink>>,
    /// What went through.
    counters: Arc<Counters>,
    /// The latest connection state.
    state: watch::Receiver<CallState>,
    /// Shared with the event handler: `close` reports [`CallState::Closed`] itself, since the
    /// connection's driver stops before it would.
    handler: Arc<Handler>,
    /// The async writers (encoded frames → RTP), stopped on close.
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl CallPeer {
    /// Builds the connection and starts the media threads (which send nothing until connected).
    /// Returns the peer and its events, to be read until [`CallState::Closed`] or the end.
    pub async fn new(config: CallConfig, media: CallMedia) -> Result<(CallPeer, mpsc::UnboundedReceiver<CallEvent>)> {
        let CallMedia { audio_source, audio_sink, video_source, video_sink } = media;
        let with_video = video_source.is_some() || video_sink.is_some();
        let opus = RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.into(),
            clock_rate: audio::SAMPLE_RATE,
            channels: 2, // what SDP says for Opus; the stream itself is mono
            sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
            rtcp_feedback: vec![],
        };
        let vp8 = RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        };
        let mut media_engine = MediaEngine::default();
        media_engine.register_codec(
            RTCRtpCodecParameters { rtp_codec: opus.clone(), payload_type: OPUS_PAYLOAD_TYPE },
            RtpCodecKind::Audio,
        )?;
        if with_video {
            media_engine.register_codec(
                RTCRtpCodecParameters { rtp_codec: vp8.clone(), payload_type: VP8_PAYLOAD_TYPE },
                RtpCodecKind::Video,
            )?;
        }
        // NACK (retransmission), RTCP reports and transport-wide feedback.
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?;

        let ipv4_only = config.udp_addrs.iter().all(|a| a.parse::<SocketAddr>().is_ok_and(|a| a.is_ipv4()));
        let network_types =
            if ipv4_only { vec![NetworkType::Udp4] } else { vec![NetworkType::Udp4, NetworkType::Udp6] };
        let settings = SettingEngineBuilder::new()
            // mDNS would announce a .local name on the LAN and open a multicast socket.
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_network_types(network_types)
            .with_ice_timeouts(config.disconnected_timeout, config.failed_timeout, None)
            .build();
        let rtc_config = RTCConfigurationBuilder::new()
            .with_ice_servers(
                config
                    .ice_servers
                    .iter()
                    .map(|s| RTCIceServer {
                        urls: s.urls.clone(),
                        username: s.username.clone(),
                        credential: s.credential.clone(),
                    })
                    .collect(),
            )
            .build();

        let counters = Arc::new(Counters::default());
        let audio_gate = SendGate::new(true);
        let video_gate = with_video.then(|| SendGate::new(true));
        let (events_tx, events) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(CallState::New);
        let audio_sink: SinkSlot<Box<dyn AudioSink>> = Arc::new(Mutex::new(audio_sink));
        let handler = Arc::new(Handler {
            events: events_tx,
            state: Arc::new(state_tx),
            gates: [Some(audio_gate.clone()), video_gate.clone()].into_iter().flatten().collect(),
            audio_sink: audio_sink.clone(),
            video_sink: Mutex::new(video_sink),
            counters: counters.clone(),
        });
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(rtc_config)
                .with_media_engine(media_engine)
                .with_interceptor_registry(registry)
                .with_setting_engine(settings)
                .with_runtime(Arc::new(TokioRuntime))
                .with_handler(handler.clone())
                .with_udp_addrs(config.udp_addrs.clone())
                .build()
                .await?,
        );

        let mut writers = Vec::new();
        // The audio track and its capture thread exist even without a microphone: the call can
        // receive audio, and a microphone chosen later starts sending without renegotiating.
        let (track, sender, ssrc) = add_track(&*pc, RtpCodecKind::Audio, opus).await?;
        let (slot, audio_source) = SourceSlot::new(audio_source);
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        audio::spawn_sender(slot, audio_gate.clone(), tx, handler.events.clone())?;
        let sent = counters.clone();
        writers.push(tokio::spawn(write_samples(track, sender, ssrc, rx, move || {
            Counters::bump(&sent.audio_packets_sent)
        })));
        let mut video_switch = None;
        if let Some(gate) = &video_gate {
            let (track, sender, ssrc) = add_track(&*pc, RtpCodecKind::Video, vp8).await?;
            let (slot, switch) = SourceSlot::new(video_source);
            let (tx, rx) = mpsc::channel(SEND_QUEUE);
            video::spawn_sender(slot, gate.clone(), tx, handler.events.clone())?;
            let sent = counters.clone();
            writers.push(tokio::spawn(write_samples(track, sender, ssrc, rx, move || {
                Counters::bump(&sent.video_frames_sent)
            })));
            video_switch = Some(switch);
        }
        let peer = CallPeer {
            pc,
            early_candidates: tokio::sync::Mutex::new(Some(Vec::new())),
            audio_gate,
            video_gate,
            audio_source,
            video_source: video_switch,
            audio_sink,
            counters,
            state,
            handler,
            writers,
        };
        Ok((peer, events))
    }

    /// The caller's first step: an offer (`{type:"offer", sdp}`) for `initiateCall`.
    pub async fn create_offer(&self) -> Result<Value> {
        self.offer(None).await
    }

    /// The callee's step: applies the caller's offer and returns the answer for `acceptCall`.
    /// Also takes a later offer of the same call (an ICE restart) and answers it.
    pub async fn accept_offer(&self, offer: Value) -> Result<Value> {
        let offer = parse_description(offer, "offer")?;
        self.pc.set_remote_description(offer).await?;
        self.flush_early_candidates().await?;
        let answer = self.pc.create_answer(None).await?;
        self.pc.set_local_description(answer).await?;
        self.local_description().await
    }

    /// The caller's last step: applies the callee's answer (`callAccepted`'s `sdp`).
    pub async fn set_answer(&self, answer: Value) -> Result<()> {
        let answer = parse_description(answer, "answer")?;
        self.pc.set_remote_description(answer).await?;
        self.flush_early_candidates().await
    }

    /// Adds a candidate from the other side (`iceCandidate`'s `candidate`). Candidates that arrive
    /// before the remote description are kept and added once it is set. A `null` or empty
    /// candidate (end of candidates) is ignored.
    pub async fn add_remote_candidate(&self, candidate: Value) -> Result<()> {
        if candidate.is_null() {
            return Ok(());
        }
        let candidate: RTCIceCandidateInit = serde_json::from_value(candidate)?;
        if candidate.candidate.is_empty() {
            return Ok(());
        }
        let mut early = self.early_candidates.lock().await;
        match early.as_mut() {
            Some(queue) => queue.push(candidate),
            None => self.pc.add_ice_candidate(candidate).await?,
        }
        Ok(())
    }

    /// Starts an ICE restart (after [`CallState::Disconnected`], from the side that made the
    /// first offer): returns a new offer with fresh ICE credentials, to be answered through
    /// [`accept_offer`](Self::accept_offer) on the other side and [`set_answer`](Self::set_answer)
    /// here. The signaling protocol needs an event to carry it (see docs/architecture.md).
    pub async fn restart_ice(&self) -> Result<Value> {
        *self.early_candidates.lock().await = Some(Vec::new());
        self.offer(Some(RTCOfferOptions { ice_restart: true })).await
    }

    /// Mutes (stops sending audio) or unmutes.
    pub fn set_muted(&self, muted: bool) {
        self.audio_gate.enabled.store(!muted, Ordering::Relaxed);
    }

    /// Turns the camera off (stops sending video) or on; the first frame after is a key frame.
    pub fn set_camera(&self, on: bool) {
        if let Some(gate) = &self.video_gate {
            gate.enabled.store(on, Ordering::Relaxed);
        }
    }

    /// Sends from another microphone from the next frame on (`None`: none, the call goes on
    /// receiving). The old one is closed. Needs no renegotiation: the audio track stays.
    pub fn set_audio_source(&self, source: Option<Box<dyn AudioSource>>) -> Result<()> {
        self.audio_source.send(source).map_err(|_| Error::Closed)
    }

    /// Plays received audio into another speaker from the next frame on (`None`: discard it).
    pub fn set_audio_sink(&self, sink: Option<Box<dyn AudioSink>>) {
        replace_sink(&self.audio_sink, sink);
    }

    /// Sends from another camera from the next picture on (`None`: none). A picture of another
    /// size starts a new encoder, hence a key frame. Only in a video call: an audio call has no
    /// video track ([`Error::NoVideo`]).
    pub fn set_video_source(&self, source: Option<Box<dyn VideoSource>>) -> Result<()> {
        let switch = self.video_source.as_ref().ok_or(Error::NoVideo)?;
        switch.send(source).map_err(|_| Error::Closed)
    }

    /// The connection's current state.
    pub fn state(&self) -> CallState {
        *self.state.borrow()
    }

    /// Waits until the state satisfies `done` (or the connection is dropped); returns that state.
    pub async fn wait_for_state(&self, done: impl Fn(CallState) -> bool) -> CallState {
        let mut state = self.state.clone();
        let reached = state.wait_for(|s| done(*s)).await.map(|s| *s);
        reached.unwrap_or_else(|_| *state.borrow())
    }

    /// What went through so far.
    pub fn stats(&self) -> CallStats {
        self.counters.snapshot()
    }

    /// The local description as it stands (with the candidates gathered so far).
    pub async fn local_description(&self) -> Result<Value> {
        let desc = self.pc.local_description().await.ok_or(Error::Closed)?;
        Ok(serde_json::to_value(desc)?)
    }

    /// Ends the call's media: stops the media threads and closes the connection. Idempotent.
    pub async fn close(&self) -> Result<()> {
        for writer in &self.writers {
            writer.abort();
        }
        let result = self.pc.close().await;
        self.handler.set_state(CallState::Closed);
        Ok(result?)
    }

    async fn offer(&self, options: Option<RTCOfferOptions>) -> Result<Value> {
        let offer = self.pc.create_offer(options).await?;
        self.pc.set_local_description(offer).await?;
        self.local_description().await
    }

    async fn flush_early_candidates(&self) -> Result<()> {
        let mut early = self.early_candidates.lock().await;
        for candidate in early.take().unwrap_or_default() {
            self.pc.add_ice_candidate(candidate).await?;
        }
        Ok(())
    }
}

impl Drop for CallPeer {
    fn drop(&mut self) {
        for writer in &self.writers {
            writer.abort();
        }
        // Closing is async; a peer dropped without `close` still releases its sockets.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pc = self.pc.clone();
            runtime.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

fn parse_description(value: Value, expected: &str) -> Result<RTCSessionDescription> {
    let desc: RTCSessionDescription = serde_json::from_value(value)?;
    if desc.sdp_type.to_string() != expected {
        return Err(Error::Signaling(format!("expected an {expected}, got {}", desc.sdp_type)));
    }
    Ok(desc)
}

/// A random SSRC (the std hasher's per-process random keys; no extra dependency for 32 bits).
fn random_ssrc() -> u32 {
    RandomState::new().hash_one(Instant::now()) as u32
}

async fn add_track(
    pc: &dyn PeerConnection,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
) -> Result<(Arc<TrackLocalStaticSample>, Arc<dyn RtpSender>, u32)> {
    let ssrc = random_ssrc();
    let track = Arc::new(TrackLocalStaticSample::new(
        Instant::now(),
        MediaStreamTrack::new(
            "confab".into(),
            format!("confab-{kind}"),
            format!("confab-{kind}"),
            kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec,
                ..Default::default()
            }],
        ),
    )?);
    let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
    Ok((track, sender, ssrc))
}

/// Writes encoded frames to a local track (which packetizes them), once the negotiated payload
/// type is known. Ends when the capture thread ends or the call closes.
async fn write_samples(
    track: Arc<TrackLocalStaticSample>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    mut frames: mpsc::Receiver<Encoded>,
    sent: impl Fn() + Send + 'static,
) {
    let mut payload_type = None;
    while let Some(frame) = frames.recv().await {
        let pt = match payload_type {
            Some(pt) => pt,
            None => {
                let negotiated = sender
                    .get_parameters()
                    .await
                    .ok()
                    .and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type));
                match negotiated {
                    Some(pt) => *payload_type.insert(pt),
                    None => continue, // not negotiated yet
                }
            }
        };
        let sample = Sample { data: frame.data, duration: frame.duration, ..Sample::new(Instant::now()) };
        match track.write_sample(ssrc, pt, &sample, &[]).await {
            Ok(()) => sent(),
            Err(e) => tracing::debug!("write sample: {e}"),
        }
    }
}

/// Receives the connection's events on webrtc's driver: must not block.
struct Handler {
    /// To the app.
    events: mpsc::UnboundedSender<CallEvent>,
    /// The latest state, for [`CallPeer::state`] and waiting.
    state: Arc<watch::Sender<CallState>>,
    /// Told when the connection is up (capture threads send only then).
    gates: Vec<Arc<SendGate>>,
    /// Where remote audio plays (shared with [`CallPeer::set_audio_sink`]).
    audio_sink: SinkSlot<Box<dyn AudioSink>>,
    /// Taken by the first remote video track.
    video_sink: Mutex<Option<Box<dyn VideoSink>>>,
    /// The call's counters.
    counters: Arc<Counters>,
}

impl Handler {
    /// Records and reports a state, once per change; `Closed` is final.
    fn set_state(&self, state: CallState) {
        for gate in &self.gates {
            gate.connected.store(state == CallState::Connected, Ordering::Relaxed);
            gate.want_key.store(true, Ordering::Relaxed);
        }
        let changed = self.state.send_if_modified(|current| {
            let change = *current != state && *current != CallState::Closed;
            if change {
                *current = state;
            }
            change
        });
        if changed {
            let _ = self.events.send(CallEvent::State(state));
        }
    }
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json().map(serde_json::to_value) {
            Ok(Ok(candidate)) => {
                let _ = self.events.send(CallEvent::LocalCandidate(candidate));
            }
            Ok(Err(e)) => tracing::warn!("local candidate: {e}"),
            Err(e) => tracing::warn!("local candidate: {e}"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let state = match state {
            RTCPeerConnectionState::Connecting => CallState::Connecting,
            RTCPeerConnectionState::Connected => CallState::Connected,
            RTCPeerConnectionState::Disconnected => CallState::Disconnected,
            RTCPeerConnectionState::Failed => CallState::Failed,
            RTCPeerConnectionState::Closed => CallState::Closed,
            _ => CallState::New,
        };
        self.set_state(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let counters = self.counters.clone();
        match track.kind().await {
            RtpCodecKind::Audio => {
                tokio::spawn(receive_audio(track, self.audio_sink.clone(), counters));
            }
            RtpCodecKind::Video => {
                let sink = self.video_sink.lock().unwrap_or_else(|e| e.into_inner()).take();
                tokio::spawn(receive_video(track, sink, counters));
            }
            _ => {}
        }
    }
}

/// Whether a track event ends the track.
fn ended(event: &TrackRemoteEvent) -> bool {
    matches!(event, TrackRemoteEvent::OnEnded)
}

async fn receive_audio(track: Arc<dyn TrackRemote>, sink: SinkSlot<Box<dyn AudioSink>>, counters: Arc<Counters>) {
    let mut receiver = match AudioReceiver::new(sink, counters.clone()) {
        Ok(receiver) => Some(receiver),
        Err(e) => {
            tracing::warn!("audio receiver: {e}");
            None
        }
    };
    while let Some(event) = track.poll().await {
        if let TrackRemoteEvent::OnRtpPacket(packet) = &event {
            match receiver.as_mut() {
                Some(receiver) => receiver.push(packet.header.sequence_number, packet.payload.clone()),
                None => Counters::bump(&counters.audio_packets_received),
            }
        }
        if ended(&event) {
            break;
        }
    }
}

async fn receive_video(track: Arc<dyn TrackRemote>, sink: Option<Box<dyn VideoSink>>, counters: Arc<Counters>) {
    let decoder = match sink.map(|sink| video::spawn_decoder(sink, counters.clone())).transpose() {
        Ok(decoder) => decoder,
        Err(e) => {
            tracing::warn!("video receiver: {e}");
            None
        }
    };
    let mut assembler = FrameAssembler::default();
    while let Some(event) = track.poll().await {
        if let TrackRemoteEvent::OnRtpPacket(packet) = &event {
            Counters::bump(&counters.video_packets_received);
            let frame = match assembler.push(packet) {
                Assembled::Pending => continue,
                Assembled::Frame(frame) => {
                    Counters::bump(&counters.video_frames_received);
                    Some(frame)
                }
                Assembled::Dropped => {
                    Counters::bump(&counters.video_frames_dropped);
                    None
                }
            };
            if let Some(decoder) = &decoder
                && decoder.send(frame).is_err()
            {
                break;
            }
        }
        if ended(&event) {
            break;
        }
    }
}
