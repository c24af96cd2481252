//! A headless call party for tests and measurements across real networks (`crates/client/tests/nat.rs`
//! runs two of them in network namespaces behind NATs; `bench/relay-setup.sh` times them).
//!
//! The callee registers `ME`, prints `ready`, then answers every call that rings. The caller
//! registers `ME`, befriends `FRIEND` (signing in as them once from a second device, to accept),
//! and places `--calls N` audio calls one after another. Each side sends its tone (`--tone`, by
//! default 440 Hz for the caller and 660 Hz for the callee) from the moment its media connects,
//! for `--seconds S`, then mutes, lets what is in flight land, and prints one JSON line for the
//! call:
//!
//! ```json
//! {"role":"caller","call":0,"callId":"…","connected":true,"endReason":null,
//!  "startedAtMs":…,"answeredAtMs":…,"connectedAtMs":…,"firstAudioAtMs":…,
//!  "answerToConnectedMs":…,"answerToFirstAudioMs":…,"stats":{…CallStats…},
//!  "samplesHeard":…,"heardHz":660.0,"remoteCandidateTypes":["host","relay"],
//!  "selectedPair":{"local":"relay","remote":"relay"},
//!  "mediaStates":[["connecting",12],["connected",380]],"tone":440.0}
//! ```
//!
//! Times are milliseconds since the Unix epoch, so the two processes' lines can be compared
//! (`mediaStates`: ms since this side started the call or saw it ring). `selectedPair` is ICE's
//! selected candidate pair, this side's candidate type and the other side's (`CallStats`'s
//! `selectedPair`; `null` if the media never connected).
//! `answeredAtMs` is when this side saw the answer: the callee just before `acceptCall`, the
//! caller when `callAccepted` arrived. A call whose media does not connect within
//! `--connect-timeout` seconds after the answer (or that the client core ends first) is reported
//! with `"connected":false` and ended by the caller.
//!
//! ICE servers: whatever the server hands out (`GET /api/calls/ice-servers`) plus `--ice URL`
//! (with `--ice-username` / `--ice-credential`), like a user's settings. Local addresses are the
//! app's default (every non-loopback interface).
//!
//!     cargo run -p confab-client --example call_peer -- callee SERVER_URL ME [OPTIONS]
//!     cargo run -p confab-client --example call_peer -- caller SERVER_URL ME FRIEND [OPTIONS]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use confab_client::media::audio::SAMPLE_RATE;
use confab_client::media::probe::dominant_frequency;
use confab_client::media::{CallConfig, CallMedia, CallState, CollectingSink, IceServer, SineSource};
use confab_client::{CallDirection, CallPhase, CallSnapshot, Client, ClientEvent, MediaDevices, OpenedMedia};
use confab_protocol::CallType;
use confab_protocol::time::now_ms;
use serde_json::{Value, json};
use tokio::sync::broadcast;

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// Every account this tool makes has this password.
const PASSWORD: &str = "correct horse battery";

/// A tone as the microphone, a recorder as the speaker (a fresh one per call).
struct ToneDevices {
    tone: f64,
    heard: Mutex<CollectingSink>,
}

