//! Evidence for the choice of Socket.IO client (docs/architecture.md): N concurrent `sendMessage`
//! acks through `rust_socketio` 0.6 and through `confab_client::socketio`, against a real in-process
//! server. Each ack must carry the `clientMsgId` its emit sent; a mismatch is an ack delivered to the
//! wrong caller.
//!
//! Run: `cargo run -p confab-client --example rust_socketio_acks -- 300`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use confab_client::api::Api;
use futures_util::FutureExt;
use rust_socketio::Payload;
use rust_socketio::asynchronous::ClientBuilder;
use serde_json::json;

#[tokio::main]
async fn main() {
    let in_flight: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let mut config = confab_server::Config::with_data_dir(dir.path());
    config.rate_limits = confab_server::ratelimit::RateLimitConfig::off();
    let store = confab_server::open_store(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (router, state) = confab_server::app(config, store).await.unwrap();
    tokio::spawn(confab_server::serve(listener, router, state, std::future::pending()));

    // Two friends with a direct conversation, through the client core's REST API.
    let a = Api::new(&url, None).register("ack_a", "password123", None).await.unwrap();
    let b = Api::new(&url, None).register("ack_b", "password123", None).await.unwrap();
    let (api_a, api_b) = (Api::new(&url, Some(a.token.clone())), Api::new(&url, Some(b.token.clone())));
    api_a.request_friend("ack_b").await.unwrap();
    let request = api_b.friend_requests().await.unwrap().incoming.remove(0);
    api_b.accept_friend(request.id).await.unwrap();
    let conversation = api_a.create_conversation(vec![b.user.id], None).await.unwrap().id;
    let token = a.token;

    // rust_socketio: callbacks compare the clientMsgId in the ack with the one sent.
    let client = ClientBuilder::new(url.as_str()).auth(json!({"token": token})).connect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (matched, wrong) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    for i in 0..in_flight {
        let expected = format!("rs-{i}");
        let (matched, wrong) = (matched.clone(), wrong.clone());
        let payload = json!({"conversationId": conversation, "content": "x", "clientMsgId": expected});
        let _ = client
            .emit_with_ack("sendMessage", payload, Duration::from_secs(10), move |payload, _| {
                let (expected, matched, wrong) = (expected.clone(), matched.clone(), wrong.clone());
                async move {
                    let got = match payload {
                        Payload::Text(v) => v.first().map(|a| a.to_string()).unwrap_or_default(),
                        _ => String::new(),
                    };
                    if got.contains(&format!("\"{expected}\"")) { &matched } else { &wrong }
                        .fetch_add(1, Ordering::Relaxed);
                }
                .boxed()
            })
            .await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (m, w) = (matched.load(Ordering::Relaxed), wrong.load(Ordering::Relaxed));
    println!(
        "rust_socketio 0.6: {in_flight} acks in flight: {m} matched, {w} wrong, {} never answered",
        in_flight.saturating_sub(m + w)
    );

    // confab_client::socketio: the same workload.
    let (connection, _events) =
        confab_client::socketio::connect(&url, json!({"token": token}), Duration::from_secs(5)).await.unwrap();
    let tasks: Vec<_> = (0..in_flight)
        .map(|i| {
            let connection = connection.clone();
            tokio::spawn(async move {
                let expected = format!("own-{i}");
                let payload = json!({"conversationId": conversation, "content": "x", "clientMsgId": expected});
                let ack = connection.emit_with_ack("sendMessage", &payload, Duration::from_secs(10)).await;
                ack.map(|a| a["message"]["clientMsgId"] == expected.as_str())
            })
        })
        .collect();
    let (mut m, mut w, mut lost) = (0, 0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(true) => m += 1,
            Ok(false) => w += 1,
            Err(_) => lost += 1,
        }
    }
    println!("confab_client::socketio: {in_flight} acks in flight: {m} matched, {w} wrong, {lost} never answered");
}
