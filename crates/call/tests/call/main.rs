//! Calls over real WebRTC on loopback UDP: two peers in one process, no mocks; signaling is passed
//! between them directly.

mod devices;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_call::audio::{FRAME_SAMPLES, SAMPLE_RATE};
use confab_call::{
    AudioSource, CallMedia, CallState, CandidateType, CollectingSink, PatternSource, SelectedPair, SineSource,
    VideoFrame, VideoSink, read_pattern_number,
};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_both_ways_arrives_at_the_right_pitch() {
    let (caller_hears, callee_hears) = (CollectingSink::new(), CollectingSink::new());
    let pair = connect(
        CallMedia {
            audio_source: Some(Box::new(SineSource::new(440.0))),
            audio_sink: Some(Box::new(caller_hears.clone())),
            ..CallMedia::default()
        },
        CallMedia {
            audio_source: Some(Box::new(SineSource::new(660.0))),
            audio_sink: Some(Box::new(callee_hears.clone())),
            ..CallMedia::default()
        },
    )
    .await;
    eprintln!("connected in {:?}", pair.connect_time);

    tokio::time::sleep(Duration::from_secs(2)).await;
    // Stop sending, and let what is in flight land before counting.
    pair.caller.set_muted(true);
    pair.callee.set_muted(true);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (caller, callee) = (pair.caller.stats(), pair.callee.stats());
    eprintln!("caller {caller:?}\ncallee {callee:?}");
    for (sent, received) in [
        (caller.audio_packets_sent, callee.audio_packets_received),
        (callee.audio_packets_sent, caller.audio_packets_received),
    ] {
        assert!(sent >= 90, "2 s of 20 ms frames, sent {sent}");
        assert!(received * 100 >= sent * 95, "received {received} of {sent}");
    }
    // Loopback, no ICE servers: host to host on both sides.
    let host = Some(SelectedPair { local: CandidateType::Host, remote: CandidateType::Host });
    assert_eq!((caller.selected_pair, callee.selected_pair), (host, host));

    for (who, sink, expected) in [("caller", &caller_hears, 660.0), ("callee", &callee_hears, 440.0)] {
        let samples = sink.samples();
        assert!(samples.len() >= SAMPLE_RATE as usize, "{who} heard {} samples", samples.len());
        // Skip the first 100 ms (the decoder warming up), take one second.
        let window = &samples[4800..4800 + SAMPLE_RATE as usize];
        let heard = dominant_frequency(window, f64::from(SAMPLE_RATE));
        eprintln!("{who} heard {heard:.2} Hz (expected {expected})");
        assert!((heard - expected).abs() < 5.0, "{who} heard {heard} Hz, expected {expected}");
    }

    // Nothing but loopback: every trickled candidate and every candidate in both SDPs.
    let candidates = pair.candidates.lock().unwrap().clone();
    assert!(!candidates.is_empty(), "no local candidates were gathered");
    for candidate in candidates.iter().filter(|c| c["candidate"] != "") {
        let address = candidate_address(candidate["candidate"].as_str().expect("candidate string"));
        assert_eq!(address, "127.0.0.1", "{candidate}");
    }
    let final_offer = pair.caller.local_description().await.unwrap();
    let final_answer = pair.callee.local_description().await.unwrap();
    let mut in_sdp = 0;
    for description in [&pair.offer, &pair.answer, &final_offer, &final_answer] {
        for address in sdp_candidate_addresses(description) {
            assert_eq!(address, "127.0.0.1", "{}", description["sdp"]);
            in_sdp += 1;
        }
    }
    eprintln!("{} trickled candidates and {in_sdp} SDP candidates, all 127.0.0.1", candidates.len());

    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}

/// Keeps the frame numbers it reads from received pictures.
#[derive(Clone, Default)]
struct NumberSink(Arc<Mutex<Vec<Option<u32>>>>);

