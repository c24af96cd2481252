use std::time::Duration;

use serde_json::json;

use crate::support::*;

const SDP_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const SDP_ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

#[tokio::test]
async fn call_rings_every_device_is_answered_on_one_and_ends_with_a_record() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("call").await;
    let mut caller = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_phone = connect(&server.url, &bob.token).await.unwrap();
    let mut bob_laptop = connect(&server.url, &bob.token).await.unwrap();

    let ack =
        caller.ok("initiateCall", json!({"conversationId": conversation, "callType": "video", "sdp": SDP_OFFER})).await;
    let call_id = ack["callId"].as_str().unwrap().to_owned();
    for device in [&mut bob_phone, &mut bob_laptop] {
        let incoming = device.next("incomingCall").await;
        assert_eq!(
            incoming,
            json!({"callId": call_id, "callerId": alice.id, "callerUsername": "call_a", "conversationId": conversation, "callType": "video", "sdp": SDP_OFFER})
        );
    }
    // Trickle ICE while ringing reaches every ringing device.
    caller.ok("iceCandidate", json!({"callId": call_id, "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}})).await;
    assert_eq!(bob_laptop.next("iceCandidate").await["fromUserId"], alice.id);
    bob_phone.next("iceCandidate").await;

    bob_phone.ok("acceptCall", json!({"callId": call_id, "sdp": SDP_ANSWER})).await;
    assert_eq!(caller.next("callAccepted").await, json!({"callId": call_id, "sdp": SDP_ANSWER}));
    let elsewhere = bob_laptop.next("callEnded").await;
    assert_eq!(elsewhere["reason"], "answeredElsewhere");
    bob_laptop.refused("acceptCall", json!({"callId": call_id, "sdp": SDP_ANSWER}), "conflict").await;

    // Now ICE goes to the answering device only, both ways.
    let candidate = json!({"candidate": "candidate:2 1 udp 1 127.0.0.1 5001 typ host"});
    caller.ok("iceCandidate", json!({"callId": call_id, "candidate": candidate})).await;
    assert_eq!(bob_phone.next("iceCandidate").await["candidate"], candidate);
    bob_laptop.none("iceCandidate", Duration::from_millis(300)).await;
    bob_phone.ok("iceCandidate", json!({"callId": call_id, "candidate": candidate})).await;
    assert_eq!(caller.next("iceCandidate").await["fromUserId"], bob.id);

    tokio::time::sleep(Duration::from_millis(50)).await;
    bob_phone.ok("endCall", json!({"callId": call_id})).await;
    for device in [&mut caller, &mut bob_phone] {
        let ended = device.next_matching("callEnded", |e| e["reason"] != "answeredElsewhere").await;
        assert_eq!(ended["reason"], "hangup");
        assert!(ended["durationMs"].as_i64().unwrap() >= 50);
    }
    let record = caller.next_matching("messageReceived", |m| m["type"] == "call").await;
    assert_eq!(record["call"]["outcome"], "completed");
    assert_eq!(record["call"]["callType"], "video");
    assert_eq!(record["call"]["callId"], call_id);
    assert!(record["call"]["durationMs"].as_i64().unwrap() >= 50);
    let history = api.history(&bob.token, conversation).await;
    assert_eq!(history[0]["type"], "call");
    caller.refused("endCall", json!({"callId": call_id}), "not_found").await;
}

#[tokio::test]
async fn reject_busy_and_outsiders() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("rej").await;
    let carol = api.register("rej_c").await;
    api.befriend(&carol, &bob).await;
    let carol_conversation = api.direct(&carol, &bob).await;
    let mut caller = connect(&server.url, &alice.token).await.unwrap();
    let mut callee = connect(&server.url, &bob.token).await.unwrap();
    let carol_socket = connect(&server.url, &carol.token).await.unwrap();

    let call_id = caller
        .ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP_OFFER}))
        .await["callId"]
        .clone();
    callee.next("incomingCall").await;
    // Someone else cannot answer, end or inject candidates.
    carol_socket.refused("acceptCall", json!({"callId": call_id, "sdp": SDP_ANSWER}), "not_found").await;
    carol_socket.refused("endCall", json!({"callId": call_id}), "not_found").await;
    carol_socket.refused("iceCandidate", json!({"callId": call_id, "candidate": {}}), "not_found").await;
    // Bob is ringing: a second caller gets busy.
    carol_socket
        .refused(
            "initiateCall",
            json!({"conversationId": carol_conversation, "callType": "audio", "sdp": SDP_OFFER}),
            "busy",
        )
        .await;

    callee.ok("rejectCall", json!({"callId": call_id, "reason": "in a meeting"})).await;
    assert_eq!(caller.next("callRejected").await, json!({"callId": call_id, "reason": "in a meeting"}));
    assert_eq!(caller.next("callEnded").await["reason"], "rejected");
    assert_eq!(callee.next("callEnded").await["reason"], "rejected");
    let record = caller.next_matching("messageReceived", |m| m["call"]["outcome"] == "rejected").await;
    assert_eq!(record["content"], "Declined audio call");
    caller
        .refused(
            "initiateCall",
            json!({"conversationId": conversation, "callType": "audio", "sdp": "x".repeat(40_000)}),
            "too_large",
        )
        .await;
}

