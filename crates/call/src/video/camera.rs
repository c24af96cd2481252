//! The computer's camera, on Linux through V4L2 (`linuxvideo`: the kernel interface in Rust, no C
//! library). Asked for 640x480 at 15 fps, YUYV where the camera has it, else MJPEG (decoded with
//! `jpeg-decoder`); the driver picks the nearest size and rate it has, and the pictures are
//! converted to I420 for the encoder. Other systems have no camera source yet: [`Error::NoCamera`],
//! and the app sends its test pattern and says so.

use crate::error::{Error, Result};
use crate::video::{VideoFrame, VideoSource};

/// Picture size and rate asked of the camera.
const WANTED: (u32, u32, u32) = (640, 480, 15);

/// Cameras by name (the driver's card name, or the device path where two share one), for the
/// settings. Empty where there is none, or on systems without camera support yet.
pub fn list_cameras() -> Vec<String> {
    #[cfg(target_os = "linux")]
    {
        v4l2::capture_devices().into_iter().map(|(name, ..)| name).collect()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// A camera as a [`VideoSource`].
pub struct Camera {
    #[cfg(target_os = "linux")]
    inner: v4l2::Capture,
}

impl Camera {
    /// Opens the camera named `name` (as [`list_cameras`] gives it), or the first one.
    pub fn open(name: Option<&str>) -> Result<Camera> {
        #[cfg(target_os = "linux")]
        {
            Ok(Camera { inner: v4l2::Capture::open(name)? })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = name;
            Err(Error::NoCamera("cameras are supported on Linux only so far".into()))
        }
    }
}

impl VideoSource for Camera {
    fn next_frame(&mut self) -> Result<VideoFrame> {
        #[cfg(target_os = "linux")]
        {
            self.inner.next_frame()
        }
        #[cfg(not(target_os = "linux"))]
        {
            Err(Error::NoCamera("no camera".into()))
        }
    }

    fn frame_rate(&self) -> u32 {
        #[cfg(target_os = "linux")]
        {
            self.inner.fps
        }
        #[cfg(not(target_os = "linux"))]
        {
            WANTED.2
        }
    }
}

/// Converts one MJPEG picture (a JPEG, possibly without Huffman tables, as UVC cameras send) to
/// I420 (BT.601 limited range, chroma averaged over 2x2), through the decoder's RGB.
pub fn mjpeg_to_i420(jpeg: &[u8]) -> Result<VideoFrame> {
    let bad = |why: String| Error::NoCamera(format!("an MJPEG picture did not decode: {why}"));
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let rgb = decoder.decode().map_err(|e| bad(e.to_string()))?;
    let info = decoder.info().ok_or_else(|| bad("no picture information".into()))?;
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    if info.pixel_format != jpeg_decoder::PixelFormat::RGB24 || w % 2 != 0 || h % 2 != 0 || rgb.len() < w * h * 3 {
        return Err(bad(format!("{w}x{h} {:?} is not a colour picture read here", info.pixel_format)));
    }
    let (cw, ch) = (w / 2, h / 2);
    let mut data = vec![0u8; w * h + 2 * cw * ch];
    let (y_plane, planes) = data.split_at_mut(w * h);
    let (u_plane, v_plane) = planes.split_at_mut(cw * ch);
    for (y, px) in y_plane.iter_mut().zip(rgb.chunks_exact(3)) {
        let (r, g, b) = (i32::from(px[0]), i32::from(px[1]), i32::from(px[2]));
        *y = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
    }
    for row in 0..ch {
        for col in 0..cw {
            let at = |dy: usize, dx: usize, c: usize| i32::from(rgb[((2 * row + dy) * w + 2 * col + dx) * 3 + c]);
            let mean = |c: usize| (at(0, 0, c) + at(0, 1, c) + at(1, 0, c) + at(1, 1, c) + 2) / 4;
            let (r, g, b) = (mean(0), mean(1), mean(2));
            u_plane[row * cw + col] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128) as u8;
            v_plane[row * cw + col] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128) as u8;
        }
    }
    Ok(VideoFrame { width: u32::from(info.width), height: u32::from(info.height), data })
}

