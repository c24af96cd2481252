//! Events carry their data: what one sent message costs, and how a long catch-up reaches the UI.

use confab_client::ClientEvent;

use crate::support::*;

/// Sends one message and waits until its acknowledged state is applied; returns the cache
/// statements that took. The least of three runs: the outbox's idle check can land in one.
async fn statements_per_send(client: &mut TestClient, conversation: i64, label: &str) -> u64 {
    let mut least = u64::MAX;
    for run in 0..3 {
        let text = format!("{label} {run}");
        let before = client.client.cache_statements();
        client.client.send_message(conversation, &text).await.unwrap();
        client
            .wait_for("own message applied", |e| {
                matches!(e, ClientEvent::Message { message, .. } if message.content.as_deref() == Some(text.as_str()))
            })
            .await;
        // The sender goes on to look for the next entry after publishing: count once it is idle.
        let mut settled = client.client.cache_statements();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let now = client.client.cache_statements();
            if now == settled {
                break;
            }
            settled = now;
        }
        least = least.min(settled - before);
    }
    least
}

#[tokio::test]
async fn a_sent_message_costs_the_same_with_one_or_many_conversations() {
    let server = Server::start_with_limits("off").await;
    let (mut a, b, conversation) = pair(&server, "cost").await;
    a.synced().await;
    let with_one = statements_per_send(&mut a, conversation, "one").await;

    let before = a.client.cache_statements();
    a.client.conversations().await.unwrap();
    let list_of_one = a.client.cache_statements() - before;
    for i in 0..30 {
        a.client.create_conversation(vec![b.id()], Some(format!("group {i}"))).await.unwrap();
    }
    let before = a.client.cache_statements();
    a.client.conversations().await.unwrap();
    let list_of_many = a.client.cache_statements() - before;
    // The counter sees a cost that grows with the conversations: re-reading the list does.
    assert!(list_of_many > list_of_one * 10, "list: {list_of_one} → {list_of_many}");

    let with_many = statements_per_send(&mut a, conversation, "many").await;
    assert_eq!(with_one, with_many, "statements per sent message with 1 and 31 conversations");
    println!("cache statements per sent message: {with_one} (1 and 31 conversations)");
}

#[tokio::test]
async fn a_long_catch_up_reaches_the_ui_as_one_event_per_page() {
    let server = Server::start_with_limits("off").await;
    let (mut a, mut b, conversation) = pair(&server, "page").await;
    // B has seen the conversation's history (a sync point), so what it misses comes by `sync`.
    a.client.send_message(conversation, "seen").await.unwrap();
    received(&mut b, "seen").await;
    let dir = b.shut().await;
    const MISSED: usize = 500;
    for i in 0..MISSED {
        a.client.send_message(conversation, &format!("missed {i}")).await.unwrap();
    }
    drained(&mut a, conversation).await;

    let mut b = TestClient::open_in(dir).await;
    let (mut pages, mut paged_messages, mut message_events, mut lists) = (0, 0, 0, 0);
    loop {
        match b.wait_for("catch-up", |_| true).await {
            ClientEvent::SyncPage { messages, conversations } => {
                pages += 1;
                paged_messages += messages.len();
                assert!(conversations.iter().any(|c| c.id == conversation && c.unread_count == MISSED as i64 + 1));
            }
            ClientEvent::Message { .. } => message_events += 1,
            ClientEvent::Conversations { .. } | ClientEvent::ConversationChanged { .. } => lists += 1,
            ClientEvent::Synced => break,
            _ => {}
        }
    }
    assert_eq!((pages, paged_messages, message_events), (1, MISSED, 0));
    assert!(lists <= 1, "conversation list published {lists} times");
    assert_eq!(b.client.messages(conversation, None, 1000).await.unwrap().len(), MISSED + 1);
}
