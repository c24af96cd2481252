//! Calls between two `confab-client`s through a real server: signaling over Socket.IO, media over
//! real WebRTC on loopback (no STUN, no mDNS, 127.0.0.1 only) through the whole pipeline — Opus,
//! RTP, jitter buffer and decoder for audio; VP8 for video.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_client::media::audio::SAMPLE_RATE;
use confab_client::media::probe::{candidate_address, dominant_frequency};
use confab_client::media::{
    CallConfig, CallMedia, CallState, CollectingSink, PatternSource, SineSource, VideoFrame, VideoSink,
    read_pattern_number,
};
use confab_client::{
    CallDirection, CallEnd, CallPhase, CallSnapshot, ClientEvent, Error, MediaDevices, OUTGOING_CALL_ID, OpenedMedia,
};
use confab_protocol::CallType;

use crate::support::*;

/// Synthetic devices: a tone as the microphone, a recorder as the speaker, the numbered pattern as
/// the camera, and a recorder of received frame numbers as the screen.
#[derive(Clone)]
struct TestDevices {
    tone: f64,
    heard: CollectingSink,
    /// Frame numbers read from received pictures, in order.
    seen_frames: Arc<Mutex<Vec<u32>>>,
}

impl TestDevices {
    fn new(tone: f64) -> TestDevices {
        TestDevices { tone, heard: CollectingSink::new(), seen_frames: Arc::default() }
    }
}

struct FrameRecorder(Arc<Mutex<Vec<u32>>>);

impl VideoSink for FrameRecorder {
    fn frame(&mut self, frame: VideoFrame) {
        if let Some(n) = read_pattern_number(&frame) {
            self.0.lock().unwrap().push(n);
        }
    }
}

impl MediaDevices for TestDevices {
    fn open(&self, _call_id: &str, call_type: CallType) -> OpenedMedia {
        let video = call_type == CallType::Video;
        OpenedMedia {
            media: CallMedia {
                audio_source: Some(Box::new(SineSource::new(self.tone))),
                audio_sink: Some(Box::new(self.heard.clone())),
                video_source: video.then(|| Box::new(PatternSource::new(640, 480, 15)) as _),
                video_sink: video.then(|| Box::new(FrameRecorder(self.seen_frames.clone())) as _),
            },
            problems: Vec::new(),
        }
    }
}

fn equip(client: &TestClient, devices: &TestDevices) {
    client.client.set_media_devices(Arc::new(devices.clone()));
    client.client.set_call_config(CallConfig::loopback_only());
}

/// The snapshot of a call, by id, matching `pred`.
async fn call_where(client: &mut TestClient, what: &str, pred: impl Fn(&CallSnapshot) -> bool) -> CallSnapshot {
    match client.wait_for(what, |e| matches!(e, ClientEvent::Call(call) if pred(call))).await {
        ClientEvent::Call(call) => *call,
        _ => unreachable!(),
    }
}

async fn incoming(client: &mut TestClient) -> String {
    let ringing = |c: &CallSnapshot| c.direction == CallDirection::Incoming && c.phase == CallPhase::Ringing;
    call_where(client, "incoming call", ringing).await.call_id
}

async fn media_connected(client: &mut TestClient, call_id: &str) {
    call_where(client, "media connected", |c| c.call_id == call_id && c.media == Some(CallState::Connected)).await;
}

async fn ended(client: &mut TestClient, call_id: &str) -> CallEnd {
    let call = call_where(client, "call ended", |c| c.call_id == call_id && c.phase == CallPhase::Ended).await;
    call.end_reason.unwrap()
}

async fn call_record(client: &mut TestClient, call_id: &str) -> confab_protocol::CallRecord {
    let event = client
        .wait_for("call record", |e| {
            matches!(e, ClientEvent::Message { message, .. } if message.call.as_ref().is_some_and(|c| c.call_id == call_id))
        })
        .await;
    let ClientEvent::Message { message, .. } = event else { unreachable!() };
    message.call.unwrap()
}

/// Collects the candidates relayed to a client (to check they are all loopback).
fn relayed_candidates(event: &ClientEvent) -> Option<String> {
    match event {
        // (The end of candidates, `candidate: ""`, has no address.)
        ClientEvent::IceCandidate(c) => c.candidate["candidate"].as_str().filter(|c| !c.is_empty()).map(str::to_owned),
        _ => None,
    }
}

