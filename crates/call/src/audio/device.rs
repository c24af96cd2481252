//! The computer's microphone and speaker, through cpal (PulseAudio when a server is reachable,
//! ALSA otherwise).
//!
//! cpal's streams are not `Send`, so each lives on a thread of its own that holds it until the
//! source or sink is dropped; samples cross over channels. A device that cannot be opened is a
//! typed error ([`Error::NoMicrophone`] / [`Error::NoSpeaker`]), never a panic: with no sound card
//! cpal still lists "default" and only fails when the stream is built.

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};

use super::{AudioSink, AudioSource, FRAME_SAMPLES, SAMPLE_RATE};
use crate::error::{Error, Result};

/// How long the device may stay silent (no callback) before capture counts as stopped, at least;
/// a source that delivers in longer fragments gets twice its fragment.
const CAPTURE_STALL: Duration = Duration::from_secs(2);
/// The capture fragment asked for: one Opus frame.
#[cfg(target_os = "linux")]
const CAPTURE_FRAGMENT: Duration = Duration::from_millis(20);
/// Playback queued beyond this is dropped, oldest first, so latency cannot grow without bound.
const MAX_QUEUED: usize = SAMPLE_RATE as usize * 3 / 10;

/// Which direction a device is opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Capture,
    Playback,
}

impl Direction {
    fn error(self, why: impl std::fmt::Display) -> Error {
        match self {
            Direction::Capture => Error::NoMicrophone(why.to_string()),
            Direction::Playback => Error::NoSpeaker(why.to_string()),
        }
    }
}

/// Finds a device: by name (its PulseAudio/ALSA id, or its display name), or the default one.
fn find_device(direction: Direction, name: Option<&str>) -> Result<cpal::Device> {
    let host = cpal::default_host();
    let Some(name) = name else {
        let device = match direction {
            Direction::Capture => host.default_input_device(),
            Direction::Playback => host.default_output_device(),
        };
        return device.ok_or_else(|| direction.error("the system has no default device"));
    };
    let devices = match direction {
        Direction::Capture => host.input_devices().map(|d| d.collect::<Vec<_>>()),
        Direction::Playback => host.output_devices().map(|d| d.collect::<Vec<_>>()),
    }
    .map_err(|e| direction.error(e))?;
    devices
        .into_iter()
        .find(|d| d.id().is_ok_and(|id| id.id() == name) || d.description().is_ok_and(|desc| desc.name() == name))
        .ok_or_else(|| direction.error(format!("no device named {name:?}")))
}

/// The stream configurations to try, best first: 48 kHz mono (no conversion), then the device's
/// own default (converted here). Playback first asks for 20 ms buffers: PulseAudio's default
/// playback buffer is about two seconds, which a call hears as two seconds of delay. (Capture
/// keeps the backend's buffers; on PulseAudio it does not come here: see [`pulse`].)
fn configs(direction: Direction, device: &cpal::Device) -> Vec<cpal::StreamConfig> {
    let mono = |buffer_size| cpal::StreamConfig { channels: 1, sample_rate: SAMPLE_RATE, buffer_size };
    let mut out = Vec::new();
    if direction == Direction::Playback {
        out.push(mono(cpal::BufferSize::Fixed(FRAME_SAMPLES as u32)));
    }
    out.push(mono(cpal::BufferSize::Default));
    let default = match direction {
        Direction::Capture => device.default_input_config(),
        Direction::Playback => device.default_output_config(),
    };
    if let Ok(default) = default {
        out.push(default.config());
    }
    out
}

/// Linear-interpolation resampler for one mono stream. Speech through a converted device does not
/// need better; the common cases (PulseAudio, most USB headsets) take 48 kHz and skip it.
#[derive(Debug)]
struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, relative to the current input block (-1 is `prev`).
    position: f64,
    /// The last sample of the previous block.
    prev: f32,
}

