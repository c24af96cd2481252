//! The microphone and speaker through cpal: a missing device is a typed error, and (under
//! `scripts/with-pulse.sh`, a private PulseAudio with a 440 Hz virtual microphone and a null sink)
//! a call carries the microphone to the other side's speaker.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab_call::audio::SAMPLE_RATE;
use confab_call::{AudioSink, AudioSource, CallMedia, CollectingSink, CpalCapture, CpalPlayback, Error};

use crate::support::*;

#[test]
fn a_missing_device_is_a_typed_error_not_a_panic() {
    match CpalCapture::open(Some("confab-no-such-microphone")) {
        Err(e @ Error::NoMicrophone(_)) => assert!(e.to_string().starts_with("no microphone found"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a device that does not exist"),
    }
    match CpalPlayback::open(Some("confab-no-such-speaker")) {
        Err(e @ Error::NoSpeaker(_)) => assert!(e.to_string().starts_with("no speaker found"), "{e}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a device that does not exist"),
    }
}

/// Whether the PulseAudio test can run; panics if it must (CONFAB_REQUIRE_SERVICES) but cannot.
fn pulse_available() -> bool {
    if std::env::var_os("PULSE_SERVER").is_some() {
        return true;
    }
    if std::env::var_os("CONFAB_REQUIRE_SERVICES").is_some() {
        panic!("PULSE_SERVER is unset and CONFAB_REQUIRE_SERVICES is set: run under scripts/with-pulse.sh");
    }
    eprintln!("SKIPPED: PULSE_SERVER is unset; run under scripts/with-pulse.sh to test real devices");
    false
}

/// Records the null sink's monitor (what was played) with `parec`, as 48 kHz mono samples, until
/// dropped.
struct MonitorRecording {
    samples: Arc<Mutex<Vec<i16>>>,
    _parec: tokio::process::Child,
}

impl MonitorRecording {
    fn start() -> Self {
        let mut parec = tokio::process::Command::new("parec")
            .args([
                "--device=vspk.monitor",
                "--raw",
                "--format=s16le",
                "--channels=1",
                "--rate=48000",
                "--latency-msec=20",
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("parec (pulseaudio-utils)");
        let mut stdout = parec.stdout.take().expect("parec's output");
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = samples.clone();
        tokio::spawn(async move {
            let mut buffer = vec![0u8; 4096];
            let mut odd = None;
            while let Ok(n @ 1..) = tokio::io::AsyncReadExt::read(&mut stdout, &mut buffer).await {
                let mut bytes: Vec<u8> = odd.take().into_iter().chain(buffer[..n].iter().copied()).collect();
                if bytes.len() % 2 == 1 {
                    odd = bytes.pop();
                }
                let mut samples = sink.lock().unwrap();
                samples.extend(bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])));
            }
        });
        MonitorRecording { samples, _parec: parec }
    }

    /// The last `n` samples recorded, if there are that many.
    fn last(&self, n: usize) -> Option<Vec<i16>> {
        let samples = self.samples.lock().unwrap();
        (samples.len() >= n).then(|| samples[samples.len() - n..].to_vec())
    }
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

/// The microphone is read in 20 ms fragments where the device allows (PulseAudio's default for a
/// record stream is 2 s: two seconds of delay in every call).
#[test]
fn the_microphone_delivers_in_small_fragments() {
    if !pulse_available() {
        return;
    }
    let mut microphone = CpalCapture::open(Some("vquiet")).expect("the adjustable virtual microphone");
    let fragment = microphone.fragment().expect("PulseAudio reports the fragment size");
    assert!(fragment <= Duration::from_millis(25), "fragments of {fragment:?}");
    let mut frame = [0i16; confab_call::audio::FRAME_SAMPLES];
    for _ in 0..10 {
        microphone.read_frame(&mut frame).expect("audio from the microphone");
    }
    // The fixed-latency virtual microphone keeps its own 2 s, and is read without a stall alarm.
    let mut fixed = CpalCapture::open(Some("vmic")).expect("the virtual microphone");
    assert!(fixed.fragment().unwrap() > Duration::from_secs(1));
    for _ in 0..150 {
        fixed.read_frame(&mut frame).expect("audio across a 2 s fragment");
    }
}

/// Plays into two sinks.
struct Tee(CollectingSink, CpalPlayback);

impl AudioSink for Tee {
    fn play(&mut self, frame: &[i16]) {
        self.0.play(frame);
        self.1.play(frame);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulse_microphone_to_the_other_sides_speaker() {
    if !pulse_available() {
        return;
    }
    let heard = CollectingSink::new();
    let microphone = CpalCapture::open(Some("vmic")).expect("the virtual microphone");
    // It delivers in 2 s fragments (a fixed-latency source): "real time" is up to one fragment behind.
    let fragment = microphone.fragment().unwrap_or_default();
    let speaker = CpalPlayback::open(Some("vspk")).expect("the virtual speaker");
    let pair = connect(
        CallMedia { audio_source: Some(Box::new(microphone)), ..CallMedia::default() },
        CallMedia { audio_sink: Some(Box::new(Tee(heard.clone(), speaker))), ..CallMedia::default() },
    )
    .await;
    let connected = Instant::now();
    let recording = MonitorRecording::start();

    // Wait until the speaker (the null sink's monitor) plays the microphone's tone: half a second
    // of it, loud enough, at 440 Hz. A machine busy with other tests gets a generous deadline.
    let window = SAMPLE_RATE as usize / 2;
    let deadline = connected + Duration::from_secs(20);
    let (played_pitch, loudness) = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(last) = recording.last(window) {
            let (pitch, loudness) = (dominant_frequency(&last, f64::from(SAMPLE_RATE)), rms(&last));
            if loudness > 300.0 && (pitch - 440.0).abs() < 5.0 {
                break (pitch, loudness);
            }
            assert!(
                Instant::now() < deadline,
                "the speaker did not play the tone: last {pitch:.1} Hz at RMS {loudness:.0}"
            );
        }
        assert!(Instant::now() < deadline, "nothing recorded from the speaker's monitor");
    };
    eprintln!(
        "the speaker played {played_pitch:.2} Hz at RMS {loudness:.0}, {} ms after the call connected",
        connected.elapsed().as_millis()
    );
    // Audio keeps flowing: another second of call.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (caller, callee) = (pair.caller.stats(), pair.callee.stats());
    eprintln!("caller {caller:?}\ncallee {callee:?}");
    let expected = connected.elapsed().saturating_sub(fragment).as_millis() as u64 / 20;
    assert!(
        caller.audio_packets_sent * 10 >= expected * 8,
        "the microphone delivered in real time: {} packets in {expected} frame times",
        caller.audio_packets_sent
    );
    assert!(callee.audio_packets_received * 100 >= caller.audio_packets_sent * 95);

    let decoded = heard.samples();
    let decoded_pitch = dominant_frequency(&decoded[decoded.len() - window..], f64::from(SAMPLE_RATE));
    assert!((decoded_pitch - 440.0).abs() < 5.0, "decoded {decoded_pitch} Hz");

    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}

/// The microphone changed during a call, between real devices: silence from the first (vquiet),
/// then the second's tone (vmic, 440 Hz) reaches the other side, on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_microphone_during_a_call() {
    if !pulse_available() {
        return;
    }
    let heard = CollectingSink::new();
    let quiet = CpalCapture::open(Some("vquiet")).expect("the silent virtual microphone");
    let pair = connect(
        CallMedia { audio_source: Some(Box::new(quiet)), ..CallMedia::default() },
        CallMedia { audio_sink: Some(Box::new(heard.clone())), ..CallMedia::default() },
    )
    .await;
    let window = SAMPLE_RATE as usize / 2;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = heard.samples();
    assert!(before.len() >= window, "the first microphone's audio arrived: {} samples", before.len());
    let loudness = rms(&before[before.len() - window..]);
    assert!(loudness < 50.0, "the first microphone is silent: RMS {loudness:.0}");

    let switched = Instant::now();
    pair.caller
        .set_audio_source(Some(Box::new(CpalCapture::open(Some("vmic")).expect("the virtual microphone"))))
        .expect("the call takes the new microphone");
    // vmic delivers in 2 s fragments: its tone is up to one fragment away.
    let deadline = switched + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let samples = heard.samples();
        let last = &samples[samples.len() - window..];
        let (pitch, loudness) = (dominant_frequency(last, f64::from(SAMPLE_RATE)), rms(last));
        if loudness > 300.0 && (pitch - 440.0).abs() < 5.0 {
            eprintln!(
                "the new microphone's {pitch:.2} Hz arrived {} ms after the switch",
                switched.elapsed().as_millis()
            );
            break;
        }
        assert!(Instant::now() < deadline, "the new microphone was not heard: {pitch:.1} Hz at RMS {loudness:.0}");
    }
    assert_eq!(pair.caller.state(), confab_call::CallState::Connected, "no renegotiation, no drop");
    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}
