//! The app's call devices ([`confab_client::MediaDevices`]) and the way video reaches the webview.
//!
//! - Microphone and speaker: cpal, the device chosen in the settings, else the system default. A
//!   device that cannot be opened is left out and reported ("No microphone found"); the call goes
//!   on without it.
//! - Camera: there is no camera source yet. Video calls send [`PatternSource`] (640x480, 15 fps), a
//!   test pattern the UI labels as such.
//! - Video to the webview: each picture (received, and the local preview) is JPEG-encoded on a
//!   thread of its own and sent through one `tauri::ipc::Channel` the UI registered (`watch_video`).
//!   A picture that arrives while the previous one is still being encoded replaces nothing and is
//!   dropped (counted), so a slow webview costs frames, never latency.
//!
//! Frame message: JSON `{kind: 0 (remote) | 1 (local preview), callId, width, height, jpeg: base64}`.
//! (Raw bytes were tried first: on WebKitGTK they reach the page as a JS Array of numbers, about
//! four times the bytes to parse; see docs/performance.md.)

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use confab_call::{CallMedia, CpalCapture, CpalPlayback, PatternSource, VideoFrame, VideoSink, VideoSource};
use confab_client::{MediaDevices, OUTGOING_CALL_ID, OpenedMedia};
use confab_protocol::CallType;
use serde::Serialize;
use tauri::ipc::{Channel, InvokeResponseBody};

use crate::settings::SettingsStore;

/// JPEG quality: the test pattern's noise makes higher settings cost much more for little.
const JPEG_QUALITY: u8 = 70;

/// Which picture a frame message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Remote = 0,
    Local = 1,
}

/// The webview's channel for frames, and what went through it (for docs/performance.md).
#[derive(Default)]
pub struct VideoOut {
    channel: Mutex<Option<Channel<InvokeResponseBody>>>,
    offered: AtomicU64,
    dropped_busy: AtomicU64,
    sent: AtomicU64,
    bytes: AtomicU64,
    /// Time spent converting and encoding, in microseconds, over all frames sent.
    encode_us: AtomicU64,
}

/// A snapshot of [`VideoOut`]'s counters.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoTransportStats {
    pub frames_offered: u64,
    pub frames_dropped_busy: u64,
    pub frames_sent: u64,
    pub bytes_sent: u64,
    pub mean_encode_ms: f64,
    pub mean_frame_bytes: f64,
}

impl VideoOut {
    /// Where frames go from now on (the UI registers it once per page load).
    pub fn watch(&self, channel: Channel<InvokeResponseBody>) {
        *self.channel.lock().unwrap_or_else(|p| p.into_inner()) = Some(channel);
    }

    pub fn stats(&self) -> VideoTransportStats {
        let sent = self.sent.load(Relaxed);
        let per = |total: u64| if sent == 0 { 0.0 } else { total as f64 / sent as f64 };
        VideoTransportStats {
            frames_offered: self.offered.load(Relaxed),
            frames_dropped_busy: self.dropped_busy.load(Relaxed),
            frames_sent: sent,
            bytes_sent: self.bytes.load(Relaxed),
            mean_encode_ms: per(self.encode_us.load(Relaxed)) / 1000.0,
            mean_frame_bytes: per(self.bytes.load(Relaxed)),
        }
    }

    fn send(&self, message: String) {
        let channel = self.channel.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(channel) = channel {
            let len = message.len() as u64;
            match channel.send(InvokeResponseBody::Json(message)) {
                Ok(()) => {
                    self.sent.fetch_add(1, Relaxed);
                    self.bytes.fetch_add(len, Relaxed);
                }
                Err(e) => tracing::debug!(error = %e, "a video frame did not reach the webview"),
            }
        }
    }
}

/// The call id frames are labelled with: [`OUTGOING_CALL_ID`] until the server names the call.
pub type CallTag = Arc<Mutex<String>>;

/// Hands pictures to an encoding thread, one at a time; drops those that come while it is busy.
struct Forwarder {
    to_encoder: SyncSender<VideoFrame>,
    out: Arc<VideoOut>,
}

