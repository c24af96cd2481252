//! Two real peers over loopback UDP, with signaling passed between them in-process.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_call::{CallConfig, CallEvent, CallMedia, CallPeer, CallState};
use serde_json::Value;

/// A connected caller/callee pair and everything that crossed the signaling channel.
pub struct Pair {
    pub caller: Arc<CallPeer>,
    pub callee: Arc<CallPeer>,
    /// The offer and answer as they were sent.
    pub offer: Value,
    pub answer: Value,
    /// Every local candidate either side produced, as sent.
    pub candidates: Arc<Mutex<Vec<Value>>>,
    /// From the offer's creation to both sides connected.
    pub connect_time: Duration,
}

/// Builds both peers (loopback only), runs offer → answer with trickled candidates relayed
/// through channels, and waits until both are connected.
pub async fn connect(caller_media: CallMedia, callee_media: CallMedia) -> Pair {
    let (caller, caller_events) = CallPeer::new(CallConfig::loopback_only(), caller_media).await.expect("caller");
    let (callee, callee_events) = CallPeer::new(CallConfig::loopback_only(), callee_media).await.expect("callee");
    let (caller, callee) = (Arc::new(caller), Arc::new(callee));
    let candidates = Arc::new(Mutex::new(Vec::new()));
    relay(caller_events, callee.clone(), candidates.clone());
    relay(callee_events, caller.clone(), candidates.clone());

    let started = Instant::now();
    let offer = caller.create_offer().await.expect("offer");
    let answer = callee.accept_offer(offer.clone()).await.expect("answer");
    caller.set_answer(answer.clone()).await.expect("set answer");
    for peer in [&caller, &callee] {
        let state = tokio::time::timeout(
            Duration::from_secs(10),
            peer.wait_for_state(|s| s != CallState::New && s != CallState::Connecting),
        )
        .await
        .expect("connected within 10 s");
        assert_eq!(state, CallState::Connected);
    }
    Pair { caller, callee, offer, answer, candidates, connect_time: started.elapsed() }
}

/// Forwards one side's local candidates to the other side, as signaling would.
fn relay(mut events: tokio::sync::mpsc::UnboundedReceiver<CallEvent>, to: Arc<CallPeer>, log: Arc<Mutex<Vec<Value>>>) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let CallEvent::LocalCandidate(candidate) = event {
                log.lock().unwrap().push(candidate.clone());
                if let Err(e) = to.add_remote_candidate(candidate).await {
                    eprintln!("relay: {e}");
                }
            }
        }
    });
}

/// The connection address of an ICE candidate attribute
/// (`candidate:<foundation> <component> <transport> <priority> <address> <port> typ …`).
pub fn candidate_address(candidate: &str) -> String {
    let attribute = candidate.trim_start_matches("a=");
    attribute.split_whitespace().nth(4).unwrap_or_default().to_owned()
}

/// Every `a=candidate` line's address in an SDP JSON value.
pub fn sdp_candidate_addresses(description: &Value) -> Vec<String> {
    let sdp = description["sdp"].as_str().expect("sdp field");
    sdp.lines().filter(|l| l.starts_with("a=candidate:")).map(candidate_address).collect()
}

/// The frequency (Hz) with the most energy between 100 Hz and 2 kHz, by Goertzel: a coarse scan,
/// then a fine one around the best.
pub fn dominant_frequency(samples: &[i16], sample_rate: f64) -> f64 {
    let power = |f: f64| {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * f / sample_rate).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &x in samples {
            let s = f64::from(x) + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    };
    let best = |from: f64, to: f64, step: f64| {
        let mut f = from;
        let (mut best_f, mut best_p) = (from, f64::MIN);
        while f <= to {
            let p = power(f);
            if p > best_p {
                (best_f, best_p) = (f, p);
            }
            f += step;
        }
        best_f
    };
    let coarse = best(100.0, 2000.0, 5.0);
    best(coarse - 5.0, coarse + 5.0, 0.25)
}
