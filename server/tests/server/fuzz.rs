//! Fuzzing through the real server: every socket event and every REST body gets random JSON and
//! structurally mutated valid payloads (proptest generates them). Each must be answered — an ack
//! `{success:false, error:{code, message}}` or a success, an HTTP 4xx with `{error:{code, message}}`
//! — never a panic, a hang, a 5xx, or state that disagrees with what was acknowledged.

use std::collections::HashSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::support::*;

const CODES: [&str; 10] = [
    "unauthorized",
    "forbidden",
    "not_found",
    "invalid_payload",
    "too_large",
    "rate_limited",
    "conflict",
    "busy",
    "internal",
    "unavailable",
];

/// Field names the handlers read, so random objects hit real fields as well as unknown ones.
const FIELDS: [&str; 16] = [
    "conversationId",
    "content",
    "clientMsgId",
    "messageId",
    "emoji",
    "isTyping",
    "seq",
    "since",
    "limit",
    "callId",
    "callType",
    "sdp",
    "candidate",
    "pinned",
    "kind",
    "reason",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[\\x00-\\x1f\\u{7f}\\u{200d}\\u{fe0f}]{1,6}",
        Just("👩‍👩‍👧‍👦".to_owned()),
        Just("👍🏽".to_owned()),
        Just("🇺🇦".to_owned()),
        Just("'; DROP TABLE messages; --".to_owned()),
        Just("x".repeat(5000)),
        Just(String::new()),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        (-3i64..40).prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(u64::MAX)),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf =
        prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool), number(), text().prop_map(Value::String)];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A valid payload with one field removed, retyped or replaced by something random.
fn mutated(valid: Value) -> impl Strategy<Value = Value> {
    let keys: Vec<String> = valid.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    (prop::sample::select(keys), 0..3u8, json_value()).prop_map(move |(key, how, random)| {
        let mut payload = valid.clone();
        let object = payload.as_object_mut().unwrap();
        match how {
            0 => {
                object.remove(&key);
            }
            1 => {
                object.insert(key, random);
            }
            _ => {
                let retyped = match object.get(&key) {
                    Some(Value::String(s)) => json!(s.len()),
                    Some(Value::Number(n)) => json!(n.to_string()),
                    Some(Value::Bool(b)) => json!(if *b { 1 } else { 0 }),
                    _ => json!({"nested": true}),
                };
                object.insert(key, retyped);
            }
        }
        payload
    })
}

fn sample<T: std::fmt::Debug>(runner: &mut TestRunner, strategy: &impl Strategy<Value = T>) -> T {
    strategy.new_tree(runner).expect("a value").current()
}

fn assert_answer(event: &str, payload: &Value, ack: &Value) {
    if ack["success"] == true {
        return;
    }
    assert_eq!(ack["success"], false, "{event} {payload}: {ack}");
    let code = ack["error"]["code"].as_str().unwrap_or_else(|| panic!("{event} {payload}: no code in {ack}"));
    assert!(CODES.contains(&code), "{event} {payload}: unknown code {code}");
    assert_ne!(code, "internal", "{event} {payload}: the server failed: {ack}");
    assert!(ack["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{event}: {ack}");
}

/// Random and mutated payloads for every client event; afterwards the server still works and the
/// stored history is exactly the acknowledged messages.
#[tokio::test]
async fn every_socket_event_answers_random_and_mutated_payloads() {
    const ROUNDS: usize = 40;
    let server =
        start_server_with(|c| c.rate_limits = confab_server::ratelimit::RateLimitConfig::parse("off").unwrap()).await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("fuzz").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    let _bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let first = send(&socket, conversation, "a message to act on").await;
    let message_id = first["id"].clone();

    let valid: Vec<(&str, Value)> = vec![
        ("sendMessage", json!({"conversationId": conversation, "content": "hi", "clientMsgId": "c1"})),
        ("userTyping", json!({"conversationId": conversation, "isTyping": true})),
        ("addReaction", json!({"messageId": message_id, "emoji": "👍"})),
        ("removeReaction", json!({"messageId": message_id, "emoji": "👍"})),
        ("editMessage", json!({"messageId": message_id, "content": "edited"})),
        ("pinMessage", json!({"messageId": message_id, "pinned": true})),
        ("markRead", json!({"conversationId": conversation, "seq": 1})),
        ("sync", json!({"since": {conversation.to_string(): 0}, "limit": 10})),
        ("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": "v=0"})),
        ("acceptCall", json!({"callId": "x", "sdp": "v=0"})),
        ("rejectCall", json!({"callId": "x", "reason": "no"})),
        ("endCall", json!({"callId": "x"})),
        ("iceCandidate", json!({"callId": "x", "candidate": {"candidate": "c"}})),
        ("renegotiateCall", json!({"callId": "x", "kind": "offer", "sdp": "v=0"})),
        // Deletion last among the valid shapes: it ends what the others act on.
        ("deleteMessage", json!({"messageId": message_id})),
    ];
    let mut runner = TestRunner::deterministic();
    let mut acked_ids = HashSet::new();
    acked_ids.insert(message_id.as_i64().unwrap());
    for (event, valid_payload) in &valid {
        let random = json_value();
        let mutation = mutated(valid_payload.clone());
        for round in 0..ROUNDS {
            let payload = if round % 2 == 0 { sample(&mut runner, &random) } else { sample(&mut runner, &mutation) };
            let ack = socket.ack(event, payload.clone()).await;
            assert_answer(event, &payload, &ack);
            if *event == "sendMessage" && ack["success"] == true {
                acked_ids.insert(ack["message"]["id"].as_i64().unwrap());
            }
            if *event == "initiateCall" && ack["success"] == true {
                socket.ok("endCall", json!({"callId": ack["callId"]})).await;
            }
        }
    }

    // Still serving, and the history holds exactly the acknowledged messages (call records aside).
    let last = send(&socket, conversation, "still here").await;
    acked_ids.insert(last["id"].as_i64().unwrap());
    let stored: HashSet<i64> = api
        .history(&bob.token, conversation)
        .await
        .iter()
        .filter(|m| m["type"] != "call")
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(stored, acked_ids);
}

