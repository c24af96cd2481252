//! Video: sources and sinks of I420 frames, and the VP8 pipeline between them and RTP.
//!
//! Send: a [`VideoSource`] is read, and each frame VP8-encoded, on a thread of its own (libvpx's
//! encoder is not `Send`); encoded frames go to the async writer, which packetizes them (VP8 RTP
//! payloader). Receive: RTP packets are depacketized and reassembled into frames here, decoded on a
//! thread of their own and handed to the [`VideoSink`].

pub mod camera;
pub mod vp8;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;
use tokio::sync::mpsc;

use crate::Encoded;
use crate::audio::SendGate;
use crate::error::Result;
use crate::stats::Counters;
use crate::switch::SourceSlot;

/// Target bitrate of outgoing video.
const BITRATE_KBPS: u32 = 800;

/// One picture, I420 packed without padding: the Y plane (width × height), then U and V
/// (each ⌈width/2⌉ × ⌈height/2⌉).
#[derive(Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The three planes, back to back.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for VideoFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VideoFrame({}x{}, {} bytes)", self.width, self.height, self.data.len())
    }
}

impl VideoFrame {
    /// The luma plane.
    pub fn y_plane(&self) -> &[u8] {
        &self.data[..self.width as usize * self.height as usize]
    }

    /// The picture as RGBA (BT.601, limited range), for showing it.
    pub fn to_rgba(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = w.div_ceil(2);
        let (y, chroma) = self.data.split_at(w * h);
        let (u, v) = chroma.split_at(cw * h.div_ceil(2));
        let mut out = Vec::with_capacity(w * h * 4);
        for row in 0..h {
            for col in 0..w {
                let c = (row / 2) * cw + col / 2;
                let yy = 1.164 * (f32::from(y[row * w + col]) - 16.0);
                let (uu, vv) = (f32::from(u[c]) - 128.0, f32::from(v[c]) - 128.0);
                let px = [yy + 1.596 * vv, yy - 0.392 * uu - 0.813 * vv, yy + 2.017 * uu];
                out.extend(px.map(|x| x.clamp(0.0, 255.0) as u8));
                out.push(255);
            }
        }
        out
    }
}

/// Where outgoing video comes from.
pub trait VideoSource: Send + 'static {
    /// The next picture, blocking until it exists (a camera waits for the camera, a synthetic
    /// source for the clock). An error ends the sending side of the call's video.
    fn next_frame(&mut self) -> Result<VideoFrame>;
    /// Pictures per second the source delivers.
    fn frame_rate(&self) -> u32;
}

/// Where received video goes: decoded pictures in order. Called on the decoder's thread.
pub trait VideoSink: Send + 'static {
    fn frame(&mut self, frame: VideoFrame);
}

/// A synthetic camera: each picture carries its frame number as bit blocks (32 blocks across the
/// top band, white for 1, most significant first; the band below repeats it inverted, as a check),
/// over a noisy grey background with a moving bar. [`read_pattern_number`] reads the number back.
#[derive(Debug)]
pub struct PatternSource {
    /// Picture size.
    width: u32,
    height: u32,
    /// Pictures per second.
    fps: u32,
    /// Number of the next picture.
    next: u32,
    /// When picture 0 was produced.
    started: Option<Instant>,
}

/// Bits of the frame number, laid out across the band.
const PATTERN_BITS: u32 = 32;

impl PatternSource {
    /// `width` and `height` must be even and `width` at least 256 (8 pixels a bit).
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        PatternSource { width, height, fps: fps.max(1), next: 0, started: None }
    }

    /// Picture number `n` of a `width` × `height` pattern.
    pub fn frame(width: u32, height: u32, n: u32) -> VideoFrame {
        let (w, h) = (width as usize, height as usize);
        let mut data = vec![128u8; w * h + 2 * w.div_ceil(2) * h.div_ceil(2)];
        let (bit_w, band_h) = (w / PATTERN_BITS as usize, (h / 12).max(8));
        // Row by row with slice fills: this runs for every frame, in debug builds too.
        let mut bits = vec![96u8; w];
        for (bit, block) in bits.chunks_mut(bit_w).take(PATTERN_BITS as usize).enumerate() {
            let set = n >> (PATTERN_BITS as usize - 1 - bit) & 1 == 1;
            block.fill(if set { 235 } else { 16 });
        }
        let inverted: Vec<u8> = bits.iter().map(|&v| if v == 96 { 96 } else { 251 - v }).collect();
        let bar = (n as usize * 8) % w..((n as usize * 8) % w + 24).min(w);
        for (row, line) in data[..w * h].chunks_mut(w).enumerate() {
            if row < band_h {
                line.copy_from_slice(&bits);
            } else if row < 2 * band_h {
                line.copy_from_slice(&inverted);
            } else {
                // Fresh noise in every picture, so frames are the size of a real camera's (several
                // RTP packets each) rather than a few hundred bytes.
                let mut x = (n as usize).wrapping_mul(0x9E37_79B9) ^ row.wrapping_mul(0x85EB_CA6B) | 1;
                for px in line.iter_mut() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *px = 80 + (x & 31) as u8;
                }
                line[bar.clone()].fill(220);
            }
        }
        VideoFrame { width, height, data }
    }
}

