//! `--storm`: a reconnect storm against Confab.
//!
//! Every connection connects and says so; then the generator prints `storm: ready` and waits for
//! the server to go away and come back (`bench/run-faults.sh` kills and restarts it). Each connection
//! reconnects on its own with the desktop client's policy (`confab_protocol::backoff`: 0.5–1 s at
//! first, doubling to a 5 s cap, random jitter, never giving up) and then catches up with `sync`
//! (its conversation since seq 0) and waits for the ack. Reported: how many were back and caught up within `--storm-timeout`,
//! the time from each connection's loss to its caught-up ack (p50/p99/max), refused handshakes and
//! failed syncs along the way.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use confab_protocol::backoff::Backoff;
use confab_protocol::notifications::SyncPage;
use confab_protocol::requests::Sync;
use confab_protocol::{Ack, Request};
use confab_socketio::{PONG, Packet, write_event};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::sio::{self, Endpoint};

/// One connection of the storm.
pub struct StormConn {
    pub endpoint: Endpoint,
    pub source: Option<IpAddr>,
    /// The handshake's auth object, as JSON.
    pub auth: String,
    pub conversation_id: i64,
}

/// Counters shared by the connection tasks.
#[derive(Default)]
struct Tally {
    /// Connections whose first connection is up.
    connected: AtomicU64,
    /// Connections that lost their connection (the server went away).
    lost: AtomicU64,
    /// Connections back and caught up after a loss.
    resynced: AtomicU64,
    /// Reconnect attempts that failed (refused, reset, timed out).
    failed_attempts: AtomicU64,
    /// `sync` acks that were not `success: true`.
    failed_syncs: AtomicU64,
    /// Loss → caught up, µs.
    recovery_us: Mutex<Vec<u64>>,
}

#[derive(Debug, Serialize)]
pub struct StormReport {
    pub connections: usize,
    pub lost: u64,
    pub resynced: u64,
    pub failed_attempts: u64,
    pub failed_syncs: u64,
    pub recovery_p50_s: Option<f64>,
    pub recovery_p99_s: Option<f64>,
    pub recovery_max_s: Option<f64>,
    /// First loss → last connection caught up.
    pub storm_s: Option<f64>,
}

/// `421["sync",{"since":{"<conversation>":0}}]`: the whole conversation, with ack id 1.
fn sync_frame(conversation_id: i64) -> serde_json::Result<String> {
    let sync = Sync { since: [(conversation_id, 0)].into(), limit: None };
    let body = serde_json::to_string(&sync)?;
    let mut frame = String::new();
    write_event(&mut frame, Some(1), <Sync as Request>::EVENT, |out| out.push_str(&body));
    Ok(frame)
}

