//! `confab-call`: the media engine of Confab's voice and video calls. The app's webview cannot do
//! WebRTC, so calls run here, headless: one WebRTC peer connection per call, Opus audio and VP8
//! video, device capture and playback. Signaling is not done here: the client core carries the
//! SDP and ICE JSON values through the server's call events.
//!
//! # Layout
//! - [`CallPeer`] ([`peer`]): one call's connection, built from a [`CallConfig`] ([`config`]) and
//!   the [`CallMedia`] to send and receive; offer/answer/candidates as the browser's JSON; state
//!   changes and local candidates as [`CallEvent`]s; mute and camera switches; devices replaced
//!   during the call (`switch.rs`: no renegotiation, the tracks stay); [`CallStats`].
//! - [`audio`]: the [`AudioSource`]/[`AudioSink`] traits, [`SineSource`] and [`CollectingSink`]
//!   for tests, the Opus send path and the receive path through a small jitter buffer
//!   (`audio/jitter.rs`); [`audio::device`]: microphone and speaker through cpal.
//! - [`video`]: the [`VideoSource`]/[`VideoSink`] traits, [`PatternSource`] (a synthetic camera
//!   whose pictures carry their frame number) and the VP8 pipeline; [`video::vp8`]: libvpx;
//!   [`video::camera`]: the camera (V4L2 on Linux).
//! - [`stats`]: counters of what went through; [`probe`]: pitch and candidate checks for tests.
//!
//! Threads: capture + encode run on one thread per medium (libvpx's encoder is not `Send`, a
//! device blocks); RTP writing and receiving are tokio tasks; video decoding has its own thread.

pub mod audio;
pub mod config;
pub mod error;
pub mod peer;
pub mod probe;
pub mod stats;
mod switch;
pub mod video;

pub use audio::device::{CpalCapture, CpalPlayback};
pub use audio::{AudioSink, AudioSource, CollectingSink, SineSource};
pub use config::{CallConfig, IceServer};
pub use error::{Error, Result};
pub use peer::{CallEvent, CallMedia, CallPeer, CallState};
pub use stats::{CallStats, CandidateType, SelectedPair};
pub use video::camera::{Camera, list_cameras};
pub use video::{PatternSource, VideoFrame, VideoSink, VideoSource, read_pattern_number};

/// One encoded frame on its way from a capture thread to the RTP writer.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The codec's bitstream for the frame.
    pub data: bytes::Bytes,
    /// How long the frame lasts, which advances the RTP clock.
    pub duration: std::time::Duration,
}
