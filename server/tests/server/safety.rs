use std::time::Duration;

use rust_socketio::Payload;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn non_members_can_neither_read_nor_act() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("nm").await;
    let mallory = api.register("nm_mallory").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let mallory_socket = connect(&server.url, &mallory.token).await.unwrap();
    let message = send(&alice_socket, conversation, "private").await;
    let id = message["id"].clone();
    bob_socket.next("messageReceived").await;

    mallory_socket
        .refused(
            "sendMessage",
            json!({"conversationId": conversation, "content": "let me in", "clientMsgId": cid()}),
            "not_found",
        )
        .await;
    mallory_socket.refused("userTyping", json!({"conversationId": conversation, "isTyping": true}), "not_found").await;
    mallory_socket.refused("addReaction", json!({"messageId": id, "emoji": "💩"}), "not_found").await;
    mallory_socket.refused("editMessage", json!({"messageId": id, "content": "mine now"}), "not_found").await;
    mallory_socket.refused("deleteMessage", json!({"messageId": id}), "not_found").await;
    mallory_socket.refused("pinMessage", json!({"messageId": id, "pinned": true}), "not_found").await;
    mallory_socket.refused("markRead", json!({"conversationId": conversation, "seq": 1}), "not_found").await;
    mallory_socket
        .refused(
            "initiateCall",
            json!({"conversationId": conversation, "callType": "audio", "sdp": "v=0"}),
            "not_found",
        )
        .await;
    let sync = mallory_socket.ok("sync", json!({"since": {conversation.to_string(): 0}})).await;
    assert_eq!(sync["conversations"], json!([]), "sync shows only your conversations");
    for path in [
        format!("/api/messages/conversations/{conversation}"),
        format!("/api/messages/conversations/{conversation}/messages"),
        format!("/api/messages/conversations/{conversation}/pins"),
    ] {
        let (status, body) = api.get(&path, &mallory.token).await;
        assert_eq!(status, reqwest::StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = api
        .post(
            &format!("/api/messages/conversations/{conversation}/messages"),
            &mallory.token,
            json!({"content": "x", "clientMsgId": cid()}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::NOT_FOUND);

    // Nothing changed, nothing leaked.
    bob_socket.none("messageReceived", Duration::from_millis(200)).await;
    bob_socket.none("userTyping", Duration::from_millis(50)).await;
    let history = api.history(&alice.token, conversation).await;
    assert_eq!(history, vec![message]);
    let missing = alice_socket.refused("editMessage", json!({"messageId": 999_999, "content": "x"}), "not_found").await;
    assert!(missing["message"].as_str().unwrap().contains("not found"));
}

#[tokio::test]
async fn malformed_payloads_get_invalid_payload_acks() {
    let server = start_server().await;
    let api = server.api();
    let (alice, _bob, conversation) = api.pair("bad").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    for event in [
        "sendMessage",
        "userTyping",
        "addReaction",
        "removeReaction",
        "deleteMessage",
        "editMessage",
        "pinMessage",
        "markRead",
        "sync",
        "initiateCall",
        "acceptCall",
        "rejectCall",
        "endCall",
        "iceCandidate",
        "renegotiateCall",
    ] {
        for payload in [
            json!("a string"),
            json!(42),
            json!([1, 2]),
            json!({"conversationId": "not a number", "messageId": [], "callId": 5, "since": 5}),
        ] {
            let ack = socket.ack(event, payload.clone()).await;
            assert_eq!(ack["success"], false, "{event} {payload}: {ack}");
            assert_eq!(ack["error"]["code"], "invalid_payload", "{event} {payload}: {ack}");
        }
    }
    // No payload at all.
    let ack = socket.ack_raw("sendMessage", Payload::Text(vec![])).await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");
    // An event the server does not know is answered, not left hanging.
    let ack = socket.ack("sendMesage", json!({"conversationId": conversation})).await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");
    assert!(ack["error"]["message"].as_str().unwrap().contains("unknown event"), "{ack}");
    // Field rules.
    socket
        .refused(
            "sendMessage",
            json!({"conversationId": conversation, "content": "   ", "clientMsgId": cid()}),
            "invalid_payload",
        )
        .await;
    socket
        .refused(
            "sendMessage",
            json!({"conversationId": conversation, "content": "x".repeat(4001), "clientMsgId": cid()}),
            "too_large",
        )
        .await;
    socket
        .refused(
            "sendMessage",
            json!({"conversationId": conversation, "content": "nul\u{0}byte", "clientMsgId": cid()}),
            "invalid_payload",
        )
        .await;
    socket
        .refused(
            "sendMessage",
            json!({"conversationId": conversation, "content": "ok", "clientMsgId": "has spaces"}),
            "invalid_payload",
        )
        .await;
    socket
        .refused(
            "sendMessage",
            json!({"conversationId": conversation, "content": "ok", "clientMsgId": cid(), "type": "call"}),
            "invalid_payload",
        )
        .await;
    // Text that looks like SQL is just text.
    let sql = "'); DROP TABLE messages; --";
    assert_eq!(send(&socket, conversation, sql).await["content"], sql);
    assert_eq!(send(&socket, conversation, &"é".repeat(4000)).await["content"].as_str().unwrap().chars().count(), 4000);

    // REST: bad JSON, wrong types, too large.
    let client = reqwest::Client::new();
    let url = format!("{}/api/messages/conversations/{conversation}/messages", server.url);
    let response = client
        .post(&url)
        .bearer_auth(&alice.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "invalid_payload");
    let big = json!({"content": "x".repeat(70_000), "clientMsgId": cid()});
    let response = client.post(&url).bearer_auth(&alice.token).json(&big).send().await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "too_large");
    let (status, body) = api.get("/api/messages/conversations/abc", &alice.token).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (400, Some("invalid_payload")));
    let (status, body) = api.get("/no/such/endpoint", &alice.token).await;
    assert_eq!((status.as_u16(), body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn oversized_websocket_frames_close_only_that_connection() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("big").await;
    let attacker = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let huge = json!({"conversationId": conversation, "content": "x".repeat(200_000), "clientMsgId": cid()});
    let _ = attacker.client.emit("sendMessage", huge).await;
    // The server dropped the attacker (Bob sees Alice go offline) and keeps serving everyone else.
    assert_eq!(bob_socket.next("userOffline").await["userId"], alice.id);
    let alice_again = connect(&server.url, &alice.token).await.unwrap();
    send(&alice_again, conversation, "still fine").await;
    assert_eq!(bob_socket.next("messageReceived").await["content"], "still fine");
}

#[tokio::test]
async fn message_rate_limit_answers_with_retry_after() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("rl").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    let mut limited = None;
    let mut accepted = 0;
    for i in 0..40 {
        let ack = socket
            .ack(
                "sendMessage",
                json!({"conversationId": conversation, "content": format!("spam {i}"), "clientMsgId": cid()}),
            )
            .await;
        if ack["success"] == true {
            accepted += 1;
        } else {
            limited = Some(ack);
            break;
        }
    }
    let limited = limited.expect("the burst of 20 runs out");
    assert!(accepted >= 20, "the burst is honoured ({accepted})");
    assert_eq!(limited["error"]["code"], "rate_limited");
    let wait = limited["error"]["retryAfterMs"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 1000, "{wait}");
    // Only what was accepted is stored; another user is unaffected; after the wait it works again.
    assert_eq!(api.history(&bob.token, conversation).await.len(), accepted);
    let bob_socket = connect(&server.url, &bob.token).await.unwrap();
    send(&bob_socket, conversation, "not limited").await;
    tokio::time::sleep(Duration::from_millis(wait + 10)).await;
    send(&socket, conversation, "after waiting").await;

    // The REST fallback shares the bucket and answers 429 with Retry-After. (All at once: one by one
    // on a busy machine, the bucket could refill as fast as they arrive.)
    let client = reqwest::Client::new();
    let responses = futures_util::future::join_all((0..40).map(|_| {
        client
            .post(format!("{}/api/messages/conversations/{conversation}/messages", server.url))
            .bearer_auth(&alice.token)
            .json(&json!({"content": "rest spam", "clientMsgId": cid()}))
            .send()
    }))
    .await;
    let response = responses.into_iter().map(Result::unwrap).find(|r| r.status() == 429).expect("REST is limited too");
    assert!(response.headers().get("retry-after").is_some());
}

#[tokio::test]
async fn login_brute_force_is_limited_per_username() {
    let server = start_server_with(|c| {
        c.rate_limits =
            confab_server::ratelimit::RateLimitConfig::parse("register=1000:1000,login_ip=1000:1000").unwrap()
    })
    .await;
    let api = server.api();
    api.register("victim").await;
    let mut codes = Vec::new();
    for _ in 0..12 {
        let (_, body) = api
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                None,
                Some(json!({"username": "victim", "password": "guess guess"})),
            )
            .await;
        codes.push(body["error"]["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes[..10], vec!["unauthorized".to_owned(); 10]);
    assert_eq!(codes[10..], vec!["rate_limited".to_owned(); 2]);
}

/// Text that looks like SQL, markup or tricky Unicode is stored and returned exactly as sent (after
/// trimming), never interpreted; the tables are intact afterwards.
#[tokio::test]
async fn hostile_looking_text_is_stored_verbatim() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("verbatim").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    let texts = [
        "'; DROP TABLE messages; --",
        "\" OR 1=1 --",
        "Robert'); DELETE FROM users WHERE ('1'='1",
        "<script>alert(1)</script>",
        "👩‍👩‍👧‍👦 👍🏽 🇺🇦 1️⃣",
        "e\u{301} \u{202e}reversed\u{202c} zero\u{200b}width",
        "line one\nline two\ttabbed",
    ];
    for text in texts {
        let sent = send(&socket, conversation, text).await;
        assert_eq!(sent["content"], text);
    }
    let history = api.history(&bob.token, conversation).await;
    let mut stored: Vec<&str> = history.iter().map(|m| m["content"].as_str().unwrap()).collect();
    stored.reverse();
    assert_eq!(stored, texts);
    let (status, _) = api.get("/api/friends", &alice.token).await;
    assert_eq!(status, reqwest::StatusCode::OK);
}
