//! Calls across networks (issue 13): `GET /api/calls/ice-servers` and the bundled TURN relay,
//! driven by the `turn` crate's client over real UDP. Everything stays on 127.0.0.1: the relay
//! refuses loopback peers by default, so the tests that relay allow 127.0.0.1 explicitly, as a LAN
//! deployment allows its own range.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::UdpSocket;
use webrtc_util::Conn;

use crate::support::*;

/// Relayed ports for the tests: above Linux's ephemeral range (32768–60999), so that a test peer's
/// socket is never mistaken for one of the relay's own relayed addresses.
const RELAY_PORTS: &str = "61000-61999";

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// base64(HMAC-SHA1(secret, username)), with RustCrypto (the server uses ring).
fn hmac_sha1(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A server with the bundled relay on 127.0.0.1 (a free port), `adjust` applied on top.
async fn start_with_relay(adjust: impl FnOnce(&mut confab_server::Config)) -> TestServer {
    start_server_with(|config| {
        config.turn_listen = Some("127.0.0.1:0".parse().unwrap());
        config.turn_relay_ports = RELAY_PORTS.parse().unwrap();
        adjust(config);
    })
    .await
}

/// The TURN server (the one with credentials) of an `IceServers` answer.
fn turn_server(body: &Value) -> (SocketAddr, String, String) {
    let turn = body["iceServers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["urls"][0].as_str().unwrap().starts_with("turn:"))
        .unwrap_or_else(|| panic!("no TURN server in {body}"));
    let url = turn["urls"][0].as_str().unwrap();
    let addr = url.trim_start_matches("turn:").split('?').next().unwrap().parse().unwrap();
    (addr, turn["username"].as_str().unwrap().to_owned(), turn["credential"].as_str().unwrap().to_owned())
}

/// A TURN client on its own 127.0.0.1 socket.
async fn turn_client(relay: SocketAddr, username: &str, password: &str) -> turn::client::Client {
    let conn = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let client = turn::client::Client::new(turn::client::ClientConfig {
        stun_serv_addr: String::new(),
        turn_serv_addr: relay.to_string(),
        username: username.to_owned(),
        password: password.to_owned(),
        realm: String::new(),
        software: String::new(),
        rto_in_ms: 0,
        conn,
        vnet: None,
    })
    .await
    .unwrap();
    client.listen().await.unwrap();
    client
}

#[tokio::test]
async fn ice_servers_need_a_token() {
    let server = start_server().await;
    let (status, body) = server.api().call(Method::GET, "/api/calls/ice-servers", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = server.api().get("/api/calls/ice-servers", "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_relay_there_are_no_turn_servers() {
    let server = start_server().await;
    let alice = server.api().register("ice_none").await;
    let (status, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"iceServers": [], "ttlSeconds": 3600}));

    // STUN alone: no credentials.
    let server = start_server_with(|c| c.stun_urls = vec!["stun:stun.example.org:3478".into()]).await;
    let alice = server.api().register("ice_stun").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    assert_eq!(body, json!({"iceServers": [{"urls": ["stun:stun.example.org:3478"]}], "ttlSeconds": 3600}));
}

#[tokio::test]
async fn an_external_relay_gets_turn_rest_api_credentials() {
    let urls = vec!["turn:turn.example.org:3478".to_owned(), "turn:turn.example.org:3478?transport=tcp".to_owned()];
    let server = start_server_with(|c| {
        c.turn_urls = urls.clone();
        c.turn_secret = Some("coturn-static-auth-secret".parse().unwrap());
        c.turn_ttl_secs = 600;
    })
    .await;
    let alice = server.api().register("ice_ext").await;
    let before = now_secs();
    let (status, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ttlSeconds"], 600);
    let servers = body["iceServers"].as_array().unwrap();
    assert_eq!(servers.len(), 1, "{body}");
    assert_eq!(servers[0]["urls"], json!(urls));
    let username = servers[0]["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, alice.id.to_string());
    let expiry: u64 = expiry.parse().unwrap();
    assert!((before + 600..=now_secs() + 600).contains(&expiry), "expiry {expiry}, now {before}");
    assert_eq!(servers[0]["credential"], hmac_sha1("coturn-static-auth-secret", username));
}

#[tokio::test]
async fn the_bundled_relay_allocates_with_fresh_credentials_and_refuses_expired_ones() {
    let server = start_with_relay(|_| {}).await;
    let alice = server.api().register("relay_a").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    let (relay, username, credential) = turn_server(&body);
    assert_eq!(relay.ip().to_string(), "127.0.0.1");
    // The relay is a STUN server too.
    assert!(body["iceServers"][0]["urls"][0].as_str().unwrap().starts_with("stun:127.0.0.1:"), "{body}");
    // The secret was generated and kept in the data directory; the credential is its HMAC.
    let secret = std::fs::read_to_string(server.storage.dir.path().join("turn_secret")).unwrap();
    assert_eq!(credential, hmac_sha1(&secret, &username));

    let client = turn_client(relay, &username, &credential).await;
    let allocation = client.allocate().await.expect("a fresh credential allocates");
    let relayed = allocation.local_addr().unwrap();
    assert_eq!(relayed.ip().to_string(), "127.0.0.1");
    assert!((61000..=61999).contains(&relayed.port()), "{relayed}");
    client.close().await.unwrap();

    // Expired ten seconds ago, correctly signed: refused with 401.
    let expired = format!("{}:{}", now_secs() - 10, alice.id);
    let client = turn_client(relay, &expired, &hmac_sha1(&secret, &expired)).await;
    let refused = client.allocate().await.err().expect("an expired credential is refused").to_string();
    assert!(refused.contains("401"), "{refused}");
    client.close().await.unwrap();

    // A wrong password, or a user name not in the expiry:user form, is refused too.
    for (user, password) in [(username.as_str(), "wrong"), ("alice", hmac_sha1(&secret, "alice").as_str())] {
        let client = turn_client(relay, user, password).await;
        assert!(client.allocate().await.is_err(), "{user}/{password} must be refused");
        client.close().await.unwrap();
    }
    server.stop().await;
}

/// Sends through a fresh allocation to `peer`; returns the client (kept alive) and the result.
async fn relay_to(
    relay: SocketAddr,
    username: &str,
    credential: &str,
    peer: SocketAddr,
) -> (turn::client::Client, impl Conn, Result<usize, webrtc_util::Error>) {
    let client = turn_client(relay, username, credential).await;
    let allocation = client.allocate().await.unwrap();
    // The client asks for a permission (CreatePermission) before the first Send.
    let sent = allocation.send_to(b"hello peer", peer).await;
    (client, allocation, sent)
}

#[tokio::test]
async fn the_relay_refuses_loopback_peers_unless_their_range_is_allowed() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut buf = [0u8; 1500];

    // Default policy: 127.0.0.1 is refused (403 to CreatePermission) and nothing reaches it.
    let server = start_with_relay(|_| {}).await;
    let alice = server.api().register("peer_deny").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    let (relay, username, credential) = turn_server(&body);
    let (client, _allocation, sent) = relay_to(relay, &username, &credential, peer_addr).await;
    let refused = sent.expect_err("a permission for 127.0.0.1 is refused").to_string();
    assert!(refused.contains("403"), "{refused}");
    let got = tokio::time::timeout(Duration::from_millis(500), peer.recv_from(&mut buf)).await;
    assert!(got.is_err(), "the loopback peer received {got:?}");
    client.close().await.unwrap();
    server.stop().await;

    // 127.0.0.1 allowed explicitly: the datagram arrives from the relayed address, and the answer comes back.
    let server = start_with_relay(|c| {
        c.turn_allowed_peer_ranges = vec![confab_server::config::parse_peer_range("127.0.0.1/32").unwrap()]
    })
    .await;
    let alice = server.api().register("peer_allow").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    let (relay, username, credential) = turn_server(&body);
    let (client, allocation, sent) = relay_to(relay, &username, &credential, peer_addr).await;
    sent.expect("an allowed peer");
    let (n, from) = tokio::time::timeout(WAIT, peer.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"hello peer");
    assert_eq!(from, allocation.local_addr().unwrap(), "relayed from the allocation's address");
    peer.send_to(b"hello client", from).await.unwrap();
    let (n, from) = tokio::time::timeout(WAIT, allocation.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&b"hello client"[..], peer_addr));
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_user_holds_at_most_the_quota_of_allocations() {
    let server = start_with_relay(|c| c.turn_user_quota = 2).await;
    let api = server.api();
    let (alice, bob) = (api.register("quota_a").await, api.register("quota_b").await);
    let (_, body) = api.get("/api/calls/ice-servers", &alice.token).await;
    let (relay, username, credential) = turn_server(&body);
    let mut kept = Vec::new();
    for _ in 0..2 {
        let client = turn_client(relay, &username, &credential).await;
        kept.push((client.allocate().await.expect("within the quota"), client));
    }
    // Fresh credentials do not reset it: the quota is per user.
    let (_, body) = api.get("/api/calls/ice-servers", &alice.token).await;
    let (_, username2, credential2) = turn_server(&body);
    let client = turn_client(relay, &username2, &credential2).await;
    let refused = client.allocate().await.err().expect("beyond the quota").to_string();
    assert!(refused.contains("486"), "{refused}");
    // Another user is not affected.
    let (_, body) = api.get("/api/calls/ice-servers", &bob.token).await;
    let (_, bob_name, bob_credential) = turn_server(&body);
    let bob_client = turn_client(relay, &bob_name, &bob_credential).await;
    bob_client.allocate().await.expect("bob's own quota");
    server.stop().await;
}

#[tokio::test]
async fn an_allocation_is_capped_in_bytes_per_second() {
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let server = start_with_relay(|c| {
        c.turn_allowed_peer_ranges = vec![confab_server::config::parse_peer_range("127.0.0.1").unwrap()];
        c.turn_max_bps = 10_000;
    })
    .await;
    let alice = server.api().register("bps_a").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    let (relay, username, credential) = turn_server(&body);
    let client = turn_client(relay, &username, &credential).await;
    let allocation = client.allocate().await.unwrap();
    // 100 kB at once: the bucket holds one second's worth (10 kB) and refills at 10 kB/s; the rest
    // is dropped.
    let datagram = [7u8; 1000];
    let started = std::time::Instant::now();
    for _ in 0..100 {
        allocation.send_to(&datagram, peer_addr).await.unwrap();
    }
    let mut received = 0;
    let mut buf = [0u8; 1500];
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(300), peer.recv_from(&mut buf)).await {
        received += n;
    }
    let allowed = 10_000 + (10_000.0 * started.elapsed().as_secs_f64()) as usize;
    assert!((5_000..=allowed).contains(&received), "received {received} bytes, at most {allowed} allowed");
    assert!(received < 50_000, "received {received} of 100,000 bytes");
    client.close().await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn two_relayed_parties_reach_each_other_with_the_default_policy() {
    // Both sides of a call behind NATs, both relayed by this server: each allocation's peer is the
    // other's relayed address, on the relay itself (127.0.0.1 here, refused as a peer otherwise).
    let server = start_with_relay(|_| {}).await;
    let api = server.api();
    let mut sides = Vec::new();
    for name in ["both_a", "both_b"] {
        let account = api.register(name).await;
        let (_, body) = api.get("/api/calls/ice-servers", &account.token).await;
        let (relay, username, credential) = turn_server(&body);
        let client = turn_client(relay, &username, &credential).await;
        let allocation = client.allocate().await.unwrap();
        sides.push((client, allocation));
    }
    let (a, b) = (&sides[0].1, &sides[1].1);
    let (a_relayed, b_relayed) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut buf = [0u8; 1500];
    // Bob permits Alice's relayed address (as ICE does for a remote relay candidate), then Alice sends.
    b.send_to(b"permit", a_relayed).await.unwrap();
    a.send_to(b"hello bob", b_relayed).await.unwrap();
    let (n, from) = tokio::time::timeout(WAIT, b.recv_from(&mut buf)).await.unwrap().unwrap();
    assert_eq!((&buf[..n], from), (&b"hello bob"[..], a_relayed));
    b.send_to(b"hello alice", a_relayed).await.unwrap();
    loop {
        let (n, from) = tokio::time::timeout(WAIT, a.recv_from(&mut buf)).await.unwrap().unwrap();
        assert_eq!(from, b_relayed);
        // "permit" reaches Alice too when her permission was in place before it arrived.
        if &buf[..n] != b"permit" {
            assert_eq!(&buf[..n], b"hello alice");
            break;
        }
    }
    for (client, _) in &sides {
        client.close().await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn a_forged_permission_request_gets_no_answer() {
    // A CreatePermission for a refused peer from an address that holds no allocation (a forged
    // source, say) is dropped: answering it would make the relay reflect traffic at that address.
    use stun::message::{CLASS_REQUEST, METHOD_CREATE_PERMISSION, Message, MessageType, Setter};
    let server = start_with_relay(|_| {}).await;
    let alice = server.api().register("forged_a").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    let (relay, _, _) = turn_server(&body);
    let mut request = Message::new();
    let setters: Vec<Box<dyn Setter>> = vec![
        Box::new(stun::agent::TransactionId::new()),
        Box::new(MessageType::new(METHOD_CREATE_PERMISSION, CLASS_REQUEST)),
        Box::new(turn::proto::peeraddr::PeerAddress { ip: "127.0.0.1".parse().unwrap(), port: 9 }),
        // Any integrity: the gate answers requests that carry one, and this source has no allocation.
        Box::new(stun::integrity::MessageIntegrity::new_short_term_integrity("forged".into())),
    ];
    request.build(&setters).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&request.raw, relay).await.unwrap();
    let mut buf = [0u8; 1500];
    let answer = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await;
    assert!(answer.is_err(), "answered {answer:?}");
    // The relay still serves.
    let binding = turn_client(relay, "", "").await.send_binding_request_to(&relay.to_string()).await.unwrap();
    assert_eq!(binding.ip().to_string(), "127.0.0.1");
    server.stop().await;
}

#[tokio::test]
async fn unauthenticated_requests_are_rationed() {
    // Each challenge makes the `turn` server keep a nonce: a flood gets about 100 per second.
    use stun::message::{CLASS_REQUEST, METHOD_ALLOCATE, Message, MessageType, Setter};
    let server = start_with_relay(|_| {}).await;
    let alice = server.api().register("flood_a").await;
    let (_, body) = server.api().get("/api/calls/ice-servers", &alice.token).await;
    let (relay, _, _) = turn_server(&body);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..500 {
        let mut request = Message::new();
        let setters: Vec<Box<dyn Setter>> = vec![
            Box::new(stun::agent::TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
            Box::new(turn::proto::reqtrans::RequestedTransport { protocol: turn::proto::PROTO_UDP }),
        ];
        request.build(&setters).unwrap();
        socket.send_to(&request.raw, relay).await.unwrap();
    }
    let mut answers = 0;
    let mut buf = [0u8; 1500];
    while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await {
        answers += 1;
    }
    let allowed = 100 + (100.0 * started.elapsed().as_secs_f64()) as usize;
    assert!((50..=allowed).contains(&answers), "{answers} challenges answered, at most {allowed} allowed");
    server.stop().await;
}
