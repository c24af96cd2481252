//! [`CallPeer`]: one call's WebRTC peer connection and the media flowing over it.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::transport::{RTCDtlsRole, RTCIceCandidateType};
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceGatheringState, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;
use webrtc::runtime::TokioRuntime;

use crate::Encoded;
use crate::audio::{self, AudioReceiver, AudioSink, AudioSource, OpusPacket, SendGate};
use crate::config::CallConfig;
use crate::error::{Error, Result};
use crate::stats::{CallStats, CandidateType, Counters, SelectedPair};
use crate::switch::{SinkSlot, SourceSlot, SourceSwitch, replace_sink};
use crate::video::{self, Assembled, FrameAssembler, VideoSink, VideoSource};

/// Payload types offered, the ones browsers use too.
const OPUS_PAYLOAD_TYPE: u8 = 111;
const VP8_PAYLOAD_TYPE: u8 = 96;
/// Encoded frames that may wait for the network (audio: then frames are dropped and counted;
/// video: then the capture thread waits).
const SEND_QUEUE: usize = 8;

// ICE timing. webrtc-rs 0.21 checks candidate pairs on a timer (200 ms by default), and two steps
// of call setup wait for its next tick: the controlling side (the caller) nominates a pair only on
// a tick after that pair's check succeeded, and the controlled side accepts a nomination only for
// a pair its own check has already proven (else the nomination goes unanswered until the next
// tick). That is where setup's 200 ms steps came from (ICE connected after 2 or ~203 ms, DTLS
// ~200 ms later again). Checking every 20 ms makes each step at most 20 ms; the checks stop once
// a pair is selected, so the extra packets last only as long as setup.
/// How often candidate pairs are checked while connecting.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(20);
/// Checks per candidate pair before it counts as failed: 1.5 s of trying, as long as webrtc's
/// default (7 × 200 ms), so a slow path (a relay far away) still gets its chance.
const ICE_MAX_BINDING_REQUESTS: u16 = 75;
/// How long the caller waits, from the start of checks, before it may nominate a relayed pair.
/// Every other kind of pair is nominated as soon as it works: the checks run on all pairs at once,
/// so a direct path that works is the first to succeed. A relayed pair works whenever the relay
/// does, so nominating the first one to succeed would often pass up a direct path that is a round
/// trip from succeeding; 300 ms covers a long round trip after the candidates arrive.
/// (webrtc's default is 2 s, which made relayed calls connect after 2.2–2.6 s.) With
/// [`CallConfig::relay_only`] nothing better can come, and it is 0.
const RELAY_ACCEPTANCE_WAIT: Duration = Duration::from_millis(300);

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
    /// A local ICE candidate, as the browser's `RTCIceCandidateInit` JSON (`candidate`, `sdpMid`
    /// — the first media section's mid, `"0"` —, `sdpMLineIndex: 0`, `usernameFragment`): send it
    /// as the `candidate` of an `iceCandidate`. After the last one of a gathering comes the end of
    /// candidates, the same shape with `candidate: ""` (send it too: a browser takes it as
    /// end-of-candidates).
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
    /// Remote candidates held until the remote description they belong to is set.
    remote_candidates: tokio::sync::Mutex<RemoteCandidates>,
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
            .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), Some(ICE_MAX_BINDING_REQUESTS))
            .with_host_acceptance_min_wait(Some(Duration::ZERO))
            .with_srflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_prflx_acceptance_min_wait(Some(Duration::ZERO))
            .with_relay_acceptance_min_wait(Some(if config.relay_only {
                Duration::ZERO
            } else {
                RELAY_ACCEPTANCE_WAIT
            }))
            // The answerer is the DTLS server, so the caller (ICE controlling) sends the
            // ClientHello. Its ICE selects the pair when the callee confirms the nomination, and
            // the callee selected it on receiving that nomination, so the ClientHello always
            // finds the callee ready. The other way round (webrtc's default, the answerer as
            // client) the callee sends its ClientHello on receiving the nomination, and a caller
            // that has not selected the pair yet (its confirmation lost or late) drops it: DTLS
            // then waits a whole second for the retransmit.
            .with_answering_dtls_role(RTCDtlsRole::Server)
            .build();
        let rtc_config = RTCConfigurationBuilder::new()
            .with_ice_transport_policy(if config.relay_only {
                RTCIceTransportPolicy::Relay
            } else {
                RTCIceTransportPolicy::All
            })
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
            bundle: Mutex::new(Bundle::default()),
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
        // Audio is written as RTP here (one Opus frame a packet), so its timestamps follow the
        // capture clock across stalls; video goes through webrtc's sample packetizer.
        let (track, ssrc) = local_track(RtpCodecKind::Audio, opus, TrackLocalStaticRTP::new);
        let track = Arc::new(track);
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        let (slot, audio_source) = SourceSlot::new(audio_source);
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        audio::spawn_sender(slot, audio_gate.clone(), tx, handler.events.clone(), counters.clone())?;
        writers.push(tokio::spawn(note_selected_pair(sender.clone(), state.clone(), counters.clone())));
        writers.push(tokio::spawn(write_audio(track, sender, ssrc, rx, counters.clone())));
        let mut video_switch = None;
        if let Some(gate) = &video_gate {
            let (track, ssrc) =
                local_track(RtpCodecKind::Video, vp8, |t| TrackLocalStaticSample::new(Instant::now(), t));
            let track = Arc::new(track?);
            let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
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
            remote_candidates: tokio::sync::Mutex::new(RemoteCandidates::default()),
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
        let remote_ufrag = Bundle::of(&offer.sdp).ufrag;
        self.pc.set_remote_description(offer).await?;
        self.flush_early_candidates(remote_ufrag).await?;
        let answer = self.pc.create_answer(None).await?;
        self.handler.set_bundle(Bundle::of(&answer.sdp));
        self.pc.set_local_description(answer).await?;
        self.local_description().await
    }

    /// The caller's last step: applies the callee's answer (`callAccepted`'s `sdp`).
    pub async fn set_answer(&self, answer: Value) -> Result<()> {
        let answer = parse_description(answer, "answer")?;
        let remote_ufrag = Bundle::of(&answer.sdp).ufrag;
        self.pc.set_remote_description(answer).await?;
        self.flush_early_candidates(remote_ufrag).await
    }

    /// Adds a candidate from the other side (`iceCandidate`'s `candidate`): the browser's
    /// `RTCIceCandidateInit` (`{candidate, sdpMid, sdpMLineIndex, usernameFragment}`), or just
    /// the candidate string. Candidates that arrive before the remote description are kept and
    /// added once it is set. The end of the other side's candidates — a `candidate` of `""`, or
    /// `null` — needs nothing: checks go on with what came. A candidate whose `usernameFragment`
    /// is not the remote description's (left over from before an ICE restart) is dropped.
    pub async fn add_remote_candidate(&self, candidate: Value) -> Result<()> {
        let candidate: RTCIceCandidateInit = match candidate {
            Value::Null => return Ok(()),
            Value::String(candidate) => RTCIceCandidateInit { candidate, ..RTCIceCandidateInit::default() },
            candidate => serde_json::from_value(candidate)?,
        };
        if candidate.candidate.is_empty() {
            return Ok(());
        }
        let mut remote = self.remote_candidates.lock().await;
        let belongs = remote.description.as_ref().is_some_and(|ufrag| remote_generation(&candidate, ufrag.as_deref()));
        match belongs {
            true => self.pc.add_ice_candidate(candidate).await?,
            // Before the remote description, or for one not set yet (an ICE restart whose
            // offer is still on its way): held, within reason.
            _ if remote.held.len() < MAX_HELD_CANDIDATES => remote.held.push(candidate),
            _ => tracing::debug!("remote candidate dropped: too many held"),
        }
        Ok(())
    }

    /// Starts an ICE restart (after [`CallState::Disconnected`], from the side that made the
    /// first offer): returns a new offer with fresh ICE credentials, to be answered through
    /// [`accept_offer`](Self::accept_offer) on the other side and [`set_answer`](Self::set_answer)
    /// here. The signaling protocol needs an event to carry it (see docs/architecture.md).
    pub async fn restart_ice(&self) -> Result<Value> {
        self.remote_candidates.lock().await.description = None;
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
        // Before the description is set: that starts gathering, whose candidates carry these.
        self.handler.set_bundle(Bundle::of(&offer.sdp));
        self.pc.set_local_description(offer).await?;
        self.local_description().await
    }

    /// A remote description (whose ICE username fragment is `remote_ufrag`) was set: adds the
    /// held candidates that belong to it; the others were an older generation's.
    async fn flush_early_candidates(&self, remote_ufrag: Option<String>) -> Result<()> {
        let mut remote = self.remote_candidates.lock().await;
        for candidate in std::mem::take(&mut remote.held) {
            if remote_generation(&candidate, remote_ufrag.as_deref()) {
                self.pc.add_ice_candidate(candidate).await?;
            }
        }
        remote.description = Some(remote_ufrag);
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

/// Remote candidates held back at most (a well-behaved peer sends a few per gathering).
const MAX_HELD_CANDIDATES: usize = 256;

/// The remote side's candidates and the description they must match.
#[derive(Debug, Default)]
struct RemoteCandidates {
    /// The remote description in force, by its ICE username fragment; `None` before the first
    /// and while an ICE restart waits for its answer.
    description: Option<Option<String>>,
    /// Candidates waiting for their description.
    held: Vec<RTCIceCandidateInit>,
}

/// Whether a remote candidate belongs to the remote description's ICE generation: it names no
/// username fragment, or the description's.
fn remote_generation(candidate: &RTCIceCandidateInit, remote_ufrag: Option<&str>) -> bool {
    match (candidate.username_fragment.as_deref(), remote_ufrag) {
        (Some(ufrag), Some(remote)) if !ufrag.is_empty() => ufrag == remote,
        _ => true,
    }
}

/// What a local candidate must name for a browser to take it: the media section it belongs to
/// and the ICE generation. Every medium is bundled on one transport, so candidates belong to the
/// first media section (as a browser's do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Bundle {
    /// The first media section's `a=mid` (webrtc-rs and browsers: `"0"`).
    mid: Option<String>,
    /// The `a=ice-ufrag` of the description.
    ufrag: Option<String>,
}

