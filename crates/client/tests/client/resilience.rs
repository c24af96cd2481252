use confab_client::{ClientEvent, ConnectionState};

use crate::support::*;

#[tokio::test]
async fn reconnects_after_the_server_is_killed_and_sends_what_was_written_meanwhile() {
    let mut server = Server::start().await;
    let (mut a, mut b, conversation) = pair(&server, "rc").await;
    a.client.send_message(conversation, "before the crash").await.unwrap();
    received(&mut b, "before the crash").await;
    // B can have it before A has handled the ack: the kill must find A's outbox empty.
    drained(&mut a, conversation).await;

    assert!(a.client.is_online(b.id()));
    server.kill().await;
    let b_id = b.id();
    a.wait_for("reconnecting", |e| matches!(e, ClientEvent::Connection(ConnectionState::Reconnecting { .. }))).await;
    // Presence is unknown without a connection: the last known stays (the UI marks it stale)
    // rather than a guess that everyone went offline.
    assert!(a.client.is_online(b_id), "last known presence kept while disconnected");
    // Written while the server is down: pending, in order.
    for text in ["while down 1", "while down 2", "while down 3"] {
        a.client.send_message(conversation, text).await.unwrap();
    }
    assert_eq!(a.client.outbox(conversation).await.unwrap().len(), 3);
    // Cached history is still readable.
    assert_eq!(
        b.client.messages(conversation, None, 50).await.unwrap()[0].content.as_deref(),
        Some("before the crash")
    );

    server.restart().await;
    a.client.retry_now();
    b.client.retry_now();
    a.connected().await;
    for text in ["while down 1", "while down 2", "while down 3"] {
        received(&mut b, text).await;
    }
    let history = b.client.messages(conversation, None, 50).await.unwrap();
    let texts: Vec<_> = history.iter().map(|m| m.content.clone().unwrap()).collect();
    assert_eq!(texts, ["before the crash", "while down 1", "while down 2", "while down 3"], "in order, once each");
    let seqs: Vec<_> = history.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    drained(&mut a, conversation).await;
}

#[tokio::test]
async fn outbox_survives_an_app_restart_and_the_cache_works_offline() {
    let mut server = Server::start().await;
    let (mut a, mut b, conversation) = pair(&server, "ob").await;
    b.client.send_message(conversation, "cached for later").await.unwrap();
    received(&mut a, "cached for later").await;
    server.kill().await;

    for text in ["queued 1", "queued 2"] {
        a.client.send_message(conversation, text).await.unwrap();
    }
    let dir = a.shut().await;

    // The app starts again with no server: cached conversations and messages, pending outbox.
    let mut a = TestClient::open_in(dir).await;
    let conversations = a.client.conversations().await.unwrap();
    assert_eq!(conversations.len(), 1);
    let cached = a.client.messages(conversation, None, 50).await.unwrap();
    assert_eq!(cached[0].content.as_deref(), Some("cached for later"));
    let pending = a.client.outbox(conversation).await.unwrap();
    assert_eq!(pending.iter().map(|p| p.content.as_str()).collect::<Vec<_>>(), ["queued 1", "queued 2"]);

    server.restart().await;
    a.client.retry_now();
    b.client.retry_now();
    received(&mut b, "queued 1").await;
    received(&mut b, "queued 2").await;
    drained(&mut a, conversation).await;
    let history = b.client.messages(conversation, None, 50).await.unwrap();
    assert_eq!(history.len(), 3, "no duplicates: {history:?}");
}

#[tokio::test]
async fn sync_converges_after_changes_made_while_offline() {
    let server = Server::start().await;
    let (mut a, mut b, conversation) = pair(&server, "cv").await;
    let mut ids = Vec::new();
    for text in ["keep", "edit me", "delete me", "react to me"] {
        a.client.send_message(conversation, text).await.unwrap();
        ids.push(received(&mut b, text).await.id);
    }
    let dir = b.shut().await;

    a.client.edit_message(ids[1], "edited offline").await.unwrap();
    a.client.delete_message(ids[2]).await.unwrap();
    a.client.react(ids[3], "🇯🇵", true).await.unwrap();
    a.client.pin(ids[0], true).await.unwrap();
    a.client.send_message(conversation, "new while b was away").await.unwrap();
    received(&mut a, "new while b was away").await;

    let mut b = TestClient::open_in(dir).await;
    b.synced().await;
    let on_b = b.client.messages(conversation, None, 50).await.unwrap();
    let on_a = a.client.messages(conversation, None, 50).await.unwrap();
    assert_eq!(on_b, on_a, "both caches equal the server's state");
    assert_eq!(on_b.len(), 5);
    assert_eq!(on_b[1].content.as_deref(), Some("edited offline"));
    assert_eq!(on_b[2].content, None);
    assert_eq!(on_b[3].reactions["🇯🇵"], vec![a.id()]);
    assert!(on_b[0].pinned);
}

