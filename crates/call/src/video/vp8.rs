//! VP8 through Debian's libvpx (env-libvpx-sys's pre-generated bindings): a real-time encoder that
//! can be told to emit a key frame, and a decoder. Both hold a C context and are not `Send`: each
//! is created and used on one thread.

use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::ptr;

use vpx_sys::*;

use super::VideoFrame;
use crate::error::{Error, Result};

fn check(ctx: *mut vpx_codec_ctx_t, what: &str, err: vpx_codec_err_t) -> Result<()> {
    if err == vpx_codec_err_t::VPX_CODEC_OK {
        return Ok(());
    }
    // SAFETY: vpx_codec_error returns a static or context-owned C string, never null.
    let detail = unsafe { std::ffi::CStr::from_ptr(vpx_codec_error(ctx)) }.to_string_lossy().into_owned();
    Err(Error::Vp8(format!("{what}: {detail} ({err:?})")))
}

/// One encoded frame.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// The VP8 bitstream of the frame.
    pub data: Vec<u8>,
    /// Whether it decodes on its own.
    pub key: bool,
}

/// A VP8 encoder set up for calls: real-time deadline, constant bitrate, no look-ahead, no frame
/// dropping, error-resilient, a key frame at least every two seconds (so a receiver that lost one
/// recovers without asking).
pub struct Encoder {
    /// libvpx's encoder context.
    ctx: Box<vpx_codec_ctx_t>,
    /// Frame size the context was set up for.
    width: u32,
    height: u32,
}

