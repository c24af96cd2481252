//! The bundled TURN/STUN relay (`--turn-listen`), so that calls between two homes behind NATs
//! connect with nothing but `confab-server`.
//!
//! It is the webrtc-rs project's `turn` server (`turn::server::Server`, UDP), the family of the
//! `webrtc` crate the app uses. Its sans-IO successor `rtc-turn` (0.21, already in the lock
//! through webrtc) has only a client so far. The server takes the sockets it uses from us, which is
//! where Confab's policy goes, without patching the crate:
//!
//! - [`Gate`] wraps the listening socket and reads every request before the server does: a
//!   CreatePermission or ChannelBind naming a peer the [`PeerPolicy`] refuses is answered
//!   403 Forbidden (a Send indication to one is dropped); an Allocate whose credential has expired
//!   is answered 401, and one beyond the user's allocation quota 486 (Allocation Quota Reached).
//!   Only requests that cannot come from a forged source cheaply get these answers (a permission
//!   request from the holder of an allocation, an Allocate carrying MESSAGE-INTEGRITY, larger than
//!   the answer), so the gate reflects nothing at a third party. Unauthenticated requests, each of
//!   which makes the server keep a nonce, are rationed to [`CHALLENGES_PER_SECOND`].
//! - [`RelayPorts`] binds each allocation's relayed socket in `--turn-relay-ports`, wrapped in a
//!   [`RelaySocket`] that enforces the policy again on every datagram both ways and caps the
//!   allocation's bandwidth (`--turn-max-bps`, each direction, excess dropped like a full link).
//! - [`Auth`] checks the TURN REST API credential of every authenticated request (the HMAC in
//!   [`crate::ice`]). Expiry is checked when an allocation is made (in the gate), not on its
//!   refreshes: a call that started with a valid credential keeps its relay for as long as it lasts.
//!
//! Peers on loopback, private (RFC 1918, ULA), link-local, CGNAT, unspecified, multicast, broadcast
//! and reserved addresses are refused unless a `--turn-allowed-peer-range` covers them: an open relay
//! into the server's own network is the known TURN attack. The relay's own relayed addresses are
//! always allowed (both sides of a call relayed through the same server).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use stun::attributes::{ATTR_MESSAGE_INTEGRITY, ATTR_USERNAME, ATTR_XOR_PEER_ADDRESS, Attributes};
use stun::error_code::{CODE_ALLOC_QUOTA_REACHED, CODE_FORBIDDEN, CODE_UNAUTHORIZED, ErrorCode, ErrorCodeAttribute};
use stun::message::{
    CLASS_ERROR_RESPONSE, CLASS_INDICATION, CLASS_REQUEST, METHOD_ALLOCATE, METHOD_BINDING, METHOD_CHANNEL_BIND,
    METHOD_CREATE_PERMISSION, METHOD_SEND, Message, MessageType, Setter,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;
use tokio::net::UdpSocket;
use turn::allocation::five_tuple::FiveTuple;
use turn::auth::AuthHandler;
use turn::proto::PROTO_UDP;
use turn::relay::RelayAddressGenerator;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::Conn;

use crate::config::Config;
use crate::error::{Error, Result};

/// The realm in the relay's 401 challenges.
const REALM: &str = "confab";

/// The running relay; [`Relay::close`] stops it.
pub struct Relay {
    server: Arc<Server>,
    local_addr: SocketAddr,
    public_addr: SocketAddr,
}

impl Relay {
    /// Binds `--turn-listen` and starts serving.
    pub async fn start(config: &Config, secret: &str) -> Result<Relay> {
        let listen = config.turn_listen.ok_or_else(|| Error::Config("the relay needs --turn-listen".into()))?;
        let public_ip = match (config.turn_external_ip, listen.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if !ip.is_unspecified() => ip,
            (None, _) => {
                return Err(Error::Config(format!(
                    "--turn-listen {listen} is a wildcard address: give the address clients reach it at with --turn-external-ip"
                )));
            }
        };
        let socket = UdpSocket::bind(listen)
            .await
            .map_err(|e| Error::Config(format!("binding the TURN relay on udp {listen}: {e}")))?;
        let local_addr = socket.local_addr().map_err(|e| Error::Config(format!("TURN relay: {e}")))?;
        let ports = config.turn_relay_ports.0.clone();
        let policy = Arc::new(PeerPolicy {
            allowed: config.turn_allowed_peer_ranges.clone(),
            relay_ip: public_ip,
            relay_ports: ports.clone(),
        });
        let gate = Arc::new(Gate {
            socket,
            policy: policy.clone(),
            quota: config.turn_user_quota,
            server: OnceLock::new(),
            challenges: Bucket::new(CHALLENGES_PER_SECOND),
        });
        let server = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig {
                conn: gate.clone(),
                relay_addr_generator: Box::new(RelayPorts {
                    bind_ip: listen.ip(),
                    public_ip,
                    ports,
                    policy,
                    max_bps: config.turn_max_bps,
                }),
            }],
            realm: REALM.into(),
            auth_handler: Arc::new(Auth { secret: secret.as_bytes().to_vec() }),
            channel_bind_timeout: Duration::ZERO, // the crate's default, 10 minutes
            alloc_close_notify: None,
        })
        .await
        .map_err(|e| Error::Config(format!("starting the TURN relay: {e}")))?;
        let server = Arc::new(server);
        let _ = gate.server.set(Arc::downgrade(&server));
        let public_addr = SocketAddr::new(public_ip, local_addr.port());
        tracing::info!(%local_addr, %public_addr, ports = ?config.turn_relay_ports.0, "TURN relay listening (udp)");
        Ok(Relay { server, local_addr, public_addr })
    }

    /// The UDP address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `turn:IP:PORT?transport=udp`, for clients.
    pub fn turn_url(&self) -> String {
        format!("turn:{}?transport=udp", self.public_addr)
    }

    /// `stun:IP:PORT` (the relay answers Binding requests too).
    pub fn stun_url(&self) -> String {
        format!("stun:{}", self.public_addr)
    }

    /// Ends every allocation and stops reading.
    pub async fn close(&self) {
        if let Err(e) = self.server.close().await {
            tracing::warn!(error = %e, "closing the TURN relay");
        }
    }
}