/// Converts one packed YUYV 4:2:2 picture (`Y0 U Y1 V` for each pair of pixels, rows `stride`
/// bytes apart) to I420: luma as is, chroma averaged over each pair of rows.
pub fn yuyv_to_i420(yuyv: &[u8], width: u32, height: u32, stride: u32) -> Result<VideoFrame> {
    let (w, h, stride) = (width as usize, height as usize, stride as usize);
    if w == 0 || h == 0 || w % 2 != 0 || h % 2 != 0 || stride < w * 2 || yuyv.len() < stride * (h - 1) + w * 2 {
        return Err(Error::NoCamera(format!(
            "a {width}x{height} YUYV picture of {} bytes does not add up",
            yuyv.len()
        )));
    }
    let (cw, ch) = (w / 2, h / 2);
    let mut data = vec![0u8; w * h + 2 * cw * ch];
    let (y_plane, chroma) = data.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * ch);
    for row in 0..h {
        let line = &yuyv[row * stride..row * stride + w * 2];
        for (x, pair) in line.chunks_exact(4).enumerate() {
            y_plane[row * w + 2 * x] = pair[0];
            y_plane[row * w + 2 * x + 1] = pair[2];
        }
    }
    for crow in 0..ch {
        let (top, bottom) = (&yuyv[2 * crow * stride..], &yuyv[(2 * crow + 1) * stride..]);
        for x in 0..cw {
            let avg = |i: usize| (u16::from(top[4 * x + i]) + u16::from(bottom[4 * x + i])).div_ceil(2) as u8;
            u_plane[crow * cw + x] = avg(1);
            v_plane[crow * cw + x] = avg(3);
        }
    }
    Ok(VideoFrame { width, height, data })
}

#[cfg(target_os = "linux")]
mod v4l2 {
    use std::path::PathBuf;

    use linuxvideo::format::{PixFormat, PixelFormat};
    use linuxvideo::stream::ReadStream;
    use linuxvideo::{BufType, CapabilityFlags, Device, Fract};

    use super::{WANTED, mjpeg_to_i420, yuyv_to_i420};
    use crate::error::{Error, Result};
    use crate::video::VideoFrame;

    /// The picture formats read here, best first.
    const FORMATS: [PixelFormat; 2] = [PixelFormat::YUYV, PixelFormat::MJPG];

    /// Capture devices that offer a format read here, by name and path, with that format.
    pub(super) fn capture_devices() -> Vec<(String, PathBuf, PixelFormat)> {
        let Ok(devices) = linuxvideo::list() else { return Vec::new() };
        let mut found: Vec<(String, PathBuf, PixelFormat)> = Vec::new();
        for device in devices.flatten() {
            let Ok(caps) = device.capabilities() else { continue };
            if !caps.device_capabilities().contains(CapabilityFlags::VIDEO_CAPTURE) {
                continue;
            }
            let offered: Vec<PixelFormat> =
                device.formats(BufType::VIDEO_CAPTURE).flatten().map(|f| f.pixel_format()).collect();
            let Some(format) = FORMATS.into_iter().find(|f| offered.contains(f)) else { continue };
            let Ok(path) = device.path() else { continue };
            let mut name = caps.card().to_owned();
            if found.iter().any(|(n, ..)| *n == name) {
                name = format!("{name} ({})", path.display());
            }
            found.push((name, path, format));
        }
        found
    }

    /// A streaming capture.
    pub(super) struct Capture {
        stream: ReadStream,
        format: PixelFormat,
        width: u32,
        height: u32,
        stride: u32,
        pub(super) fps: u32,
    }

    impl Capture {
        pub(super) fn open(name: Option<&str>) -> Result<Capture> {
            let devices = capture_devices();
            let (_, path, format) = devices
                .iter()
                .find(|(n, p, _)| name.is_none_or(|name| n == name || p.to_str() == Some(name)))
                .ok_or_else(|| match name {
                    Some(name) => Error::NoCamera(format!("no camera named {name:?} offers YUYV or MJPEG pictures")),
                    None => Error::NoCamera("no camera offers YUYV or MJPEG pictures".into()),
                })?;
            let no_camera = |e: std::io::Error| Error::NoCamera(format!("{}: {e}", path.display()));
            let device = Device::open(path).map_err(no_camera)?;
            let capture = device.video_capture(PixFormat::new(WANTED.0, WANTED.1, *format)).map_err(no_camera)?;
            let negotiated = capture.format();
            if negotiated.pixel_format() != *format {
                return Err(Error::NoCamera(format!("{} would not deliver {format:?}", path.display())));
            }
            let (width, height, stride) = (negotiated.width(), negotiated.height(), negotiated.bytes_per_line());
            // The driver picks the nearest rate it has; a camera that cannot be asked keeps its own.
            let fps = match capture.set_frame_interval(Fract::new(1, WANTED.2)) {
                Ok(interval) if interval.numerator() > 0 => (interval.denominator() / interval.numerator()).max(1),
                _ => WANTED.2,
            };
            let stream = capture.into_stream().map_err(no_camera)?;
            tracing::info!(path = %path.display(), ?format, width, height, fps, "camera opened");
            Ok(Capture { stream, format: *format, width, height, stride, fps })
        }