impl VideoSource for PatternSource {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + Duration::from_secs_f64(f64::from(self.next) / f64::from(self.fps));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let frame = PatternSource::frame(self.width, self.height, self.next);
        self.next += 1;
        Ok(frame)
    }

    fn frame_rate(&self) -> u32 {
        self.fps
    }
}

/// Reads the frame number a [`PatternSource`] put in a picture (after a lossy codec, too); `None`
/// if the picture does not carry a consistent one.
pub fn read_pattern_number(frame: &VideoFrame) -> Option<u32> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (bit_w, band_h) = (w / PATTERN_BITS as usize, (h / 12).max(8));
    let y = frame.y_plane();
    // Mean luma of the middle half of one block.
    let block = |bit: usize, band: usize| -> bool {
        let (x0, y0) = (bit * bit_w + bit_w / 4, band * band_h + band_h / 4);
        let mut sum = 0u32;
        let mut count = 0u32;
        for row in y0..y0 + band_h / 2 {
            for col in x0..x0 + bit_w / 2 {
                sum += u32::from(y[row * w + col]);
                count += 1;
            }
        }
        sum / count.max(1) > 128
    };
    let mut n = 0u32;
    for bit in 0..PATTERN_BITS as usize {
        let (value, check) = (block(bit, 0), block(bit, 1));
        if value == check {
            return None;
        }
        n = n << 1 | u32::from(value);
    }
    Some(n)
}

/// Reads the slot's source and encodes its frames on a thread of its own; frames read while the
/// gate is closed (camera off, not yet connected) are dropped, and the first one after is a key
/// frame. A source that fails is reported on `events` and the thread waits for another one.
pub(crate) fn spawn_sender(
    mut slot: SourceSlot<Box<dyn VideoSource>>,
    gate: Arc<SendGate>,
    out: mpsc::Sender<Encoded>,
    events: mpsc::UnboundedSender<crate::CallEvent>,
) -> Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("call-video-send".into())
        .spawn(move || {
            let mut encoder: Option<vp8::Encoder> = None;
            let mut pts = 0i64;
            while let Some(source) = slot.current(|| out.is_closed()) {
                let fps = source.frame_rate().max(1);
                let frame = match source.next_frame() {
                    Ok(frame) => frame,
                    Err(e) => {
                        tracing::warn!("video source stopped: {e}");
                        slot.failed();
                        let _ =
                            events.send(crate::CallEvent::SourceStopped { source: "camera", reason: e.to_string() });
                        continue;
                    }
                };
                if !gate.open() {
                    gate.want_key.store(true, Ordering::Relaxed);
                    continue;
                }
                // A new size (another camera) needs a new encoder, whose first frame is a key frame.
                if !encoder.as_ref().is_some_and(|e| e.fits(&frame)) {
                    match vp8::Encoder::new(frame.width, frame.height, fps, BITRATE_KBPS) {
                        Ok(e) => encoder = Some(e),
                        Err(e) => {
                            tracing::warn!("video encoder: {e}");
                            return;
                        }
                    }
                }
                let Some(encoder) = encoder.as_mut() else { return };
                let key = gate.want_key.swap(false, Ordering::Relaxed);
                let duration = Duration::from_secs_f64(1.0 / f64::from(fps));
                match encoder.encode(&frame, pts, key) {
                    Ok(frames) => {
                        for f in frames {
                            if out.blocking_send(Encoded { data: Bytes::from(f.data), duration }).is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => tracing::warn!("video encode: {e}"),
                }
                pts += 1;
            }
        })
        .map_err(|e| crate::Error::Vp8(format!("cannot start the video thread: {e}")))
}

/// Reassembles VP8 frames from RTP packets. A frame with a missing packet is dropped whole.
#[derive(Default)]
pub(crate) struct FrameAssembler {
    /// Parses the VP8 payload descriptor.
    depacketizer: Vp8Packet,
    /// The frame being assembled.
    frame: Vec<u8>,
    /// RTP timestamp of the frame being assembled; `None` between frames.
    timestamp: Option<u32>,
    /// Sequence number the next packet should have.
    expected: Option<u16>,
    /// Whether a packet of the current frame went missing.
    broken: bool,
}

/// What one packet completed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Assembled {
    /// Nothing yet.
    Pending,
    /// A whole frame.
    Frame(Vec<u8>),
    /// A frame that cannot be decoded (a packet was lost).
    Dropped,
}