/// Which peers the relay may exchange datagrams with.
pub struct PeerPolicy {
    /// `--turn-allowed-peer-range`: allowed even if special.
    allowed: Vec<ipnet::IpNet>,
    /// The relay's own relayed addresses (public IP, relay ports) are always allowed.
    relay_ip: IpAddr,
    relay_ports: RangeInclusive<u16>,
}

impl PeerPolicy {
    pub fn permits(&self, peer: SocketAddr) -> bool {
        let ip = peer.ip().to_canonical();
        if self.allowed.iter().any(|range| range.contains(&ip)) {
            return true;
        }
        if ip == self.relay_ip.to_canonical() && self.relay_ports.contains(&peer.port()) {
            return true;
        }
        !is_special(ip)
    }
}

/// Addresses a relay must not reach on a client's behalf by default: this host, the server's
/// networks, and addresses that are not one host on the internet (coturn's recommended
/// `denied-peer-ip` list).
pub fn is_special(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_special_v4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
            if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let o = v6.octets();
                return is_special_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        }
    }
}

fn is_special_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", unspecified
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || (a == 100 && (b & 0xc0) == 64) // shared address space (CGNAT) 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || a >= 240 // reserved
}

/// The TURN REST API credential check: the key for `username` is derived from the HMAC the
/// server handed out ([`crate::ice::credential`]); a user name not in that form is refused.
struct Auth {
    secret: Vec<u8>,
}

impl AuthHandler for Auth {
    fn auth_handle(&self, username: &str, realm: &str, _src: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        if crate::ice::parse_username(username).is_none() {
            return Err(turn::Error::Other(format!("not a TURN REST user name: {username:?}")));
        }
        let password = crate::ice::credential(&self.secret, username);
        Ok(turn::auth::generate_auth_key(username, realm, &password))
    }
}