#[tokio::test]
async fn an_audio_call_carries_each_sides_tone_through_the_whole_pipeline_and_a_new_microphone() {
    let server = Server::start().await;
    let (mut alice, mut bob, conversation) = pair(&server, "tone").await;
    let (alice_devices, bob_devices) = (TestDevices::new(440.0), TestDevices::new(660.0));
    equip(&alice, &alice_devices);
    equip(&bob, &bob_devices);
    let mut alice_watch = alice.client.subscribe();
    let mut bob_watch = bob.client.subscribe();

    let started = Instant::now();
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    assert_eq!(incoming(&mut bob).await, call_id);
    bob.client.accept_call(&call_id).await.unwrap();
    media_connected(&mut alice, &call_id).await;
    media_connected(&mut bob, &call_id).await;
    let setup = started.elapsed();
    while alice.client.call_stats(&call_id).unwrap().audio_frames_played == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("call setup: start_call → both connected {setup:?}, → first audio played {:?}", started.elapsed());

    tokio::time::sleep(Duration::from_secs(2)).await;
    let (a, b) = (alice.client.call_stats(&call_id).unwrap(), bob.client.call_stats(&call_id).unwrap());
    eprintln!("alice {a:?}\nbob {b:?}");
    for (sent, received) in
        [(a.audio_packets_sent, b.audio_packets_received), (b.audio_packets_sent, a.audio_packets_received)]
    {
        assert!(sent >= 90, "2 s of 20 ms frames, sent {sent}");
        assert!(received * 100 >= sent * 95, "received {received} of {sent}");
    }
    for (who, sink, expected) in [("alice", &alice_devices.heard, 660.0), ("bob", &bob_devices.heard, 440.0)] {
        let samples = sink.samples();
        assert!(samples.len() >= SAMPLE_RATE as usize, "{who} heard {} samples", samples.len());
        let heard = dominant_frequency(&samples[samples.len() - SAMPLE_RATE as usize..], f64::from(SAMPLE_RATE));
        eprintln!("{who} heard {heard:.2} Hz");
        assert!((heard - expected).abs() < 5.0, "{who} heard {heard} Hz, expected {expected}");
    }

    // Alice picks another microphone during the call; no renegotiation, bob hears the new one.
    alice.client.switch_call_microphone(&call_id, Some(Box::new(SineSource::new(880.0)))).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let samples = bob_devices.heard.samples();
    let heard = dominant_frequency(&samples[samples.len() - SAMPLE_RATE as usize..], f64::from(SAMPLE_RATE));
    assert!((heard - 880.0).abs() < 5.0, "after alice's switch bob heard {heard} Hz, expected 880");
    assert!(matches!(alice.client.switch_call_microphone("no-such-call", None), Err(Error::NoSuchCall(_))));

    bob.client.end_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut alice, &call_id).await, CallEnd::Hangup);
    let record = call_record(&mut alice, &call_id).await;
    assert!(record.duration_ms >= 2000, "{record:?}");
    assert_eq!(call_record(&mut bob, &call_id).await, record);
    assert!(alice.client.call_stats(&call_id).is_none(), "the peer is closed after the call");
    assert!(bob.client.call_stats(&call_id).is_none());

    // Every candidate that crossed the server was a loopback one.
    let mut candidates = Vec::new();
    for watch in [&mut alice_watch, &mut bob_watch] {
        while let Ok(event) = watch.try_recv() {
            candidates.extend(relayed_candidates(&event));
        }
    }
    assert!(!candidates.is_empty(), "candidates were trickled through the server");
    for candidate in candidates {
        assert_eq!(candidate_address(&candidate), "127.0.0.1", "{candidate}");
    }
}

