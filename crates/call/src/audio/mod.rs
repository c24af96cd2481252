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

use crate::Encoded;
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

/// Reads the slot's source, encodes each frame with Opus and hands the packets to `out`, on a
/// thread of its own. Frames read while the gate is closed are dropped (mute: nothing is sent). A
/// source that fails is reported on `events` and the thread waits for another one (a device
/// chosen during the call); it ends when the call is gone (`out` closed).
pub(crate) fn spawn_sender(
    mut slot: SourceSlot<Box<dyn AudioSource>>,
    gate: Arc<SendGate>,
    out: mpsc::Sender<Encoded>,
    events: mpsc::UnboundedSender<crate::CallEvent>,
) -> Result<std::thread::JoinHandle<()>> {
    let mut encoder = opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)?;
    let handle = std::thread::Builder::new()
        .name("call-audio-send".into())
        .spawn(move || {
            let mut frame = [0i16; FRAME_SAMPLES];
            let mut packet = [0u8; 1500];
            while let Some(source) = slot.current(|| out.is_closed()) {
                if let Err(e) = source.read_frame(&mut frame) {
                    tracing::warn!("audio source stopped: {e}");
                    slot.failed();
                    let _ =
                        events.send(crate::CallEvent::SourceStopped { source: "microphone", reason: e.to_string() });
                    continue;
                }
                if !gate.open() {
                    continue;
                }
                match encoder.encode(&frame, &mut packet) {
                    Ok(len) => {
                        if out
                            .blocking_send(Encoded {
                                data: Bytes::copy_from_slice(&packet[..len]),
                                duration: FRAME_DURATION,
                            })
                            .is_err()
                        {
                            return;
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
}

impl AudioReceiver {
    pub(crate) fn new(sink: SinkSlot<Box<dyn AudioSink>>, counters: Arc<Counters>) -> Result<Self> {
        Ok(AudioReceiver {
            jitter: JitterBuffer::new(JITTER_DEPTH),
            decoder: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono)?,
            sink,
            counters,
            pcm: vec![0; FRAME_SAMPLES * 6],
        })
    }

    /// Takes one received RTP packet's sequence number and payload.
    pub(crate) fn push(&mut self, sequence: u16, payload: Bytes) {
        Counters::bump(&self.counters.audio_packets_received);
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
