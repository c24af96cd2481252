use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::*;

/// `sync` from a point returns every message created or changed since, in its current state.
#[tokio::test]
async fn sync_returns_what_a_client_missed() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("sy").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let kept = send(&alice_socket, conversation, "seen before going offline").await;
    let edited = send(&alice_socket, conversation, "will be edited").await;
    let deleted = send(&alice_socket, conversation, "will be deleted").await;
    let since = deleted["seq"].as_i64().unwrap();
    bob_socket.close().await;

    // While Bob is away.
    let fresh = send(&alice_socket, conversation, "sent while bob was away").await;
    alice_socket.ok("editMessage", json!({"messageId": edited["id"], "content": "edited while away"})).await;
    alice_socket.ok("deleteMessage", json!({"messageId": deleted["id"]})).await;
    alice_socket.ok("addReaction", json!({"messageId": kept["id"], "emoji": "🎉"})).await;
    alice_socket.ok("pinMessage", json!({"messageId": kept["id"], "pinned": true})).await;

    let bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let page = bob_socket.ok("sync", json!({"since": {conversation.to_string(): since}})).await;
    assert_eq!(page["hasMore"], false);
    let changes = &page["conversations"][0];
    assert_eq!(changes["conversationId"], conversation);
    assert_eq!(changes["lastSeq"], since + 5);
    assert_eq!(changes["nextSince"], since + 5);
    let by_id: BTreeMap<i64, &Value> =
        changes["messages"].as_array().unwrap().iter().map(|m| (m["id"].as_i64().unwrap(), m)).collect();
    assert_eq!(by_id.len(), 4, "new + edited + deleted + reacted/pinned");
    assert_eq!(by_id[&fresh["id"].as_i64().unwrap()]["content"], "sent while bob was away");
    assert_eq!(by_id[&edited["id"].as_i64().unwrap()]["content"], "edited while away");
    assert_eq!(by_id[&deleted["id"].as_i64().unwrap()]["content"], Value::Null);
    let kept_now = by_id[&kept["id"].as_i64().unwrap()];
    assert_eq!(kept_now["reactions"]["🎉"], json!([alice.id]));
    assert_eq!(kept_now["pinned"], true);
    let updated: Vec<i64> =
        changes["messages"].as_array().unwrap().iter().map(|m| m["updatedSeq"].as_i64().unwrap()).collect();
    assert!(updated.windows(2).all(|w| w[0] < w[1]), "ordered by updatedSeq: {updated:?}");

    // Up to date: nothing. Unknown conversations count from 0. Paging works.
    let page = bob_socket.ok("sync", json!({"since": {conversation.to_string(): since + 5}})).await;
    assert_eq!(page["conversations"], json!([]));
    let page = bob_socket.ok("sync", json!({"since": {}, "limit": 2})).await;
    assert_eq!(page["hasMore"], true);
    assert_eq!(page["conversations"][0]["messages"].as_array().unwrap().len(), 2);
    let next = page["conversations"][0]["nextSince"].clone();
    let rest = bob_socket.ok("sync", json!({"since": {conversation.to_string(): next}, "limit": 10})).await;
    assert_eq!(rest["conversations"][0]["messages"].as_array().unwrap().len(), 2);
    assert_eq!(rest["hasMore"], false);
}

/// A graceful restart keeps history, reactions and pins; sync works across it.
#[tokio::test]
async fn restart_keeps_everything() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("rs").await;
    let socket = connect(&server.url, &alice.token).await.unwrap();
    let first = send(&socket, conversation, "before restart").await;
    socket.ok("addReaction", json!({"messageId": first["id"], "emoji": "❤️"})).await;
    socket.ok("pinMessage", json!({"messageId": first["id"], "pinned": true})).await;
    socket.close().await;
    let storage = server.stop().await;

    let server = start_on(storage, |_| {}).await;
    let api = server.api();
    let history = api.history(&bob.token, conversation).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["content"], "before restart");
    assert_eq!(history[0]["reactions"]["❤️"], json!([alice.id]));
    assert_eq!(history[0]["pinned"], true);
    let socket = connect(&server.url, &alice.token).await.expect("tokens survive a restart");
    let second = send(&socket, conversation, "after restart").await;
    assert_eq!(second["seq"], 4, "seq continues");
    let bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let page = bob_socket.ok("sync", json!({"since": {conversation.to_string(): 3}})).await;
    assert_eq!(page["conversations"][0]["messages"][0]["content"], "after restart");
}

/// Every acknowledged message survives SIGKILL of the server process.
#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let storage = Storage::new().await;
    let process = ServerProcess::start(&storage).await;
    let api = Api::new(&process.url);
    let (alice, bob, conversation) = api.pair("kill").await;
    let socket = connect(&process.url, &alice.token).await.unwrap();
    let mut acked = Vec::new();
    for i in 0..50 {
        acked.push(send(&socket, conversation, &format!("durable {i}")).await["id"].as_i64().unwrap());
    }
    // Keep writing while the kill lands: whatever was acked must be there afterwards.
    let writer = {
        let client = socket.client.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let payload =
                    json!({"conversationId": conversation, "content": format!("racing {i}"), "clientMsgId": cid()});
                if client.emit("sendMessage", payload).await.is_err() {
                    break;
                }
            }
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    process.kill().await;
    let _ = writer.await;

    let process = ServerProcess::start(&storage).await;
    let stored = Api::new(&process.url).all_message_ids(&bob.token, conversation).await;
    for id in &acked {
        assert!(stored.contains(id), "acknowledged message {id} was lost");
    }
    process.kill().await;
}

/// SIGTERM during a stream of writes: the server exits cleanly and every acknowledged message is stored.
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let storage = Storage::new().await;
    let process = ServerProcess::start(&storage).await;
    let api = Api::new(&process.url);
    let (alice, bob, conversation) = api.pair("term").await;
    let writer = {
        let (api, token) = (api.clone(), alice.token.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..500 {
                let path = format!("/api/messages/conversations/{conversation}/messages");
                let body = json!({"content": format!("m{i}"), "clientMsgId": cid()});
                let request = api.try_call(reqwest::Method::POST, &path, Some(&token), Some(body));
                // A request the stopping server refuses or no longer answers ends the stream.
                match tokio::time::timeout(std::time::Duration::from_secs(2), request).await {
                    Ok(Ok((status, body))) if status.is_success() => {
                        acked.push(body["message"]["id"].as_i64().unwrap())
                    }
                    _ => break,
                }
            }
            acked
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(process.terminate().await, "exit status 0 after SIGTERM");
    let acked = writer.await.unwrap_or_default();
    assert!(!acked.is_empty());

    let process = ServerProcess::start(&storage).await;
    let stored = Api::new(&process.url).all_message_ids(&bob.token, conversation).await;
    for id in acked {
        assert!(stored.contains(&id), "acknowledged message {id} lost in a graceful shutdown");
    }
    process.kill().await;
}
