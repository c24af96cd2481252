//! The computer's camera, on Linux through V4L2 (`linuxvideo`: the kernel interface in Rust, no C
//! library). Asked for 640x480 YUYV at 15 fps; the driver picks the nearest it has, and the pictures
//! are converted to I420 for the encoder. Cameras that only offer compressed formats (MJPEG) are
//! refused with [`Error::NoCamera`] for now, as is every camera on other systems: the app then sends
//! its test pattern and says so.

use crate::error::{Error, Result};
use crate::video::{VideoFrame, VideoSource};

/// Picture size and rate asked of the camera.
const WANTED: (u32, u32, u32) = (640, 480, 15);

/// Cameras by name (the driver's card name, or the device path where two share one), for the
/// settings. Empty where there is none, or on systems without camera support yet.
pub fn list_cameras() -> Vec<String> {
    #[cfg(target_os = "linux")]
    {
        v4l2::capture_devices().into_iter().map(|(name, _)| name).collect()
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

/// Converts one packed YUYV 4:2:2 picture (`Y0 U Y1 V` for each pair of pixels, rows `stride`
/// bytes apart) to I420: luma as is, chroma averaged over each pair of rows.
pub fn yuyv_to_i420(yuyv: &[u8], width: u32, height: u32, stride: u32) -> Result<VideoFrame> {
    let (w, h, stride) = (width as usize, height as usize, stride as usize);
    if w % 2 != 0 || h % 2 != 0 || stride < w * 2 || yuyv.len() < stride * (h - 1) + w * 2 {
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

    use super::{WANTED, yuyv_to_i420};
    use crate::error::{Error, Result};
    use crate::video::VideoFrame;

    /// Capture devices that offer YUYV, by name and path.
    pub(super) fn capture_devices() -> Vec<(String, PathBuf)> {
        let Ok(devices) = linuxvideo::list() else { return Vec::new() };
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for device in devices.flatten() {
            let Ok(caps) = device.capabilities() else { continue };
            if !caps.device_capabilities().contains(CapabilityFlags::VIDEO_CAPTURE) {
                continue;
            }
            let yuyv = device.formats(BufType::VIDEO_CAPTURE).flatten().any(|f| f.pixel_format() == PixelFormat::YUYV);
            let Ok(path) = device.path() else { continue };
            if yuyv {
                let mut name = caps.card().to_owned();
                if found.iter().any(|(n, _)| *n == name) {
                    name = format!("{name} ({})", path.display());
                }
                found.push((name, path));
            }
        }
        found
    }

    /// A streaming YUYV capture.
    pub(super) struct Capture {
        stream: ReadStream,
        width: u32,
        height: u32,
        stride: u32,
        pub(super) fps: u32,
    }

    impl Capture {
        pub(super) fn open(name: Option<&str>) -> Result<Capture> {
            let devices = capture_devices();
            let (_, path) = devices
                .iter()
                .find(|(n, p)| name.is_none_or(|name| n == name || p.to_str() == Some(name)))
                .ok_or_else(|| match name {
                    Some(name) => Error::NoCamera(format!("no camera named {name:?} offers YUYV pictures")),
                    None => Error::NoCamera("no camera offers YUYV pictures".into()),
                })?;
            let no_camera = |e: std::io::Error| Error::NoCamera(format!("{}: {e}", path.display()));
            let device = Device::open(path).map_err(no_camera)?;
            let capture =
                device.video_capture(PixFormat::new(WANTED.0, WANTED.1, PixelFormat::YUYV)).map_err(no_camera)?;
            let format = capture.format();
            if format.pixel_format() != PixelFormat::YUYV {
                return Err(Error::NoCamera(format!("{} would not deliver YUYV", path.display())));
            }
            let (width, height, stride) = (format.width(), format.height(), format.bytes_per_line());
            // The driver picks the nearest rate it has; a camera that cannot be asked keeps its own.
            let fps = match capture.set_frame_interval(Fract::new(1, WANTED.2)) {
                Ok(interval) if interval.numerator() > 0 => (interval.denominator() / interval.numerator()).max(1),
                _ => WANTED.2,
            };
            let stream = capture.into_stream().map_err(no_camera)?;
            tracing::info!(path = %path.display(), width, height, fps, "camera opened");
            Ok(Capture { stream, width, height, stride, fps })
        }

        pub(super) fn next_frame(&mut self) -> Result<VideoFrame> {
            let (width, height, stride) = (self.width, self.height, self.stride);
            self.stream
                .dequeue(|buffer| {
                    yuyv_to_i420(&buffer, width, height, stride)
                        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
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
    fn a_short_or_odd_picture_is_an_error_not_a_panic() {
        assert!(matches!(yuyv_to_i420(&[0; 100], 640, 480, 1280), Err(Error::NoCamera(_))));
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