/// Runs the storm; returns when every lost connection has caught up or `timeout` after the first loss.
pub async fn run(conns: Vec<StormConn>, connect_timeout: Duration, timeout: Duration) -> anyhow::Result<StormReport> {
    let n = conns.len();
    let tally = Arc::new(Tally::default());
    let origin = Instant::now();
    let first_loss_us = Arc::new(AtomicU64::new(u64::MAX));
    let last_resync_us = Arc::new(AtomicU64::new(0));
    let connect_gate = Arc::new(tokio::sync::Semaphore::new(200));
    for conn in conns {
        let (tally, first_loss_us, last_resync_us, gate) =
            (tally.clone(), first_loss_us.clone(), last_resync_us.clone(), connect_gate.clone());
        let sync_frame = sync_frame(conn.conversation_id)?;
        tokio::spawn(async move {
            let mut first = true;
            let mut lost_at: Option<Instant> = None;
            let mut backoff = Backoff::default();
            loop {
                let permit = if first { Some(gate.acquire().await) } else { None };
                let ws = sio::connect(&conn.endpoint, conn.source, &conn.auth, connect_timeout, false).await;
                drop(permit);
                let mut ws = match ws {
                    Ok(ws) => ws,
                    Err(_) => {
                        tally.failed_attempts.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(backoff.next_delay()).await;
                        continue;
                    }
                };
                backoff.reset();
                if first {
                    first = false;
                    tally.connected.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(lost) = lost_at.take() {
                    if ws.send(Frame::text(sync_frame.as_str())).await.is_err() {
                        lost_at = Some(lost);
                        continue;
                    }
                    // Wait for the ack; answer pings meanwhile.
                    let mut caught_up = false;
                    while let Some(Ok(frame)) = ws.next().await {
                        let Frame::Text(text) = frame else { continue };
                        match Packet::parse(&text) {
                            Packet::Ping => {
                                let _ = ws.send(Frame::text(PONG)).await;
                            }
                            Packet::Ack { id: 1, args } => {
                                let ack = Ack::<SyncPage>::deserialize(&mut serde_json::Deserializer::from_str(args));
                                if matches!(ack, Ok(Ack::Ok { .. })) {
                                    caught_up = true;
                                } else {
                                    tally.failed_syncs.fetch_add(1, Ordering::Relaxed);
                                }
                                break;
                            }
                            _ => {}
                        }
                    }
                    if !caught_up {
                        lost_at = Some(lost);
                        continue;
                    }
                    tally.resynced.fetch_add(1, Ordering::Relaxed);
                    tally.recovery_us.lock().await.push(lost.elapsed().as_micros() as u64);
                    last_resync_us.fetch_max(origin.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
                // Connected: answer pings until the connection goes.
                while let Some(Ok(frame)) = ws.next().await {
                    if let Frame::Text(text) = &frame
                        && Packet::parse(text) == Packet::Ping
                        && ws.send(Frame::text(PONG)).await.is_err()
                    {
                        break;
                    }
                    if matches!(frame, Frame::Close(_)) {
                        break;
                    }
                }
                lost_at = Some(Instant::now());
                tally.lost.fetch_add(1, Ordering::Relaxed);
                first_loss_us.fetch_min(origin.elapsed().as_micros() as u64, Ordering::Relaxed);
                // Like the client, the first attempt also waits: every client coming back at the same
                // instant is the storm this avoids.
                tokio::time::sleep(backoff.next_delay()).await;
            }
        });
    }

    let started = Instant::now();
    while tally.connected.load(Ordering::Relaxed) < n as u64 {
        if started.elapsed() > connect_timeout * 4 {
            anyhow::bail!("only {} of {n} connected", tally.connected.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("storm: ready ({n} connected in {:.1}s)", started.elapsed().as_secs_f64());

    // Wait for the loss, then for everyone to come back.
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let first_loss = first_loss_us.load(Ordering::Relaxed);
        if first_loss == u64::MAX {
            continue;
        }
        let since_loss = Duration::from_micros((origin.elapsed().as_micros() as u64).saturating_sub(first_loss));
        let lost = tally.lost.load(Ordering::Relaxed);
        let resynced = tally.resynced.load(Ordering::Relaxed);
        if (lost == n as u64 && resynced >= lost) || since_loss > timeout {
            break;
        }
    }
    let mut recovery = tally.recovery_us.lock().await.clone();
    recovery.sort_unstable();
    let quantile = |q: f64| -> Option<f64> {
        (!recovery.is_empty()).then(|| recovery[((recovery.len() - 1) as f64 * q).round() as usize] as f64 / 1e6)
    };
    let first_loss = first_loss_us.load(Ordering::Relaxed);
    let last = last_resync_us.load(Ordering::Relaxed);
    Ok(StormReport {
        connections: n,
        lost: tally.lost.load(Ordering::Relaxed),
        resynced: tally.resynced.load(Ordering::Relaxed),
        failed_attempts: tally.failed_attempts.load(Ordering::Relaxed),
        failed_syncs: tally.failed_syncs.load(Ordering::Relaxed),
        recovery_p50_s: quantile(0.5),
        recovery_p99_s: quantile(0.99),
        recovery_max_s: quantile(1.0),
        storm_s: (first_loss != u64::MAX && last > first_loss).then(|| (last - first_loss) as f64 / 1e6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_frame_bytes() {
        assert_eq!(sync_frame(12).unwrap(), r#"421["sync",{"since":{"12":0}}]"#);
    }

    #[test]
    fn sync_ack_parses() {
        let ok = r#"{"success":true,"conversations":[],"hasMore":false}"#;
        let ack = Ack::<SyncPage>::deserialize(&mut serde_json::Deserializer::from_str(ok)).unwrap();
        assert!(matches!(ack, Ack::Ok { data: SyncPage { has_more: false, .. }, .. }));
        let err = r#"{"success":false,"error":{"code":"internal","message":"x"}}"#;
        let ack = Ack::<SyncPage>::deserialize(&mut serde_json::Deserializer::from_str(err)).unwrap();
        assert!(matches!(ack, Ack::Err { .. }));
    }
}