#[tokio::test]
async fn unanswered_call_is_missed() {
    let server = start_server_with(|c| c.call_ring_timeout_ms = 600).await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("miss").await;
    let mut caller = connect(&server.url, &alice.token).await.unwrap();
    let mut callee = connect(&server.url, &bob.token).await.unwrap();
    let call_id = caller
        .ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP_OFFER}))
        .await["callId"]
        .clone();
    callee.next("incomingCall").await;
    let ended = callee.next("callEnded").await;
    assert_eq!(ended, json!({"callId": call_id, "reason": "missed", "durationMs": 0}));
    assert_eq!(caller.next("callEnded").await["reason"], "missed");
    let record = callee.next_matching("messageReceived", |m| m["type"] == "call").await;
    assert_eq!(record["call"]["outcome"], "missed");
    assert_eq!(record["content"], "Missed audio call");
}

#[tokio::test]
async fn a_party_that_disconnects_ends_the_call() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("drop").await;
    let caller = connect(&server.url, &alice.token).await.unwrap();
    let mut callee = connect(&server.url, &bob.token).await.unwrap();
    let call_id = caller
        .ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP_OFFER}))
        .await["callId"]
        .clone();
    callee.next("incomingCall").await;
    callee.ok("acceptCall", json!({"callId": call_id, "sdp": SDP_ANSWER})).await;
    caller.close().await;
    let ended = callee.next("callEnded").await;
    assert_eq!(ended["callId"], call_id);
    assert_eq!(ended["reason"], "disconnected");
    // Bob is free again.
    let again = connect(&server.url, &alice.token).await.unwrap();
    callee.ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP_OFFER})).await;
    again.close().await;
}

/// `renegotiateCall` (an ICE restart) passes a new offer and answer between the two devices in an
/// answered call, and nobody else.
#[tokio::test]
async fn renegotiation_goes_between_the_devices_in_the_call() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("reneg").await;
    let mut caller = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_phone = connect(&server.url, &bob.token).await.unwrap();
    let bob_laptop = connect(&server.url, &bob.token).await.unwrap();
    let outsider = api.register("reneg_c").await;
    let outsider = connect(&server.url, &outsider.token).await.unwrap();

    let started =
        caller.ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP_OFFER})).await;
    let call_id = started["callId"].as_str().unwrap().to_owned();
    bob_phone.next("incomingCall").await;
    let offer = json!({"callId": call_id, "kind": "offer", "sdp": SDP_OFFER});
    caller.refused("renegotiateCall", offer.clone(), "conflict").await;

    bob_phone.ok("acceptCall", json!({"callId": call_id, "sdp": SDP_ANSWER})).await;
    caller.next("callAccepted").await;
    caller.ok("renegotiateCall", offer.clone()).await;
    assert_eq!(
        bob_phone.next("renegotiateCall").await,
        json!({"callId": call_id, "fromUserId": alice.id, "kind": "offer", "sdp": SDP_OFFER})
    );
    bob_phone.ok("renegotiateCall", json!({"callId": call_id, "kind": "answer", "sdp": SDP_ANSWER})).await;
    assert_eq!(caller.next("renegotiateCall").await["kind"], "answer");

    bob_laptop
        .refused("renegotiateCall", json!({"callId": call_id, "kind": "answer", "sdp": SDP_ANSWER}), "forbidden")
        .await;
    outsider.refused("renegotiateCall", offer.clone(), "not_found").await;
    caller
        .refused("renegotiateCall", json!({"callId": call_id, "kind": "pranswer", "sdp": SDP_OFFER}), "invalid_payload")
        .await;
    caller.ok("endCall", json!({"callId": call_id})).await;
    caller.refused("renegotiateCall", offer, "not_found").await;
}
