use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

const QUIET: Duration = Duration::from_millis(400);

#[tokio::test]
async fn message_reaches_every_other_device_and_is_stored_before_the_ack() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("msg").await;
    let mut alice_phone = connect(&server.url, &alice.token).await.unwrap();
    let mut alice_laptop = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();

    let ack = alice_phone
        .ok("sendMessage", json!({"conversationId": conversation, "content": "  hello bob  ", "type": "text", "clientMsgId": "m-1", "recipientId": bob.id}))
        .await;
    let message = &ack["message"];
    assert!(message["id"].as_i64().is_some());
    assert_eq!(message["seq"], 1);
    assert_eq!(message["updatedSeq"], 1);
    assert!(message["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(message["content"], "hello bob", "stored trimmed");
    assert_eq!(message["senderId"], alice.id);
    assert_eq!(message["senderUsername"], "msg_a");
    assert_eq!(message["clientMsgId"], "m-1");
    assert_eq!(message["reactions"], json!({}));
    assert_eq!(message["pinned"], false);

    // Acked means stored: history has it.
    let history = api.history(&bob.token, conversation).await;
    assert_eq!(history.len(), 1);
    assert_eq!(&history[0], message);

    assert_eq!(&bob_socket.next("messageReceived").await, message);
    assert_eq!(&alice_laptop.next("messageReceived").await, message, "the sender's other device gets it");
    alice_phone.none("messageReceived", QUIET).await;
}

#[tokio::test]
async fn spoofed_sender_is_ignored() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("spoof").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let ack = alice_socket
        .ok("sendMessage", json!({"conversationId": conversation, "content": "hi", "clientMsgId": cid(), "senderId": bob.id, "userId": bob.id, "senderUsername": "spoof_b"}))
        .await;
    assert_eq!(ack["message"]["senderId"], alice.id);
    assert_eq!(ack["message"]["senderUsername"], "spoof_a");
    assert_eq!(api.history(&bob.token, conversation).await[0]["senderId"], alice.id);
}

#[tokio::test]
async fn duplicate_client_msg_id_returns_the_same_message_once() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("dup").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let payload = json!({"conversationId": conversation, "content": "once", "clientMsgId": "retry-me"});
    let first = alice_socket.ok("sendMessage", payload.clone()).await;
    let second = alice_socket.ok("sendMessage", payload).await;
    assert_eq!(first["message"], second["message"]);
    // The REST fallback shares the key space.
    let (status, body) = api
        .post(
            &format!("/api/messages/conversations/{conversation}/messages"),
            &alice.token,
            json!({"content": "once", "clientMsgId": "retry-me"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"], first["message"]);

    bob_socket.next("messageReceived").await;
    bob_socket.none("messageReceived", QUIET).await;
    assert_eq!(api.history(&bob.token, conversation).await.len(), 1);

    // The same id in another conversation is a conflict, not a silent merge.
    let carol = api.register("dup_c").await;
    api.befriend(&alice, &carol).await;
    let other = api.direct(&alice, &carol).await;
    alice_socket
        .refused("sendMessage", json!({"conversationId": other, "content": "x", "clientMsgId": "retry-me"}), "conflict")
        .await;
}

#[tokio::test]
async fn rest_fallback_uses_the_same_path_and_broadcast() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("rest").await;
    let mut alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let (status, body) = api
        .post(
            &format!("/api/messages/conversations/{conversation}/messages"),
            &alice.token,
            json!({"content": "via rest", "clientMsgId": cid()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(bob_socket.next("messageReceived").await, body["message"]);
    assert_eq!(
        alice_socket.next("messageReceived").await,
        body["message"],
        "all of the sender's devices get a REST message"
    );
}

#[tokio::test]
async fn history_pages_both_ways() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("page").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    for i in 1..=7 {
        send(&socket, conversation, &format!("m{i}")).await;
    }
    let path = |q: &str| format!("/api/messages/conversations/{conversation}/messages?{q}");
    let contents = |body: &serde_json::Value| -> Vec<String> {
        body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap().to_owned()).collect()
    };
    let (_, newest) = api.get(&path("limit=3"), &bob.token).await;
    assert_eq!(contents(&newest), ["m7", "m6", "m5"]);
    assert_eq!(newest["hasMore"], true);
    let (_, older) = api.get(&path("before=5&limit=3"), &bob.token).await;
    assert_eq!(contents(&older), ["m4", "m3", "m2"]);
    let (_, oldest) = api.get(&path("before=2&limit=3"), &bob.token).await;
    assert_eq!(contents(&oldest), ["m1"]);
    assert_eq!(oldest["hasMore"], false);
    let (_, after) = api.get(&path("after=5"), &bob.token).await;
    assert_eq!(contents(&after), ["m6", "m7"]);
    for bad in ["limit=0", "limit=101", "before=x", "before=1&after=1"] {
        let (status, body) = api.get(&path(bad), &bob.token).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_payload");
    }
}

#[tokio::test]
async fn concurrent_writers_get_gapless_sequence_numbers() {
    let server = start_server_with(|c| c.rate_limits = confab_server::ratelimit::RateLimitConfig::off()).await;
    let api = server.api();
    let a = api.register("conc_a").await;
    let b = api.register("conc_b").await;
    let c = api.register("conc_c").await;
    api.befriend(&a, &b).await;
    api.befriend(&a, &c).await;
    let (_, body) = api
        .post("/api/messages/conversations", &a.token, json!({"participantIds": [b.id, c.id], "title": "busy"}))
        .await;
    let conversation = body["conversation"]["id"].as_i64().unwrap();

    let mut tasks = Vec::new();
    for writer in [&a, &b, &c] {
        for i in 0..60 {
            let (api, token) = (api.clone(), writer.token.clone());
            tasks.push(tokio::spawn(async move {
                let (status, body) = api
                    .post(
                        &format!("/api/messages/conversations/{conversation}/messages"),
                        &token,
                        json!({"content": format!("n{i}"), "clientMsgId": cid()}),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                body["message"]["seq"].as_i64().unwrap()
            }));
        }
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=180).collect::<Vec<_>>(), "every seq once, no gaps");
}

#[tokio::test]
async fn racing_retries_of_one_client_msg_id_store_one_message() {
    let server = start_server_with(|c| c.rate_limits = confab_server::ratelimit::RateLimitConfig::off()).await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("race").await;
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (api, token) = (api.clone(), alice.token.clone());
            tokio::spawn(async move {
                let path = format!("/api/messages/conversations/{conversation}/messages");
                let (status, body) =
                    api.post(&path, &token, json!({"content": "once", "clientMsgId": "same-id"})).await;
                assert!(status.is_success(), "{status} {body}");
                body["message"]["id"].as_i64().unwrap()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry answered with the one stored message");
    assert_eq!(api.history(&bob.token, conversation).await.len(), 1);
}
