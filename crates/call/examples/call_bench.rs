//! Measures a call's setup time and end-to-end audio latency over loopback, through the real
//! pipeline (Opus, WebRTC, jitter buffer, decoder).
//!
//! `cargo run -p confab-call --release --example call_bench [-- --setups N] [-- --setup-only] [-- --relay]`
//!
//! - setup (20 calls unless `--setups N`): from creating the offer to both sides connected, and to
//!   the first audio frame decoded on the callee (signaling passed in-process, so this is the
//!   engine's share of call setup); `--setup-only` stops after it. With `--relay` the setups go
//!   through an embedded TURN server (the webrtc-rs project's `turn` crate, the one confab-server
//!   bundles) with peers that may use only relayed candidates (`CallConfig::relay_only`), so every
//!   packet goes peer → relay → peer; loopback has no network delay, so what is left is the engine's
//!   own waiting (ICE pacing, the wait before a relayed pair is taken, how soon packets leave
//!   through the relay). Only the setups run then;
//! - CPU: an audio call and a 640x480 video call, 10 s each, process CPU halved (both sides run
//!   here);
//! - latency: tone bursts from the caller; from the moment the frame holding a burst's onset is
//!   handed to the encoder to the moment the callee's sink gets a loud decoded frame.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_call::audio::FRAME_SAMPLES;
use confab_call::{
    AudioSink, AudioSource, CallConfig, CallEvent, CallMedia, CallPeer, CallState, IceServer, PatternSource, SineSource,
};
use turn::auth::{AuthHandler, generate_auth_key};
use turn::relay::relay_static::RelayAddressGeneratorStatic;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::vnet::net::Net;

/// Setup runs, unless `--setups N`.
const SETUPS: usize = 20;
/// Tone bursts in the latency run, one a second.
const BURSTS: usize = 10;
/// The embedded relay's password, for every user name (`--relay`).
const RELAY_PASSWORD: &str = "bench";

struct StaticAuth;

impl AuthHandler for StaticAuth {
    fn auth_handle(&self, username: &str, realm: &str, _src: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        Ok(generate_auth_key(username, realm, RELAY_PASSWORD))
    }
}

/// A TURN server on 127.0.0.1 relaying from 127.0.0.1 (`--relay`).
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

/// Silence, then (once armed) a 1 kHz burst of 200 ms every second; remembers when each burst
/// began.
struct BurstSource {
    /// Paces the frames (its samples are used as the tone).
    tone: SineSource,
    /// Set by the bench once the call is connected: bursts before would not be sent.
    armed: Arc<AtomicBool>,
    /// Frames produced since armed.
    frame: usize,
    /// When the first frame of each burst was handed over.
    onsets: Arc<Mutex<Vec<Instant>>>,
}

impl AudioSource for BurstSource {
    fn read_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) -> confab_call::Result<()> {
        self.tone.read_frame(frame)?;
        if !self.armed.load(Ordering::Relaxed) {
            frame.fill(0);
            return Ok(());
        }
        let in_second = self.frame % 50;
        self.frame += 1;
        if in_second >= 10 {
            frame.fill(0);
        } else if in_second == 0 {
            self.onsets.lock().unwrap().push(Instant::now());
        }
        Ok(())
    }
}

/// Remembers when the first decoded frame came, and when each burst was heard.
#[derive(Clone, Default)]
struct Detector {
    first_frame: Arc<Mutex<Option<Instant>>>,
    heard: Arc<Mutex<Vec<Instant>>>,
    loud: Arc<Mutex<bool>>,
}

impl AudioSink for Detector {
    fn play(&mut self, frame: &[i16]) {
        let now = Instant::now();
        self.first_frame.lock().unwrap().get_or_insert(now);
        let rms = (frame.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / frame.len() as f64).sqrt();
        let mut loud = self.loud.lock().unwrap();
        if !*loud && rms > 1000.0 {
            self.heard.lock().unwrap().push(now);
            *loud = true;
        } else if *loud && rms < 100.0 {
            *loud = false;
        }
    }
}