/// The listening socket, screening requests before the `turn` server handles them.
struct Gate {
    socket: UdpSocket,
    policy: Arc<PeerPolicy>,
    /// Allocations per user (0: no limit).
    quota: u32,
    /// To count a user's allocations; set right after the server starts.
    server: OnceLock<Weak<Server>>,
    /// Unauthenticated requests passed on, per second ([`CHALLENGES_PER_SECOND`]).
    challenges: Option<Mutex<Bucket>>,
}

/// How many unauthenticated requests per second the gate lets through to the server. The `turn`
/// 0.17 server answers each with a fresh nonce that it keeps until that nonce is used, which a
/// flood would never do: this bounds how fast that memory can grow (a client needs one challenge
/// per allocation).
const CHALLENGES_PER_SECOND: u64 = 100;

/// What the gate does with one datagram.
enum Verdict {
    Pass,
    /// Answer with this error response instead of passing it on.
    Refuse(Vec<u8>),
    Drop,
}

impl Gate {
    async fn screen(&self, datagram: &[u8], from: SocketAddr) -> Verdict {
        if !stun::message::is_message(datagram) {
            return Verdict::Pass; // ChannelData: its peer was checked when the channel was bound
        }
        let mut m = Message { raw: datagram.to_vec(), ..Message::default() };
        if m.decode().is_err() {
            return Verdict::Pass; // the server answers malformed messages itself
        }
        let method = m.typ.method;
        if m.typ.class == CLASS_REQUEST && method != METHOD_BINDING && !m.contains(ATTR_MESSAGE_INTEGRITY) {
            // A challenge (401 with a nonce the server remembers): rationed.
            return if admit(&self.challenges, 1) { Verdict::Pass } else { Verdict::Drop };
        }
        if m.typ.class == CLASS_REQUEST && (method == METHOD_CREATE_PERMISSION || method == METHOD_CHANNEL_BIND) {
            if let Some(peer) = self.refused_peer(&m) {
                // Only the holder of an allocation gets an answer (the server ignores the others
                // too): an error sent to a forged source would make the relay a reflector.
                if !self.has_allocation(from).await {
                    return Verdict::Drop;
                }
                tracing::debug!(%from, %peer, "TURN: refused a permission for a peer not allowed");
                return refuse(&m, CODE_FORBIDDEN, "peer address not allowed");
            }
        } else if m.typ.class == CLASS_INDICATION && method == METHOD_SEND {
            if self.refused_peer(&m).is_some() {
                return Verdict::Drop;
            }
        } else if m.typ.class == CLASS_REQUEST && method == METHOD_ALLOCATE {
            // Authenticated (the others were rationed above), so larger than the error answered
            // here: the answer amplifies nothing.
            let Ok(username) = TextAttribute::get_from_as(&m, ATTR_USERNAME) else { return Verdict::Pass };
            let Some((expiry, user)) = crate::ice::parse_username(&username.text) else {
                return Verdict::Pass; // the server's credential check refuses it
            };
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            if expiry < now {
                tracing::debug!(%from, username = %username.text, "TURN: refused an expired credential");
                return refuse(&m, CODE_UNAUTHORIZED, "credential expired");
            }
            if self.quota > 0 && self.allocations_of(user, from).await >= self.quota as usize {
                tracing::info!(%from, user, quota = self.quota, "TURN: allocation quota reached");
                return refuse(&m, CODE_ALLOC_QUOTA_REACHED, "allocation quota reached");
            }
        }
        Verdict::Pass
    }