impl Resampler {
    fn new(from: u32, to: u32) -> Self {
        Resampler { step: f64::from(from) / f64::from(to), position: 0.0, prev: 0.0 }
    }

    fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.step == 1.0 {
            out.extend_from_slice(input);
            return;
        }
        let Some(&last) = input.last() else { return };
        let n = input.len() as f64;
        while self.position < n - 1.0 {
            let i = self.position.floor();
            let frac = (self.position - i) as f32;
            let a = if i < 0.0 { self.prev } else { input[i as usize] };
            let b = input[(i + 1.0) as usize];
            out.push(a + (b - a) * frac);
            self.position += self.step;
        }
        self.position -= n;
        self.prev = last;
    }
}

/// The microphone: an [`AudioSource`] fed by a cpal input stream.
pub struct CpalCapture {
    /// Mono 48 kHz samples from the device thread.
    samples: std_mpsc::Receiver<Vec<i16>>,
    /// Samples received but not yet returned as a frame.
    pending: VecDeque<i16>,
    /// Silence longer than this means the device stopped.
    stall: Duration,
    /// How much audio the device delivers at once, where the backend says.
    fragment: Option<Duration>,
    /// Dropping this stops the device thread (and with it the stream).
    _stop: std_mpsc::Sender<()>,
}

impl CpalCapture {
    /// Opens `device` (by name; the default microphone when `None`) and starts capturing.
    pub fn open(device: Option<&str>) -> Result<Self> {
        let (samples_tx, samples) = std_mpsc::channel::<Vec<i16>>();
        #[cfg(target_os = "linux")]
        if cpal::default_host().id() == cpal::HostId::PulseAudio {
            let (stop, fragment) = pulse::capture(device, samples_tx)?;
            let stall = CAPTURE_STALL.max(fragment * 2);
            return Ok(CpalCapture { samples, pending: VecDeque::new(), stall, fragment: Some(fragment), _stop: stop });
        }
        let stop = run_stream(Direction::Capture, device, move |device, config| {
            let channels = usize::from(config.channels.max(1));
            let mut resampler = Resampler::new(config.sample_rate, SAMPLE_RATE);
            let mut mono = Vec::new();
            let mut resampled = Vec::new();
            let tx = samples_tx.clone();
            device.build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], _: &cpal::InputCallbackInfo| {
                    mono.clear();
                    mono.extend(data.chunks(channels).map(|c| c.iter().sum::<f32>() / c.len() as f32));
                    resampled.clear();
                    resampler.process(&mono, &mut resampled);
                    let _ = tx.send(resampled.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16).collect());
                },
                |e| tracing::warn!("microphone: {e}"),
                None,
            )
        })?;
        Ok(CpalCapture { samples, pending: VecDeque::new(), stall: CAPTURE_STALL, fragment: None, _stop: stop })
    }

    /// How much audio the device delivers at once (the floor of the microphone's delay), where
    /// the backend says: PulseAudio does.
    pub fn fragment(&self) -> Option<Duration> {
        self.fragment
    }
}

impl AudioSource for CpalCapture {
    fn read_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) -> Result<()> {
        while self.pending.len() < FRAME_SAMPLES {
            let block = self
                .samples
                .recv_timeout(self.stall)
                .map_err(|_| Error::NoMicrophone("the microphone stopped delivering audio".into()))?;
            self.pending.extend(block);
        }
        for (out, sample) in frame.iter_mut().zip(self.pending.drain(..FRAME_SAMPLES)) {
            *out = sample;
        }
        Ok(())
    }
}

/// The speaker: an [`AudioSink`] feeding a cpal output stream.
pub struct CpalPlayback {
    /// Samples at the device's rate, mono, waiting for the device callback.
    queue: Arc<Mutex<VecDeque<f32>>>,
    /// Converts 48 kHz to the device's rate.
    resampler: Resampler,
    /// Scratch space for conversion.
    scratch: (Vec<f32>, Vec<f32>),
    /// Dropping this stops the device thread (and with it the stream).
    _stop: std_mpsc::Sender<()>,
}