/// A connected call between two peers in this process, with the candidates passed by hand; also
/// how many of the candidates were relayed ones.
async fn call(
    config: &CallConfig,
    caller: CallMedia,
    callee: CallMedia,
) -> (CallPeer, CallPeer, Instant, Duration, usize) {
    let (a, mut a_events) = CallPeer::new(config.clone(), caller).await.unwrap();
    let (b, mut b_events) = CallPeer::new(config.clone(), callee).await.unwrap();
    let started = Instant::now();
    let offer = a.create_offer().await.unwrap();
    let answer = b.accept_offer(offer).await.unwrap();
    a.set_answer(answer).await.unwrap();
    let is_relay = |c: &serde_json::Value| usize::from(c["candidate"].as_str().unwrap_or("").contains("typ relay"));
    let mut relayed = 0;
    loop {
        tokio::select! {
            Some(CallEvent::LocalCandidate(c)) = a_events.recv() => {
                relayed += is_relay(&c);
                b.add_remote_candidate(c).await.unwrap()
            }
            Some(CallEvent::LocalCandidate(c)) = b_events.recv() => {
                relayed += is_relay(&c);
                a.add_remote_candidate(c).await.unwrap()
            }
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        if a.state() == CallState::Connected && b.state() == CallState::Connected {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "not connected after 20 s");
    }
    let connected = started.elapsed();
    (a, b, started, connected, relayed)
}

fn stats(label: &str, mut values: Vec<Duration>) {
    values.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
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
    let relay = if args.iter().any(|a| a == "--relay") { Some(relay().await) } else { None };
    let (config, label) = match &relay {
        Some((_, address)) => (
            CallConfig {
                ice_servers: vec![IceServer {
                    urls: vec![format!("turn:{address}?transport=udp")],
                    username: "bench".into(),
                    credential: RELAY_PASSWORD.into(),
                }],
                relay_only: true,
                ..CallConfig::loopback_only()
            },
            "relayed: ",
        ),
        None => (CallConfig::loopback_only(), ""),
    };
    let (mut connects, mut first_audio) = (Vec::new(), Vec::new());
    for i in 0..setups {
        let detector = Detector::default();
        let (a, b, started, connected, relayed) = call(
            &config,
            CallMedia { audio_source: Some(Box::new(SineSource::new(440.0))), ..CallMedia::default() },
            CallMedia { audio_sink: Some(Box::new(detector.clone())), ..CallMedia::default() },
        )
        .await;
        let first = loop {
            if let Some(t) = *detector.first_frame.lock().unwrap() {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        if relay.is_some() {
            assert!(relayed >= 2, "both sides offered relayed candidates ({relayed})");
        }
        println!("setup {i}: connected {:.1} ms, first audio {:.1} ms", ms(connected), ms(first - started));
        connects.push(connected);
        first_audio.push(first - started);
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
    stats(&format!("{label}offer -> both connected"), connects);
    stats(&format!("{label}offer -> first audio frame decoded"), first_audio);
    if let Some((server, _)) = relay {
        server.close().await.unwrap();
        return;
    }
    if args.iter().any(|a| a == "--setup-only") {
        return;
    }

    let onsets = Arc::new(Mutex::new(Vec::new()));
    let detector = Detector::default();
    let armed = Arc::new(AtomicBool::new(false));
    let source = BurstSource { tone: SineSource::new(1000.0), armed: armed.clone(), frame: 0, onsets: onsets.clone() };
    let (a, b, _, _, _) = call(
        &config,
        CallMedia { audio_source: Some(Box::new(source)), ..CallMedia::default() },
        CallMedia { audio_sink: Some(Box::new(detector.clone())), ..CallMedia::default() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    armed.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(BURSTS as u64 * 1000 - 500)).await;
    let (onsets, heard) = (onsets.lock().unwrap().clone(), detector.heard.lock().unwrap().clone());
    assert_eq!(onsets.len(), heard.len(), "every burst heard once");
    let latencies: Vec<Duration> = onsets.iter().zip(&heard).map(|(sent, heard)| *heard - *sent).collect();
    stats("tone onset -> detected at the receiver", latencies);
    println!("callee stats: {:?}", b.stats());
    a.close().await.unwrap();
    b.close().await.unwrap();

    // CPU: both sides live in this process and do the same work, so one side is half the total.
    for (label, video) in [("audio call", false), ("640x480 15 fps video call (with audio)", true)] {
        let media = |tone: f64| CallMedia {
            audio_source: Some(Box::new(SineSource::new(tone))),
            audio_sink: Some(Box::new(Detector::default())),
            video_source: video.then(|| Box::new(PatternSource::new(640, 480, 15)) as _),
            video_sink: video.then(|| Box::new(DiscardFrames) as _),
        };
        let (a, b, _, _, _) = call(&config, media(440.0), media(660.0)).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (cpu_before, wall_before) = (process_cpu(), Instant::now());
        tokio::time::sleep(CPU_WINDOW).await;
        let cpu = process_cpu() - cpu_before;
        let share = cpu.as_secs_f64() / wall_before.elapsed().as_secs_f64() / 2.0 * 100.0;
        println!("{label}: {share:.1} % of one core per side (process CPU over {CPU_WINDOW:?}, halved)");
        println!("  caller stats: {:?}", a.stats());
        a.close().await.unwrap();
        b.close().await.unwrap();
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How long each CPU measurement runs.
const CPU_WINDOW: Duration = Duration::from_secs(10);

struct DiscardFrames;

impl confab_call::VideoSink for DiscardFrames {
    fn frame(&mut self, _: confab_call::VideoFrame) {}
}

/// User + system CPU time of this process so far, from /proc (Linux).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}
