//! Audio: sources and sinks of 48 kHz mono 20 ms frames, and the Opus pipeline between them and
//! RTP.
//!
//! Send: an [`AudioSource`] is read on a thread of its own (a device source blocks on the device,
//! a synthetic one on the clock), each frame is Opus-encoded there and handed to the async writer.
//! Receive: RTP payloads go through the [`jitter`] buffer (reordering, gaps concealed by Opus), are
//! decoded and handed to the [`AudioSink`].

pub mod device;
pub(crate) mod jitter;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::Result;
use crate::stats::Counters;
use crate::switch::{SinkSlot, SourceSlot};
use jitter::{JitterBuffer, Playout};

/// Samples per second of every frame in the engine (and Opus's native rate).
pub const SAMPLE_RATE: u32 = 48_000;
/// Samples in one 20 ms mono frame.
pub const FRAME_SAMPLES: usize = 960;
/// The duration of one frame.
pub const FRAME_DURATION: Duration = Duration::from_millis(20);
/// Packets the jitter buffer holds back past a gap before it gives the missing one up (60 ms).
const JITTER_DEPTH: usize = 3;

/// Where outgoing audio comes from: 20 ms frames of 48 kHz mono.
pub trait AudioSource: Send + 'static {
    /// Fills `frame` with the next 20 ms, blocking until they exist: a device source waits for the
    /// device, a synthetic one for the clock. An error ends the sending side of the call's audio.
    fn read_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) -> Result<()>;
}

/// Where received audio goes: decoded 48 kHz mono samples, 20 ms at a time, in play order.
pub trait AudioSink: Send + 'static {
    /// Takes one decoded frame. Called from the async receive task: must not block.
    fn play(&mut self, frame: &[i16]);
}

/// A sine tone paced by the clock, like a microphone that hears one note: the test source.
#[derive(Debug)]
pub struct SineSource {
    /// The tone's frequency in Hz.
    frequency: f64,
    /// Peak amplitude, in i16 units.
    amplitude: f64,
    /// Samples produced so far (the phase).
    position: u64,
    /// When the next frame is due; `None` until the first read.
    next_due: Option<Instant>,
}

impl SineSource {
    /// A tone at `frequency` Hz, at about a third of full scale.
    pub fn new(frequency: f64) -> Self {
        SineSource { frequency, amplitude: 10_000.0, position: 0, next_due: None }
    }
}

impl AudioSource for SineSource {
    fn read_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) -> Result<()> {
        let now = Instant::now();
        let due = *self.next_due.get_or_insert(now);
        if due > now {
            std::thread::sleep(due - now);
        }
        // After a long stall (a suspended machine) restart the clock instead of bursting.
        let next = due + FRAME_DURATION;
        self.next_due = Some(if Instant::now() > next + Duration::from_millis(200) { Instant::now() } else { next });
        let step = 2.0 * std::f64::consts::PI * self.frequency / f64::from(SAMPLE_RATE);
        for sample in frame.iter_mut() {
            *sample = (self.amplitude * (step * self.position as f64).sin()) as i16;
            self.position += 1;
        }
        Ok(())
    }
}

/// A sink that keeps everything it is given: the test sink. Clones share the samples.
#[derive(Debug, Clone, Default)]
pub struct CollectingSink {
    /// Every sample played, in order.
    samples: Arc<Mutex<Vec<i16>>>,
}

impl CollectingSink {
    pub fn new() -> Self {
        CollectingSink::default()
    }