#[tokio::test]
async fn a_video_call_delivers_the_numbered_frames_in_order() {
    let server = Server::start().await;
    let (mut alice, mut bob, conversation) = pair(&server, "video").await;
    let (alice_devices, bob_devices) = (TestDevices::new(440.0), TestDevices::new(660.0));
    equip(&alice, &alice_devices);
    equip(&bob, &bob_devices);

    let call_id = alice.client.start_call(conversation, CallType::Video).await.unwrap();
    incoming(&mut bob).await;
    bob.client.accept_call(&call_id).await.unwrap();
    media_connected(&mut alice, &call_id).await;
    media_connected(&mut bob, &call_id).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (a, b) = (alice.client.call_stats(&call_id).unwrap(), bob.client.call_stats(&call_id).unwrap());
    eprintln!("alice {a:?}\nbob {b:?}");
    for (who, sent, seen) in [
        ("bob", a.video_frames_sent, &bob_devices.seen_frames),
        ("alice", b.video_frames_sent, &alice_devices.seen_frames),
    ] {
        let seen = seen.lock().unwrap().clone();
        assert!(sent >= 25, "about 2 s at 15 fps, sent {sent}");
        // Frames still in flight at the moment of counting may be missing: compare with the sent
        // count a moment ago.
        assert!(seen.len() as u64 * 100 >= (sent - 2) * 90, "{who} decoded {} of {sent} frames", seen.len());
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{who}'s frame numbers go forward: {seen:?}");
    }
    alice.client.end_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut bob, &call_id).await, CallEnd::Hangup);
}

#[tokio::test]
async fn rejected_busy_missed_and_cancelled_calls() {
    let server = Server::start_with_env(&[("CONFAB_CALL_RING_TIMEOUT_MS", "1500")]).await;
    let (mut alice, mut bob, conversation) = pair(&server, "outcomes").await;
    for client in [&alice, &bob] {
        equip(client, &TestDevices::new(440.0));
    }

    // Rejected.
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    incoming(&mut bob).await;
    bob.client.reject_call(&call_id, Some("in a meeting")).await.unwrap();
    let rejected = call_where(&mut alice, "declined", |c| c.call_id == call_id && c.phase == CallPhase::Ended).await;
    assert_eq!(rejected.end_reason, Some(CallEnd::Rejected));
    assert_eq!(rejected.reject_reason.as_deref(), Some("in a meeting"));
    assert!(alice.client.call_stats(&call_id).is_none());

    // Missed: nobody answers within the (test-short) ring timeout.
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    incoming(&mut bob).await;
    assert_eq!(ended(&mut alice, &call_id).await, CallEnd::Missed);
    assert_eq!(ended(&mut bob, &call_id).await, CallEnd::Missed);
    assert_eq!(call_record(&mut bob, &call_id).await.outcome, confab_protocol::CallOutcome::Missed);
    assert!(matches!(bob.client.accept_call(&call_id).await, Err(Error::NoSuchCall(_))), "no longer rings");

    // Cancelled by the caller while it rings.
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    incoming(&mut bob).await;
    alice.client.end_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut bob, &call_id).await, CallEnd::Cancelled);

    // Cancelled while still being placed (before the server named it): ended once it has an id.
    while alice.events.try_recv().is_ok() {} // earlier calls' snapshots
    let placing = {
        let client = alice.client.clone();
        tokio::spawn(async move { client.start_call(conversation, CallType::Audio).await })
    };
    let dialing = call_where(&mut alice, "dialing", |c| c.call_id == OUTGOING_CALL_ID).await;
    assert_eq!(dialing.phase, CallPhase::Calling);
    assert_eq!(dialing.peer_name, bob.client.session().unwrap().1.display_name, "named from the cached conversation");
    alice.client.end_call(OUTGOING_CALL_ID).await.unwrap();
    let call_id = placing.await.unwrap().unwrap();
    let named = call_where(&mut alice, "named", |c| c.call_id == call_id).await;
    assert_eq!(named.replaces.as_deref(), Some(OUTGOING_CALL_ID));
    assert_eq!(named.end_reason, Some(CallEnd::Cancelled));
    assert_eq!(ended(&mut bob, &call_id).await, CallEnd::Cancelled);

    // Busy: Carol calls Bob while Bob is in a call with Alice.
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    incoming(&mut bob).await;
    bob.client.accept_call(&call_id).await.unwrap();
    media_connected(&mut bob, &call_id).await;
    let mut carol = TestClient::register(&server.url, "outcomes_c").await;
    carol.connected().await;
    equip(&carol, &TestDevices::new(880.0));
    carol.client.request_friend(&bob.username()).await.unwrap();
    let request = bob.client.friend_requests().await.unwrap().incoming.pop().unwrap();
    bob.client.accept_friend(request.id).await.unwrap();
    let carol_with_bob = carol.client.create_conversation(vec![bob.id()], None).await.unwrap().id;
    match carol.client.start_call(carol_with_bob, CallType::Audio).await {
        Err(Error::Server(body)) => assert_eq!(body.code, confab_protocol::ErrorCode::Busy),
        other => panic!("expected busy, got {other:?}"),
    }
    assert_eq!(ended(&mut carol, OUTGOING_CALL_ID).await, CallEnd::Busy, "the placed call ends as busy");
    assert!(carol.client.calls_now().is_empty());
    alice.client.end_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut bob, &call_id).await, CallEnd::Hangup);
}