    /// The first XOR-PEER-ADDRESS of `m` the policy refuses.
    fn refused_peer(&self, m: &Message) -> Option<SocketAddr> {
        for attribute in m.attributes.0.iter().filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS) {
            // Decode each one on its own (a request may name several peers).
            let one = Message {
                transaction_id: m.transaction_id,
                attributes: Attributes(vec![attribute.clone()]),
                ..Message::default()
            };
            let mut peer = XorMappedAddress::default();
            if peer.get_from_as(&one, ATTR_XOR_PEER_ADDRESS).is_ok() {
                let peer = SocketAddr::new(peer.ip, peer.port);
                if !self.policy.permits(peer) {
                    return Some(peer);
                }
            }
        }
        None
    }

    /// Whether `from` holds an allocation on this relay.
    async fn has_allocation(&self, from: SocketAddr) -> bool {
        let (Some(server), Ok(local)) = (self.server.get().and_then(Weak::upgrade), self.socket.local_addr()) else {
            return false;
        };
        let five_tuple = FiveTuple { protocol: PROTO_UDP, src_addr: from, dst_addr: local };
        server.get_allocations_info(Some(vec![five_tuple])).await.is_ok_and(|infos| !infos.is_empty())
    }

    /// How many allocations `user` holds, other than one from `from` (a retransmitted Allocate).
    async fn allocations_of(&self, user: &str, from: SocketAddr) -> usize {
        let Some(server) = self.server.get().and_then(Weak::upgrade) else { return 0 };
        let infos: HashMap<_, _> = server.get_allocations_info(None).await.unwrap_or_default();
        infos
            .values()
            .filter(|info| info.five_tuple.src_addr != from)
            .filter(|info| crate::ice::parse_username(&info.username).is_some_and(|(_, u)| u == user))
            .count()
    }
}

/// An error response to request `m`.
fn refuse(m: &Message, code: ErrorCode, reason: &str) -> Verdict {
    let mut response = Message::new();
    let setters: [Box<dyn Setter>; 3] = [
        Box::new(Message { transaction_id: m.transaction_id, ..Message::default() }),
        Box::new(MessageType::new(m.typ.method, CLASS_ERROR_RESPONSE)),
        Box::new(ErrorCodeAttribute { code, reason: reason.as_bytes().to_vec() }),
    ];
    match response.build(&setters) {
        Ok(()) => Verdict::Refuse(response.raw),
        Err(_) => Verdict::Drop,
    }
}

/// Errors of an unconnected UDP socket that concern one datagram, not the socket.
fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionReset | Interrupted | WouldBlock)
}

#[async_trait]
impl Conn for Gate {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = match self.socket.recv_from(buf).await {
                Ok(received) => received,
                // An error ends the server's read loop: only give up on the socket itself.
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            match self.screen(&buf[..n], from).await {
                Verdict::Pass => return Ok((n, from)),
                Verdict::Refuse(response) => {
                    let _ = self.socket.send_to(&response, from).await;
                }
                Verdict::Drop => {}
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    /// Every allocation "closes" the listening socket when it ends: this must not close it (the
    /// socket closes when the server drops it).
    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

/// Binds each allocation's relayed socket on a free port of `--turn-relay-ports`.
struct RelayPorts {
    bind_ip: IpAddr,
    public_ip: IpAddr,
    ports: RangeInclusive<u16>,
    policy: Arc<PeerPolicy>,
    max_bps: u64,
}

#[async_trait]
impl RelayAddressGenerator for RelayPorts {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn Conn + Send + Sync>, SocketAddr), turn::Error> {
        if use_ipv4 != self.bind_ip.is_ipv4() {
            return Err(turn::Error::Other("the relay serves one address family".into()));
        }
        let (first, last) = (*self.ports.start(), *self.ports.end());
        let count = u32::from(last - first) + 1;
        let candidates: Box<dyn Iterator<Item = u16> + Send> = if requested_port != 0 {
            Box::new(std::iter::once(requested_port).filter(|p| self.ports.contains(p)))
        } else {
            // From a random port on, wrapping: a busy port is skipped, not retried.
            let start = rand::random::<u32>() % count;
            Box::new((0..count.min(1024)).map(move |i| first + ((start + i) % count) as u16))
        };
        for port in candidates {
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.bind_ip, port)).await {
                let relayed = RelaySocket {
                    socket,
                    policy: self.policy.clone(),
                    to_peers: Bucket::new(self.max_bps),
                    from_peers: Bucket::new(self.max_bps),
                };
                return Ok((Arc::new(relayed), SocketAddr::new(self.public_ip, port)));
            }
        }
        tracing::warn!(ports = ?self.ports, "TURN: no free relay port");
        Err(turn::Error::Other("no free relay port".into()))
    }
}

/// One allocation's relayed socket: only allowed peers, at most `max_bps` each way.
struct RelaySocket {
    socket: UdpSocket,
    policy: Arc<PeerPolicy>,
    to_peers: Option<Mutex<Bucket>>,
    from_peers: Option<Mutex<Bucket>>,
}

