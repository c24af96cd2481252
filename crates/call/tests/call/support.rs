//! Two real peers over loopback UDP, with signaling passed between them in-process.

pub use confab_call::probe::{candidate_address, dominant_frequency};
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

/// Every `a=candidate` line's address in an SDP JSON value.
pub fn sdp_candidate_addresses(description: &Value) -> Vec<String> {
    let sdp = description["sdp"].as_str().expect("sdp field");
    sdp.lines().filter(|l| l.starts_with("a=candidate:")).map(candidate_address).collect()
}