impl ToneDevices {
    fn heard(&self) -> CollectingSink {
        self.heard.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl MediaDevices for ToneDevices {
    fn open(&self, _call_id: &str, _call_type: CallType) -> OpenedMedia {
        let sink = CollectingSink::new();
        *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = sink.clone();
        OpenedMedia {
            media: CallMedia {
                audio_source: Some(Box::new(SineSource::new(self.tone))),
                audio_sink: Some(Box::new(sink)),
                ..CallMedia::default()
            },
            problems: Vec::new(),
        }
    }
}

struct Options {
    calls: u32,
    seconds: f64,
    connect_timeout: Duration,
    tone: Option<f64>,
    ice: Option<IceServer>,
}

fn parse_options(args: &[String]) -> Result<Options, AnyError> {
    let mut options =
        Options { calls: 1, seconds: 2.0, connect_timeout: Duration::from_secs(8), tone: None, ice: None };
    let mut ice = IceServer::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--calls" => options.calls = value()?.parse()?,
            "--seconds" => options.seconds = value()?.parse()?,
            "--connect-timeout" => options.connect_timeout = Duration::from_secs_f64(value()?.parse()?),
            "--tone" => options.tone = Some(value()?.parse()?),
            "--ice" => ice.urls.push(value()?.clone()),
            "--ice-username" => ice.username = value()?.clone(),
            "--ice-credential" => ice.credential = value()?.clone(),
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    if !ice.urls.is_empty() {
        options.ice = Some(ice);
    }
    Ok(options)
}

const USAGE: &str = "usage: call_peer callee SERVER_URL ME [OPTIONS] | call_peer caller SERVER_URL ME FRIEND [OPTIONS]
options: --calls N  --seconds S  --connect-timeout S  --tone HZ  --ice URL --ice-username U --ice-credential C";

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (caller, server, me, friend, rest) = match args.as_slice() {
        [role, server, me, rest @ ..] if role == "callee" => (false, server, me, None, rest),
        [role, server, me, friend, rest @ ..] if role == "caller" => (true, server, me, Some(friend), rest),
        _ => return Err(USAGE.into()),
    };
    let options = parse_options(rest)?;
    let tone = options.tone.unwrap_or(if caller { 440.0 } else { 660.0 });
    let dir = tempfile::tempdir()?;

    let client = Client::open(dir.path().join("me")).await?;
    client.register(server, me, PASSWORD, None).await?;
    let devices = Arc::new(ToneDevices { tone, heard: Mutex::new(CollectingSink::new()) });
    client.set_media_devices(devices.clone());
    client.set_call_config(CallConfig { ice_servers: options.ice.iter().cloned().collect(), ..CallConfig::default() });
    let mut events = client.subscribe();

    if let Some(friend) = friend {
        let conversation = befriend(&client, server, me, friend, dir.path()).await?;
        for n in 0..options.calls {
            let report = place_call(&client, &mut events, &devices, conversation, n, &options).await?;
            println!("{report}");
        }
    } else {
        println!("ready");
        for n in 0..options.calls {
            let report = answer_call(&client, &mut events, &devices, n, &options).await?;
            println!("{report}");
        }
    }
    client.close().await;
    Ok(())
}

/// Sends a friend request to `friend`, accepts it as them from a second device (signed out again,
/// so that it does not ring), and opens the direct conversation.
async fn befriend(
    client: &Client,
    server: &str,
    me: &str,
    friend: &str,
    dir: &std::path::Path,
) -> Result<confab_protocol::ConversationId, AnyError> {
    client.request_friend(friend).await?;
    let them = Client::open(dir.join("friend")).await?;
    let friend_user = them.login(server, friend, PASSWORD).await?;
    let request = them
        .friend_requests()
        .await?
        .incoming
        .into_iter()
        .find(|r| r.from.username == me)
        .ok_or("the friend request did not arrive")?;
    them.accept_friend(request.id).await?;
    them.logout().await?;
    them.close().await;
    Ok(client.create_conversation(vec![friend_user.id], None).await?.id)
}

/// What one side saw of one call.
#[derive(Default)]
struct Seen {
    call_id: String,
    started_at: i64,
    answered_at: Option<i64>,
    connected_at: Option<i64>,
    first_audio_at: Option<i64>,
    end_reason: Option<Value>,
    remote_candidate_types: Vec<String>,
    /// The media connection's states as they came, with when (ms since the epoch).
    media_states: Vec<(CallState, i64)>,
}

async fn place_call(
    client: &Client,
    events: &mut broadcast::Receiver<ClientEvent>,
    devices: &ToneDevices,
    conversation: confab_protocol::ConversationId,
    n: u32,
    options: &Options,
) -> Result<Value, AnyError> {
    let started_at = now_ms();
    let call_id = client.start_call(conversation, CallType::Audio).await?;
    let mut seen = Seen { call_id, started_at, ..Seen::default() };
    follow(client, events, &mut seen, options).await;
    let report = report(client, devices, &seen, "caller", n).await;
    // Give the callee time to take its own counts before the call ends under it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if seen.end_reason.is_none() {
        client.end_call(&seen.call_id).await?;
    }
    wait_ended(events, &seen.call_id).await;
    Ok(report)
}

