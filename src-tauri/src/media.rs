//! The app's call devices ([`confab_client::MediaDevices`]) and the way video reaches the webview.
//!
//! - Microphone and speaker: cpal, the device chosen in the settings, else the system default. A
//!   device that cannot be opened is left out and reported ("No microphone found"); the call goes
//!   on without it.
//! - Camera: [`Camera`] (V4L2 on Linux), the one chosen in the settings, else the first. Without
//!   one, video calls send [`PatternSource`] (640x480, 15 fps) and report it ("No camera found").
//! - Video to the webview: each picture (received, and the local preview) is JPEG-encoded on a
//!   thread of its own and kept as its stream's latest picture; a small notice goes through one
//!   `tauri::ipc::Channel` the UI registered (`watch_video`), and the page loads the picture itself
//!   from the `confab-frame` URI scheme ([`serve_frame`]), so the webview's own image loader and
//!   decoder handle the bytes. A picture that arrives while the previous one is still being encoded
//!   is dropped (counted), so a slow webview costs frames, never latency.
//!
//! Notice: JSON `{kind: 0 (remote) | 1 (local preview), callId, width, height, seq}`; the picture
//! is at `confab-frame://localhost/<kind>/<callId>` (on Windows `http://confab-frame.localhost/…`;
//! the UI builds it with `convertFileSrc`). Carrying the JPEG in the message (base64 in JSON, or raw
//! bytes, which reach this WebKitGTK as a JS Array of numbers) cost the page far more: see
//! docs/performance.md.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use confab_call::{CallMedia, Camera, CpalCapture, CpalPlayback, PatternSource, VideoFrame, VideoSink, VideoSource};
use confab_client::{MediaDevices, OUTGOING_CALL_ID, OpenedMedia};
use confab_protocol::CallType;
use serde::Serialize;
use tauri::ipc::Channel;

use crate::settings::SettingsStore;

/// JPEG quality: the test pattern's noise makes higher settings cost much more for little.
const JPEG_QUALITY: u8 = 70;
/// The URI scheme the page loads pictures from.
pub const FRAME_SCHEME: &str = "confab-frame";

/// Which picture a frame message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Remote = 0,
    Local = 1,
}

/// The webview's channel for frame notices, each stream's latest picture, and what went through
/// (for docs/performance.md).
#[derive(Default)]
pub struct VideoOut {
    channel: Mutex<Option<Channel<VideoNotice>>>,
    /// The latest JPEG of each stream, by `<kind>/<callId>`; a stream's entry goes when it ends.
    latest: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    /// Numbers the notices, so the page's URLs differ (no cache can answer them).
    seq: AtomicU64,
    offered: AtomicU64,
    dropped_busy: AtomicU64,
    sent: AtomicU64,
    bytes: AtomicU64,
    /// Time spent converting and encoding, in microseconds, over all frames sent.
    encode_us: AtomicU64,
}

/// A new picture of a stream, told to the page through the channel of `watch_video`; the page then
/// loads the picture from [`FRAME_SCHEME`].
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct VideoNotice {
    /// 0: the remote picture, 1: the local preview.
    pub kind: u8,
    pub call_id: String,
    pub width: u32,
    pub height: u32,
    /// Numbers the notices, so each picture's URL differs.
    pub seq: u64,
}

/// A snapshot of [`VideoOut`]'s counters.
#[derive(Debug, Serialize, specta::Type)]
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
    pub fn watch(&self, channel: Channel<VideoNotice>) {
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

    /// Keeps `jpeg` as the stream's latest picture and tells the page.
    fn publish(&self, kind: Kind, call_id: &str, width: usize, height: usize, jpeg: Vec<u8>) {
        let len = jpeg.len() as u64;
        let key = stream_key(kind, call_id);
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::new(jpeg));
        let channel = self.channel.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(channel) = channel else { return };
        let seq = self.seq.fetch_add(1, Relaxed);
        let notice = VideoNotice {
            kind: kind as u8,
            call_id: call_id.to_owned(),
            width: width as u32,
            height: height as u32,
            seq,
        };
        match channel.send(notice) {
            Ok(()) => {
                self.sent.fetch_add(1, Relaxed);
                self.bytes.fetch_add(len, Relaxed);
            }
            Err(e) => tracing::debug!(error = %e, "a video notice did not reach the webview"),
        }
    }

    /// The latest picture of a stream (`<kind>/<callId>`, kind `0` or `1`).
    fn picture(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    /// The stream ended: forget its picture.
    fn forget(&self, kind: Kind, call_id: &str) {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).remove(&stream_key(kind, call_id));
    }
}

