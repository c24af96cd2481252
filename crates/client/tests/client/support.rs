//! Helpers: the server binary as a child process on a fixed port (so that it can be killed and
//! restarted at the same address), clients in temporary data dirs, and event waits.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use confab_client::{Client, ClientEvent, ConnectionState};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::broadcast;

pub const WAIT: Duration = Duration::from_secs(10);

/// The server binary. `scripts/test.sh` builds it; so does `cargo test --workspace` (the server's
/// own tests need it).
fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("CONFAB_SERVER_BIN") {
        return path.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let path = target.join("debug/confab-server");
    assert!(path.exists(), "{} is missing: run `cargo build -p confab-server` first", path.display());
    path
}

/// A server process with its own data dir, restartable on the same port.
pub struct Server {
    pub url: String,
    port: u16,
    pub data_dir: tempfile::TempDir,
    rate_limits: String,
    /// Extra environment for the process (e.g. a short ring timeout).
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with_limits("register=1000:1000,login=1000:1000,login_ip=1000:1000").await
    }

    /// A server with extra environment.
    pub async fn start_with_env(env: &[(&str, &str)]) -> Server {
        let mut server = Self::start().await;
        server.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        server.kill().await;
        server.restart().await;
        server
    }

    pub async fn start_with_limits(rate_limits: &str) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut server = Server {
            url: format!("http://127.0.0.1:{port}"),
            port,
            data_dir: tempfile::tempdir().unwrap(),
            rate_limits: rate_limits.to_owned(),
            env: Vec::new(),
            child: None,
        };
        server.restart().await;
        server
    }

    /// Starts the process (again), on the same port and data.
    pub async fn restart(&mut self) {
        let mut child = tokio::process::Command::new(server_binary())
            .args(["--listen", &format!("127.0.0.1:{}", self.port), "--data-dir"])
            .arg(self.data_dir.path())
            .env("CONFAB_RATE_LIMITS", &self.rate_limits)
            .env_remove("DATABASE_URL")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line()).await.unwrap().unwrap().unwrap();
        assert!(line.contains("listening"), "{line}");
        self.child = Some(child);
    }

    /// SIGKILL: no goodbye to anyone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }
}

/// A client in its own temporary data dir, with its event stream.
pub struct TestClient {
    pub client: Client,
    pub events: broadcast::Receiver<ClientEvent>,
    pub dir: tempfile::TempDir,
}

impl TestClient {
    pub async fn new() -> TestClient {
        let dir = tempfile::tempdir().unwrap();
        Self::open_in(dir).await
    }

    /// Opens a client on an existing data dir (a restart of the app).
    pub async fn open_in(dir: tempfile::TempDir) -> TestClient {
        let client = Client::open(dir.path()).await.unwrap();
        let events = client.subscribe();
        TestClient { client, events, dir }
    }

    pub async fn register(url: &str, username: &str) -> TestClient {
        let test = TestClient::new().await;
        test.client.register(url, username, "correct horse", None).await.unwrap();
        test
    }

    /// Closes the client and returns its data dir for reopening.
    pub async fn shut(self) -> tempfile::TempDir {
        self.client.close().await;
        self.dir
    }

    /// Waits for an event matching `pred`; returns it.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(event)) if pred(&event) => return event,
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event stream ended while waiting for {what}: {e}"),
                Err(_) => panic!("no {what} within {WAIT:?} (state {:?})", self.client.connection_state()),
            }
        }
    }

    pub async fn connected(&mut self) {
        if self.client.connection_state() == ConnectionState::Connected {
            return;
        }
        self.wait_for("connected", |e| matches!(e, ClientEvent::Connection(ConnectionState::Connected))).await;
    }

    pub async fn synced(&mut self) {
        self.wait_for("synced", |e| matches!(e, ClientEvent::Synced)).await;
    }

    pub fn id(&self) -> i64 {
        self.client.session().unwrap().1.id
    }

    pub fn username(&self) -> String {
        self.client.session().unwrap().1.username
    }
}

/// Two connected, befriended clients with a direct conversation.
pub async fn pair(server: &Server, prefix: &str) -> (TestClient, TestClient, i64) {
    let mut a = TestClient::register(&server.url, &format!("{prefix}_a")).await;
    let mut b = TestClient::register(&server.url, &format!("{prefix}_b")).await;
    a.connected().await;
    b.connected().await;
    a.client.request_friend(&b.username()).await.unwrap();
    let request = b.client.friend_requests().await.unwrap().incoming.pop().unwrap();
    b.client.accept_friend(request.id).await.unwrap();
    let conversation = a.client.create_conversation(vec![b.id()], None).await.unwrap().id;
    b.wait_for("conversationCreated", |e| matches!(e, ClientEvent::Conversations { .. })).await;
    (a, b, conversation)
}

/// Waits for a message with this content, live or in a catch-up page.
pub async fn received(client: &mut TestClient, content: &str) -> confab_protocol::Message {
    let is_it = |m: &confab_protocol::Message| m.content.as_deref() == Some(content);
    let event = client
        .wait_for(&format!("message {content:?}"), |e| match e {
            ClientEvent::Message { message, .. } => is_it(message),
            ClientEvent::SyncPage { messages, .. } => messages.iter().any(is_it),
            _ => false,
        })
        .await;
    match event {
        ClientEvent::Message { message, .. } => *message,
        ClientEvent::SyncPage { messages, .. } => messages.into_iter().find(|m| is_it(m)).unwrap(),
        _ => unreachable!(),
    }
}

/// Waits until the client's outbox for a conversation is empty.
pub async fn drained(client: &mut TestClient, conversation: i64) {
    while !client.client.outbox(conversation).await.unwrap().is_empty() {
        client.wait_for("outbox change", |e| matches!(e, ClientEvent::Outbox { .. })).await;
    }
}