        pub(super) fn next_frame(&mut self) -> Result<VideoFrame> {
            let (format, width, height, stride) = (self.format, self.width, self.height, self.stride);
            self.stream
                .dequeue(|buffer| {
                    let frame = if format == PixelFormat::MJPG {
                        mjpeg_to_i420(&buffer)
                    } else {
                        yuyv_to_i420(&buffer, width, height, stride)
                    };
                    frame.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
                })
                .map_err(|e| Error::NoCamera(format!("the camera stopped: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::PatternSource;

    /// I420 → YUYV, the way a camera would deliver the picture (each chroma sample on both rows).
    fn to_yuyv(frame: &VideoFrame, stride: usize) -> Vec<u8> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (y, chroma) = frame.data.split_at(w * h);
        let (u, v) = chroma.split_at(w / 2 * h / 2);
        let mut out = vec![0u8; stride * h];
        for row in 0..h {
            for x in 0..w / 2 {
                let c = row / 2 * (w / 2) + x;
                out[row * stride + 4 * x..row * stride + 4 * x + 4].copy_from_slice(&[
                    y[row * w + 2 * x],
                    u[c],
                    y[row * w + 2 * x + 1],
                    v[c],
                ]);
            }
        }
        out
    }

    #[test]
    fn yuyv_pictures_convert_to_the_same_i420() {
        let frame = PatternSource::frame(640, 480, 4321);
        // A padded stride too, as some drivers use.
        for stride in [1280, 1344] {
            let converted = yuyv_to_i420(&to_yuyv(&frame, stride), 640, 480, stride as u32).unwrap();
            assert_eq!(converted, frame, "stride {stride}");
        }
        assert_eq!(crate::video::read_pattern_number(&frame), Some(4321));
    }

    #[test]
    fn mjpeg_pictures_convert_to_i420_close_to_the_original() {
        let frame = PatternSource::frame(640, 480, 98765);
        // As a camera would encode it: full-range YCbCr.
        let (w, h) = (640usize, 480usize);
        let (y, chroma) = frame.data.split_at(w * h);
        let (u, v) = chroma.split_at(w / 2 * h / 2);
        let full = |x: u8, from: i32, span: i32| {
            ((i32::from(x) - from) * 255 / span + if from == 128 { 128 } else { 0 }).clamp(0, 255) as u8
        };
        let mut ycbcr = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            for col in 0..w {
                let c = row / 2 * (w / 2) + col / 2;
                ycbcr.extend_from_slice(&[full(y[row * w + col], 16, 219), full(u[c], 128, 224), full(v[c], 128, 224)]);
            }
        }
        let mut jpeg = Vec::new();
        jpeg_encoder::Encoder::new(&mut jpeg, 95).encode(&ycbcr, 640, 480, jpeg_encoder::ColorType::Ycbcr).unwrap();

        let decoded = mjpeg_to_i420(&jpeg).unwrap();
        assert_eq!((decoded.width, decoded.height, decoded.data.len()), (640, 480, frame.data.len()));
        assert_eq!(crate::video::read_pattern_number(&decoded), Some(98765));
        let luma_error =
            decoded.y_plane().iter().zip(frame.y_plane()).map(|(a, b)| u64::from(a.abs_diff(*b))).sum::<u64>()
                / (w * h) as u64;
        assert!(luma_error <= 3, "mean luma error {luma_error}");
        let chroma_error =
            decoded.data[w * h..].iter().zip(&frame.data[w * h..]).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(chroma_error <= 4, "largest chroma error {chroma_error}");
        assert!(matches!(mjpeg_to_i420(&jpeg[..jpeg.len() / 2]), Err(Error::NoCamera(_))), "a cut picture");
    }

    #[test]
    fn a_short_or_odd_picture_is_an_error_not_a_panic() {
        assert!(matches!(yuyv_to_i420(&[0; 100], 640, 480, 1280), Err(Error::NoCamera(_))));
        assert!(matches!(yuyv_to_i420(&[], 640, 0, 1280), Err(Error::NoCamera(_))), "a zero height");
        assert!(matches!(yuyv_to_i420(&[0; 1280 * 480], 639, 480, 1280), Err(Error::NoCamera(_))));
    }

    #[test]
    fn a_missing_camera_is_a_typed_error() {
        match Camera::open(Some("confab-no-such-camera")) {
            Err(Error::NoCamera(why)) => {
                assert!(why.contains("confab-no-such-camera") || !cfg!(target_os = "linux"), "{why}")
            }
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a camera that does not exist"),
        }
    }
}
