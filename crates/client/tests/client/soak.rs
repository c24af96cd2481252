//! A soak: several users on several devices each do random valid things at once — send, edit,
//! delete, react, unreact, pin, mark read — while one device restarts its app midway. Afterwards
//! every device's cache equals the server's history, message for message.

use std::collections::BTreeMap;
use std::time::Duration;

use confab_client::api::Api;
use confab_protocol::{Message, MessageType};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::support::*;

const EMOJI: [&str; 4] = ["👍", "❤️", "👩‍👩‍👧", "🇺🇦"];

/// One random action by `device` in `conversation`; refusals (e.g. editing a message another
/// device just deleted) are part of the game, anything else is a failure.
async fn act(device: &TestClient, conversation: i64, step: usize) {
    /// What to do, decided before any await (the random generator is not `Send`).
    enum Action {
        Send,
        Edit(i64),
        Delete(i64),
        React(i64, &'static str, bool),
        Pin(i64, bool),
        Read(i64),
    }
    let me = device.id();
    let known = device.client.messages(conversation, None, 500).await.unwrap();
    let action = {
        let mut rng = rand::rng();
        let own: Vec<&Message> = known
            .iter()
            .filter(|m| m.sender_id == me && m.kind == MessageType::Text && m.deleted_at.is_none())
            .collect();
        match (rng.random_range(0..100), known.choose(&mut rng)) {
            (0..40, _) | (_, None) => Action::Send,
            (40..52, _) if !own.is_empty() => Action::Edit(own.choose(&mut rng).unwrap().id),
            (52..58, _) if !own.is_empty() => Action::Delete(own.choose(&mut rng).unwrap().id),
            (58..80, Some(m)) => Action::React(m.id, EMOJI.choose(&mut rng).unwrap(), rng.random_bool(0.7)),
            (80..90, Some(m)) => Action::Pin(m.id, rng.random_bool(0.6)),
            (_, Some(m)) => Action::Read(m.seq),
        }
    };
    let client = &device.client;
    let outcome = match action {
        Action::Send => client.send_message(conversation, &format!("soak {me} #{step}")).await.map(drop),
        Action::Edit(id) => client.edit_message(id, &format!("edited by {me} at {step}")).await.map(drop),
        Action::Delete(id) => client.delete_message(id).await.map(drop),
        Action::React(id, emoji, add) => client.react(id, emoji, add).await.map(drop),
        Action::Pin(id, pinned) => client.pin(id, pinned).await.map(drop),
        Action::Read(seq) => client.mark_read(conversation, seq).await,
    };
    match outcome {
        Ok(()) | Err(confab_client::Error::Server(_)) => {}
        Err(e) => panic!("device of {me}: {e}"),
    }
}

/// The whole conversation as the server has it, by message id.
async fn server_history(api: &Api, conversation: i64) -> BTreeMap<i64, Message> {
    let mut all = BTreeMap::new();
    let mut before = None;
    loop {
        let page = api.history(conversation, before, 100).await.unwrap();
        before = page.messages.iter().map(|m| m.seq).min();
        all.extend(page.messages.into_iter().map(|m| (m.id, m)));
        if !page.has_more {
            return all;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_traffic_from_many_devices_leaves_every_cache_equal_to_the_server() {
    soak(false).await;
}

/// The same with one device quitting its app halfway and coming back. (This found a hole: the
/// device quit during its first sync, and came back to the newest page with its own early
/// messages cached below a gap that paging older never filled.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_traffic_with_an_app_restart_leaves_every_cache_equal_to_the_server() {
    soak(true).await;
}

/// Pages older history in from the server the way the UI does when scrolled to the top: below
/// the oldest cached message, until there is none.
async fn load_all_older(device: &TestClient, conversation: i64) {
    loop {
        let oldest = device.client.messages(conversation, None, 10_000).await.unwrap().first().map(|m| m.seq);
        let Some(oldest) = oldest else { return };
        if !device.client.load_older(conversation, oldest).await.unwrap() {
            return;
        }
    }
}

async fn soak(restart: bool) {
    const STEPS: usize = 40;
    let server = Server::start_with_limits("off").await;
    let (a, b, _) = pair(&server, "soak").await;
    let mut c = TestClient::register(&server.url, "soak_c").await;
    c.connected().await;
    for friend in [&a, &b] {
        c.client.request_friend(&friend.username()).await.unwrap();
        let request = friend.client.friend_requests().await.unwrap().incoming.pop().unwrap();
        friend.client.accept_friend(request.id).await.unwrap();
    }
    let group = c.client.create_conversation(vec![a.id(), b.id()], Some("soak".into())).await.unwrap().id;
    // A second device for each user.
    let mut devices = vec![a, b, c];
    for i in 0..3 {
        let session = confab_client::session::load(devices[i].dir.path()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        confab_client::session::save(dir.path(), &session).unwrap();
        let mut device = TestClient::open_in(dir).await;
        device.connected().await;
        devices.push(device);
    }

    let restarting = devices.pop().unwrap();
    let mut tasks = Vec::new();
    for device in devices {
        tasks.push(tokio::spawn(async move {
            for step in 0..STEPS {
                act(&device, group, step).await;
            }
            device
        }));
    }
    // Meanwhile the sixth device acts (and with `restart`, quits its app halfway and comes back).
    let mut step = 0;
    for _ in 0..STEPS / 2 {
        act(&restarting, group, step).await;
        step += 1;
    }
    let restarted = if restart {
        let dir = restarting.shut().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut restarted = TestClient::open_in(dir).await;
        restarted.connected().await;
        restarted
    } else {
        restarting
    };
    for _ in 0..STEPS / 2 {
        act(&restarted, group, step).await;
        step += 1;
    }
    let mut devices = vec![restarted];
    for task in tasks {
        devices.push(task.await.unwrap());
    }

    // Converged: every device's cache is the server's history, exactly.
    let token = confab_client::session::load(devices[0].dir.path()).unwrap().token;
    let api = Api::new(&server.url, Some(token));
    // Sends go through each device's outbox: wait until every one is acknowledged.
    for device in &mut devices {
        drained(device, group).await;
    }
    let truth = server_history(&api, group).await;
    assert!(truth.len() >= 50, "{} messages", truth.len());
    for (index, device) in devices.iter_mut().enumerate() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            load_all_older(device, group).await;
            let cached: BTreeMap<i64, Message> =
                device.client.messages(group, None, 10_000).await.unwrap().into_iter().map(|m| (m.id, m)).collect();
            if cached == truth {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                let file = device.dir.path().join(format!("cache-{}.db", device.id()));
                let pool = sqlx::SqlitePool::connect(&format!("sqlite:{}", file.display())).await.unwrap();
                let points: Vec<(i64, i64)> =
                    sqlx::query_as("SELECT conversation_id, seq FROM sync_points").fetch_all(&pool).await.unwrap();
                let missing: Vec<(i64, i64, i64)> = truth
                    .values()
                    .filter(|m| cached.get(&m.id) != Some(m))
                    .map(|m| (m.id, m.seq, m.updated_seq))
                    .collect();
                eprintln!(
                    "sync points {points:?}; differing (id, seq, updated_seq) {missing:?}; cached versions {:?}",
                    missing.iter().map(|(id, _, _)| cached.get(id).map(|m| m.updated_seq)).collect::<Vec<_>>()
                );
                let differing: Vec<_> = truth.iter().filter(|(id, m)| cached.get(id) != Some(m)).take(3).collect();
                panic!(
                    "device {index} (0 restarted) of user {} differs from the server ({} cached, {} stored); first differences: {differing:#?} vs {:#?}",
                    device.id(),
                    cached.len(),
                    truth.len(),
                    differing.iter().map(|(id, _)| cached.get(id)).collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