impl CpalPlayback {
    /// Opens `device` (by name; the default speaker when `None`) and starts playing silence.
    pub fn open(device: Option<&str>) -> Result<Self> {
        let queue = Arc::new(Mutex::new(VecDeque::<f32>::new()));
        let rate = Arc::new(Mutex::new(SAMPLE_RATE));
        let (callback_queue, opened_rate) = (queue.clone(), rate.clone());
        let stop = run_stream(Direction::Playback, device, move |device, config| {
            *opened_rate.lock().unwrap_or_else(|e| e.into_inner()) = config.sample_rate;
            let channels = usize::from(config.channels.max(1));
            let queue = callback_queue.clone();
            device.build_output_stream::<f32, _, _>(
                config,
                move |data: &mut [f32], _: &cpal::OutputCallbackInfo| {
                    let mut queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                    for frame in data.chunks_mut(channels) {
                        frame.fill(queue.pop_front().unwrap_or(0.0));
                    }
                },
                |e| tracing::warn!("speaker: {e}"),
                None,
            )
        })?;
        let rate = *rate.lock().unwrap_or_else(|e| e.into_inner());
        Ok(CpalPlayback {
            queue,
            resampler: Resampler::new(SAMPLE_RATE, rate),
            scratch: (Vec::new(), Vec::new()),
            _stop: stop,
        })
    }
}

impl AudioSink for CpalPlayback {
    fn play(&mut self, frame: &[i16]) {
        let (input, output) = &mut self.scratch;
        input.clear();
        input.extend(frame.iter().map(|&s| f32::from(s) / 32768.0));
        output.clear();
        self.resampler.process(input, output);
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.extend(output.iter().copied());
        let excess = queue.len().saturating_sub(MAX_QUEUED);
        queue.drain(..excess);
    }
}

/// Opens a device and builds its stream on a thread that keeps it alive until the returned sender
/// is dropped. `build` is tried with each candidate configuration until one works; the result of
/// opening is reported back before this returns.
fn run_stream<F>(direction: Direction, device: Option<&str>, mut build: F) -> Result<std_mpsc::Sender<()>>
where
    F: FnMut(&cpal::Device, cpal::StreamConfig) -> Result<cpal::Stream, cpal::Error> + Send + 'static,
{
    let device = device.map(str::to_owned);
    let (opened_tx, opened_rx) = std_mpsc::channel::<Result<()>>();
    let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
    std::thread::Builder::new()
        .name(format!("call-{direction:?}").to_lowercase())
        .spawn(move || {
            let opened = (|| {
                let device = find_device(direction, device.as_deref())?;
                let mut last_error = String::from("no usable configuration");
                for config in configs(direction, &device) {
                    match build(&device, config).and_then(|stream| stream.play().map(|()| stream)) {
                        Ok(stream) => return Ok(stream),
                        Err(e) => last_error = e.to_string(),
                    }
                }
                Err(direction.error(last_error))
            })();
            match opened {
                Ok(stream) => {
                    let _ = opened_tx.send(Ok(()));
                    // Blocks until the owner drops its sender, then drops the stream.
                    let _ = stop_rx.recv();
                    drop(stream);
                }
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                }
            }
        })
        .map_err(|e| direction.error(e))?;
    opened_rx.recv().map_err(|_| direction.error("the audio thread died"))??;
    Ok(stop_tx)
}

/// Microphone capture through PulseAudio's native protocol, for the buffer size. PulseAudio sends
/// a record stream's data in fragments of the size the client asks for; cpal asks for none (the
/// server then uses 2 s: two seconds of delay in a call) or, with a fixed buffer size, also caps
/// the queue at one fragment, which stalls for many seconds on a source with a fixed latency (the
/// virtual ones). Here: 20 ms fragments, the server's own queue limit, and the source's latency
/// adjusted to the fragment where it can be (a fixed-latency source keeps its own, reported back).
#[cfg(target_os = "linux")]
mod pulse {
    use std::ffi::CString;
    use std::sync::mpsc as std_mpsc;
    use std::time::Duration;