impl VideoSink for NumberSink {
    fn frame(&mut self, frame: VideoFrame) {
        assert_eq!((frame.width, frame.height), (640, 480));
        self.0.lock().unwrap().push(read_pattern_number(&frame));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_both_ways_decodes_nearly_every_frame_in_order() {
    let (caller_sees, callee_sees) = (NumberSink::default(), NumberSink::default());
    let pair = connect(
        CallMedia {
            video_source: Some(Box::new(PatternSource::new(640, 480, 15))),
            video_sink: Some(Box::new(caller_sees.clone())),
            ..CallMedia::default()
        },
        CallMedia {
            video_source: Some(Box::new(PatternSource::new(640, 480, 15))),
            video_sink: Some(Box::new(callee_sees.clone())),
            ..CallMedia::default()
        },
    )
    .await;
    // What a video call offers (docs/protocol.md lists it), for reading with --nocapture.
    eprintln!("{}\n{}", pair.offer["sdp"].as_str().unwrap(), pair.answer["sdp"].as_str().unwrap());

    tokio::time::sleep(Duration::from_secs(2)).await;
    pair.caller.set_camera(false);
    pair.callee.set_camera(false);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (caller, callee) = (pair.caller.stats(), pair.callee.stats());
    eprintln!("caller {caller:?}\ncallee {callee:?}");
    for (who, sent, sink) in
        [("callee", caller.video_frames_sent, &callee_sees), ("caller", callee.video_frames_sent, &caller_sees)]
    {
        let numbers = sink.0.lock().unwrap().clone();
        assert!(sent >= 25, "2 s at 15 fps, sent {sent}");
        assert!(numbers.len() as u64 * 100 >= sent * 90, "{who} decoded {} of {sent} frames", numbers.len());
        let numbers: Vec<u32> = numbers.into_iter().map(|n| n.expect("every picture carries its number")).collect();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{who} saw frames out of order: {numbers:?}");
        eprintln!(
            "{who} decoded {} of {sent} frames, numbers {}..={}",
            numbers.len(),
            numbers[0],
            numbers[numbers.len() - 1]
        );
    }
    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_side_sees_a_closed_peer_go_down() {
    let pair = connect(
        CallMedia { audio_source: Some(Box::new(SineSource::new(440.0))), ..CallMedia::default() },
        CallMedia { audio_source: Some(Box::new(SineSource::new(660.0))), ..CallMedia::default() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // An audio call has no video track: no camera can be added to it.
    let camera = pair.caller.set_video_source(Some(Box::new(PatternSource::new(320, 240, 15))));
    assert!(matches!(camera, Err(confab_call::Error::NoVideo)), "{camera:?}");

    let closed_at = Instant::now();
    pair.caller.close().await.unwrap();
    let state = tokio::time::timeout(Duration::from_secs(10), pair.callee.wait_for_state(CallState::is_down))
        .await
        .expect("the callee sees the caller go within 10 s");
    eprintln!("callee saw {state:?} {:?} after the caller closed", closed_at.elapsed());
    assert_eq!(pair.caller.state(), CallState::Closed);
    pair.callee.close().await.unwrap();
}

/// An ICE restart on a live call (what the app does after the connection drops): a new offer with
/// fresh ICE credentials is answered, the call stays up, and audio keeps flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ice_restart_keeps_the_call_going() {
    let callee_hears = CollectingSink::new();
    let caller_media = CallMedia { audio_source: Some(Box::new(SineSource::new(440.0))), ..CallMedia::default() };
    let callee_media = CallMedia { audio_sink: Some(Box::new(callee_hears.clone())), ..CallMedia::default() };
    let pair = connect(caller_media, callee_media).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = pair.callee.stats().audio_packets_received;
    assert!(before > 0);

    let ufrag = |d: &serde_json::Value| {
        d["sdp"].as_str().unwrap().lines().find(|l| l.starts_with("a=ice-ufrag:")).unwrap().to_owned()
    };
    let restart = pair.caller.restart_ice().await.expect("restart offer");
    assert_ne!(ufrag(&restart), ufrag(&pair.offer), "fresh ICE credentials");
    let answer = pair.callee.accept_offer(restart).await.expect("answer to the restart");
    pair.caller.set_answer(answer).await.expect("apply the answer");
    tokio::time::sleep(Duration::from_secs(2)).await;
    for peer in [&pair.caller, &pair.callee] {
        assert_eq!(peer.state(), CallState::Connected);
    }
    let after = pair.callee.stats().audio_packets_received;
    assert!(after - before >= 90, "audio kept flowing across the restart: {before} → {after}");
    let samples = callee_hears.samples();
    let heard = dominant_frequency(&samples[samples.len() - SAMPLE_RATE as usize..], f64::from(SAMPLE_RATE));
    assert!((heard - 440.0).abs() < 5.0, "heard {heard} Hz after the restart");
}

/// Devices changed during a call, without renegotiating: a caller with no microphone at first
/// starts sending when one is given (440 Hz), then switches to another (880 Hz); the callee
/// switches speakers, and the old one hears nothing after. Then a camera is swapped for one of
/// another size, and the callee decodes the new pictures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_change_during_a_call() {
    let (first_speaker, second_speaker) = (CollectingSink::new(), CollectingSink::new());
    let callee_sees = SizeSink::default();
    let pair = connect(
        CallMedia { video_source: Some(Box::new(PatternSource::new(640, 480, 15))), ..CallMedia::default() },
        CallMedia {
            audio_sink: Some(Box::new(first_speaker.clone())),
            video_sink: Some(Box::new(callee_sees.clone())),
            ..CallMedia::default()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pair.caller.stats().audio_packets_sent, 0, "no microphone yet: nothing sent");

    pair.caller.set_audio_source(Some(Box::new(SineSource::new(440.0)))).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let heard = first_speaker.samples();
    assert!(heard.len() >= SAMPLE_RATE as usize, "the first speaker played {} samples", heard.len());
    let pitch = dominant_frequency(&heard[heard.len() - SAMPLE_RATE as usize..], f64::from(SAMPLE_RATE));
    assert!((pitch - 440.0).abs() < 5.0, "the first microphone: heard {pitch} Hz");

    pair.caller.set_audio_source(Some(Box::new(SineSource::new(880.0)))).unwrap();
    pair.callee.set_audio_sink(Some(Box::new(second_speaker.clone())));
    let first_total = first_speaker.samples().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(first_speaker.samples().len(), first_total, "the replaced speaker plays nothing more");
    let heard = second_speaker.samples();
    assert!(heard.len() >= SAMPLE_RATE as usize, "the second speaker played {} samples", heard.len());
    let pitch = dominant_frequency(&heard[heard.len() - SAMPLE_RATE as usize..], f64::from(SAMPLE_RATE));
    assert!((pitch - 880.0).abs() < 5.0, "the second microphone: heard {pitch} Hz");

    // Another camera, another size: a new encoder, starting with a key frame the callee decodes.
    assert_eq!(callee_sees.last(), Some((640, 480)));
    pair.caller.set_video_source(Some(Box::new(PatternSource::new(320, 240, 15)))).unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(callee_sees.last(), Some((320, 240)), "the new camera's pictures arrive");

    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}

/// Keeps the size of the latest picture received.
#[derive(Clone, Default)]
struct SizeSink(Arc<Mutex<Option<(u32, u32)>>>);

impl SizeSink {
    fn last(&self) -> Option<(u32, u32)> {
        *self.0.lock().unwrap()
    }
}

impl VideoSink for SizeSink {
    fn frame(&mut self, frame: VideoFrame) {
        *self.0.lock().unwrap() = Some((frame.width, frame.height));
    }
}

/// Candidates as a browser takes them: each names the SDP's first media section (`sdpMid` "0",
/// `sdpMLineIndex` 0) and its side's ICE username fragment, and each side ends its candidates with
/// `candidate: ""`. The end of candidates, `null` and a bare candidate string are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_name_their_media_section_and_end() {
    let pair = connect(
        CallMedia { audio_source: Some(Box::new(SineSource::new(440.0))), ..CallMedia::default() },
        CallMedia::default(),
    )
    .await;
    let attribute = |d: &serde_json::Value, name: &str| -> Vec<String> {
        let sdp = d["sdp"].as_str().unwrap();
        sdp.lines().filter_map(|l| l.strip_prefix(name)).map(str::to_owned).collect()
    };
    let (offer_mids, answer_mids) = (attribute(&pair.offer, "a=mid:"), attribute(&pair.answer, "a=mid:"));
    assert_eq!(offer_mids.first().map(String::as_str), Some("0"), "{offer_mids:?}");
    assert_eq!(offer_mids, answer_mids);
    let ufrags =
        [attribute(&pair.offer, "a=ice-ufrag:")[0].clone(), attribute(&pair.answer, "a=ice-ufrag:")[0].clone()];

    // Gathering ends shortly after connecting, if it had not already.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pair.candidates.lock().unwrap().iter().filter(|c| c["candidate"] == "").count() < 2 {
        assert!(Instant::now() < deadline, "no end of candidates: {:?}", pair.candidates.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let candidates = pair.candidates.lock().unwrap().clone();
    for candidate in &candidates {
        eprintln!("{candidate}");
        assert_eq!(candidate["sdpMid"], "0", "{candidate}");
        assert_eq!(candidate["sdpMLineIndex"], 0, "{candidate}");
        let ufrag = candidate["usernameFragment"].as_str().expect("usernameFragment");
        assert!(ufrags.iter().any(|u| u == ufrag), "{candidate} is of neither side ({ufrags:?})");
    }
    // Each side's end of candidates comes after its candidates.
    for ufrag in &ufrags {
        let side: Vec<_> = candidates.iter().filter(|c| c["usernameFragment"] == ufrag.as_str()).collect();
        let ends = side.iter().filter(|c| c["candidate"] == "").count();
        assert_eq!(ends, 1, "{side:?}");
        assert_eq!(side.last().unwrap()["candidate"], "", "{side:?}");
        assert!(side.len() >= 2, "{side:?}");
    }

    // What a browser may send: end of candidates (with and without a mid), null, a bare string.
    let callee_candidate = candidates.iter().find(|c| c["usernameFragment"] == ufrags[1].as_str()).unwrap();
    for other in [
        serde_json::json!({"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": ufrags[1]}),
        serde_json::json!({"candidate": ""}),
        serde_json::Value::Null,
        callee_candidate["candidate"].clone(),
        // An earlier generation's is dropped, not an error.
        serde_json::json!({"candidate": callee_candidate["candidate"], "sdpMid": "0", "usernameFragment": "old"}),
    ] {
        pair.caller.add_remote_candidate(other.clone()).await.unwrap_or_else(|e| panic!("{other}: {e}"));
    }
    assert_eq!(pair.caller.state(), CallState::Connected);
    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}

/// A tone that stops for `stall` once, when told to: a microphone whose driver hiccups.
struct StallingSource {
    tone: SineSource,
    stall_now: Arc<std::sync::atomic::AtomicBool>,
    stall: Duration,
}

impl AudioSource for StallingSource {
    fn read_frame(&mut self, frame: &mut [i16; FRAME_SAMPLES]) -> confab_call::Result<()> {
        if self.stall_now.swap(false, std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(self.stall);
        }
        self.tone.read_frame(frame)
    }
}

/// A source that stalls for 300 ms does not make the stream silently shorter: the sender counts
/// the stall and the frames it lost, and the receiver sees the RTP clock jump over them (with
/// consecutive sequence numbers, so nothing is taken for lost packets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_source_shows_as_a_gap_in_the_rtp_clock() {
    let stall_now = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let source = StallingSource {
        tone: SineSource::new(440.0),
        stall_now: stall_now.clone(),
        stall: Duration::from_millis(300),
    };
    let pair = connect(
        CallMedia { audio_source: Some(Box::new(source)), ..CallMedia::default() },
        CallMedia { audio_sink: Some(Box::new(CollectingSink::new())), ..CallMedia::default() },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stall_now.store(true, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let (sent, received) = (pair.caller.stats(), pair.callee.stats());
    eprintln!("caller {sent:?}\ncallee {received:?}");
    // (At least: a loaded machine may add a stall of its own.)
    assert!(sent.audio_capture_stalls >= 1, "{sent:?}");
    // 300 ms is 15 frames; the clock counts whole frames of lateness.
    assert!(sent.audio_frames_skipped >= 13, "{sent:?}");
    let gap = received.audio_gap_frames_received;
    assert!(gap >= 13 && gap <= sent.audio_frames_skipped, "{received:?}");
    assert_eq!(received.audio_packets_concealed, 0, "no packet was taken for lost: {received:?}");
    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}