impl FrameAssembler {
    pub(crate) fn push(&mut self, packet: &rtc::rtp::Packet) -> Assembled {
        let (seq, ts, marker) = (packet.header.sequence_number, packet.header.timestamp, packet.header.marker);
        let mut result = Assembled::Pending;
        if self.expected.is_some_and(|e| e != seq) {
            self.broken = true;
        }
        self.expected = Some(seq.wrapping_add(1));
        if packet.payload.is_empty() {
            return result; // padding
        }
        if self.depacketizer.is_partition_head(&packet.payload) {
            if self.timestamp.is_some() {
                result = Assembled::Dropped; // the previous frame never ended
            }
            self.frame.clear();
            self.timestamp = Some(ts);
            self.broken = false;
        } else if self.timestamp != Some(ts) {
            self.broken = true;
        }
        match self.depacketizer.depacketize(&packet.payload) {
            Ok(part) => self.frame.extend_from_slice(&part),
            Err(_) => self.broken = true,
        }
        if marker && self.timestamp.is_some() {
            result = if self.broken { Assembled::Dropped } else { Assembled::Frame(std::mem::take(&mut self.frame)) };
            self.timestamp = None;
            self.broken = false;
        }
        result
    }
}

/// Decodes reassembled frames on a thread of its own and hands the pictures to `sink`. After a
/// lost or undecodable frame, everything up to the next key frame is skipped (it would decode to
/// garbage). Ends when the sender is dropped.
pub(crate) fn spawn_decoder(
    mut sink: Box<dyn VideoSink>,
    counters: Arc<Counters>,
) -> Result<std_mpsc::Sender<Option<Vec<u8>>>> {
    let (tx, rx) = std_mpsc::channel::<Option<Vec<u8>>>();
    std::thread::Builder::new()
        .name("call-video-decode".into())
        .spawn(move || {
            let mut decoder = match vp8::Decoder::new() {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!("video decoder: {e}");
                    return;
                }
            };
            let mut need_key = true;
            // `None` marks a frame lost on the way.
            for frame in rx {
                let Some(frame) = frame else {
                    need_key = true;
                    continue;
                };
                if need_key && !vp8::is_key_frame(&frame) {
                    Counters::bump(&counters.video_frames_dropped);
                    continue;
                }
                match decoder.decode(&frame) {
                    Ok(pictures) => {
                        need_key = false;
                        for picture in pictures {
                            Counters::bump(&counters.video_frames_decoded);
                            sink.frame(picture);
                        }
                    }
                    Err(e) => {
                        tracing::debug!("video decode: {e}");
                        Counters::bump(&counters.video_frames_dropped);
                        need_key = true;
                    }
                }
            }
        })
        .map_err(|e| crate::Error::Vp8(format!("cannot start the video decoder thread: {e}")))?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_numbers_read_back() {
        for n in [0, 1, 7, 12345, u32::MAX] {
            assert_eq!(read_pattern_number(&PatternSource::frame(640, 480, n)), Some(n));
        }
        let grey = VideoFrame { width: 640, height: 480, data: vec![128; 640 * 480 * 3 / 2] };
        assert_eq!(read_pattern_number(&grey), None);
    }

    #[test]
    fn rgba_of_white_and_black() {
        let mut frame = PatternSource::frame(256, 96, 0x8000_0000);
        frame.data.truncate(256 * 96 * 3 / 2);
        let rgba = frame.to_rgba();
        assert_eq!(rgba.len(), 256 * 96 * 4);
        assert!(rgba[..3].iter().all(|&c| c > 250), "{:?}", &rgba[..4]); // bit 31 set: white
        assert!(rgba[8 * 4..8 * 4 + 3].iter().all(|&c| c < 5)); // bit 30 clear: black
    }
}