/// A token bucket of bytes: `rate` per second, holding at most one second's worth.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// `None` for no cap.
    fn new(bytes_per_second: u64) -> Option<Mutex<Bucket>> {
        (bytes_per_second > 0).then(|| {
            let rate = bytes_per_second as f64;
            Mutex::new(Bucket { rate, tokens: rate, last: Instant::now() })
        })
    }
}

/// Whether `bytes` fit in the bucket now (and takes them).
fn admit(bucket: &Option<Mutex<Bucket>>, bytes: usize) -> bool {
    let Some(bucket) = bucket else { return true };
    let Ok(mut b) = bucket.lock() else { return true };
    let now = Instant::now();
    b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * b.rate).min(b.rate);
    b.last = now;
    if b.tokens >= bytes as f64 {
        b.tokens -= bytes as f64;
        true
    } else {
        false
    }
}

#[async_trait]
impl Conn for RelaySocket {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = match self.socket.recv_from(buf).await {
                Ok(received) => received,
                Err(e) if is_transient(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            if self.policy.permits(from) && admit(&self.from_peers, n) {
                return Ok((n, from));
            }
        }
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        Ok(self.socket.send(buf).await?)
    }

    /// A datagram to a refused peer, or over the cap, is dropped as a congested link would drop
    /// it (reported sent, so that the server does not log each one as an error).
    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        if !self.policy.permits(target) || !admit(&self.to_peers, buf.len()) {
            return Ok(buf.len());
        }
        match self.socket.send_to(buf, target).await {
            Err(e) if is_transient(&e) => Ok(buf.len()),
            other => Ok(other?),
        }
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> PeerPolicy {
        PeerPolicy {
            allowed: allowed.iter().map(|s| crate::config::parse_peer_range(s).unwrap()).collect(),
            relay_ip: "203.0.113.7".parse().unwrap(),
            relay_ports: 50000..=50010,
        }
    }

    #[test]
    fn special_peers_are_refused_unless_allowed() {
        let p = policy(&[]);
        for peer in [
            "127.0.0.1:9",
            "10.1.2.3:9",
            "172.16.0.1:9",
            "192.168.1.1:9",
            "169.254.0.1:9",
            "0.0.0.0:9",
            "224.0.0.1:9",
            "255.255.255.255:9",
            "100.64.0.1:9",
            "[::1]:9",
            "[::]:9",
            "[fe80::1]:9",
            "[fd00::1]:9",
            "[ff02::1]:9",
            "[::ffff:127.0.0.1]:9",
            "[::ffff:10.0.0.1]:9",
            "[64:ff9b::a00:1]:9",
        ] {
            assert!(!p.permits(peer.parse().unwrap()), "{peer} must be refused");
        }
        for peer in ["8.8.8.8:53", "203.0.113.9:9", "[2001:db8::1]:9", "[::ffff:8.8.8.8]:9"] {
            assert!(p.permits(peer.parse().unwrap()), "{peer} must be allowed");
        }
        let lan = policy(&["10.0.0.0/8", "127.0.0.1"]);
        assert!(lan.permits("10.1.2.3:9".parse().unwrap()));
        assert!(lan.permits("127.0.0.1:9".parse().unwrap()));
        assert!(!lan.permits("127.0.0.2:9".parse().unwrap()));
        assert!(!lan.permits("192.168.1.1:9".parse().unwrap()));
    }

    #[test]
    fn the_relays_own_relayed_addresses_are_allowed() {
        let mut p = policy(&[]);
        p.relay_ip = "10.0.0.1".parse().unwrap();
        assert!(p.permits("10.0.0.1:50005".parse().unwrap()));
        assert!(!p.permits("10.0.0.1:3478".parse().unwrap()));
    }

    #[test]
    fn the_bucket_caps_bytes_per_second() {
        let bucket = Bucket::new(1000);
        assert!(admit(&bucket, 600));
        assert!(!admit(&bucket, 600));
        assert!(admit(&bucket, 400));
        assert!(admit(&None, usize::MAX));
    }
}
