use confab_client::ClientEvent;

use crate::support::*;

#[tokio::test]
async fn two_clients_chat_with_every_feature() {
    let server = Server::start().await;
    let (mut a, mut b, conversation) = pair(&server, "chat").await;

    // Send: pending at once, then acknowledged and delivered.
    let pending = a.client.send_message(conversation, "hello from a").await.unwrap();
    assert_eq!(pending.error, None);
    let delivered = received(&mut b, "hello from a").await;
    assert_eq!(delivered.sender_id, a.id());
    assert_eq!(delivered.client_msg_id.as_deref(), Some(pending.client_msg_id.as_str()));
    received(&mut a, "hello from a").await;
    assert!(a.client.outbox(conversation).await.unwrap().is_empty(), "sent messages leave the outbox");
    let cached = b.client.messages(conversation, None, 50).await.unwrap();
    assert_eq!(cached, vec![delivered.clone()]);

    // Typing.
    b.client.set_typing(conversation, true);
    let typing = a.wait_for("typing", |e| matches!(e, ClientEvent::Typing(t) if t.is_typing)).await;
    let ClientEvent::Typing(typing) = typing else { unreachable!() };
    assert_eq!(typing.user_id, b.id());

    // Reactions, edit, pin, delete — each reaches the other side and the caches agree.
    b.client.react(delivered.id, "👍🏽", true).await.unwrap();
    a.wait_for("reaction", |e| matches!(e, ClientEvent::Message { message, .. } if !message.reactions.is_empty()))
        .await;
    a.client.edit_message(delivered.id, "hello, edited").await.unwrap();
    received(&mut b, "hello, edited").await;
    b.client.pin(delivered.id, true).await.unwrap();
    a.wait_for("pin", |e| matches!(e, ClientEvent::Message { message, .. } if message.pinned)).await;
    let on_a = a.client.messages(conversation, None, 50).await.unwrap();
    let on_b = b.client.messages(conversation, None, 50).await.unwrap();
    assert_eq!(on_a, on_b);
    assert_eq!(on_a[0].reactions["👍🏽"], vec![b.id()]);
    assert_eq!(on_a[0].content.as_deref(), Some("hello, edited"));
    assert!(on_a[0].pinned);
    let err = b.client.edit_message(delivered.id, "not mine").await.unwrap_err();
    assert!(
        matches!(err, confab_client::Error::Server(ref body) if body.code == confab_protocol::ErrorCode::Forbidden),
        "{err}"
    );

    a.client.delete_message(delivered.id).await.unwrap();
    b.wait_for("delete", |e| matches!(e, ClientEvent::Message { message, .. } if message.deleted_at.is_some())).await;
    let on_b = b.client.messages(conversation, None, 50).await.unwrap();
    assert_eq!(on_b[0].content, None);
    assert!(on_b[0].reactions.is_empty() && !on_b[0].pinned);

    // Read state and unread counts.
    b.client.send_message(conversation, "one").await.unwrap();
    b.client.send_message(conversation, "two").await.unwrap();
    let two = received(&mut a, "two").await;
    let unread = a.client.conversations().await.unwrap()[0].unread_count;
    assert_eq!(unread, 2);
    a.client.mark_read(conversation, two.seq).await.unwrap();
    let a_id = a.id();
    let read_by_a =
        |c: &confab_protocol::Conversation| c.members.iter().any(|m| m.user.id == a_id && m.last_read_seq == two.seq);
    b.wait_for("read", |e| matches!(e, ClientEvent::ConversationChanged { conversation } if read_by_a(conversation)))
        .await;
    assert_eq!(a.client.conversations().await.unwrap()[0].unread_count, 0);

    // Presence: B sees A go offline when A's app quits.
    assert!(b.client.is_online(a_id));
    a.shut().await;
    b.wait_for("offline", |e| matches!(e, ClientEvent::Presence { user_id, online: false, .. } if *user_id == a_id))
        .await;
    assert!(!b.client.is_online(a_id));
}
