use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn online_while_any_device_is_connected() {
    let server = start_server().await;
    let api = server.api();
    let (alice, bob, _) = api.pair("pr").await;
    let mut bob_socket = connect(&server.url, &bob.token).await.unwrap();
    let initial = bob_socket.next("onlineUsers").await;
    assert_eq!(initial["userIds"], serde_json::json!([]));

    let phone = connect(&server.url, &alice.token).await.unwrap();
    let online = bob_socket.next("userOnline").await;
    assert_eq!(online["userId"], alice.id);
    assert_eq!(online["username"], "pr_a");

    let mut laptop = connect(&server.url, &alice.token).await.unwrap();
    let seen = laptop.next("onlineUsers").await;
    assert_eq!(seen["userIds"], serde_json::json!([bob.id]), "a new socket learns who is online");
    bob_socket.none("userOnline", Duration::from_millis(300)).await;

    phone.close().await;
    bob_socket.none("userOffline", Duration::from_millis(500)).await;
    laptop.close().await;
    let offline = bob_socket.next("userOffline").await;
    assert_eq!(offline["userId"], alice.id);
    assert!(offline["lastSeen"].as_i64().unwrap() > 0);
}
