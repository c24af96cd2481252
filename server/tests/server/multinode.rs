//! Two server processes on one database (the shape of a multi-node deployment's storage).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// Writers on two nodes at once into one conversation: every message gets a seq, none twice, no gaps.
#[tokio::test]
async fn two_nodes_writing_one_conversation_keep_seq_gapless() {
    let storage = Storage::new().await;
    let first = ServerProcess::start(&storage).await;
    let second = ServerProcess::start(&storage).await;
    let nodes = [Api::new(&first.url), Api::new(&second.url)];
    let (alice, bob, conversation) = nodes[0].pair("nodes").await;

    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for writer in [&alice, &bob] {
            for i in 0..40 {
                let (api, token) = (node.clone(), writer.token.clone());
                tasks.push(tokio::spawn(async move {
                    let path = format!("/api/messages/conversations/{conversation}/messages");
                    let body = json!({"content": format!("node {n} #{i}"), "clientMsgId": cid()});
                    let (status, body) = api.post(&path, &token, body).await;
                    assert_eq!(status, StatusCode::CREATED, "{body}");
                    body["message"]["seq"].as_i64().unwrap()
                }));
            }
        }
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=160).collect::<Vec<_>>(), "each seq exactly once across both nodes");
    // Both nodes read the same history.
    let ids = nodes[1].all_message_ids(&bob.token, conversation).await;
    assert_eq!(ids.len(), 160);
    assert_eq!(ids, nodes[0].all_message_ids(&alice.token, conversation).await);
    first.kill().await;
    second.kill().await;
}

/// The Redis the cluster tests use (`CONFAB_TEST_REDIS`, e.g. `redis://127.0.0.1:6379`),
/// and a channel prefix of this test's own. `scripts/test.sh` sets it when a Redis answers; CI requires it.
fn test_redis() -> Option<(String, String)> {
    let url = std::env::var("CONFAB_TEST_REDIS").ok().filter(|u| !u.is_empty())?;
    Some((url, format!("confab-test-{}-{}", std::process::id(), cid())))
}

/// Presence entries live 1.5 s without a heartbeat (every 0.5 s): a dead node's users go offline fast.
const SHORT_PRESENCE: (&str, &str) = ("CONFAB_PRESENCE_TTL_MS", "1500");

/// Two nodes on one fresh database, sharing the test Redis under a prefix of their own, with `extra`
/// environment. `None` (after saying so) when no test Redis is configured.
async fn two_nodes(extra: &[(&str, &str)]) -> Option<(Storage, ServerProcess, ServerProcess)> {
    let Some((redis, prefix)) = test_redis() else {
        eprintln!("SKIPPED: set CONFAB_TEST_REDIS to run the cluster tests");
        return None;
    };
    let storage = Storage::new().await;
    let mut env = vec![("REDIS_URL", redis.as_str()), ("CONFAB_REDIS_PREFIX", prefix.as_str())];
    env.extend_from_slice(extra);
    let first = ServerProcess::start_with(&storage, &env).await;
    let second = ServerProcess::start_with(&storage, &env).await;
    Some((storage, first, second))
}

