//! How a call's peer connection is built: ICE servers and local addresses, never hard-coded.

use std::time::Duration;

pub use confab_protocol::IceServer;

/// Configuration of one call's peer connection.
///
/// [`CallConfig::default`] has no ICE servers (host candidates only) and binds every interface;
/// the app fills `ice_servers` from the user's settings. Tests use [`CallConfig::loopback_only`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallConfig {
    /// STUN/TURN servers; none by default, and none is ever built in.
    pub ice_servers: Vec<IceServer>,
    /// Local UDP addresses to bind (`ip:port`, port 0 for an ephemeral one). `0.0.0.0:0` means one
    /// socket per non-loopback interface; a concrete address binds exactly that interface.
    pub udp_addrs: Vec<String>,
    /// How long without traffic before the connection counts as disconnected (webrtc's default,
    /// 5 s, when `None`).
    pub disconnected_timeout: Option<Duration>,
    /// How long disconnected before the connection counts as failed (webrtc's default, 25 s, when
    /// `None`).
    pub failed_timeout: Option<Duration>,
    /// Use only relayed paths (the ICE transport policy `relay`): only the TURN servers'
    /// candidates are gathered and offered, so the other side never learns this device's
    /// addresses; without a TURN server in `ice_servers` the call cannot connect. A relayed pair
    /// is then taken as soon as it works (otherwise the engine waits a little for a direct path).
    pub relay_only: bool,
}

impl Default for CallConfig {
    fn default() -> Self {
        CallConfig {
            ice_servers: Vec::new(),
            udp_addrs: vec!["0.0.0.0:0".into()],
            disconnected_timeout: None,
            failed_timeout: None,
            relay_only: false,
        }
    }
}

impl CallConfig {
    /// Only 127.0.0.1, no ICE servers: what every test uses, so nothing leaves the machine.
    /// (webrtc 0.21.1 has no interface or IP filter yet, so loopback-only is done by what is
    /// bound.)
    pub fn loopback_only() -> Self {
        CallConfig { udp_addrs: vec!["127.0.0.1:0".into()], ..CallConfig::default() }
    }
}
