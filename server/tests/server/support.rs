//! Test helpers: a real server on a loopback port, a REST client, and a real Socket.IO client
//! (rust_socketio) that records every event it receives.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use confab_server::Config;
use confab_server::ratelimit::RateLimitConfig;
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use rust_socketio::Payload;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};

pub const WAIT: Duration = Duration::from_secs(5);

/// Limits for tests: the defaults, but registration and login unthrottled (every test makes accounts).
pub fn test_limits() -> RateLimitConfig {
    RateLimitConfig::parse("register=1000:1000,login=1000:1000,login_ip=1000:1000").unwrap()
}

/// Where a test server keeps its data: a temporary directory and, when `CONFAB_TEST_POSTGRES` names
/// a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432`), a database of its own, dropped
/// after the test. Without it the suite runs on SQLite; `scripts/test.sh` runs it both ways.
pub struct Storage {
    pub dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

impl Storage {
    pub async fn new() -> Storage {
        let database = match std::env::var("CONFAB_TEST_POSTGRES") {
            Ok(base) if !base.is_empty() => Some(TestDatabase::create(&base).await),
            _ => None,
        };
        Storage { dir: tempfile::tempdir().unwrap(), database }
    }

    /// The server's `--database-url`, if not the default SQLite file.
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(|db| db.url.clone())
    }

    /// The database the server uses, for tests that look at stored rows.
    pub async fn connect(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url =
            self.database_url().unwrap_or_else(|| format!("sqlite://{}", self.dir.path().join("confab.db").display()));
        sqlx::AnyPool::connect(&url).await.unwrap()
    }

    pub fn is_sqlite(&self) -> bool {
        self.database.is_none()
    }
}

/// A PostgreSQL database created for one test.
struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(base: &str) -> TestDatabase {
        use sqlx::Connection;
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = base.trim_end_matches('/');
        let name = format!("confab_test_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let admin_url = format!("{base}/postgres");
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
        TestDatabase { url: format!("{base}/{name}"), admin_url, name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await;
                }
            });
        })
        .join();
    }
}

/// A server running inside the test process.
pub struct TestServer {
    pub url: String,
    pub storage: Storage,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub async fn start_server() -> TestServer {
    start_server_with(|_| {}).await
}

pub async fn start_server_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    start_on(Storage::new().await, adjust).await
}

/// Starts a server on existing storage (a restart keeps it).
pub async fn start_on(storage: Storage, adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config::with_data_dir(storage.dir.path());
    config.database_url = storage.database_url();
    config.rate_limits = test_limits();
    adjust(&mut config);
    let store = confab_server::open_store(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (router, state) = confab_server::app(config, store).await.unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        confab_server::serve(listener, router, state, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestServer { url, storage, shutdown: Some(tx), task: Some(task) }
}

impl TestServer {
    pub fn api(&self) -> Api {
        Api::new(&self.url)
    }

    /// Graceful shutdown, waiting until the server has stopped; returns its storage for a restart.
    pub async fn stop(mut self) -> Storage {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task).await.expect("server stops in time").unwrap();
        }
        self.storage
    }
}

/// The server binary as a child process (for SIGKILL tests).
pub struct ServerProcess {
    pub url: String,
    child: tokio::process::Child,
}

impl ServerProcess {
    pub async fn start(storage: &Storage) -> ServerProcess {
        Self::start_with(storage, &[]).await
    }

    /// Starts the binary with extra environment (e.g. `REDIS_URL`).
    pub async fn start_with(storage: &Storage, env: &[(&str, &str)]) -> ServerProcess {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_confab-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(storage.dir.path())
            .env("CONFAB_RATE_LIMITS", "off");
        match storage.database_url() {
            Some(url) => command.env("DATABASE_URL", url),
            None => command.env_remove("DATABASE_URL"),
        };
        // Last, so that a test can override the defaults above.
        command.envs(env.iter().copied());
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line()).await.unwrap().unwrap().unwrap();
        let url = line.rsplit(' ').next().unwrap().to_owned();
        ServerProcess { url, child }
    }
    /// SIGTERM, then waits for the exit; returns whether it exited successfully.
    pub async fn terminate(mut self) -> bool {
        let pid = self.child.id().expect("running").to_string();
        std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        status.success()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Resident memory, in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// A value of the node's Prometheus metrics (`confab_<name>`).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url)).await.unwrap().text().await.unwrap();
        let prefix = format!("confab_{name} ");
        let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {name} in {text}"));
        line[prefix.len()..].trim().parse().unwrap()
    }

    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// A REST client.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    http: reqwest::Client,
}

