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
