//! Counters of what a call sent and received, for tests and the UI.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

// The audio clock counters are `specta(skip)`: not in the UI's generated types
// (ui/src/bindings.ts) until the UI shows them; then drop the skips and regenerate with
// CONFAB_WRITE_BINDINGS=1.
/// A snapshot of one call's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CallStats {
    /// Opus packets (one per 20 ms frame) handed to WebRTC.
    pub audio_packets_sent: u64,
    /// Times the audio source (microphone, test tone) delivered a frame more than 60 ms late: it
    /// stalled. The RTP timestamps jump over the time it lost (`audio_frames_skipped`), so the
    /// other side can see the gap instead of a shorter stream.
    #[cfg_attr(feature = "specta", specta(skip))]
    pub audio_capture_stalls: u64,
    /// 20 ms frames of capture time that were never sent: lost in a stall of the source, or
    /// dropped because the network side was not taking them. Muted time is not counted.
    #[cfg_attr(feature = "specta", specta(skip))]
    pub audio_frames_skipped: u64,
    /// Opus packets received from the remote (duplicates and late ones included).
    pub audio_packets_received: u64,
    /// 20 ms frames the jitter buffer gave up waiting for, played as packet-loss concealment.
    pub audio_packets_concealed: u64,
    /// 20 ms frames decoded and handed to the audio sink (concealed ones included).
    pub audio_frames_played: u64,
    /// 20 ms frames the other side's RTP timestamps jumped over between consecutive packets:
    /// time it did not send (its source stalled, or it was muted).
    #[cfg_attr(feature = "specta", specta(skip))]
    pub audio_gap_frames_received: u64,
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
    /// The kinds of candidates the media flows between (ICE's selected pair), taken each time the
    /// connection becomes connected; `None` before. `relay` on this side or the other means the
    /// call goes through a TURN relay.
    #[cfg_attr(feature = "specta", specta(skip))]
    pub selected_pair: Option<SelectedPair>,
}

/// The kinds of the two candidates of ICE's selected pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SelectedPair {
    /// This side's candidate.
    pub local: CandidateType,
    /// The other side's candidate.
    pub remote: CandidateType,
}

/// What an ICE candidate is (its `typ`), in SDP's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum CandidateType {
    /// An address of the device itself.
    Host,
    /// The device's address as a STUN server saw it (outside its NAT).
    Srflx,
    /// An address learned from the other side's checks (peer reflexive).
    Prflx,
    /// An address on a TURN relay.
    Relay,
}

/// The live counters behind [`CallStats`], shared by the media tasks of one call.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub audio_packets_sent: AtomicU64,
    pub audio_capture_stalls: AtomicU64,
    pub audio_frames_skipped: AtomicU64,
    pub audio_packets_received: AtomicU64,
    pub audio_packets_concealed: AtomicU64,
    pub audio_frames_played: AtomicU64,
    pub audio_gap_frames_received: AtomicU64,
    pub video_frames_sent: AtomicU64,
    pub video_packets_received: AtomicU64,
    pub video_frames_received: AtomicU64,
    pub video_frames_decoded: AtomicU64,
    pub video_frames_dropped: AtomicU64,
    pub selected_pair: Mutex<Option<SelectedPair>>,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CallStats {
        CallStats {
            audio_packets_sent: self.audio_packets_sent.load(Relaxed),
            audio_capture_stalls: self.audio_capture_stalls.load(Relaxed),
            audio_frames_skipped: self.audio_frames_skipped.load(Relaxed),
            audio_packets_received: self.audio_packets_received.load(Relaxed),
            audio_packets_concealed: self.audio_packets_concealed.load(Relaxed),
            audio_frames_played: self.audio_frames_played.load(Relaxed),
            audio_gap_frames_received: self.audio_gap_frames_received.load(Relaxed),
            video_frames_sent: self.video_frames_sent.load(Relaxed),
            video_packets_received: self.video_packets_received.load(Relaxed),
            video_frames_received: self.video_frames_received.load(Relaxed),
            video_frames_decoded: self.video_frames_decoded.load(Relaxed),
            video_frames_dropped: self.video_frames_dropped.load(Relaxed),
            selected_pair: *self.selected_pair.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }
}
