use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn reactions_edits_deletes_and_pins_reach_the_other_side_with_increasing_seq() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("ix").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let message = send(&alice_socket, conversation, "react to me").await;
    let id = message["id"].as_i64().unwrap();
    bob_socket.next("messageReceived").await;

    // Reactions: ZWJ family, skin tone, flag — each a single emoji.
    let mut last_seq = 1;
    for emoji in ["👨‍👩‍👧‍👦", "👍🏽", "🇫🇷"] {
        let ack = alice_socket.ok("addReaction", json!({"messageId": id, "emoji": emoji})).await;
        assert_eq!(ack["message"]["reactions"][emoji], json!([alice.id]));
        let event = bob_socket.next("reactionAdded").await;
        assert_eq!(event["emoji"], emoji);
        assert_eq!(event["userId"], alice.id);
        assert_eq!(event["messageId"], id);
        assert_eq!(event["conversationId"], conversation);
        assert!(event["seq"].as_i64().unwrap() > last_seq);
        last_seq = event["seq"].as_i64().unwrap();
    }
    // Adding it again changes nothing and sends nothing.
    let again = alice_socket.ok("addReaction", json!({"messageId": id, "emoji": "🇫🇷"})).await;
    assert_eq!(again["message"]["updatedSeq"], last_seq);
    bob_socket.none("reactionAdded", Duration::from_millis(300)).await;
    for bad in ["ab", "", "👍👍", "a", " "] {
        alice_socket.refused("addReaction", json!({"messageId": id, "emoji": bad}), "invalid_payload").await;
    }
    let ack = alice_socket.ok("removeReaction", json!({"messageId": id, "emoji": "🇫🇷"})).await;
    assert!(ack["message"]["reactions"].get("🇫🇷").is_none());
    let removed = bob_socket.next("reactionRemoved").await;
    assert_eq!(removed["emoji"], "🇫🇷");
    last_seq = removed["seq"].as_i64().unwrap();

    // Edit: only the sender.
    let err = bob_socket.refused("editMessage", json!({"messageId": id, "content": "hacked"}), "forbidden").await;
    assert!(err["message"].as_str().unwrap().contains("sender"));
    let ack = alice_socket.ok("editMessage", json!({"messageId": id, "content": "edited text"})).await;
    assert_eq!(ack["message"]["content"], "edited text");
    let edited = bob_socket.next("messageEdited").await;
    assert_eq!(edited["content"], "edited text");
    assert!(edited["editedAt"].as_i64().is_some());
    assert!(edited["seq"].as_i64().unwrap() > last_seq);

    // Pin: any member.
    let ack = bob_socket.ok("pinMessage", json!({"messageId": id, "pinned": true})).await;
    assert_eq!(ack["message"]["pinned"], true);
    assert_eq!(ack["message"]["pinnedBy"], bob.id);
    let (_, pins) = api.get(&format!("/api/messages/conversations/{conversation}/pins"), &alice.token).await;
    assert_eq!(pins["messages"][0]["id"], id);

    // Delete: only the sender; content erased, pins and reactions gone.
    bob_socket.refused("deleteMessage", json!({"messageId": id}), "forbidden").await;
    alice_socket.ok("deleteMessage", json!({"messageId": id})).await;
    let deleted = bob_socket.next("messageDeleted").await;
    assert_eq!(deleted["messageId"], id);
    assert!(deleted["deletedAt"].as_i64().is_some());
    let history = api.history(&bob.token, conversation).await;
    assert_eq!(history[0]["content"], serde_json::Value::Null);
    assert_eq!(history[0]["reactions"], json!({}));
    assert_eq!(history[0]["pinned"], false);
    let (_, pins) = api.get(&format!("/api/messages/conversations/{conversation}/pins"), &alice.token).await;
    assert!(pins["messages"].as_array().unwrap().is_empty());
    alice_socket.refused("editMessage", json!({"messageId": id, "content": "resurrect"}), "forbidden").await;

    // The stored text is really gone, not hidden: read the row itself.
    let db = server.storage.connect().await;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT content FROM messages WHERE id = $1").bind(id).fetch_one(&db).await.unwrap();
    assert_eq!(stored, None);
    let reactions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reactions WHERE message_id = $1")
        .bind(id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(reactions, 0);
    // …and on SQLite in no file of the data dir (WAL included): neither the original nor the edited text.
    if server.storage.is_sqlite() {
        for entry in std::fs::read_dir(server.storage.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for text in ["react to me", "edited text"] {
                assert!(
                    !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
                    "{text:?} still in {}",
                    path.display()
                );
            }
        }
    }

    // Seqs of the conversation: 1 message + 3 adds + 1 remove + edit + pin + delete = 8.
    let (_, conv) = api.get(&format!("/api/messages/conversations/{conversation}"), &alice.token).await;
    assert_eq!(conv["conversation"]["lastSeq"], 8);
}

#[tokio::test]
async fn typing_is_relayed_and_throttled_silently() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("typ").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let ack = alice_socket.ok("userTyping", json!({"conversationId": conversation, "isTyping": true})).await;
    assert!(ack.get("dropped").is_none());
    let typing = bob_socket.next("userTyping").await;
    assert_eq!(
        typing,
        json!({"conversationId": conversation, "userId": alice.id, "username": "typ_a", "isTyping": true})
    );

    let mut dropped = 0;
    for _ in 0..12 {
        let ack = alice_socket.ok("userTyping", json!({"conversationId": conversation, "isTyping": true})).await;
        if ack["dropped"] == true {
            dropped += 1;
        }
    }
    assert!(dropped > 0, "a typing flood is throttled");
    // The bucket refills at 2/s: after a pause, typing goes through again (stopping included).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let ack = alice_socket.ok("userTyping", json!({"conversationId": conversation, "isTyping": false})).await;
    assert!(ack.get("dropped").is_none(), "{ack}");
    bob_socket.next_matching("userTyping", |v| v["isTyping"] == false).await;
}

#[tokio::test]
async fn read_cursors_drive_unread_counts() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("rd").await;
    let mut alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let bob_socket = connect(&server.url, &bob.token).await.unwrap();
    for i in 0..3 {
        send(&alice_socket, conversation, &format!("unread {i}")).await;
    }
    let unread = |body: &serde_json::Value| body["conversations"][0]["unreadCount"].as_i64().unwrap();
    let (_, list) = api.get("/api/messages/conversations", &bob.token).await;
    assert_eq!(unread(&list), 3);
    assert_eq!(list["conversations"][0]["lastMessage"]["content"], "unread 2");
    let (_, list) = api.get("/api/messages/conversations", &alice.token).await;
    assert_eq!(unread(&list), 0, "your own messages are never unread");

    let ack = bob_socket.ok("markRead", json!({"conversationId": conversation, "seq": 2})).await;
    assert_eq!(ack["seq"], 2);
    let read = alice_socket.next("messagesRead").await;
    assert_eq!(read, json!({"conversationId": conversation, "userId": bob.id, "seq": 2}));
    let (_, list) = api.get("/api/messages/conversations", &bob.token).await;
    assert_eq!(unread(&list), 1);
    // Never backwards, never past the end.
    assert_eq!(bob_socket.ok("markRead", json!({"conversationId": conversation, "seq": 1})).await["seq"], 2);
    assert_eq!(bob_socket.ok("markRead", json!({"conversationId": conversation, "seq": 999})).await["seq"], 3);
    let (_, list) = api.get("/api/messages/conversations", &bob.token).await;
    assert_eq!(unread(&list), 0);
}