impl Forwarder {
    fn new(kind: Kind, tag: CallTag, out: Arc<VideoOut>) -> Self {
        let (to_encoder, frames) = sync_channel::<VideoFrame>(1);
        let encoder_out = out.clone();
        let spawned =
            std::thread::Builder::new().name(format!("video-to-ui-{kind:?}").to_lowercase()).spawn(move || {
                // Ends when the forwarder (the call's sink or source) is dropped.
                let mut scratch = Vec::new();
                while let Ok(frame) = frames.recv() {
                    let started = Instant::now();
                    let call_id = tag.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    match frame_message(kind, &call_id, &frame, &mut scratch) {
                        Ok(message) => {
                            encoder_out.encode_us.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
                            encoder_out.send(message);
                        }
                        Err(e) => tracing::warn!(error = %e, "encoding a video frame for the UI failed"),
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no thread for video to the UI; pictures will not be shown");
        }
        Forwarder { to_encoder, out }
    }

    fn offer(&self, frame: VideoFrame) {
        self.out.offered.fetch_add(1, Relaxed);
        if let Err(TrySendError::Full(_)) = self.to_encoder.try_send(frame) {
            self.out.dropped_busy.fetch_add(1, Relaxed);
        }
    }
}

impl VideoSink for Forwarder {
    fn frame(&mut self, frame: VideoFrame) {
        self.offer(frame);
    }
}

/// The "camera": the test pattern, with each picture also shown as the local preview.
struct PreviewedSource {
    source: PatternSource,
    preview: Forwarder,
}

impl VideoSource for PreviewedSource {
    fn next_frame(&mut self) -> confab_call::Result<VideoFrame> {
        let frame = self.source.next_frame()?;
        self.preview.offer(frame.clone());
        Ok(frame)
    }

    fn frame_rate(&self) -> u32 {
        self.source.frame_rate()
    }
}

/// Builds one frame message: the picture as JPEG, in base64, with its call and size. The I420 picture (BT.601 limited
/// range) is expanded to full-range interleaved YCbCr, which the encoder takes as is (no RGB
/// round trip). The local preview, shown small, goes at half the width and height: a quarter of
/// the pixels to encode here and to decode in the webview, whose decoding bounds the frame rate.
fn frame_message(kind: Kind, call_id: &str, frame: &VideoFrame, ycbcr: &mut Vec<u8>) -> Result<String, String> {
    let (full_w, full_h) = (frame.width as usize, frame.height as usize);
    let step = if matches!(kind, Kind::Local) { 2 } else { 1 };
    let (w, h) = (full_w.div_ceil(step), full_h.div_ceil(step));
    let (w16, h16) = (u16::try_from(w).map_err(|e| e.to_string())?, u16::try_from(h).map_err(|e| e.to_string())?);
    let cw = full_w.div_ceil(2);
    let (y, chroma) = frame.data.split_at(full_w * full_h);
    let (u, v) = chroma.split_at(cw * full_h.div_ceil(2));
    let luma: [u8; 256] = std::array::from_fn(|i| ((i as i32 - 16) * 255 / 219).clamp(0, 255) as u8);
    let chro: [u8; 256] = std::array::from_fn(|i| ((i as i32 - 128) * 255 / 224 + 128).clamp(0, 255) as u8);
    ycbcr.clear();
    ycbcr.reserve(w * h * 3);
    for row in (0..full_h).step_by(step) {
        let (yr, cr) = (&y[row * full_w..(row + 1) * full_w], (row / 2) * cw);
        for (col, &yy) in yr.iter().enumerate().step_by(step) {
            let c = cr + col / 2;
            ycbcr.extend_from_slice(&[luma[yy as usize], chro[u[c] as usize], chro[v[c] as usize]]);
        }
    }
    let mut jpeg = Vec::with_capacity(w * h / 4);
    jpeg_encoder::Encoder::new(&mut jpeg, JPEG_QUALITY)
        .encode(ycbcr, w16, h16, jpeg_encoder::ColorType::Ycbcr)
        .map_err(|e| e.to_string())?;
    use base64::Engine as _;
    let jpeg = base64::engine::general_purpose::STANDARD.encode(jpeg);
    let call_id = serde_json::to_string(call_id).map_err(|e| e.to_string())?;
    Ok(format!(r#"{{"kind":{},"callId":{call_id},"width":{w},"height":{h},"jpeg":"{jpeg}"}}"#, kind as u8))
}

/// The devices of the desktop app.
pub struct AppDevices {
    pub settings: Arc<SettingsStore>,
    pub video: Arc<VideoOut>,
    /// The label of the newest outgoing call's frames, renamed once the server gives its id.
    outgoing: Mutex<Option<CallTag>>,
}

impl AppDevices {
    pub fn new(settings: Arc<SettingsStore>, video: Arc<VideoOut>) -> Self {
        AppDevices { settings, video, outgoing: Mutex::new(None) }
    }
}

/// Opens the chosen device, else the default one; `None` when neither opens.
fn open_either<T>(chosen: Option<&str>, open: impl Fn(Option<&str>) -> confab_call::Result<T>) -> Option<T> {
    if let Some(name) = chosen {
        match open(Some(name)) {
            Ok(device) => return Some(device),
            Err(e) => tracing::warn!(error = %e, name, "the chosen device did not open; trying the default"),
        }
    }
    open(None).map_err(|e| tracing::warn!(error = %e, "no default device")).ok()
}

impl MediaDevices for AppDevices {
    fn open(&self, call_id: &str, call_type: CallType) -> OpenedMedia {
        let settings = self.settings.get();
        let mut problems = Vec::new();
        let mut media = CallMedia::default();
        match open_either(settings.microphone.as_deref(), CpalCapture::open) {
            Some(mic) => media.audio_source = Some(Box::new(mic)),
            None => problems.push("No microphone found".to_owned()),
        }
        match open_either(settings.speaker.as_deref(), CpalPlayback::open) {
            Some(speaker) => media.audio_sink = Some(Box::new(speaker)),
            None => problems.push("No speaker found".to_owned()),
        }
        if call_type == CallType::Video {
            let tag: CallTag = Arc::new(Mutex::new(call_id.to_owned()));
            if call_id == OUTGOING_CALL_ID {
                *self.outgoing.lock().unwrap_or_else(|p| p.into_inner()) = Some(tag.clone());
            }
            media.video_source = Some(Box::new(PreviewedSource {
                source: PatternSource::new(640, 480, 15),
                preview: Forwarder::new(Kind::Local, tag.clone(), self.video.clone()),
            }));
            media.video_sink = Some(Box::new(Forwarder::new(Kind::Remote, tag, self.video.clone())));
        }
        OpenedMedia { media, problems }
    }

    /// The call just started by this app now has its id: label its frames with it.
    fn outgoing_named(&self, call_id: &str) {
        if let Some(tag) = self.outgoing.lock().unwrap_or_else(|p| p.into_inner()).take() {
            *tag.lock().unwrap_or_else(|p| p.into_inner()) = call_id.to_owned();
        }
    }
}

/// A device the user can change while a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CallDevice {
    Microphone,
    Speaker,
}

/// A device opened for a call in progress.
pub enum OpenedDevice {
    Microphone(Box<dyn confab_call::AudioSource>),
    Speaker(Box<dyn confab_call::AudioSink>),
}

/// Opens `device` by name (the system default when `None`), in words for the user when it cannot
/// be. Blocks on the sound server: not on the async runtime's threads.
pub fn open_call_device(device: CallDevice, name: Option<&str>) -> Result<OpenedDevice, String> {
    let opened = match device {
        CallDevice::Microphone => CpalCapture::open(name).map(|d| OpenedDevice::Microphone(Box::new(d))),
        CallDevice::Speaker => CpalPlayback::open(name).map(|d| OpenedDevice::Speaker(Box::new(d))),
    };
    opened.map_err(|e| {
        let what = if device == CallDevice::Microphone { "microphone" } else { "speaker" };
        match name {
            Some(name) => format!("The {what} “{name}” could not be opened ({e}); the call keeps the one it had."),
            None => format!("The default {what} could not be opened ({e}); the call keeps the one it had."),
        }
    })
}

/// Microphones and speakers by name, as the settings store them. An empty list is an answer too
/// (no sound system).
#[derive(Debug, Default, Serialize)]
pub struct AudioDevices {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

pub fn list_audio_devices() -> AudioDevices {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let names = |devices: Result<Vec<cpal::Device>, cpal::Error>| -> Vec<String> {
        let mut names: Vec<String> = devices
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.description().ok().map(|desc| desc.name().to_owned()))
            .collect();
        names.dedup();
        names
    };
    AudioDevices {
        inputs: names(host.input_devices().map(Iterator::collect)),
        outputs: names(host.output_devices().map(Iterator::collect)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_messages_carry_the_call_and_a_jpeg() {
        use base64::Engine as _;
        let frame = PatternSource::frame(640, 480, 7);
        let message = frame_message(Kind::Local, "call-\"1", &frame, &mut Vec::new()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&message).unwrap();
        assert_eq!((value["kind"].as_u64(), value["callId"].as_str()), (Some(1), Some("call-\"1")));
        // The preview at half size; the remote picture whole.
        assert_eq!((value["width"].as_u64(), value["height"].as_u64()), (Some(320), Some(240)));
        let jpeg = base64::engine::general_purpose::STANDARD.decode(value["jpeg"].as_str().unwrap()).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9], "and ends with EOI");
        let remote: serde_json::Value =
            serde_json::from_str(&frame_message(Kind::Remote, "c", &frame, &mut Vec::new()).unwrap()).unwrap();
        assert_eq!((remote["width"].as_u64(), remote["height"].as_u64()), (Some(640), Some(480)));
    }
}
