//! A headless call partner, for measuring the desktop app's video path against one app instead of
//! two on the same machine (`bench/video-fps.mjs` drives it).
//!
//! It registers a fresh user on `SERVER_URL`, befriends `FRIEND` (signing in as them once, to
//! accept), opens their direct conversation and video-calls them with the synthetic camera (the
//! numbered 640x480 15 fps pattern) and a 440 Hz tone. It prints `ringing <callId>` once the call
//! rings and `accepted` once answered, then keeps the call up until the other side ends it or
//! `SECONDS` pass, and prints the call's stats. `VIDEO_FPS` (default 15) sets the pattern's rate,
//! to find how much the receiving side could draw.
//!
//!     cargo run -p confab-client --release --example video_peer -- SERVER_URL FRIEND PASSWORD [SECONDS]

use std::sync::Arc;
use std::time::Duration;

use confab_client::media::{CallConfig, CallMedia, PatternSource, SineSource};
use confab_client::{CallEnd, CallPhase, Client, ClientEvent, MediaDevices, OpenedMedia};
use confab_protocol::CallType;

/// The test pattern (at `fps`) as the camera, a tone as the microphone; what comes back is discarded.
struct Synthetic {
    fps: u32,
}

impl MediaDevices for Synthetic {
    fn open(&self, _call_id: &str, call_type: CallType) -> OpenedMedia {
        OpenedMedia {
            media: CallMedia {
                audio_source: Some(Box::new(SineSource::new(440.0))),
                video_source: (call_type == CallType::Video)
                    .then(|| Box::new(PatternSource::new(640, 480, self.fps)) as _),
                ..CallMedia::default()
            },
            problems: Vec::new(),
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, friend, password, rest @ ..] = args.as_slice() else {
        return Err("usage: video_peer SERVER_URL FRIEND PASSWORD [SECONDS]".into());
    };
    let seconds: u64 = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(30);
    let dir = tempfile::tempdir()?;

    let me = Client::open(dir.path().join("peer")).await?;
    let name = format!("peer{}", std::process::id());
    me.register(server, &name, "correct horse battery", Some("Video peer")).await?;
    me.request_friend(friend).await?;

    // Accept as the friend from a device of their own, then sign that device out (it would ring too).
    let them = Client::open(dir.path().join("friend")).await?;
    let friend_user = them.login(server, friend, password).await?;
    let request = them
        .friend_requests()
        .await?
        .incoming
        .into_iter()
        .find(|r| r.from.username == name)
        .ok_or("the friend request did not arrive")?;
    them.accept_friend(request.id).await?;
    them.logout().await?;
    them.close().await;

    let conversation = me.create_conversation(vec![friend_user.id], None).await?;
    let fps = std::env::var("VIDEO_FPS").ok().map(|v| v.parse()).transpose()?.unwrap_or(15);
    me.set_media_devices(Arc::new(Synthetic { fps }));
    me.set_call_config(CallConfig::loopback_only());
    let mut events = me.subscribe();
    let call_id = me.start_call(conversation.id, CallType::Video).await?;
    println!("ringing {call_id}");

    let mut accepted = false;
    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(ClientEvent::Call(call)) if call.call_id == call_id => match (call.phase, call.end_reason) {
                    (CallPhase::Active, _) if !accepted => {
                        accepted = true;
                        println!("accepted");
                    }
                    (CallPhase::Ended, Some(CallEnd::Rejected)) => return Err("the call was rejected".into()),
                    (CallPhase::Ended, reason) => {
                        println!("ended by the other side: {reason:?}");
                        break;
                    }
                    _ => {}
                },
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            () = &mut deadline => {
                if let Some(stats) = me.call_stats(&call_id) {
                    println!("stats {}", serde_json::to_string(&stats)?);
                }
                me.end_call(&call_id).await?;
                break;
            }
        }
    }
    me.close().await;
    Ok(())
}