async fn answer_call(
    client: &Client,
    events: &mut broadcast::Receiver<ClientEvent>,
    devices: &ToneDevices,
    n: u32,
    options: &Options,
) -> Result<Value, AnyError> {
    let ringing = loop {
        match events.recv().await {
            Ok(ClientEvent::Call(call))
                if call.direction == CallDirection::Incoming && call.phase == CallPhase::Ringing =>
            {
                break call;
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return Err("the client closed".into()),
        }
    };
    let answered_at = now_ms();
    let mut seen = Seen {
        call_id: ringing.call_id.clone(),
        started_at: answered_at,
        answered_at: Some(answered_at),
        ..Seen::default()
    };
    client.accept_call(&seen.call_id).await?;
    follow(client, events, &mut seen, options).await;
    let report = report(client, devices, &seen, "callee", n).await;
    if seen.end_reason.is_none() {
        wait_ended(events, &seen.call_id).await;
    }
    Ok(report)
}

/// Follows a call from its start until it has sent its tone (or failed to connect, or ended):
/// notes the answer, the media connecting, the first audio packet and the candidates offered.
async fn follow(client: &Client, events: &mut broadcast::Receiver<ClientEvent>, seen: &mut Seen, options: &Options) {
    let mut poll = tokio::time::interval(Duration::from_millis(2));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Until the answer: as long as the server lets it ring.
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(ClientEvent::Call(call)) => on_snapshot(&call, seen),
                Ok(ClientEvent::IceCandidate(c)) if c.call_id == seen.call_id => {
                    let line = c.candidate["candidate"].as_str().unwrap_or_default();
                    if let Some(kind) = candidate_type(line)
                        && !seen.remote_candidate_types.iter().any(|k| k == kind)
                    {
                        seen.remote_candidate_types.push(kind.to_owned());
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = poll.tick() => {
                if seen.first_audio_at.is_none()
                    && client.call_stats(&seen.call_id).is_some_and(|s| s.audio_packets_received > 0)
                {
                    seen.first_audio_at = Some(now_ms());
                }
            }
            // Done sending, or answered but not connected in time, or never answered.
            () = tokio::time::sleep_until(deadline) => break,
        }
        if seen.end_reason.is_some() {
            return;
        }
        if let Some(answered_at) = seen.answered_at {
            let target = match seen.connected_at {
                // Send the tone for `seconds` from the moment the media connected.
                Some(connected_at) => connected_at + (options.seconds * 1000.0) as i64,
                None => answered_at + options.connect_timeout.as_millis() as i64,
            };
            let left = Duration::from_millis((target - now_ms()).max(0) as u64);
            deadline = tokio::time::Instant::now() + left;
        }
    }
    client.set_call_muted(&seen.call_id, true).ok();
}

fn on_snapshot(call: &CallSnapshot, seen: &mut Seen) {
    if call.replaces.as_deref() == Some(seen.call_id.as_str()) {
        seen.call_id = call.call_id.clone();
    }
    if call.call_id != seen.call_id {
        return;
    }
    if call.phase == CallPhase::Active && seen.answered_at.is_none() {
        seen.answered_at = Some(now_ms());
    }
    if let Some(state) = call.media
        && seen.media_states.last().is_none_or(|(last, _)| *last != state)
    {
        seen.media_states.push((state, now_ms()));
    }
    if call.media == Some(CallState::Connected) && seen.connected_at.is_none() {
        seen.connected_at = Some(now_ms());
    }
    if call.phase == CallPhase::Ended {
        seen.end_reason = Some(serde_json::to_value(call.end_reason).unwrap_or(Value::Null));
    }
}

/// The `typ` of an ICE candidate attribute (`candidate:… typ relay raddr …`).
fn candidate_type(candidate: &str) -> Option<&str> {
    let mut words = candidate.split_whitespace();
    words.by_ref().find(|w| *w == "typ")?;
    words.next()
}

/// Lets what is in flight land, then takes this side's counts and the pitch of what it heard.
async fn report(client: &Client, devices: &ToneDevices, seen: &Seen, role: &str, n: u32) -> Value {
    if seen.connected_at.is_some() && seen.end_reason.is_none() {
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let stats = client.call_stats(&seen.call_id);
    let samples = devices.heard().samples();
    // Skip the first 100 ms (the decoder warming up), take up to a second.
    let rate = SAMPLE_RATE as usize;
    let heard_hz = (samples.len() >= rate / 10 + rate / 4).then(|| {
        let window = &samples[rate / 10..samples.len().min(rate / 10 + rate)];
        dominant_frequency(window, f64::from(SAMPLE_RATE))
    });
    let since = |at: Option<i64>| Some(at? - seen.answered_at?);
    let tone = devices.tone;
    json!({
        "role": role,
        "call": n,
        "callId": seen.call_id,
        "connected": seen.connected_at.is_some(),
        "endReason": seen.end_reason,
        "startedAtMs": seen.started_at,
        "answeredAtMs": seen.answered_at,
        "connectedAtMs": seen.connected_at,
        "firstAudioAtMs": seen.first_audio_at,
        "answerToConnectedMs": since(seen.connected_at),
        "answerToFirstAudioMs": since(seen.first_audio_at),
        "stats": stats,
        "samplesHeard": samples.len(),
        "heardHz": heard_hz,
        "remoteCandidateTypes": seen.remote_candidate_types,
        "selectedPair": stats.and_then(|s| s.selected_pair),
        "mediaStates": seen.media_states.iter().map(|(state, at)| json!([state, at - seen.started_at])).collect::<Vec<_>>(),
        "tone": tone,
    })
}

/// Waits (briefly) for the call's ended snapshot, so the next call starts clean.
async fn wait_ended(events: &mut broadcast::Receiver<ClientEvent>, call_id: &str) {
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(ClientEvent::Call(call)) if call.call_id == call_id && call.phase == CallPhase::Ended => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
    .await;
}
