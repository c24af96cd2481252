//! The microphone and speaker through cpal: a missing device is a typed error, and (under
//! `scripts/with-pulse.sh`, a private PulseAudio with a 440 Hz virtual microphone and a null sink)
//! a call carries the microphone to the other side's speaker.

use std::time::Duration;

use confab_call::audio::SAMPLE_RATE;
use confab_call::{AudioSink, CallMedia, CollectingSink, CpalCapture, CpalPlayback, Error};

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

/// Records the null sink's monitor (what was played) with `parec`, as 48 kHz mono samples.
async fn record_monitor(duration: Duration) -> Vec<i16> {
    let child = tokio::process::Command::new("parec")
        .args(["--device=vspk.monitor", "--raw", "--format=s16le", "--channels=1", "--rate=48000"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("parec (pulseaudio-utils)");
    let mut stdout = child.stdout.expect("parec's output");
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(duration, tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut bytes)).await;
    bytes.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
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
    let speaker = CpalPlayback::open(Some("vspk")).expect("the virtual speaker");
    let pair = connect(
        CallMedia { audio_source: Some(Box::new(microphone)), ..CallMedia::default() },
        CallMedia { audio_sink: Some(Box::new(Tee(heard.clone(), speaker))), ..CallMedia::default() },
    )
    .await;
    // A fresh playback stream into the null sink stays silent for its first seconds (measured:
    // about 2 s standalone, 3-4 s here) before the server pulls at the requested 20 ms; record
    // after that. (Known issue: investigate on real hardware before calling it the null sink's.)
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Record what the callee's speaker plays, for a second, from the null sink's monitor.
    let recorded = record_monitor(Duration::from_secs(1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (caller, callee) = (pair.caller.stats(), pair.callee.stats());
    eprintln!("caller {caller:?}\ncallee {callee:?}");
    assert!(caller.audio_packets_sent >= 150, "the microphone delivered in real time: {}", caller.audio_packets_sent);
    assert!(callee.audio_packets_received * 100 >= caller.audio_packets_sent * 95);

    let decoded = heard.samples();
    let decoded_pitch = dominant_frequency(&decoded[4800..4800 + SAMPLE_RATE as usize / 2], f64::from(SAMPLE_RATE));
    // The first 200 ms of the recording may still be silence from before playback started.
    let played_pitch = dominant_frequency(&recorded[9600..], f64::from(SAMPLE_RATE));
    let loudness =
        (recorded[9600..].iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / (recorded.len() - 9600) as f64).sqrt();
    eprintln!("callee decoded {decoded_pitch:.2} Hz; its speaker played {played_pitch:.2} Hz at RMS {loudness:.0}");
    assert!((decoded_pitch - 440.0).abs() < 5.0, "decoded {decoded_pitch} Hz");
    assert!(loudness > 300.0, "the speaker played (near) silence: RMS {loudness}");
    assert!((played_pitch - 440.0).abs() < 5.0, "played {played_pitch} Hz");

    pair.caller.close().await.unwrap();
    pair.callee.close().await.unwrap();
}