impl Encoder {
    pub fn new(width: u32, height: u32, fps: u32, bitrate_kbps: u32) -> Result<Self> {
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) || width == 0 || height == 0 {
            return Err(Error::Vp8(format!("frame size {width}x{height} must be even and non-zero")));
        }
        // SAFETY: zeroed structs are what libvpx's own examples start from; every pointer passed
        // lives for the call, and the context is boxed so its address stays put.
        unsafe {
            let iface = vpx_codec_vp8_cx();
            let mut cfg: vpx_codec_enc_cfg_t = MaybeUninit::zeroed().assume_init();
            let mut ctx: Box<vpx_codec_ctx_t> = Box::new(MaybeUninit::zeroed().assume_init());
            check(&mut *ctx, "encoder defaults", vpx_codec_enc_config_default(iface, &mut cfg, 0))?;
            cfg.g_w = width;
            cfg.g_h = height;
            cfg.g_timebase.num = 1;
            cfg.g_timebase.den = fps.max(1) as c_int;
            cfg.rc_target_bitrate = bitrate_kbps;
            cfg.rc_end_usage = vpx_rc_mode::VPX_CBR;
            cfg.rc_dropframe_thresh = 0;
            cfg.g_lag_in_frames = 0;
            // One thread: libvpx's VP8 worker threads spin while waiting, and on a busy 2-core machine
            // (both ends of a call, decoders, the network) that turned 4 ms encodes into 300 ms ones.
            cfg.g_threads = 1;
            cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
            cfg.kf_max_dist = fps.max(1) * 2;
            check(
                &mut *ctx,
                "encoder init",
                vpx_codec_enc_init_ver(&mut *ctx, iface, &cfg, 0, VPX_ENCODER_ABI_VERSION as c_int),
            )?;
            let encoder = Encoder { ctx, width, height };
            let mut this = encoder;
            // Fastest real-time speed: a 2-core machine encodes and decodes both ends of a call.
            check(
                &mut *this.ctx,
                "encoder speed",
                vpx_codec_control_(&mut *this.ctx, vp8e_enc_control_id::VP8E_SET_CPUUSED as c_int, 10 as c_int),
            )?;
            Ok(this)
        }
    }

    /// Whether this encoder was set up for frames of this size.
    pub fn fits(&self, frame: &VideoFrame) -> bool {
        frame.width == self.width && frame.height == self.height
    }

    /// Encodes one I420 frame; `pts` counts frames. Usually returns exactly one encoded frame.
    pub fn encode(&mut self, frame: &VideoFrame, pts: i64, force_key: bool) -> Result<Vec<EncodedFrame>> {
        if !self.fits(frame) || frame.data.len() < frame.width as usize * frame.height as usize * 3 / 2 {
            return Err(Error::Vp8("frame does not match the encoder's size".into()));
        }
        let flags = if force_key { VPX_EFLAG_FORCE_KF as vpx_enc_frame_flags_t } else { 0 };
        let mut out = Vec::new();
        // SAFETY: the image wraps `frame.data` (checked large enough above) only for the duration
        // of vpx_codec_encode, which copies what it needs; packets are copied out before the next
        // call on the context.
        unsafe {
            let mut image: vpx_image_t = MaybeUninit::zeroed().assume_init();
            let wrapped = vpx_img_wrap(
                &mut image,
                vpx_img_fmt::VPX_IMG_FMT_I420,
                self.width as c_uint,
                self.height as c_uint,
                1,
                frame.data.as_ptr() as *mut u8,
            );
            if wrapped.is_null() {
                return Err(Error::Vp8("cannot wrap the frame".into()));
            }
            let ctx: *mut vpx_codec_ctx_t = &mut *self.ctx;
            check(ctx, "encode", vpx_codec_encode(ctx, &image, pts, 1, flags, VPX_DL_REALTIME as c_ulong))?;
            let mut iter: vpx_codec_iter_t = ptr::null();
            loop {
                let packet = vpx_codec_get_cx_data(ctx, &mut iter);
                if packet.is_null() {
                    break;
                }
                if (*packet).kind == vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT {
                    let f = &(*packet).data.frame;
                    out.push(EncodedFrame {
                        data: std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize).to_vec(),
                        key: f.flags & VPX_FRAME_IS_KEY != 0,
                    });
                }
            }
        }
        Ok(out)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed once.
        unsafe {
            vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// A VP8 decoder producing packed I420 frames.
pub struct Decoder {
    /// libvpx's decoder context.
    ctx: Box<vpx_codec_ctx_t>,
}

impl Decoder {
    pub fn new() -> Result<Self> {
        // SAFETY: as in `Encoder::new`.
        unsafe {
            let mut ctx: Box<vpx_codec_ctx_t> = Box::new(MaybeUninit::zeroed().assume_init());
            let cfg = vpx_codec_dec_cfg_t { threads: 1, w: 0, h: 0 };
            let ctx_ptr: *mut vpx_codec_ctx_t = &mut *ctx;
            check(
                ctx_ptr,
                "decoder init",
                vpx_codec_dec_init_ver(ctx_ptr, vpx_codec_vp8_dx(), &cfg, 0, VPX_DECODER_ABI_VERSION as c_int),
            )?;
            Ok(Decoder { ctx })
        }
    }

    /// Decodes one frame's bitstream; returns the pictures it produced (normally one).
    pub fn decode(&mut self, data: &[u8]) -> Result<Vec<VideoFrame>> {
        let mut out = Vec::new();
        // SAFETY: `data` outlives the call; images returned by vpx_codec_get_frame stay valid until
        // the next decode and are copied out before then, reading each plane within
        // stride × rows as libvpx laid it out.
        unsafe {
            let ctx: *mut vpx_codec_ctx_t = &mut *self.ctx;
            check(ctx, "decode", vpx_codec_decode(ctx, data.as_ptr(), data.len() as c_uint, ptr::null_mut(), 0))?;
            let mut iter: vpx_codec_iter_t = ptr::null();
            loop {
                let image = vpx_codec_get_frame(ctx, &mut iter);
                if image.is_null() {
                    break;
                }
                let image = &*image;
                if image.fmt != vpx_img_fmt::VPX_IMG_FMT_I420 {
                    return Err(Error::Vp8(format!("unexpected decoded format {:?}", image.fmt)));
                }
                let (w, h) = (image.d_w as usize, image.d_h as usize);
                let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
                let mut frame = Vec::with_capacity(w * h + 2 * cw * ch);
                for (plane, pw, ph) in [(0, w, h), (1, cw, ch), (2, cw, ch)] {
                    let stride = image.stride[plane] as usize;
                    for row in 0..ph {
                        let start = image.planes[plane].add(row * stride);
                        frame.extend_from_slice(std::slice::from_raw_parts(start, pw));
                    }
                }
                out.push(VideoFrame { width: w as u32, height: h as u32, data: frame });
            }
        }
        Ok(out)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the context was initialised in `new` and is destroyed once.
        unsafe {
            vpx_codec_destroy(&mut *self.ctx);
        }
    }
}

/// Whether a VP8 frame is a key frame (RFC 6386 §9.1: bit 0 of the first byte is 0).
pub fn is_key_frame(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 1 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{PatternSource, read_pattern_number};

    #[test]
    fn pattern_frames_survive_encode_and_decode() {
        let mut encoder = Encoder::new(320, 240, 15, 500).unwrap();
        let mut decoder = Decoder::new().unwrap();
        for n in 0..20u32 {
            let frame = PatternSource::frame(320, 240, n);
            let encoded = encoder.encode(&frame, i64::from(n), n == 10).unwrap();
            assert_eq!(encoded.len(), 1);
            assert_eq!(encoded[0].key, n == 0 || n == 10, "frame {n}");
            assert_eq!(is_key_frame(&encoded[0].data), encoded[0].key);
            let decoded = decoder.decode(&encoded[0].data).unwrap();
            assert_eq!(decoded.len(), 1);
            assert_eq!((decoded[0].width, decoded[0].height), (320, 240));
            assert_eq!(read_pattern_number(&decoded[0]), Some(n));
        }
    }
}