/// Users on different nodes (sharing a database and Redis) chat as if on one: messages, typing and a
/// second device reach across nodes; logout on one node disconnects the token's socket on the other.
#[tokio::test]
async fn users_on_different_nodes_reach_each_other_through_redis() {
    let Some((_storage, first, second)) = two_nodes(&[]).await else { return };
    let api = Api::new(&first.url);
    let (alice, bob, conversation) = api.pair("redis").await;

    let alice_on_first = connect(&first.url, &alice.token).await.unwrap();
    let mut bob_on_second = connect(&second.url, &bob.token).await.unwrap();
    let mut bob_on_first = connect(&first.url, &bob.token).await.unwrap();
    let sent = send(&alice_on_first, conversation, "across nodes").await;
    assert_eq!(bob_on_second.next("messageReceived").await, sent);
    assert_eq!(bob_on_first.next("messageReceived").await, sent);

    alice_on_first.ok("userTyping", json!({"conversationId": conversation, "isTyping": true})).await;
    assert_eq!(bob_on_second.next("userTyping").await["userId"], alice.id);

    // Bob answers from the second node; Alice, on the first, gets it.
    let mut alice_listener = connect(&first.url, &alice.token).await.unwrap();
    let reply = send(&bob_on_second, conversation, "back to you").await;
    assert_eq!(alice_listener.next("messageReceived").await, reply);

    // Logout through the first node ends Bob's session on the second one too.
    let (status, _) = api.call(reqwest::Method::POST, "/api/auth/logout", Some(&bob.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    send(&alice_on_first, conversation, "after logout").await;
    bob_on_second.none("messageReceived", std::time::Duration::from_millis(500)).await;
    first.kill().await;
    second.kill().await;
}

/// Every kind of change made on one node reaches the other members' devices on the other node, with
/// the same `seq` order: reactions, edits, pins, read cursors and deletes.
#[tokio::test]
async fn every_change_crosses_the_nodes() {
    let Some((_storage, first, second)) = two_nodes(&[]).await else { return };
    let api = Api::new(&first.url);
    let (alice, bob, conversation) = api.pair("changes").await;
    let alice_here = connect(&first.url, &alice.token).await.unwrap();
    let mut bob_there = connect(&second.url, &bob.token).await.unwrap();
    let sent = send(&alice_here, conversation, "change me").await;
    assert_eq!(bob_there.next("messageReceived").await["id"], sent["id"]);
    let id = sent["id"].clone();

    alice_here.ok("addReaction", json!({"messageId": id, "emoji": "👍"})).await;
    let reacted = bob_there.next("reactionAdded").await;
    assert_eq!((reacted["emoji"].as_str(), reacted["userId"].as_i64()), (Some("👍"), Some(alice.id)));
    alice_here.ok("removeReaction", json!({"messageId": id, "emoji": "👍"})).await;
    bob_there.next("reactionRemoved").await;
    alice_here.ok("editMessage", json!({"messageId": id, "content": "changed"})).await;
    assert_eq!(bob_there.next("messageEdited").await["content"], "changed");
    alice_here.ok("pinMessage", json!({"messageId": id, "pinned": true})).await;
    assert_eq!(bob_there.next("messagePinned").await["pinnedBy"], alice.id);
    alice_here.ok("markRead", json!({"conversationId": conversation, "seq": sent["seq"]})).await;
    assert_eq!(bob_there.next("messagesRead").await["userId"], alice.id);
    alice_here.ok("deleteMessage", json!({"messageId": id})).await;
    let deleted = bob_there.next("messageDeleted").await;
    assert_eq!(deleted["messageId"], id);
    // Each change took the next seq of the conversation: 2 (reaction) … 6 (delete).
    assert_eq!(deleted["seq"], 6);
    first.kill().await;
    second.kill().await;
}

/// A Redis of this test's own (so that stopping it disturbs no other test), on a fixed free port. Its
/// URL asks for RESP2, which the server upgrades: the adapter works only on RESP3.
struct PrivateRedis {
    port: u16,
    url: String,
    child: Option<tokio::process::Child>,
}

impl PrivateRedis {
    async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut redis = PrivateRedis { port, url: format!("redis://127.0.0.1:{port}/?protocol=resp2"), child: None };
        redis.restart().await;
        redis
    }

    /// Starts (again) on the same port, empty.
    async fn restart(&mut self) {
        let child = tokio::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("redis-server did not start");
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// While Redis is away, a node still delivers to the sockets connected to it.
#[tokio::test]
async fn a_node_keeps_serving_its_own_sockets_when_redis_goes_away() {
    if test_redis().is_none() {
        eprintln!("SKIPPED: set CONFAB_TEST_REDIS to run the cluster tests");
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let storage = Storage::new().await;
    let node = ServerProcess::start_with(&storage, &[("REDIS_URL", redis.url.as_str())]).await;
    let api = Api::new(&node.url);
    let (alice, bob, conversation) = api.pair("noredis").await;
    let alice_socket = connect(&node.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&node.url, &bob.token).await.unwrap();
    send(&alice_socket, conversation, "with redis").await;
    bob_socket.next("messageReceived").await;

    redis.stop().await;
    let sent = send(&alice_socket, conversation, "without redis").await;
    assert_eq!(bob_socket.next("messageReceived").await, sent, "local delivery survives the loss of Redis");
    node.kill().await;
}

/// After a Redis restart the nodes rejoin by themselves: cross-node delivery resumes, no node restarts.
#[tokio::test]
async fn nodes_rejoin_after_a_redis_restart() {
    if test_redis().is_none() {
        eprintln!("SKIPPED: set CONFAB_TEST_REDIS to run the cluster tests");
        return;
    }
    let mut redis = PrivateRedis::start().await;
    let storage = Storage::new().await;
    let first = ServerProcess::start_with(&storage, &[("REDIS_URL", redis.url.as_str())]).await;
    let second = ServerProcess::start_with(&storage, &[("REDIS_URL", redis.url.as_str())]).await;
    let (alice, bob, conversation) = Api::new(&first.url).pair("rejoin").await;
    let alice_socket = connect(&first.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&second.url, &bob.token).await.unwrap();
    send(&alice_socket, conversation, "before").await;
    bob_socket.next("messageReceived").await;

    redis.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    redis.restart().await;
    // Keep sending until one crosses: the driver reconnects with backoff (≤ 2 s) and resubscribes.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut crossed = false;
    for i in 0.. {
        let sent = send(&alice_socket, conversation, &format!("after {i}")).await;
        let got = tokio::time::timeout(
            std::time::Duration::from_millis(700),
            bob_socket.next_matching("messageReceived", |m| m["id"] == sent["id"]),
        )
        .await;
        if got.is_ok() {
            crossed = true;
            break;
        }
        if tokio::time::Instant::now() > deadline {
            break;
        }
    }
    assert!(crossed, "cross-node delivery resumed after Redis came back");
    redis.stop().await;
    first.kill().await;
    second.kill().await;
}

/// A user spreading messages over two nodes still has one budget: the buckets live in Redis.
#[tokio::test]
async fn rate_limits_are_shared_by_the_nodes() {
    let limits = [("CONFAB_RATE_LIMITS", "messages=0.2:4,register=1000:1000,login=1000:1000,login_ip=1000:1000")];
    let Some((_storage, first, second)) = two_nodes(&limits).await else { return };
    let (alice, _bob, conversation) = Api::new(&first.url).pair("shared_rl").await;
    let path = format!("/api/messages/conversations/{conversation}/messages");
    let mut accepted = 0;
    let mut limited = 0;
    for i in 0..8 {
        let node = Api::new(if i % 2 == 0 { &first.url } else { &second.url });
        let (status, body) =
            node.post(&path, &alice.token, json!({"content": format!("m{i}"), "clientMsgId": cid()})).await;
        match status {
            StatusCode::CREATED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(body["error"]["retryAfterMs"].as_u64().unwrap() > 0, "{body}");
                limited += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    // A burst of 4 in all (5 s per refill), not 4 per node.
    assert_eq!((accepted, limited), (4, 4));
    first.kill().await;
    second.kill().await;
}

/// Presence across nodes: online once whatever the number of nodes a user is on, offline when the
/// last device anywhere leaves — also when that device's node dies.
#[tokio::test]
async fn presence_spans_the_nodes_and_survives_a_node_crash() {
    let Some((_storage, doomed, survivor)) = two_nodes(&[SHORT_PRESENCE]).await else { return };
    let api = Api::new(&survivor.url);
    let (alice, bob, _) = api.pair("presence").await;
    let mut alice_socket = connect(&survivor.url, &alice.token).await.unwrap();
    alice_socket.next("onlineUsers").await;

    let bob_here = connect(&survivor.url, &bob.token).await.unwrap();
    assert_eq!(alice_socket.next("userOnline").await["userId"], bob.id);
    let mut bob_there = connect(&doomed.url, &bob.token).await.unwrap();
    let seen = bob_there.next("onlineUsers").await;
    assert_eq!(seen["userIds"], json!([alice.id]), "a node sees users connected to another node");
    alice_socket.none("userOnline", std::time::Duration::from_millis(300)).await;

    bob_here.close().await;
    alice_socket.none("userOffline", std::time::Duration::from_millis(500)).await;
    let (_, friends) = api.get("/api/friends", &alice.token).await;
    assert_eq!(friends["friends"][0]["online"], true, "online through a device on the other node");

    doomed.kill().await;
    let offline = alice_socket.next("userOffline").await;
    assert_eq!(offline["userId"], bob.id, "the dead node's user goes offline");
    let (_, friends) = api.get("/api/friends", &alice.token).await;
    assert_eq!(friends["friends"][0]["online"], false);
    survivor.kill().await;
}

/// A node dies mid-conversation: its user reconnects to another node, `sync` brings what they missed,
/// the others see them offline and back, and no acknowledged message is lost.
#[tokio::test]
async fn a_killed_nodes_users_move_to_another_node_and_lose_nothing() {
    let Some((_storage, doomed, survivor)) = two_nodes(&[SHORT_PRESENCE]).await else { return };
    let api = Api::new(&survivor.url);
    let (alice, bob, conversation) = api.pair("kill_node").await;
    let alice_socket = connect(&doomed.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&survivor.url, &bob.token).await.unwrap();
    bob_socket.next("onlineUsers").await;

    let mut acked = Vec::new();
    for i in 0..10 {
        acked.push(send(&alice_socket, conversation, &format!("from the doomed node {i}")).await);
    }
    let seen_by_alice = acked.last().unwrap()["seq"].as_i64().unwrap();
    doomed.kill().await;
    assert_eq!(bob_socket.next_matching("userOffline", |e| e["userId"] == alice.id).await["userId"], alice.id);

    // While Alice is away, Bob writes.
    let missed = send(&bob_socket, conversation, "while you were away").await;

    // Alice's client reconnects through the proxy: here, straight to the surviving node.
    let alice_again = connect(&survivor.url, &alice.token).await.unwrap();
    assert_eq!(bob_socket.next_matching("userOnline", |e| e["userId"] == alice.id).await["userId"], alice.id);
    let page = alice_again.ok("sync", json!({"since": {conversation.to_string(): seen_by_alice}})).await;
    let caught_up: Vec<_> =
        page["conversations"][0]["messages"].as_array().unwrap().iter().map(|m| m["id"].clone()).collect();
    assert_eq!(caught_up, vec![missed["id"].clone()], "sync returns exactly what was missed");

    let stored = api.all_message_ids(&bob.token, conversation).await;
    for message in &acked {
        assert!(stored.contains(&message["id"].as_i64().unwrap()), "acknowledged message lost: {message}");
    }
    survivor.kill().await;
}

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

/// Call state is shared: caller and callee on different nodes go through the whole signaling
/// sequence; a third user calling the busy callee through the other node is told `busy`.
#[tokio::test]
async fn a_call_between_users_on_different_nodes() {
    let Some((_storage, first, second)) = two_nodes(&[]).await else { return };
    let api = Api::new(&first.url);
    let (alice, bob, conversation) = api.pair("callx").await;
    let carol = api.register("callx_c").await;
    api.befriend(&carol, &bob).await;
    let carol_with_bob = api.direct(&carol, &bob).await;

    let mut caller = connect(&first.url, &alice.token).await.unwrap();
    let mut bob_there = connect(&second.url, &bob.token).await.unwrap();
    let mut bob_here = connect(&first.url, &bob.token).await.unwrap();
    let carol_socket = connect(&second.url, &carol.token).await.unwrap();

    let started =
        caller.ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP})).await;
    let call_id = started["callId"].as_str().unwrap().to_owned();
    assert_eq!(bob_there.next("incomingCall").await["callId"], call_id.as_str(), "rings on the other node");
    assert_eq!(bob_here.next("incomingCall").await["callId"], call_id.as_str());

    // Bob answers on the second node; the caller (first node) hears it, Bob's other device stops ringing.
    bob_there.ok("acceptCall", json!({"callId": call_id, "sdp": SDP})).await;
    assert_eq!(caller.next("callAccepted").await["callId"], call_id.as_str());
    assert_eq!(bob_here.next("callEnded").await["reason"], "answeredElsewhere");
    bob_here.refused("acceptCall", json!({"callId": call_id, "sdp": SDP}), "conflict").await;

    // ICE both ways across the nodes, only to the answering device.
    let candidate = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"});
    caller.ok("iceCandidate", json!({"callId": call_id, "candidate": candidate})).await;
    assert_eq!(bob_there.next("iceCandidate").await["candidate"], candidate);
    bob_here.none("iceCandidate", std::time::Duration::from_millis(300)).await;
    bob_there.ok("iceCandidate", json!({"callId": call_id, "candidate": candidate})).await;
    assert_eq!(caller.next("iceCandidate").await["fromUserId"], bob.id);

    // Bob is busy for a call placed through the other node, and so is the caller.
    let busy = json!({"conversationId": carol_with_bob, "callType": "audio", "sdp": SDP});
    carol_socket.refused("initiateCall", busy, "busy").await;
    caller
        .refused("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP}), "busy")
        .await;

    // Carol is not a party: the call is not found for her on either node.
    carol_socket.refused("endCall", json!({"callId": call_id}), "not_found").await;

    bob_there.ok("endCall", json!({"callId": call_id})).await;
    for device in [&mut caller, &mut bob_there] {
        assert_eq!(device.next("callEnded").await["reason"], "hangup");
    }
    let record = caller.next_matching("messageReceived", |m| m["type"] == "call").await;
    assert_eq!(record["call"]["outcome"], "completed");
    caller.refused("endCall", json!({"callId": call_id}), "not_found").await;
    let history = api.history(&bob.token, conversation).await;
    let records: Vec<_> = history.iter().filter(|m| m["type"] == "call").collect();
    assert_eq!(records.len(), 1, "one record for the call: {history:?}");
    first.kill().await;
    second.kill().await;
}

/// The node holding the caller's socket dies mid-call: the callee, on the other node, is told the
/// call ended within the lease time, once, and can be called again.
#[tokio::test]
async fn a_call_ends_when_the_callers_node_dies() {
    let Some((_storage, doomed, survivor)) = two_nodes(&[SHORT_PRESENCE]).await else { return };
    let api = Api::new(&survivor.url);
    let (alice, bob, conversation) = api.pair("calldie").await;
    let caller = connect(&doomed.url, &alice.token).await.unwrap();
    let mut callee = connect(&survivor.url, &bob.token).await.unwrap();
    let started =
        caller.ok("initiateCall", json!({"conversationId": conversation, "callType": "video", "sdp": SDP})).await;
    let call_id = started["callId"].as_str().unwrap().to_owned();
    callee.next("incomingCall").await;
    callee.ok("acceptCall", json!({"callId": call_id, "sdp": SDP})).await;

    let killed = std::time::Instant::now();
    doomed.kill().await;
    let ended = callee.next("callEnded").await;
    assert_eq!(ended, json!({"callId": call_id, "reason": "disconnected", "durationMs": ended["durationMs"]}));
    assert!(killed.elapsed() < std::time::Duration::from_secs(5), "ended after {:?}", killed.elapsed());
    let record = callee.next_matching("messageReceived", |m| m["type"] == "call").await;
    assert_eq!(record["call"]["outcome"], "completed");
    callee.none("callEnded", std::time::Duration::from_millis(1500)).await;

    // Nobody is left busy: Alice, back on the surviving node, can call Bob again.
    let caller_again = connect(&survivor.url, &alice.token).await.unwrap();
    caller_again.ok("initiateCall", json!({"conversationId": conversation, "callType": "audio", "sdp": SDP})).await;
    assert_ne!(callee.next("incomingCall").await["callId"], call_id.as_str());
    survivor.kill().await;
}