/// A registered user: token and profile.
#[derive(Clone, Debug)]
pub struct Account {
    pub token: String,
    pub id: i64,
    pub username: String,
}

impl Api {
    pub fn new(url: &str) -> Api {
        Api { url: url.to_owned(), http: reqwest::Client::new() }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.try_call(method, path, token, body).await.unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Like `call`, but a transport failure (server gone) is an `Err`.
    pub async fn try_call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let mut request = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn register(&self, username: &str) -> Account {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"username": username, "password": "correct horse"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        Account {
            token: body["token"].as_str().unwrap().to_owned(),
            id: body["user"]["id"].as_i64().unwrap(),
            username: body["user"]["username"].as_str().unwrap().to_owned(),
        }
    }

    /// Makes two users friends (request + accept).
    pub async fn befriend(&self, a: &Account, b: &Account) {
        let (status, body) = self.post("/api/friends/requests", &a.token, json!({"username": b.username})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["request"]["id"].as_i64().unwrap();
        let (status, body) = self.post(&format!("/api/friends/requests/{id}/accept"), &b.token, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A direct conversation between friends; returns its id.
    pub async fn direct(&self, a: &Account, b: &Account) -> i64 {
        let (status, body) =
            self.post("/api/messages/conversations", &a.token, json!({"participantIds": [b.id]})).await;
        assert!(status.is_success(), "{body}");
        body["conversation"]["id"].as_i64().unwrap()
    }

    /// Two fresh users who are friends, with a direct conversation.
    pub async fn pair(&self, prefix: &str) -> (Account, Account, i64) {
        let a = self.register(&format!("{prefix}_a")).await;
        let b = self.register(&format!("{prefix}_b")).await;
        self.befriend(&a, &b).await;
        let conversation = self.direct(&a, &b).await;
        (a, b, conversation)
    }

    /// Ids of every message of a conversation, oldest first, following the pages.
    pub async fn all_message_ids(&self, token: &str, conversation: i64) -> Vec<i64> {
        self.history_all(token, conversation).await.iter().map(|m| m["id"].as_i64().unwrap()).collect()
    }

    /// Every message of a conversation, oldest first, through as many pages as it takes.
    pub async fn history_all(&self, token: &str, conversation: i64) -> Vec<Value> {
        let mut messages = Vec::new();
        let mut after = 0;
        loop {
            let (status, body) = self
                .get(&format!("/api/messages/conversations/{conversation}/messages?after={after}&limit=100"), token)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page = body["messages"].as_array().unwrap();
            messages.extend(page.iter().cloned());
            match page.last() {
                Some(last) if body["hasMore"] == true => after = last["seq"].as_i64().unwrap(),
                _ => return messages,
            }
        }
    }

    pub async fn history(&self, token: &str, conversation: i64) -> Vec<Value> {
        let (status, body) =
            self.get(&format!("/api/messages/conversations/{conversation}/messages?limit=100"), token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["messages"].as_array().unwrap().clone()
    }
}

/// A connected Socket.IO client that records the events it receives.
pub struct Socket {
    pub client: Client,
    events: mpsc::UnboundedReceiver<(String, Value)>,
    /// Events read while looking for another one.
    backlog: VecDeque<(String, Value)>,
}

fn first_value(payload: Payload) -> Value {
    match payload {
        Payload::Text(mut values) if !values.is_empty() => values.swap_remove(0),
        _ => Value::Null,
    }
}

/// Connects with a token and waits for the server's CONNECT (or its refusal).
pub async fn connect(url: &str, token: &str) -> Result<Socket, String> {
    connect_with_auth(url, json!({ "token": token })).await
}

pub async fn connect_with_auth(url: &str, auth: Value) -> Result<Socket, String> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let ready_err = ready_tx.clone();
    let client = ClientBuilder::new(url)
        .auth(auth)
        .reconnect(false)
        .on_any(move |event, payload, _| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((event.to_string(), first_value(payload)));
            }
            .boxed()
        })
        .on(rust_socketio::Event::Connect, move |_, _| {
            let ready = ready_tx.clone();
            async move {
                let _ = ready.send(Ok(()));
            }
            .boxed()
        })
        .on(rust_socketio::Event::Error, move |payload, _| {
            let ready = ready_err.clone();
            async move {
                let text = match payload {
                    Payload::Text(values) => values.iter().map(Value::to_string).collect::<Vec<_>>().join(" "),
                    #[allow(deprecated)]
                    Payload::String(s) => s,
                    Payload::Binary(_) => "binary".into(),
                };
                let _ = ready.send(Err(text));
            }
            .boxed()
        })
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut ready_rx = ready_rx;
    match tokio::time::timeout(WAIT, ready_rx.recv()).await {
        Ok(Some(Ok(()))) => Ok(Socket { client, events: rx, backlog: VecDeque::new() }),
        Ok(Some(Err(e))) => {
            let _ = client.disconnect().await;
            Err(e)
        }
        _ => Err("no connect within the timeout".into()),
    }
}

impl Socket {
    /// Emits an event and returns its ack.
    pub async fn ack(&self, event: &str, payload: Value) -> Value {
        self.ack_raw(event, Payload::Text(vec![payload])).await
    }

    pub async fn ack_raw(&self, event: &str, payload: Payload) -> Value {
        let (tx, rx) = oneshot::channel();
        let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
        self.client
            .emit_with_ack(event, payload, WAIT, move |payload, _| {
                let tx = tx.clone();
                async move {
                    if let Some(tx) = tx.lock().unwrap().take() {
                        // rust_socketio hands an ack's arguments over as one JSON array.
                        let value = match first_value(payload) {
                            Value::Array(mut args) if args.len() == 1 => args.swap_remove(0),
                            other => other,
                        };
                        let _ = tx.send(value);
                    }
                }
                .boxed()
            })
            .await
            .unwrap();
        tokio::time::timeout(WAIT, rx).await.unwrap_or_else(|_| panic!("no ack for {event}")).unwrap()
    }

    /// Emits and asserts success; returns the ack.
    pub async fn ok(&self, event: &str, payload: Value) -> Value {
        let ack = self.ack(event, payload).await;
        assert_eq!(ack["success"], true, "{event} failed: {ack}");
        ack
    }

    /// Emits and asserts the error code; returns the error object.
    pub async fn refused(&self, event: &str, payload: Value, code: &str) -> Value {
        let ack = self.ack(event, payload).await;
        assert_eq!(ack["success"], false, "{event} should fail: {ack}");
        assert_eq!(ack["error"]["code"], code, "{event}: {ack}");
        assert!(ack["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{ack}");
        ack["error"].clone()
    }

    /// Waits for the next event with this name (others are kept for later).
    pub async fn next(&mut self, event: &str) -> Value {
        self.next_matching(event, |_| true).await
    }

    pub async fn next_matching(&mut self, event: &str, filter: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(|(e, v)| e == event && filter(v)) {
            return self.backlog.remove(i).unwrap().1;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some((e, v))) if e == event && filter(&v) => return v,
                Ok(Some(other)) => self.backlog.push_back(other),
                Ok(None) => panic!("socket closed while waiting for {event}"),
                Err(_) => panic!("no {event} within {WAIT:?}; got {:?}", self.backlog),
            }
        }
    }

    /// Asserts that no event with this name arrives within `wait`.
    pub async fn none(&mut self, event: &str, wait: Duration) {
        assert!(!self.backlog.iter().any(|(e, _)| e == event), "unexpected {event}: {:?}", self.backlog);
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some((e, v))) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert_ne!(e, event, "unexpected {event}: {v}");
            self.backlog.push_back((e, v));
        }
    }

    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// A fresh client message id.
pub fn cid() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("cid-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Sends a text message and returns the stored message from the ack.
pub async fn send(socket: &Socket, conversation: i64, content: &str) -> Value {
    socket
        .ok("sendMessage", json!({"conversationId": conversation, "content": content, "clientMsgId": cid()}))
        .await["message"]
        .clone()
}