#[tokio::test]
async fn the_callee_answers_on_one_device_and_the_other_stops_ringing() {
    let server = Server::start().await;
    let (mut alice, mut phone, conversation) = pair(&server, "devices").await;
    let mut laptop = TestClient::new().await;
    laptop.client.login(&server.url, &phone.username(), "correct horse").await.unwrap();
    laptop.connected().await;
    for client in [&alice, &phone, &laptop] {
        equip(client, &TestDevices::new(440.0));
    }

    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    assert_eq!(incoming(&mut phone).await, call_id);
    assert_eq!(incoming(&mut laptop).await, call_id);
    laptop.client.accept_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut phone, &call_id).await, CallEnd::AnsweredElsewhere);
    assert!(matches!(phone.client.accept_call(&call_id).await, Err(Error::NoSuchCall(_))), "the phone stopped ringing");
    media_connected(&mut alice, &call_id).await;
    media_connected(&mut laptop, &call_id).await;
    assert!(phone.client.call_stats(&call_id).is_none(), "no media on the device that did not answer");
    laptop.client.end_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut alice, &call_id).await, CallEnd::Hangup);
}

/// The callee's app dies mid-call (its runtime is torn down: sockets and media gone without a
/// goodbye): the caller's call ends within seconds.
#[tokio::test]
async fn a_peer_that_dies_mid_call_ends_the_call_on_the_other_side() {
    let server = Server::start().await;
    let (mut alice, bob, conversation) = pair(&server, "dies").await;
    equip(&alice, &TestDevices::new(440.0));
    let bob_dir = bob.shut().await;

    // Bob's app lives in a runtime of its own, which the test tears down.
    let doomed = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mut bob = doomed
        .spawn(async move {
            let mut bob = TestClient::open_in(bob_dir).await;
            bob.connected().await;
            equip(&bob, &TestDevices::new(660.0));
            bob
        })
        .await
        .unwrap();
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    assert_eq!(incoming(&mut bob).await, call_id);
    let answering = bob.client.clone();
    let id = call_id.clone();
    doomed.spawn(async move { answering.accept_call(&id).await.unwrap() }).await.unwrap();
    media_connected(&mut alice, &call_id).await;

    let killed = Instant::now();
    doomed.shutdown_background();
    assert_eq!(ended(&mut alice, &call_id).await, CallEnd::Disconnected);
    eprintln!("the caller's call ended {:?} after the callee died", killed.elapsed());
    assert!(killed.elapsed() < Duration::from_secs(10));
    assert!(alice.client.call_stats(&call_id).is_none());
    drop(bob);
}

/// An ICE restart (what the caller does when the media connection drops) renegotiates through the
/// server and the call goes on with audio flowing.
#[tokio::test]
async fn an_ice_restart_through_the_server_keeps_the_call_going() {
    let server = Server::start().await;
    let (mut alice, mut bob, conversation) = pair(&server, "restart").await;
    let bob_devices = TestDevices::new(660.0);
    equip(&alice, &TestDevices::new(440.0));
    equip(&bob, &bob_devices);
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    incoming(&mut bob).await;
    bob.client.accept_call(&call_id).await.unwrap();
    media_connected(&mut alice, &call_id).await;
    media_connected(&mut bob, &call_id).await;

    let before = bob.client.call_stats(&call_id).unwrap().audio_packets_received;
    alice.client.restart_call_ice(&call_id).await.unwrap();
    let renegotiated = |e: &ClientEvent| matches!(e, ClientEvent::CallRenegotiated { call_id: id } if *id == call_id);
    bob.wait_for("the restart offer applied", renegotiated).await;
    alice.wait_for("the answer applied", renegotiated).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(alice.client.call_state(&call_id), Some(CallState::Connected));
    assert_eq!(bob.client.call_state(&call_id), Some(CallState::Connected));
    let after = bob.client.call_stats(&call_id).unwrap().audio_packets_received;
    assert!(after - before >= 90, "audio kept flowing: {before} → {after}");
    let samples = bob_devices.heard.samples();
    let heard = dominant_frequency(&samples[samples.len() - SAMPLE_RATE as usize..], f64::from(SAMPLE_RATE));
    assert!((heard - 440.0).abs() < 5.0, "bob heard {heard} Hz after the restart");
    alice.client.end_call(&call_id).await.unwrap();
}

