//! The media engine's error type.

/// Everything that can go wrong in a call's media.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No capture device could be opened (none present, or it refused to start). The UI says
    /// "no microphone found" and the call goes on without sending audio.
    #[error("no microphone found: {0}")]
    NoMicrophone(String),
    /// No playback device could be opened. The UI says "no speaker found".
    #[error("no speaker found: {0}")]
    NoSpeaker(String),
    /// No camera could be opened (none present, none offering a format read here, or it refused to
    /// start). The app sends its test pattern and says so.
    #[error("no camera found: {0}")]
    NoCamera(String),
    /// WebRTC refused an operation (bad SDP, wrong signaling state, closed connection…).
    #[error("webrtc: {0}")]
    WebRtc(#[from] webrtc::error::Error),
    /// A signaling payload (`sdp` or `candidate`) did not have the browser's JSON shape.
    #[error("invalid signaling payload: {0}")]
    Signaling(String),
    /// The Opus codec failed.
    #[error("opus: {0}")]
    Opus(#[from] opus::Error),
    /// libvpx failed (encoder or decoder setup, or a frame it could not take).
    #[error("vp8: {0}")]
    Vp8(String),
    /// A video device was given to an audio-only call (it has no video track).
    #[error("this is an audio call: it has no video")]
    NoVideo,
    /// The connection is closed; nothing more can be done with it.
    #[error("the call's connection is closed")]
    Closed,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Signaling(e.to_string())
    }
}