    use cpal::traits::DeviceTrait;
    use futures_executor::block_on;
    use pulseaudio::protocol;

    use super::{CAPTURE_FRAGMENT, Direction, SAMPLE_RATE, find_device};
    use crate::error::{Error, Result};

    /// Starts capturing `device` (the default source when `None`) as 48 kHz mono into `samples`.
    /// Returns the stop handle (drop it to stop) and the fragment size the server chose.
    pub(super) fn capture(
        device: Option<&str>,
        samples: std_mpsc::Sender<Vec<i16>>,
    ) -> Result<(std_mpsc::Sender<()>, Duration)> {
        // The PulseAudio name of the device cpal knows by id or by display name.
        let source = match device {
            Some(name) => {
                let device = find_device(Direction::Capture, Some(name))?;
                let id = device.id().map_err(no_microphone)?;
                CString::new(id.id()).map_err(no_microphone)?
            }
            None => protocol::DEFAULT_SOURCE.to_owned(),
        };
        let (opened_tx, opened_rx) = std_mpsc::channel::<Result<Duration>>();
        let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("call-capture".into())
            .spawn(move || {
                let opened = (|| {
                    let client = pulseaudio::Client::from_env(c"Confab").map_err(no_microphone)?;
                    let info = block_on(client.source_info_by_name(source)).map_err(no_microphone)?;
                    let fragment_bytes = SAMPLE_RATE as u64 * CAPTURE_FRAGMENT.as_millis() as u64 / 1000 * 2;
                    let params = protocol::RecordStreamParams {
                        source_index: Some(info.index),
                        sample_spec: protocol::SampleSpec {
                            format: protocol::SampleFormat::S16Le,
                            channels: 1,
                            sample_rate: SAMPLE_RATE,
                        },
                        channel_map: protocol::ChannelMap::mono(),
                        buffer_attr: protocol::stream::BufferAttr {
                            fragment_size: fragment_bytes as u32,
                            ..Default::default()
                        },
                        flags: protocol::stream::StreamFlags { adjust_latency: true, ..Default::default() },
                        ..Default::default()
                    };
                    let sink = move |bytes: &[u8]| {
                        let block = bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                        let _ = samples.send(block);
                    };
                    let stream = block_on(client.create_record_stream(params, sink)).map_err(no_microphone)?;
                    let fragment = Duration::from_secs_f64(
                        f64::from(stream.buffer_attr().fragment_size) / (f64::from(SAMPLE_RATE) * 2.0),
                    );
                    Ok((client, stream, fragment))
                })();
                match opened {
                    Ok((_client, stream, fragment)) => {
                        let _ = opened_tx.send(Ok(fragment));
                        // Blocks until the owner drops its sender, then ends the stream.
                        let _ = stop_rx.recv();
                        let _ = block_on(stream.delete());
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                    }
                }
            })
            .map_err(no_microphone)?;
        let fragment = opened_rx.recv().map_err(|_| no_microphone("the audio thread died"))??;
        Ok((stop_tx, fragment))
    }

    fn no_microphone(e: impl std::fmt::Display) -> Error {
        Direction::Capture.error(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_the_rate_ratio() {
        let mut r = Resampler::new(44_100, 48_000);
        let mut out = Vec::new();
        for _ in 0..100 {
            r.process(&[0.5; 441], &mut out);
        }
        assert!((out.len() as i64 - 48_000).abs() <= 2, "{}", out.len());
        assert!(out[10..].iter().all(|&s| (s - 0.5).abs() < 1e-6));
    }
}