/// A microphone that stops delivering mid-call (unplugged, stalled) is reported to the user; the
/// call goes on.
#[tokio::test]
async fn a_microphone_that_stops_is_reported_and_the_call_goes_on() {
    struct DyingMicrophone(SineSource, u32);
    impl confab_client::media::AudioSource for DyingMicrophone {
        fn read_frame(
            &mut self,
            frame: &mut [i16; confab_client::media::audio::FRAME_SAMPLES],
        ) -> confab_client::media::Result<()> {
            self.1 += 1;
            if self.1 > 25 {
                return Err(confab_client::media::Error::NoMicrophone(
                    "the microphone stopped delivering audio".into(),
                ));
            }
            self.0.read_frame(frame)
        }
    }
    struct DyingDevices;
    impl MediaDevices for DyingDevices {
        fn open(&self, _: &str, _: CallType) -> OpenedMedia {
            let media = CallMedia {
                audio_source: Some(Box::new(DyingMicrophone(SineSource::new(440.0), 0))),
                ..CallMedia::default()
            };
            OpenedMedia { media, problems: Vec::new() }
        }
    }

    let server = Server::start().await;
    let (mut alice, mut bob, conversation) = pair(&server, "dyingmic").await;
    alice.client.set_media_devices(Arc::new(DyingDevices));
    alice.client.set_call_config(CallConfig::loopback_only());
    equip(&bob, &TestDevices::new(660.0));
    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    incoming(&mut bob).await;
    bob.client.accept_call(&call_id).await.unwrap();
    let problem =
        call_where(&mut alice, "the microphone problem", |c| c.call_id == call_id && !c.problems.is_empty()).await;
    assert!(problem.problems[0].contains("microphone"), "{:?}", problem.problems);
    assert_eq!(alice.client.call_state(&call_id), Some(CallState::Connected), "the call goes on");
    alice.client.end_call(&call_id).await.unwrap();
}

