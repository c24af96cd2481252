use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn register_login_logout() {
    let server = start_server().await;
    let api = server.api();
    let alice = api.register("Alice").await;
    assert_eq!(alice.username, "alice", "usernames are stored lower-case");

    let (status, body) = api
        .call(Method::POST, "/api/auth/register", None, Some(json!({"username": "ALICE", "password": "another pw"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "conflict");

    let (status, body) = api
        .call(Method::POST, "/api/auth/login", None, Some(json!({"username": "alice", "password": "correct horse"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_token = body["token"].as_str().unwrap().to_owned();
    assert_ne!(second_token, alice.token);
    assert_eq!(body["user"]["id"], alice.id);

    // Wrong password and unknown user: the same answer.
    let (s1, b1) = api
        .call(Method::POST, "/api/auth/login", None, Some(json!({"username": "alice", "password": "wrong password"})))
        .await;
    let (s2, b2) = api
        .call(Method::POST, "/api/auth/login", None, Some(json!({"username": "nobody", "password": "wrong password"})))
        .await;
    assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(b1, b2);

    let (status, body) = api.get("/api/users/me", &alice.token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"], json!({"id": alice.id, "username": "alice", "displayName": "alice"}));

    // Logout revokes only that token.
    let (status, _) = api.call(Method::POST, "/api/auth/logout", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get("/api/users/me", &alice.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = api.get("/api/users/me", &second_token).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn registration_rules() {
    let server = start_server().await;
    let api = server.api();
    for (body, code) in [
        (json!({"username": "ab", "password": "long enough"}), "invalid_payload"),
        (json!({"username": "has space", "password": "long enough"}), "invalid_payload"),
        (json!({"username": "fine_name", "password": "short"}), "invalid_payload"),
        (json!({"username": "fine_name"}), "invalid_payload"),
        (json!({"username": "fine_name", "password": "x".repeat(300)}), "too_large"),
    ] {
        let (status, answer) = api.call(Method::POST, "/api/auth/register", None, Some(body.clone())).await;
        assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
        assert!(status.is_client_error());
    }
    let (status, body) = api
        .call(
            Method::POST,
            "/api/auth/register",
            None,
            Some(json!({"username": "dn_user", "password": "long enough", "displayName": "  Dana N. "})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["user"]["displayName"], "Dana N.");
}

#[tokio::test]
async fn socket_handshake_requires_a_valid_token() {
    let server = start_server().await;
    let api = server.api();
    let alice = api.register("hs_alice").await;

    let missing = connect_with_auth(&server.url, json!({})).await.err().expect("refused");
    assert!(missing.contains("unauthorized"), "{missing}");
    let forged = connect(&server.url, "not-a-real-token").await.err().expect("refused");
    assert!(forged.contains("unauthorized"), "{forged}");

    let socket = connect(&server.url, &alice.token).await.expect("valid token connects");
    socket.close().await;

    api.call(Method::POST, "/api/auth/logout", Some(&alice.token), None).await;
    let revoked = connect(&server.url, &alice.token).await.err().expect("revoked token refused");
    assert!(revoked.contains("unauthorized"), "{revoked}");
}

#[tokio::test]
async fn logout_disconnects_the_tokens_sockets() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, conversation) = api.pair("lo").await;
    let alice_socket = connect(&server.url, &alice.token).await.unwrap();
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    bob_socket.next("onlineUsers").await;

    let (status, _) = api.call(Method::POST, "/api/auth/logout", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Alice's socket is gone: Bob sees her offline, and her socket can no longer act.
    let offline = bob_socket.next("userOffline").await;
    assert_eq!(offline["userId"], alice.id);
    let _ = alice_socket
        .client
        .emit("sendMessage", json!({"conversationId": conversation, "content": "after logout", "clientMsgId": cid()}))
        .await;
    bob_socket.none("messageReceived", std::time::Duration::from_millis(500)).await;
    assert!(api.history(&bob.token, conversation).await.is_empty());
}

#[tokio::test]
async fn user_search() {
    let server = start_server().await;
    let api = server.api();
    let me = api.register("searcher").await;
    api.register("sam_one").await;
    api.register("sam_two").await;
    api.register("other").await;
    let (status, body) = api.get("/api/users?search=SAM", &me.token).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<_> = body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["sam_one", "sam_two"]);
    let (_, body) = api.get("/api/users?search=sea", &me.token).await;
    assert!(body["users"].as_array().unwrap().is_empty(), "yourself excluded");
    let (status, body) = api.get("/api/users?search=%25", &me.token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn friends_lifecycle_with_live_events() {
    let server = start_server().await;
    let api = server.api();
    let alice = api.register("fr_alice").await;
    let bob = api.register("fr_bob").await;
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let mut alice_socket = connect(&server.url, &alice.token).await.unwrap();

    let (status, body) = api.post("/api/friends/requests", &alice.token, json!({"username": "FR_BOB"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request_id = body["request"]["id"].as_i64().unwrap();
    let live = bob_socket.next("friendRequest").await;
    assert_eq!(live["id"], request_id);
    assert_eq!(live["from"]["username"], "fr_alice");

    let (status, _) = api.post("/api/friends/requests", &alice.token, json!({"username": "fr_bob"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a second request is a conflict");
    let (status, _) = api.post("/api/friends/requests", &alice.token, json!({"username": "nobody_here"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, requests) = api.get("/api/friends/requests", &bob.token).await;
    assert_eq!(requests["incoming"][0]["id"], request_id);
    assert!(requests["outgoing"].as_array().unwrap().is_empty());

    // Only the recipient can accept.
    let (status, _) = api.post(&format!("/api/friends/requests/{request_id}/accept"), &alice.token, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api.post(&format!("/api/friends/requests/{request_id}/accept"), &bob.token, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["friend"]["id"], alice.id);
    assert_eq!(body["friend"]["online"], true);
    let added = alice_socket.next("friendAdded").await;
    assert_eq!(added["friend"]["id"], bob.id);

    let (_, friends) = api.get("/api/friends", &alice.token).await;
    assert_eq!(friends["friends"][0]["username"], "fr_bob");
    assert_eq!(friends["friends"][0]["online"], true);

    bob_socket.close().await;
    alice_socket.next("userOffline").await;
    let (_, friends) = api.get("/api/friends", &alice.token).await;
    assert_eq!(friends["friends"][0]["online"], false);
    assert!(friends["friends"][0]["lastSeen"].as_i64().is_some());

    let (status, _) = api.call(Method::DELETE, &format!("/api/friends/{}", bob.id), Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let removed = alice_socket.next("friendRemoved").await;
    assert_eq!(removed["userId"], bob.id);
    let (_, friends) = api.get("/api/friends", &bob.token).await;
    assert!(friends["friends"].as_array().unwrap().is_empty());

    // A declined request disappears for both.
    let (_, body) = api.post("/api/friends/requests", &bob.token, json!({"username": "fr_alice"})).await;
    let id = body["request"]["id"].as_i64().unwrap();
    let (status, _) = api.post(&format!("/api/friends/requests/{id}/decline"), &alice.token, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(alice_socket.next("friendRequestRemoved").await["id"], id);
    let (_, requests) = api.get("/api/friends/requests", &bob.token).await;
    assert!(requests["outgoing"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn conversations_direct_and_group() {
    let server = start_server().await;
    let api = server.api();
    let a = api.register("cv_a").await;
    let b = api.register("cv_b").await;
    let c = api.register("cv_c").await;
    let stranger = api.register("cv_stranger").await;
    api.befriend(&a, &b).await;
    api.befriend(&a, &c).await;
    let mut b_socket = connect(&server.url, &b.token).await.unwrap();

    let (status, body) = api.post("/api/messages/conversations", &a.token, json!({"participantIds": [b.id]})).await;
    assert_eq!(status, StatusCode::CREATED);
    let direct = body["conversation"]["id"].as_i64().unwrap();
    assert_eq!(body["conversation"]["kind"], "direct");
    assert_eq!(b_socket.next("conversationCreated").await["conversation"]["id"], direct);
    // Either side creating it again gets the same one.
    let (status, body) = api.post("/api/messages/conversations", &b.token, json!({"participantIds": [a.id]})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["conversation"]["id"], direct);

    let (status, body) =
        api.post("/api/messages/conversations", &a.token, json!({"participantIds": [stranger.id]})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = api.post("/api/messages/conversations", &a.token, json!({"participantIds": [b.id, c.id]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a group needs a title");
    let (status, body) = api
        .post("/api/messages/conversations", &a.token, json!({"participantIds": [b.id, c.id], "title": "Trio"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["conversation"]["kind"], "group");
    assert_eq!(body["conversation"]["members"].as_array().unwrap().len(), 3);
    let group = body["conversation"]["id"].as_i64().unwrap();

    let (status, _) = api.get(&format!("/api/messages/conversations/{group}"), &stranger.token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = api.get("/api/messages/conversations", &b.token).await;
    let ids: Vec<_> = list["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [group, direct], "most recent first");
    let members = &list["conversations"][0]["members"];
    let b_entry = members.as_array().unwrap().iter().find(|m| m["id"] == b.id).unwrap();
    assert_eq!(b_entry["online"], true);
}