/// Random JSON and raw bytes as REST bodies: a 4xx with `{error:{code, message}}`, never a 5xx.
#[tokio::test]
async fn every_rest_body_parser_answers_random_bodies_with_a_clear_error() {
    let server = start_server().await;
    let api = server.api();
    let (alice, _bob, conversation) = api.pair("restfuzz").await;
    let http = reqwest::Client::new();
    let paths = [
        "/api/auth/register".to_owned(),
        "/api/auth/login".to_owned(),
        "/api/friends/requests".to_owned(),
        "/api/messages/conversations".to_owned(),
        format!("/api/messages/conversations/{conversation}/messages"),
    ];
    let bodies = prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        Just(b"{\"content\": \"\xff\xfe\"}".to_vec()),
        Just(b"{\"content\": ".to_vec()),
    ];
    let mut runner = TestRunner::deterministic();
    for path in &paths {
        for _ in 0..40 {
            let body = sample(&mut runner, &bodies);
            let response = http
                .post(format!("{}{path}", server.url))
                .bearer_auth(&alice.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let shown = String::from_utf8_lossy(&body).into_owned();
            assert!(!status.is_server_error(), "POST {path} {shown:?}: {status}");
            if !status.is_success() {
                let error: Value =
                    response.json().await.unwrap_or_else(|e| panic!("POST {path} {shown:?}: {status}, {e}"));
                let code = error["error"]["code"].as_str().unwrap_or_else(|| panic!("POST {path}: {error}"));
                assert!(CODES.contains(&code), "{code}");
            }
        }
    }
    let (status, _) = api.get("/api/friends", &alice.token).await;
    assert_eq!(status, StatusCode::OK, "still serving");
}

/// Garbage at the Socket.IO and websocket level (broken packets, invalid UTF-8 in a text frame,
/// unknown packet types) closes at most that connection; everyone else is served.
#[tokio::test]
async fn garbage_frames_close_only_their_own_connection() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as Ws;

    let server = start_server().await;
    let api = server.api();
    let (alice, _bob, conversation) = api.pair("garbage").await;
    let healthy = connect(&server.url, &alice.token).await.unwrap();
    let addr = server.url.trim_start_matches("http://");
    let frames: Vec<Ws> = vec![
        Ws::text("42[\"sendMessage\","),
        Ws::text("42{}"),
        Ws::text("9"),
        Ws::text("4"),
        Ws::text("42[\"sendMessage\",{\"conversationId\":1}]"),
        Ws::binary(vec![0xff, 0xfe, 0x00]),
        Ws::text("42[1,2,3]"),
        Ws::text("451-[\"sendMessage\",{\"_placeholder\":true,\"num\":0}]"),
    ];
    for frame in frames {
        let shown = format!("{frame:?}");
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"))
            .await
            .unwrap();
        ws.next().await.unwrap().unwrap(); // engine.io open
        ws.send(Ws::text(format!("40{}", json!({"token": alice.token})))).await.unwrap();
        ws.next().await.unwrap().unwrap(); // namespace connect
        let _ = ws.send(frame).await;
        // Whatever happens to this connection, it ends or answers; the server serves the others.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(300), ws.next()).await;
        send(&healthy, conversation, &format!("after {shown}")).await;
    }
    // Invalid UTF-8 inside a text frame, written as raw websocket bytes.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"), stream)
            .await
            .unwrap();
    ws.next().await.unwrap().unwrap();
    let raw = ws.get_mut();
    use tokio::io::AsyncWriteExt;
    // FIN + text opcode, masked, 3-byte payload 0xff 0xfe 0xfd (mask of zeros).
    raw.write_all(&[0x81, 0x83, 0, 0, 0, 0, 0xff, 0xfe, 0xfd]).await.unwrap();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), ws.next()).await;
    send(&healthy, conversation, "after invalid UTF-8").await;
}