    /// A copy of everything played so far.
    pub fn samples(&self) -> Vec<i16> {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl AudioSink for CollectingSink {
    fn play(&mut self, frame: &[i16]) {
        self.samples.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(frame);
    }
}

/// What lets the capture thread send: the connection is up and the user has not muted.
#[derive(Debug, Default)]
pub(crate) struct SendGate {
    /// Set while the peer connection is connected (nothing can be written before).
    pub connected: AtomicBool,
    /// Set while the user wants this media sent (unmuted / camera on).
    pub enabled: AtomicBool,
    /// Set when the next encoded frame must stand alone (video: a key frame).
    pub want_key: AtomicBool,
}

impl SendGate {
    pub(crate) fn new(enabled: bool) -> Arc<Self> {
        Arc::new(SendGate { enabled: AtomicBool::new(enabled), ..SendGate::default() })
    }

    pub(crate) fn open(&self) -> bool {
        self.connected.load(Ordering::Relaxed) && self.enabled.load(Ordering::Relaxed)
    }
}

/// A frame that comes this much later than the capture clock expects is a stall of the source,
/// not jitter (three frames: PulseAudio delivers a 20 ms fragment every ~10–22 ms).
const STALL: Duration = Duration::from_millis(60);

/// One Opus packet on its way from the capture thread to the RTP writer.
#[derive(Debug)]
pub(crate) struct OpusPacket {
    /// The encoded 20 ms frame.
    pub data: Bytes,
    /// When its first sample was captured, in samples since the stream began: the RTP timestamp
    /// before its random offset. It advances over time that was not sent (a stall, mute), so the
    /// other side sees the gap.
    pub samples: u64,
}

/// The capture side's clock: 20 ms per frame read, plus the time the source lost. A source paced
/// by a device (or by the clock, like [`SineSource`]) delivers a frame every 20 ms on average; a
/// frame that comes more than [`STALL`] late means the time in between was never captured, and
/// the clock jumps over it instead of pretending the stream was contiguous.
#[derive(Debug, Default)]
pub(crate) struct CaptureClock {
    /// When frame 0 was read; `None` before the first.
    start: Option<Instant>,
    /// The position of the frame just read, in frames since `start`.
    frame: u64,
}

impl CaptureClock {
    /// Called when a frame has been read, at `now`; returns how many frames the source lost
    /// before it (0 unless it stalled).
    pub(crate) fn tick(&mut self, now: Instant) -> u64 {
        let Some(start) = self.start else {
            self.start = Some(now);
            return 0;
        };
        self.frame += 1;
        let due = start + FRAME_DURATION.saturating_mul(u32::try_from(self.frame).unwrap_or(u32::MAX));
        if due > now + STALL {
            // Frames faster than real time: a source catching up on what it buffered. Follow it,
            // so that only a real stall later counts as one.
            self.start = start.checked_sub(due - now).or(Some(start));
            return 0;
        }
        let late = now.saturating_duration_since(due);
        if late <= STALL {
            return 0;
        }
        let lost = (late.as_micros() / FRAME_DURATION.as_micros()) as u64;
        self.frame += lost;
        lost
    }

    /// The frame just read, in samples since the stream began.
    pub(crate) fn samples(&self) -> u64 {
        self.frame * FRAME_SAMPLES as u64
    }
}

/// Reads the slot's source, encodes each frame with Opus and hands the packets to `out`, on a
/// thread of its own. Frames read while the gate is closed are dropped (mute: nothing is sent). A
/// source that fails is reported on `events` and the thread waits for another one (a device
/// chosen during the call); it ends when the call is gone (`out` closed).
///
/// Nothing here shrinks the audio silently: the packets carry the capture clock
/// ([`CaptureClock`]), which jumps over a stall of the source (counted in `audio_capture_stalls`
/// and `audio_frames_skipped`), and a frame the network side has no room for is dropped and
/// counted rather than blocking the capture (a blocked device loses audio unseen).
pub(crate) fn spawn_sender(
    mut slot: SourceSlot<Box<dyn AudioSource>>,
    gate: Arc<SendGate>,
    out: mpsc::Sender<OpusPacket>,
    events: mpsc::UnboundedSender<crate::CallEvent>,
    counters: Arc<Counters>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut encoder = opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
    let handle = std::thread::Builder::new()
        .name("call-audio-send".into())
        .spawn(move || {
            let mut frame = [0i16; FRAME_SAMPLES];
            let mut packet = [0u8; 1500];
            let mut clock = CaptureClock::default();
            while slot.current(|| out.is_closed()).is_some() {
                // A new source (or none for a while) is not a stall: the clock still jumps over
                // the time without one, but it is not counted as lost audio.
                let replaced = slot.take_replaced();
                let Some(source) = slot.source() else { continue };
                if let Err(e) = source.read_frame(&mut frame) {
                    tracing::warn!("audio source stopped: {e}");
                    slot.failed();
                    let _ =
                        events.send(crate::CallEvent::SourceStopped { source: "microphone", reason: e.to_string() });
                    continue;
                }
                let lost = clock.tick(Instant::now());
                if lost > 0 && !replaced && gate.open() {
                    tracing::debug!(lost, "audio source stalled");
                    Counters::bump(&counters.audio_capture_stalls);
                    Counters::add(&counters.audio_frames_skipped, lost);
                }
                if !gate.open() {
                    continue;
                }
                match encoder.encode(&frame, &mut packet) {
                    Ok(len) => {
                        let packet =
                            OpusPacket { data: Bytes::copy_from_slice(&packet[..len]), samples: clock.samples() };
                        match out.try_send(packet) {
                            Ok(()) => {}
                            Err(mpsc::error::TrySendError::Full(_)) => {
                                Counters::bump(&counters.audio_frames_skipped);
                            }
                            Err(mpsc::error::TrySendError::Closed(_)) => return,
                        }
                    }
                    Err(e) => tracing::warn!("opus encode: {e}"),
                }
            }
        })
        .map_err(|e| crate::Error::Signaling(format!("cannot start the audio thread: {e}")))?;
    Ok(handle)
}

/// The receiving half: RTP payloads in arrival order → jitter buffer → Opus → sink.
pub(crate) struct AudioReceiver {
    /// Reorders and spots losses.
    jitter: JitterBuffer,
    /// Decodes, and conceals what was lost.
    decoder: opus::Decoder,
    /// Where the audio goes (replaceable during the call; empty: discarded).
    sink: SinkSlot<Box<dyn AudioSink>>,
    /// The call's counters.
    counters: Arc<Counters>,
    /// Scratch space for one decoded frame (Opus may carry up to 120 ms per packet).
    pcm: Vec<i16>,
    /// The sequence number and RTP timestamp of the last packet received.
    last: Option<(u16, u32)>,
}

impl AudioReceiver {
    pub(crate) fn new(sink: SinkSlot<Box<dyn AudioSink>>, counters: Arc<Counters>) -> Result<Self> {
        Ok(AudioReceiver {
            jitter: JitterBuffer::new(JITTER_DEPTH),
            decoder: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
            sink,
            counters,
            pcm: vec![0; FRAME_SAMPLES * 6],
            last: None,
        })
    }

    /// Takes one received RTP packet's sequence number, timestamp and payload.
    pub(crate) fn push(&mut self, sequence: u16, timestamp: u32, payload: Bytes) {
        Counters::bump(&self.counters.audio_packets_received);
        // Consecutive packets whose clock jumped: the sender did not send that time.
        if let Some((last_sequence, last_timestamp)) = self.last
            && sequence == last_sequence.wrapping_add(1)
        {
            let step = timestamp.wrapping_sub(last_timestamp);
            if step < u32::MAX / 2 && step as usize > FRAME_SAMPLES {
                let gap = step as u64 / FRAME_SAMPLES as u64 - 1;
                Counters::add(&self.counters.audio_gap_frames_received, gap);
            }
        }
        self.last = Some((sequence, timestamp));
        for playout in self.jitter.push(sequence, payload) {
            let decoded = match playout {
                Playout::Packet(payload) => self.decoder.decode(&payload, &mut self.pcm, false),
                Playout::Lost => {
                    Counters::bump(&self.counters.audio_packets_concealed);
                    // An empty packet asks Opus to conceal exactly as many samples as the buffer holds.
                    self.decoder.decode(&[], &mut self.pcm[..FRAME_SAMPLES], false)
                }
            };
            match decoded {
                Ok(samples) => {
                    if let Some(sink) = self.sink.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                        Counters::bump(&self.counters.audio_frames_played);
                        sink.play(&self.pcm[..samples]);
                    }
                }
                Err(e) => tracing::debug!("opus decode: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the clock frames read at the given times (ms after the first) and returns what it
    /// reported lost after each, and the final position in frames.
    fn run(times_ms: &[u64]) -> (Vec<u64>, u64) {
        let start = Instant::now();
        let mut clock = CaptureClock::default();
        let lost = times_ms.iter().map(|&t| clock.tick(start + Duration::from_millis(t))).collect();
        (lost, clock.samples() / FRAME_SAMPLES as u64)
    }

    #[test]
    fn a_steady_or_jittery_source_loses_nothing() {
        let steady: Vec<u64> = (0..100).map(|i| i * 20).collect();
        assert_eq!(run(&steady), (vec![0; 100], 99));
        // Fragments up to 40 ms apart, on time on average.
        let jittery = [0, 10, 40, 60, 100, 100, 120, 160, 160, 200];
        assert_eq!(run(&jittery).0, vec![0; 10]);
    }

    #[test]
    fn a_stall_moves_the_clock_over_the_lost_time() {
        // Frame 10 comes 300 ms late: 15 frames were never captured.
        let mut times: Vec<u64> = (0..10).map(|i| i * 20).collect();
        times.extend((10..20).map(|i| i * 20 + 300));
        let (lost, position) = run(&times);
        assert_eq!(lost.iter().sum::<u64>(), 15);
        assert_eq!(lost[10], 15);
        assert_eq!(position, 19 + 15);
    }

    #[test]
    fn a_source_catching_up_in_a_burst_is_followed() {
        // Late by 200 ms, then a burst of the buffered frames: one gap is reported (the clock
        // cannot know the frames were only delayed), the burst is not a stall, and a later stall
        // is measured from where the source really is.
        let mut times: Vec<u64> = (0..10).map(|i| i * 20).collect();
        times.push(400); // frame 10, due at 200
        times.extend([400; 10]); // the burst
        times.extend((0..10).map(|i| 420 + i * 20));
        times.push(420 + 10 * 20 + 200); // a stall of 200 ms
        let (lost, _) = run(&times);
        assert_eq!(lost[10], 10);
        assert_eq!(lost[11..lost.len() - 1].iter().sum::<u64>(), 0, "{lost:?}");
        // Measured against the burst's pace, which ran up to a STALL ahead of real time.
        let last = *lost.last().unwrap();
        assert!((7..=10).contains(&last), "{lost:?}");
    }
}
