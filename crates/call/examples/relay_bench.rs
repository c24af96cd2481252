//! Measures a relayed call's setup over loopback: an embedded TURN server (the webrtc-rs project's
//! `turn` crate, the one confab-server bundles) and two peers that may use only relayed candidates
//! (`CallConfig::relay_only`), so every packet goes peer → relay → peer. Like `call_bench`: from
//! creating the offer to both sides connected, and to the first audio frame decoded on the callee,
//! signaling passed in-process.
//!
//! `cargo run -p confab-call --example relay_bench [-- --setups N]` (20 calls by default)
//!
//! Loopback has no network delay, so what is left is the engine's own waiting: ICE pacing, the wait
//! before a relayed pair is taken, and how soon the connection's packets leave through the relay.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_call::audio::FRAME_SAMPLES;
use confab_call::{AudioSink, CallConfig, CallEvent, CallMedia, CallPeer, CallState, IceServer, SineSource};
use turn::auth::{AuthHandler, generate_auth_key};
use turn::relay::relay_static::RelayAddressGeneratorStatic;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::vnet::net::Net;

/// Calls, unless `--setups N`.
const SETUPS: usize = 20;
const PASSWORD: &str = "bench";

/// Every user name has the password [`PASSWORD`].
struct StaticAuth;

impl AuthHandler for StaticAuth {
    fn auth_handle(&self, username: &str, realm: &str, _src: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        Ok(generate_auth_key(username, realm, PASSWORD))
    }
}

/// A TURN server on 127.0.0.1 relaying from 127.0.0.1.
async fn relay() -> (Server, SocketAddr) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let server = Server::new(ServerConfig {
        conn_configs: vec![ConnConfig {
            conn: Arc::new(socket),
            relay_addr_generator: Box::new(RelayAddressGeneratorStatic {
                relay_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                address: "127.0.0.1".into(),
                net: Arc::new(Net::new(None)),
            }),
        }],
        realm: "confab".into(),
        auth_handler: Arc::new(StaticAuth),
        channel_bind_timeout: Duration::ZERO,
        alloc_close_notify: None,
    })
    .await
    .unwrap();
    (server, address)
}

/// Remembers when the first decoded frame came.
#[derive(Clone, Default)]
struct FirstFrame(Arc<Mutex<Option<Instant>>>);

impl AudioSink for FirstFrame {
    fn play(&mut self, frame: &[i16]) {
        assert_eq!(frame.len(), FRAME_SAMPLES);
        self.0.lock().unwrap().get_or_insert_with(Instant::now);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn stats(label: &str, mut values: Vec<Duration>) {
    values.sort();
    let n = values.len();
    println!(
        "{label}: median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms (n={n})",
        ms(values[n / 2]),
        ms(values[(n * 9 / 10).min(n - 1)]),
        ms(values[0]),
        ms(values[n - 1]),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let setups = args
        .iter()
        .position(|a| a == "--setups")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--setups N"))
        .unwrap_or(SETUPS);
    let (server, address) = relay().await;
    let config = CallConfig {
        ice_servers: vec![IceServer {
            urls: vec![format!("turn:{address}?transport=udp")],
            username: "bench".into(),
            credential: PASSWORD.into(),
        }],
        relay_only: true,
        ..CallConfig::loopback_only()
    };

    let (mut connects, mut first_audio) = (Vec::new(), Vec::new());
    for i in 0..setups {
        let heard = FirstFrame::default();
        let caller_media = CallMedia { audio_source: Some(Box::new(SineSource::new(440.0))), ..CallMedia::default() };
        let callee_media = CallMedia { audio_sink: Some(Box::new(heard.clone())), ..CallMedia::default() };
        let (a, mut a_events) = CallPeer::new(config.clone(), caller_media).await.unwrap();
        let (b, mut b_events) = CallPeer::new(config.clone(), callee_media).await.unwrap();
        let started = Instant::now();
        let offer = a.create_offer().await.unwrap();
        let answer = b.accept_offer(offer).await.unwrap();
        a.set_answer(answer).await.unwrap();
        let mut relayed = 0;
        let connected = loop {
            tokio::select! {
                Some(CallEvent::LocalCandidate(c)) = a_events.recv() => {
                    relayed += usize::from(c["candidate"].as_str().unwrap_or("").contains("typ relay"));
                    b.add_remote_candidate(c).await.unwrap()
                }
                Some(CallEvent::LocalCandidate(c)) = b_events.recv() => {
                    relayed += usize::from(c["candidate"].as_str().unwrap_or("").contains("typ relay"));
                    a.add_remote_candidate(c).await.unwrap()
                }
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            if a.state() == CallState::Connected && b.state() == CallState::Connected {
                break started.elapsed();
            }
            assert!(started.elapsed() < Duration::from_secs(20), "not connected after 20 s");
        };
        let first = loop {
            if let Some(t) = *heard.0.lock().unwrap() {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert!(relayed >= 2, "both sides offered relayed candidates ({relayed})");
        println!("setup {i}: connected {:.1} ms, first audio {:.1} ms", ms(connected), ms(first - started));
        connects.push(connected);
        first_audio.push(first - started);
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
    stats("relayed: offer -> both connected", connects);
    stats("relayed: offer -> first audio frame decoded", first_audio);
    server.close().await.unwrap();
}