/// A callee that answers the moment its phone rings (in the loop that hears the ring), 100 calls
/// in a row: every call gets media both ways. The answer can then reach the caller before
/// `initiateCall`'s ack has woken the task that placed the call, so `callAccepted` and the
/// callee's first candidates arrive for a call id not known yet: they must be held until the call
/// is named, not dropped (a dropped answer or candidate leaves a call without media).
#[tokio::test]
async fn a_callee_that_answers_instantly_gets_media_on_every_one_of_100_calls() {
    const CALLS: usize = 100;
    // initiateCall's default limit is one a second.
    let server =
        Server::start_with_limits("register=1000:1000,login=1000:1000,login_ip=1000:1000,calls=1000:1000").await;
    let (alice, bob, conversation) = pair(&server, "instant").await;
    equip(&alice, &TestDevices::new(440.0));
    equip(&bob, &TestDevices::new(660.0));

    let answering = bob.client.clone();
    let mut rings = bob.client.subscribe();
    let answerer = tokio::spawn(async move {
        let mut answered = 0;
        while answered < CALLS {
            match rings.recv().await {
                Ok(ClientEvent::Call(call))
                    if call.direction == CallDirection::Incoming && call.phase == CallPhase::Ringing =>
                {
                    answering.accept_call(&call.call_id).await.unwrap();
                    answered += 1;
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => panic!("the answerer lagged by {n}"),
                Err(e) => panic!("{e}"),
            }
        }
    });

    let started = Instant::now();
    for n in 0..CALLS {
        let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let heard = |c: &TestClient| c.client.call_stats(&call_id).map_or(0, |s| s.audio_packets_received);
            if heard(&alice) > 0 && heard(&bob) > 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "call {n} got no media both ways: alice {:?} {:?}, bob {:?} {:?}",
                alice.client.calls_now(),
                alice.client.call_stats(&call_id),
                bob.client.calls_now(),
                bob.client.call_stats(&call_id),
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        alice.client.end_call(&call_id).await.unwrap();
        while !bob.client.calls_now().is_empty() {
            assert!(Instant::now() < deadline + WAIT, "call {n} did not end at bob's");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    eprintln!("{CALLS} calls with media both ways in {:?}", started.elapsed());
    answerer.await.unwrap();
}

/// An answered call whose media cannot connect (here the callee has only an IPv6 loopback address,
/// the caller only IPv4: no candidate pair can work) ends saying why instead of "connecting…" on:
/// without any TURN server the reason is `noRelay`; with one (the user's, unreachable here) it is
/// `notConnected`.
#[tokio::test]
async fn a_call_whose_media_cannot_connect_ends_saying_why() {
    let server = Server::start().await;
    let (mut alice, mut bob, conversation) = pair(&server, "noconnect").await;
    equip(&alice, &TestDevices::new(440.0));
    bob.client.set_media_devices(Arc::new(TestDevices::new(660.0)));
    bob.client.set_call_config(CallConfig { udp_addrs: vec!["[::1]:0".into()], ..CallConfig::loopback_only() });
    for client in [&alice, &bob] {
        client.client.set_call_connect_timeout(Duration::from_secs(2));
    }

    for (relay, expected) in [(false, CallEnd::NoRelay), (true, CallEnd::NotConnected)] {
        if relay {
            let turn = confab_client::media::IceServer {
                urls: vec!["turn:127.0.0.1:9?transport=udp".into()],
                username: "someone".into(),
                credential: "secret".into(),
            };
            alice.client.set_call_config(CallConfig { ice_servers: vec![turn], ..CallConfig::loopback_only() });
        }
        let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
        assert_eq!(incoming(&mut bob).await, call_id);
        let answered = Instant::now();
        bob.client.accept_call(&call_id).await.unwrap();
        assert_eq!(ended(&mut alice, &call_id).await, expected);
        eprintln!("relay {relay}: ended as {expected:?} {:?} after the answer", answered.elapsed());
        assert!(answered.elapsed() < Duration::from_secs(5), "{:?}", answered.elapsed());
        // Bob has no relay either way; whichever side gave up first, his call says why too.
        assert_eq!(ended(&mut bob, &call_id).await, CallEnd::NoRelay);
        assert!(alice.client.calls_now().is_empty() && bob.client.calls_now().is_empty());
    }
}

/// Each call's connection is built with the server's ICE servers (`GET /api/calls/ice-servers`:
/// here an external TURN relay with time-limited credentials for the caller and for the callee)
/// and the user's own on top; the call still connects (host candidates on loopback).
#[tokio::test]
async fn a_call_uses_the_servers_ice_servers_and_the_users_own_on_top() {
    let server = Server::start_with_env(&[
        ("CONFAB_TURN_URLS", "turn:127.0.0.1:3478?transport=udp"),
        ("CONFAB_TURN_SECRET", "a test secret"),
        ("CONFAB_TURN_TTL_SECS", "600"),
    ])
    .await;
    let (mut alice, mut bob, conversation) = pair(&server, "iceservers").await;
    equip(&alice, &TestDevices::new(440.0));
    equip(&bob, &TestDevices::new(660.0));
    let mine = confab_client::media::IceServer { urls: vec!["stun:127.0.0.1:3479".into()], ..Default::default() };
    alice.client.set_call_config(CallConfig { ice_servers: vec![mine.clone()], ..CallConfig::loopback_only() });

    // What Settings shows: the server's URL without credentials, and the user's.
    let asked = Instant::now();
    let sources = alice.client.ice_server_sources().await;
    eprintln!("the server's ICE servers (fetch started by set_call_config) at hand in {:?}", asked.elapsed());
    assert_eq!(sources.server_error, None);
    assert!(sources.from_server.iter().all(|s| s.username.is_empty() && s.credential.is_empty()), "{sources:?}");
    assert!(sources.from_server.iter().any(|s| s.urls == ["turn:127.0.0.1:3478?transport=udp"]), "{sources:?}");
    assert_eq!(sources.from_settings, vec![mine.clone()]);

    let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
    assert_eq!(incoming(&mut bob).await, call_id);
    bob.client.accept_call(&call_id).await.unwrap();
    media_connected(&mut alice, &call_id).await;
    media_connected(&mut bob, &call_id).await;

    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for (who, client, user_id) in [("alice", &alice, alice.id()), ("bob", &bob, bob.id())] {
        let servers = client.client.call_ice_servers(&call_id).unwrap();
        eprintln!("{who}'s call: {servers:?}");
        let turn = servers
            .iter()
            .find(|s| s.urls.iter().any(|u| u == "turn:127.0.0.1:3478?transport=udp"))
            .unwrap_or_else(|| panic!("{who}'s call has the server's TURN entry: {servers:?}"));
        // TURN REST API credentials: `expiry:userId`, the expiry the TTL ahead.
        let (expiry, user) = turn.username.split_once(':').unwrap();
        assert_eq!(user, user_id.to_string(), "{who}");
        let expiry: u64 = expiry.parse().unwrap();
        assert!(expiry > now + 500 && expiry <= now + 601, "{who}: expiry {expiry}, now {now}");
        assert!(!turn.credential.is_empty());
        // The server's first, the user's on top.
        let user_servers: &[_] = if who == "alice" { std::slice::from_ref(&mine) } else { &[] };
        assert!(servers.ends_with(user_servers), "{who}: {servers:?}");
    }
    alice.client.end_call(&call_id).await.unwrap();
    assert_eq!(ended(&mut bob, &call_id).await, CallEnd::Hangup);
}

/// A benchmark, not a check (run it on purpose; docs/performance.md "Call setup through the server"):
/// 20 audio calls between two clients through the real server on loopback, the callee answering as
/// soon as it rings, each timed from `start_call` to each step of the setup.
///
///     scripts/with-pulse.sh cargo test -p confab-client --release --test client call_setup_steps -- --ignored --nocapture
#[tokio::test]
#[ignore = "a benchmark: prints the setup time of 20 calls"]
async fn call_setup_steps() {
    const CALLS: usize = 20;
    let server =
        Server::start_with_limits("register=1000:1000,login=1000:1000,login_ip=1000:1000,calls=1000:1000").await;
    let (alice, bob, conversation) = pair(&server, "setup").await;
    equip(&alice, &TestDevices::new(440.0));
    equip(&bob, &TestDevices::new(660.0));

    // The callee's side: when each call rang and when its accept_call returned.
    let answering = bob.client.clone();
    let mut rings = bob.client.subscribe();
    let (times_tx, mut times) = tokio::sync::mpsc::unbounded_channel();
    let answerer = tokio::spawn(async move {
        let mut answered = 0;
        while answered < CALLS {
            if let Ok(ClientEvent::Call(call)) = rings.recv().await
                && call.direction == CallDirection::Incoming
                && call.phase == CallPhase::Ringing
            {
                let rang = Instant::now();
                answering.accept_call(&call.call_id).await.unwrap();
                times_tx.send((rang, Instant::now())).unwrap();
                answered += 1;
            }
        }
    });

    let steps = ["callId", "rang", "accepted", "connected (caller)", "first audio decoded (caller)"];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); steps.len()];
    let ms = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64() * 1000.0;
    for n in 0..CALLS {
        let started = Instant::now();
        let call_id = alice.client.start_call(conversation, CallType::Audio).await.unwrap();
        let named = Instant::now();
        let (mut connected, mut decoded) = (None, None);
        let deadline = started + WAIT;
        while decoded.is_none() {
            assert!(Instant::now() < deadline, "call {n} had no audio");
            let now = Instant::now();
            let media = alice.client.calls_now().into_iter().find(|c| c.call_id == call_id).and_then(|c| c.media);
            if connected.is_none() && media == Some(CallState::Connected) {
                connected = Some(now);
            }
            if alice.client.call_stats(&call_id).is_some_and(|s| s.audio_frames_played > 0) {
                decoded = Some(now);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (rang, accepted) = times.recv().await.unwrap();
        for (i, at) in
            [named, rang, accepted, connected.unwrap_or(decoded.unwrap()), decoded.unwrap()].into_iter().enumerate()
        {
            samples[i].push(ms(started, at));
        }
        alice.client.end_call(&call_id).await.unwrap();
        while !bob.client.calls_now().is_empty() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    answerer.await.unwrap();
    eprintln!("call setup through the server, ms from start_call, {CALLS} calls (median / max):");
    for (step, mut values) in steps.iter().zip(samples) {
        values.sort_by(f64::total_cmp);
        eprintln!("  {step:<30} {:>7.1} / {:>7.1}", values[values.len() / 2], values[values.len() - 1]);
    }
}
