//! Counters of what a call sent and received, for tests and the UI.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of one call's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallStats {
    /// Opus packets (one per 20 ms frame) handed to WebRTC.
    pub audio_packets_sent: u64,
    /// Opus packets received from the remote (duplicates and late ones included).
    pub audio_packets_received: u64,
    /// 20 ms frames the jitter buffer gave up waiting for, played as packet-loss concealment.
    pub audio_packets_concealed: u64,
    /// 20 ms frames decoded and handed to the audio sink (concealed ones included).
    pub audio_frames_played: u64,
    /// Encoded video frames handed to WebRTC.
    pub video_frames_sent: u64,
    /// Video RTP packets received.
    pub video_packets_received: u64,
    /// Complete video frames reassembled from RTP.
    pub video_frames_received: u64,
    /// Video frames decoded and handed to the video sink.
    pub video_frames_decoded: u64,
    /// Video frames dropped: incomplete, undecodable, or waiting for a key frame.
    pub video_frames_dropped: u64,
}

/// The live counters behind [`CallStats`], shared by the media tasks of one call.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub audio_packets_sent: AtomicU64,
    pub audio_packets_received: AtomicU64,
    pub audio_packets_concealed: AtomicU64,
    pub audio_frames_played: AtomicU64,
    pub video_frames_sent: AtomicU64,
    pub video_packets_received: AtomicU64,
    pub video_frames_received: AtomicU64,
    pub video_frames_decoded: AtomicU64,
    pub video_frames_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CallStats {
        CallStats {
            audio_packets_sent: self.audio_packets_sent.load(Relaxed),
            audio_packets_received: self.audio_packets_received.load(Relaxed),
            audio_packets_concealed: self.audio_packets_concealed.load(Relaxed),
            audio_frames_played: self.audio_frames_played.load(Relaxed),
            video_frames_sent: self.video_frames_sent.load(Relaxed),
            video_packets_received: self.video_packets_received.load(Relaxed),
            video_frames_received: self.video_frames_received.load(Relaxed),
            video_frames_decoded: self.video_frames_decoded.load(Relaxed),
            video_frames_dropped: self.video_frames_dropped.load(Relaxed),
        }
    }
}