#[tokio::test]
async fn a_refused_send_shows_its_error_and_can_be_retried() {
    let server =
        Server::start_with_limits("messages=0.5:1,register=1000:1000,login=1000:1000,login_ip=1000:1000").await;
    let (mut a, mut b, conversation) = pair(&server, "rf").await;
    a.client.send_message(conversation, "first").await.unwrap();
    let second = a.client.send_message(conversation, "second").await.unwrap();
    received(&mut b, "first").await;
    a.wait_for("failure", |e| matches!(e, ClientEvent::Outbox { .. })).await;
    let failed = loop {
        let outbox = a.client.outbox(conversation).await.unwrap();
        if let Some(p) = outbox.into_iter().find(|p| p.error.is_some()) {
            break p;
        }
        a.wait_for("outbox change", |e| matches!(e, ClientEvent::Outbox { .. })).await;
    };
    assert_eq!(failed.client_msg_id, second.client_msg_id);
    assert_eq!(failed.error.unwrap().code, confab_protocol::ErrorCode::RateLimited);

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    a.client.retry_message(&second.client_msg_id).await.unwrap();
    received(&mut b, "second").await;
    drained(&mut a, conversation).await;
}

#[tokio::test]
async fn a_revoked_session_signs_out() {
    let server = Server::start().await;
    let mut a = TestClient::register(&server.url, "rv_a").await;
    a.connected().await;
    let token: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.dir.path().join("session.json")).unwrap()).unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    // Another party revokes the token (e.g. "log out everywhere").
    confab_client::api::Api::new(&server.url, Some(token)).logout().await.unwrap();
    a.wait_for("signed out", |e| matches!(e, ClientEvent::Connection(ConnectionState::SignedOut { reason: Some(_) })))
        .await;
    assert!(a.client.session().is_none());
    assert!(!a.dir.path().join("session.json").exists());
}

#[test]
fn session_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let session = confab_client::session::SavedSession {
        server_url: "http://127.0.0.1:1".into(),
        token: "secret".into(),
        user: confab_protocol::User { id: 1, username: "x".into(), display_name: "x".into() },
    };
    confab_client::session::save(dir.path(), &session).unwrap();
    let mode = std::fs::metadata(dir.path().join("session.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(confab_client::session::load(dir.path()), Some(session));
}

/// A reconnect storm: 200 devices (20 users × 10) are connected when the server is killed and
/// restarted; every device comes back by itself (jittered backoff, no "retry now") and catches up,
/// and the server serves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_comes_back_after_a_server_restart() {
    const USERS: usize = 20;
    const DEVICES: usize = 10;
    let mut server = Server::start().await;
    let mut accounts = Vec::new();
    for pair_index in 0..USERS / 2 {
        let (a, b, conversation) = pair(&server, &format!("storm{pair_index}")).await;
        accounts.push((a, conversation));
        accounts.push((b, conversation));
    }
    // Ten devices per user: each a client of its own on a copy of the user's session.
    let mut devices = Vec::new();
    for (account, _) in &accounts {
        let session = confab_client::session::load(account.dir.path()).unwrap();
        for _ in 0..DEVICES {
            let dir = tempfile::tempdir().unwrap();
            confab_client::session::save(dir.path(), &session).unwrap();
            devices.push(TestClient::open_in(dir).await);
        }
    }
    for device in &mut devices {
        device.connected().await;
    }

    server.kill().await;
    for device in &mut devices {
        device
            .wait_for("reconnecting", |e| matches!(e, ClientEvent::Connection(ConnectionState::Reconnecting { .. })))
            .await;
    }
    server.restart().await;
    let restarted = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut back = Vec::new();
    for device in &mut devices {
        let synced = loop {
            match tokio::time::timeout_at(deadline, device.events.recv()).await {
                Ok(Ok(ClientEvent::Synced)) => break true,
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        back.push(synced);
    }
    let missing = back.iter().filter(|b| !**b).count();
    eprintln!(
        "{} of {} devices reconnected and synced {:?} after the restart",
        back.len() - missing,
        back.len(),
        restarted.elapsed()
    );
    assert_eq!(missing, 0, "devices not back within 60 s");

    // The server serves them all: a message reaches every device of its recipient.
    let (sender, conversation) = &accounts[0];
    sender.client.send_message(*conversation, "after the storm").await.unwrap();
    let recipient = accounts[1].0.id();
    for device in devices.iter_mut().filter(|d| d.id() == recipient) {
        received(device, "after the storm").await;
    }
}