impl Bundle {
    /// Reads them from SDP text: the first `a=mid` and the first `a=ice-ufrag` (session- or
    /// media-level; with bundle they are all the same).
    fn of(sdp: &str) -> Bundle {
        let attribute = |name: &str| sdp.lines().find_map(|line| line.trim_end().strip_prefix(name).map(str::to_owned));
        Bundle { mid: attribute("a=mid:"), ufrag: attribute("a=ice-ufrag:") }
    }

    /// A local candidate in the browser's `RTCIceCandidateInit` shape; `candidate: ""` is the
    /// end of candidates.
    fn candidate(&self, candidate: String) -> Value {
        json!({
            "candidate": candidate,
            "sdpMid": self.mid.as_deref().unwrap_or("0"),
            "sdpMLineIndex": 0,
            "usernameFragment": self.ufrag,
        })
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

/// A local track of `kind` sending `codec` with a random SSRC, made by `make` (an RTP track or a
/// sample track); returns it and the SSRC.
fn local_track<T>(kind: RtpCodecKind, codec: RTCRtpCodec, make: impl FnOnce(MediaStreamTrack) -> T) -> (T, u32) {
    let ssrc = random_ssrc();
    let track = make(MediaStreamTrack::new(
        "confab".into(),
        format!("confab-{kind}"),
        format!("confab-{kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
            codec,
            ..Default::default()
        }],
    ));
    (track, ssrc)
}

/// The payload type the other side agreed to for a sender's codec; `None` until negotiated.
async fn negotiated_payload_type(sender: &dyn RtpSender) -> Option<u8> {
    sender.get_parameters().await.ok().and_then(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
}

/// Notes ICE's selected pair in the counters each time the connection becomes connected (again,
/// after an ICE restart). Asked from a task of its own, not from the event handler: the handler
/// runs on webrtc's driver, and the question goes to the connection's core. Ends when the call
/// closes.
async fn note_selected_pair(
    sender: Arc<dyn RtpSender>,
    mut state: watch::Receiver<CallState>,
    counters: Arc<Counters>,
) {
    loop {
        if state.wait_for(|s| *s == CallState::Connected).await.is_err() {
            return;
        }
        let pair = match sender.transport().await {
            Ok(Some(dtls)) => dtls.ice_transport().get_selected_candidate_pair().await,
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
        match pair {
            Ok(Some(pair)) => {
                let selected = candidate_type(pair.local().typ)
                    .zip(candidate_type(pair.remote().typ))
                    .map(|(local, remote)| SelectedPair { local, remote });
                *counters.selected_pair.lock().unwrap_or_else(|e| e.into_inner()) = selected;
            }
            Ok(None) => tracing::debug!("connected without a selected candidate pair"),
            Err(e) => tracing::debug!("selected candidate pair: {e}"),
        }
        if state.wait_for(|s| *s != CallState::Connected).await.is_err() {
            return;
        }
    }
}

fn candidate_type(typ: RTCIceCandidateType) -> Option<CandidateType> {
    match typ {
        RTCIceCandidateType::Host => Some(CandidateType::Host),
        RTCIceCandidateType::Srflx => Some(CandidateType::Srflx),
        RTCIceCandidateType::Prflx => Some(CandidateType::Prflx),
        RTCIceCandidateType::Relay => Some(CandidateType::Relay),
        // `Unspecified`, and whatever a later version adds (the enum is non-exhaustive).
        _ => None,
    }
}

/// Writes Opus packets as RTP, one per packet, once the payload type is negotiated. The timestamp
/// is the capture clock's ([`OpusPacket::samples`]) from a random start, so time the capture lost
/// (or mute) shows as a jump in timestamps with consecutive sequence numbers, the way RTP marks
/// time not sent (RFC 3550 §5.1); the first packet after a jump has the marker bit (RFC 3551 §4.1:
/// the start of a talkspurt). Ends when the capture thread ends or the call closes.
async fn write_audio(
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    mut packets: mpsc::Receiver<OpusPacket>,
    counters: Arc<Counters>,
) {
    let (mut sequence, clock_start) = (random_ssrc() as u16, random_ssrc());
    let mut payload_type = None;
    let mut next_samples: Option<u64> = None;
    while let Some(packet) = packets.recv().await {
        let pt = match payload_type {
            Some(pt) => pt,
            None => match negotiated_payload_type(&*sender).await {
                Some(pt) => *payload_type.insert(pt),
                None => continue, // not negotiated yet
            },
        };
        let header = rtc::rtp::header::Header {
            version: 2,
            marker: next_samples != Some(packet.samples),
            payload_type: pt,
            sequence_number: sequence,
            timestamp: clock_start.wrapping_add(packet.samples as u32),
            ssrc,
            ..Default::default()
        };
        next_samples = Some(packet.samples + audio::FRAME_SAMPLES as u64);
        sequence = sequence.wrapping_add(1);
        match track.write_rtp_with_extensions(rtc::rtp::Packet { header, payload: packet.data }, &[]).await {
            Ok(()) => Counters::bump(&counters.audio_packets_sent),
            Err(e) => tracing::debug!("write audio: {e}"),
        }
    }
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
            None => match negotiated_payload_type(&*sender).await {
                Some(pt) => *payload_type.insert(pt),
                None => continue, // not negotiated yet
            },
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
    /// The local description's first mid and ICE ufrag, which local candidates carry.
    bundle: Mutex<Bundle>,
}

impl Handler {
    fn set_bundle(&self, bundle: Bundle) {
        *self.bundle.lock().unwrap_or_else(|e| e.into_inner()) = bundle;
    }

    fn bundle(&self) -> Bundle {
        self.bundle.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

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
        match event.candidate.to_json() {
            // webrtc-rs names no media section (`sdpMid: ""`), which browsers refuse.
            Ok(candidate) => {
                let _ = self.events.send(CallEvent::LocalCandidate(self.bundle().candidate(candidate.candidate)));
            }
            Err(e) => tracing::warn!("local candidate: {e}"),
        }
    }

    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            // The end of candidates, as a browser signals it: a candidate of "".
            let _ = self.events.send(CallEvent::LocalCandidate(self.bundle().candidate(String::new())));
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
                Some(receiver) => {
                    receiver.push(packet.header.sequence_number, packet.header.timestamp, packet.payload.clone())
                }
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