fn stream_key(kind: Kind, call_id: &str) -> String {
    format!("{}/{call_id}", kind as u8)
}

/// Answers the page's picture requests (`confab-frame://localhost/<kind>/<callId>?<seq>`) with the
/// stream's latest JPEG; 404 when the stream has none (not started, or ended).
pub fn serve_frame(
    video: &VideoOut,
    request: &tauri::http::Request<Vec<u8>>,
) -> tauri::http::Response<Cow<'static, [u8]>> {
    use tauri::http::{Response, StatusCode, header};
    // convertFileSrc percent-encodes the path as one segment.
    let key = request.uri().path().trim_start_matches('/').replace("%2F", "/").replace("%2f", "/");
    let response = match video.picture(&key) {
        Some(jpeg) => Response::builder()
            .header(header::CONTENT_TYPE, "image/jpeg")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
            .body(Cow::Owned(jpeg.as_ref().clone())),
        None => Response::builder().status(StatusCode::NOT_FOUND).body(Cow::Borrowed(&b""[..])),
    };
    response.unwrap_or_else(|_| Response::new(Cow::Borrowed(&b""[..])))
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
        let ended_tag = tag.clone();
        let spawned =
            std::thread::Builder::new().name(format!("video-to-ui-{kind:?}").to_lowercase()).spawn(move || {
                // Ends when the forwarder (the call's sink or source) is dropped.
                let mut scratch = Vec::new();
                while let Ok(frame) = frames.recv() {
                    let started = Instant::now();
                    let call_id = tag.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    match frame_jpeg(kind, &frame, &mut scratch) {
                        Ok((width, height, jpeg)) => {
                            encoder_out.encode_us.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
                            encoder_out.publish(kind, &call_id, width, height, jpeg);
                        }
                        Err(e) => tracing::warn!(error = %e, "encoding a video frame for the UI failed"),
                    }
                }
                let call_id = ended_tag.lock().unwrap_or_else(|p| p.into_inner()).clone();
                encoder_out.forget(kind, &call_id);
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

/// The camera (or the test pattern), with each picture also shown as the local preview.
struct PreviewedSource {
    source: Box<dyn VideoSource>,
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

/// The picture as a JPEG for the page, with its width and height. The I420 picture (BT.601
/// limited range) is expanded to full-range interleaved YCbCr, which the encoder takes as is (no
/// RGB round trip). The local preview, shown small, goes at half the width and height: a quarter
/// of the pixels to encode here and to decode in the webview.
fn frame_jpeg(kind: Kind, frame: &VideoFrame, ycbcr: &mut Vec<u8>) -> Result<(usize, usize, Vec<u8>), String> {
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
    Ok((w, h, jpeg))
}

/// The devices of the desktop app.
pub struct AppDevices {
    pub settings: Arc<SettingsStore>,
    pub video: Arc<VideoOut>,
    /// The label of the newest outgoing call's frames, renamed once the server gives its id.
    outgoing: Mutex<Option<CallTag>>,
}

impl AppDevices {
    /// `source`, with each picture also shown as the local preview of the call `tag` names.
    fn previewed(&self, source: Box<dyn VideoSource>, tag: CallTag) -> Box<dyn VideoSource> {
        Box::new(PreviewedSource { source, preview: Forwarder::new(Kind::Local, tag, self.video.clone()) })
    }

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
            let camera: Box<dyn VideoSource> = match open_either(settings.camera.as_deref(), Camera::open) {
                Some(camera) => Box::new(camera),
                None => {
                    problems.push("No camera found: sending a test pattern".to_owned());
                    Box::new(PatternSource::new(640, 480, 15))
                }
            };
            media.video_source = Some(self.previewed(camera, tag.clone()));
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum CallDevice {
    Microphone,
    Speaker,
    Camera,
}

/// A device opened for a call in progress.
pub enum OpenedDevice {
    Microphone(Box<dyn confab_call::AudioSource>),
    Speaker(Box<dyn confab_call::AudioSink>),
    /// With its local preview.
    Camera(Box<dyn VideoSource>),
}

impl AppDevices {
    /// Opens `device` by name (the system default when `None`) for the call `call_id`, in words
    /// for the user when it cannot be. Blocks on the sound server or the camera: not on the async
    /// runtime's threads.
    pub fn open_for_call(&self, call_id: &str, device: CallDevice, name: Option<&str>) -> Result<OpenedDevice, String> {
        let opened = match device {
            CallDevice::Microphone => CpalCapture::open(name).map(|d| OpenedDevice::Microphone(Box::new(d))),
            CallDevice::Speaker => CpalPlayback::open(name).map(|d| OpenedDevice::Speaker(Box::new(d))),
            CallDevice::Camera => Camera::open(name).map(|camera| {
                OpenedDevice::Camera(self.previewed(Box::new(camera), Arc::new(Mutex::new(call_id.to_owned()))))
            }),
        };
        opened.map_err(|e| unavailable(device, name, e))
    }
}

/// Why a device chosen during a call did not open, for the user.
fn unavailable(device: CallDevice, name: Option<&str>, e: confab_call::Error) -> String {
    let what = match device {
        CallDevice::Microphone => "microphone",
        CallDevice::Speaker => "speaker",
        CallDevice::Camera => "camera",
    };
    match name {
        Some(name) => format!("The {what} “{name}” could not be opened ({e}); the call keeps the one it had."),
        None => format!("The default {what} could not be opened ({e}); the call keeps the one it had."),
    }
}

/// Microphones, speakers and cameras by name, as the settings store them. An empty list is an
/// answer too (no sound system, no camera).
#[derive(Debug, Default, Serialize, specta::Type)]
pub struct DeviceList {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub cameras: Vec<String>,
}

pub fn list_devices() -> DeviceList {
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
    DeviceList {
        inputs: names(host.input_devices().map(Iterator::collect)),
        outputs: names(host.output_devices().map(Iterator::collect)),
        cameras: confab_call::list_cameras(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_jpegs_served_by_stream_until_it_ends() {
        let frame = PatternSource::frame(640, 480, 7);
        // The preview at half size; the remote picture whole.
        let (w, h, preview) = frame_jpeg(Kind::Local, &frame, &mut Vec::new()).unwrap();
        assert_eq!((w, h), (320, 240));
        assert_eq!(&preview[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
        assert_eq!(&preview[preview.len() - 2..], &[0xFF, 0xD9], "and ends with EOI");
        let (w, h, remote) = frame_jpeg(Kind::Remote, &frame, &mut Vec::new()).unwrap();
        assert_eq!((w, h), (640, 480));

        let out = VideoOut::default();
        out.publish(Kind::Remote, "call-1", w, h, remote.clone());
        let get = |uri: &str| serve_frame(&out, &tauri::http::Request::get(uri).body(Vec::new()).unwrap());
        // As convertFileSrc writes it (one encoded segment), and plain.
        for uri in ["confab-frame://localhost/0%2Fcall-1?5", "http://confab-frame.localhost/0/call-1"] {
            let response = get(uri);
            assert_eq!(response.status(), 200, "{uri}");
            assert_eq!(response.headers()["content-type"], "image/jpeg");
            assert_eq!(response.body().as_ref(), remote.as_slice());
        }
        assert_eq!(get("confab-frame://localhost/1%2Fcall-1").status(), 404, "no preview picture yet");
        out.forget(Kind::Remote, "call-1");
        assert_eq!(get("confab-frame://localhost/0%2Fcall-1").status(), 404, "the stream ended");
    }
}
