//! Hosting a Confab server from the app (issue 18): this module owns the `confab-server` process the
//! app starts for its user — finding the bundled binary, starting it on the app's data, waiting until
//! it answers, the addresses to give friends, and stopping it — and the health probe the sign-in
//! screen uses to tell whether a server answers at an address.
//!
//! The server is the bundled `confab-server` next to the app's own binary (`/usr/bin` from the .deb,
//! which Tauri's sidecar `bundle.externalBin` installs there; `target/debug` in a dev build). It is
//! started with `std::process`, not tauri-plugin-shell: the plugin adds a dependency and a capability
//! for what is one `Command` of a binary whose path we know, and its sidecar lookup resolves to the
//! same place (`current_exe`'s directory).
//!
//! Its output (the "listening" line on stdout and the logs on stderr) goes to
//! `<data dir>/server.log`, read back for the address and, when it fails, for the reason. A file
//! rather than a pipe: a server kept hosting after the app quits must not write into a closed pipe.
//! A running server also leaves `hosted.json` there (pid, address, scope), so that the next run of
//! the app takes over a server kept hosting in the background ([`adopt`]) and can stop it.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The port a hosted server listens on unless `CONFAB_HOST_LISTEN` says otherwise; the sign-in
/// screen proposes `http://127.0.0.1:4000`.
pub const DEFAULT_PORT: u16 = 4000;

/// How long a starting server has to print its address and answer `/healthz` (a first start
/// creates the database; on a loaded machine that takes a few seconds).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a stopping server has to finish after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Who may reach the hosted server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// Only this computer: it listens on 127.0.0.1.
    ThisComputer,
    /// Other computers on the local network too: it listens on 0.0.0.0.
    LocalNetwork,
}

impl Scope {
    /// Where the server listens: `CONFAB_HOST_LISTEN` (an address such as `127.0.0.1:45123`, for
    /// tests and for people who need another port) when set, else port 4000 on the scope's address.
    pub fn listen(self) -> Result<SocketAddr, HostingError> {
        if let Ok(configured) = std::env::var("CONFAB_HOST_LISTEN") {
            return configured.parse().map_err(|_| HostingError::BadListen(configured));
        }
        let ip = match self {
            Scope::ThisComputer => Ipv4Addr::LOCALHOST,
            Scope::LocalNetwork => Ipv4Addr::UNSPECIFIED,
        };
        Ok(SocketAddr::from((ip, DEFAULT_PORT)))
    }
}

/// A server this app hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct HostedServer {
    /// The address this app signs in with (always on loopback: `http://127.0.0.1:<port>`).
    pub url: String,
    /// The addresses to give friends on the local network: one per non-loopback IPv4 address of
    /// this computer. Empty when hosting for this computer only.
    pub share_urls: Vec<String>,
    /// Who may reach it.
    pub scope: Scope,
}

/// Why hosting did not start or stop, in words for people.
#[derive(Debug)]
pub enum HostingError {
    /// No `confab-server` next to the app's binary.
    NoServerBinary(PathBuf),
    /// Something else already listens on the address.
    PortTaken(SocketAddr),
    /// `CONFAB_HOST_LISTEN` is not an address.
    BadListen(String),
    /// The server exited while starting; the last lines of its log.
    Exited(String),
    /// It did not answer within [`START_TIMEOUT`].
    Timeout,
    /// Starting it failed (permissions, the data directory).
    Io(std::io::Error),
}

impl std::fmt::Display for HostingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostingError::NoServerBinary(path) => {
                write!(f, "The Confab server is not installed with this app (looked for {}).", path.display())
            }
            HostingError::PortTaken(addr) => write!(
                f,
                "Port {} is already in use on this computer: another program (maybe another Confab server) \
                 listens there. Stop it, or connect to it by entering its address.",
                addr.port()
            ),
            HostingError::BadListen(value) => {
                write!(f, "CONFAB_HOST_LISTEN is {value:?}, which is not an address such as 127.0.0.1:4000.")
            }
            HostingError::Exited(log) => write!(f, "The Confab server stopped while starting: {log}"),
            HostingError::Timeout => {
                write!(f, "The Confab server did not answer within {} seconds.", START_TIMEOUT.as_secs())
            }
            HostingError::Io(e) => write!(f, "The Confab server could not be started: {e}."),
        }
    }
}

impl std::error::Error for HostingError {}

impl From<std::io::Error> for HostingError {
    fn from(e: std::io::Error) -> Self {
        HostingError::Io(e)
    }
}

/// The `confab-server` installed next to this app's binary.
pub fn bundled_server() -> Result<PathBuf, HostingError> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(format!("confab-server{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() { Ok(path) } else { Err(HostingError::NoServerBinary(path)) }
}

/// The name of the record a running hosted server leaves in its data directory, so that the next
/// run of the app can take it over (after "Keep hosting in the background", or a crash).
const RECORD: &str = "hosted.json";

/// What [`RECORD`] says.
#[derive(Serialize, Deserialize)]
struct Record {
    pid: u32,
    addr: SocketAddr,
    scope: Scope,
}

/// The server's process: our child, or one an earlier run of the app left running, taken over.
#[derive(Debug)]
enum Process {
    Child(Child),
    #[cfg(unix)]
    Adopted(libc::pid_t),
}

/// A running server started by [`start`] or taken over by [`adopt`].
#[derive(Debug)]
pub struct Running {
    process: Process,
    /// Its [`RECORD`], removed when it is stopped.
    record: PathBuf,
    /// Where it listens (the real port when asked for port 0).
    pub addr: SocketAddr,
    /// What the UI is told.
    pub server: HostedServer,
}

impl Running {
    /// Stops the server: SIGTERM (it finishes its requests and closes the database), then SIGKILL
    /// after [`STOP_TIMEOUT`].
    pub fn stop(mut self) {
        #[cfg(unix)]
        {
            let pid = match &self.process {
                Process::Child(child) => libc::pid_t::try_from(child.id()).ok(),
                Process::Adopted(pid) => Some(*pid),
            };
            if let Some(pid) = pid {
                // SAFETY: kill(2) on our child, not reaped yet (we hold it), or on the adopted
                // server, whose command line `adopt` checked.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let deadline = Instant::now() + STOP_TIMEOUT;
            while Instant::now() < deadline && self.alive() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if self.alive() {
            match &mut self.process {
                Process::Child(child) => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                // SAFETY: as above.
                #[cfg(unix)]
                Process::Adopted(pid) => unsafe {
                    libc::kill(*pid, libc::SIGKILL);
                },
            }
        }
        let _ = std::fs::remove_file(&self.record);
    }

    /// Whether the process is still alive.
    pub fn alive(&mut self) -> bool {
        match &mut self.process {
            Process::Child(child) => matches!(child.try_wait(), Ok(None)),
            // SAFETY: signal 0 only asks whether the process exists.
            #[cfg(unix)]
            Process::Adopted(pid) => unsafe { libc::kill(*pid, 0) == 0 },
        }
    }
}

/// What the UI is told of a server on `port` for `scope`.
fn hosted_server(scope: Scope, port: u16) -> HostedServer {
    let share_urls = match scope {
        Scope::ThisComputer => Vec::new(),
        Scope::LocalNetwork => lan_addresses().into_iter().map(|ip| format!("http://{ip}:{port}")).collect(),
    };
    HostedServer { url: format!("http://127.0.0.1:{port}"), share_urls, scope }
}

/// Takes over the server an earlier run of the app left hosting on `data_dir` (its [`RECORD`]),
/// if that process is still a `confab-server` on this data directory (pids are reused) and answers.
#[cfg(target_os = "linux")]
pub fn adopt(data_dir: &Path) -> Option<Running> {
    let record_path = data_dir.join(RECORD);
    let record: Record = serde_json::from_slice(&std::fs::read(&record_path).ok()?).ok()?;
    let pid = libc::pid_t::try_from(record.pid).ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let is_ours = args.first().is_some_and(|exe| exe.ends_with("confab-server"))
        && args.windows(2).any(|pair| pair[0] == "--data-dir" && Path::new(&pair[1]) == data_dir);
    let url = format!("http://127.0.0.1:{}", record.addr.port());
    if !is_ours || !healthy(&url, Duration::from_secs(2)) {
        return None;
    }
    tracing::info!(addr = %record.addr, pid, "taking over the Confab server kept hosting");
    Some(Running {
        process: Process::Adopted(pid),
        record: record_path,
        addr: record.addr,
        server: hosted_server(record.scope, record.addr.port()),
    })
}

/// Elsewhere there is no `/proc` to check the process with: nothing is taken over.
#[cfg(not(target_os = "linux"))]
pub fn adopt(_data_dir: &Path) -> Option<Running> {
    None
}

/// Starts `binary` with `--data-dir <data_dir> --listen <listen>` and waits until it answers
/// `/healthz`. Port 0 picks a free port (the server prints the one it got). Blocking: up to
/// [`START_TIMEOUT`].
pub fn start(binary: &Path, data_dir: &Path, listen: SocketAddr, scope: Scope) -> Result<Running, HostingError> {
    // Say "taken" in words before the server says it in its log. std binds with SO_REUSEADDR, like
    // the server, so a port in TIME_WAIT does not count as taken.
    if listen.port() != 0
        && let Err(e) = std::net::TcpListener::bind(listen)
    {
        return Err(if e.kind() == std::io::ErrorKind::AddrInUse { HostingError::PortTaken(listen) } else { e.into() });
    }
    std::fs::create_dir_all(data_dir)?;
    let log_path = data_dir.join("server.log");
    let log = File::create(&log_path)?;
    let mut child = Command::new(binary)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(listen.to_string())
        // The hosted server keeps its data in the app's data directory: a database or Redis named
        // in the app's environment is not for it.
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => HostingError::NoServerBinary(binary.to_path_buf()),
            _ => e.into(),
        })?;
    match wait_until_ready(&mut child, &log_path, listen) {
        Ok(addr) => {
            tracing::info!(%addr, log = %log_path.display(), "hosting a Confab server");
            let record = data_dir.join(RECORD);
            let written = serde_json::to_vec(&Record { pid: child.id(), addr, scope })
                .map_err(std::io::Error::other)
                .and_then(|json| std::fs::write(&record, json));
            if let Err(e) = written {
                tracing::warn!(error = %e, "writing the hosted server's record failed: the next run cannot take it over");
            }
            Ok(Running { process: Process::Child(child), record, addr, server: hosted_server(scope, addr.port()) })
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Reads the log until the "listening on http://ADDR" line, then probes `/healthz` until it answers.
fn wait_until_ready(child: &mut Child, log_path: &Path, listen: SocketAddr) -> Result<SocketAddr, HostingError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut addr = None;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if log.contains("Address already in use") || log.contains("address already in use") {
                return Err(HostingError::PortTaken(listen));
            }
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            let tail = tail.into_iter().rev().collect::<Vec<_>>().join(" / ");
            return Err(HostingError::Exited(if tail.is_empty() { status.to_string() } else { tail }));
        }
        if addr.is_none() {
            addr = std::fs::read_to_string(log_path).ok().and_then(|log| listening_address(&log));
        }
        if let Some(addr) = addr {
            let local = SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()));
            if healthy(&format!("http://{local}"), Duration::from_secs(1)) {
                return Ok(addr);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(HostingError::Timeout)
}

/// The address in the server's "confab-server listening on http://ADDR" line.
fn listening_address(log: &str) -> Option<SocketAddr> {
    log.lines().find_map(|line| line.split("listening on http://").nth(1)?.trim().parse().ok())
}

/// Whether a Confab server answers `GET <url>/healthz` with 200 within `timeout`, asked through the
/// client core's REST API (so `https://` addresses are checked too). Blocking: call it off the async
/// runtime's threads.
pub fn healthy(url: &str, timeout: Duration) -> bool {
    let api = confab_client::api::Api::new(url.trim(), None);
    tauri::async_runtime::block_on(async { matches!(tokio::time::timeout(timeout, api.health()).await, Ok(Ok(_))) })
}

/// This computer's IPv4 addresses that others on the network can reach: every up interface's,
/// without loopback and link-local (169.254/16) ones. Sorted.
pub fn lan_addresses() -> Vec<Ipv4Addr> {
    let mut found = interface_addresses();
    found.retain(|ip| !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified());
    found.sort();
    found.dedup();
    found
}

#[cfg(unix)]
fn interface_addresses() -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list we only read, and free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut entry = list;
        while let Some(ifa) = entry.as_ref() {
            let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
            if up && !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                found.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            entry = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

/// Elsewhere: the address of the interface that routes to the outside (a UDP "connect" sends
/// nothing), which is the one friends on the same network reach.
#[cfg(not(unix))]
fn interface_addresses() -> Vec<Ipv4Addr> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0));
    match socket.and_then(|s| s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).and_then(|()| s.local_addr())) {
        Ok(SocketAddr::V4(addr)) => vec![*addr.ip()],
        _ => Vec::new(),
    }
}

/// The app's hosting: at most one server at a time, on `<app data dir>/server`.
pub struct Hosting {
    data_dir: PathBuf,
    running: Mutex<Option<Running>>,
}

impl Hosting {
    /// Hosting with the server's data in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Hosting { data_dir, running: Mutex::new(None) }
    }

    /// Starts the bundled server for `scope` (or answers the one already running for the same
    /// scope; one for another scope is stopped first). Blocking: run it off the async threads.
    pub fn host(&self, scope: Scope) -> Result<HostedServer, HostingError> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = running.as_mut() {
            if current.alive() && current.server.scope == scope {
                return Ok(current.server.clone());
            }
            if let Some(old) = running.take() {
                old.stop();
            }
        }
        let started = start(&bundled_server()?, &self.data_dir, scope.listen()?, scope)?;
        let server = started.server.clone();
        *running = Some(started);
        Ok(server)
    }

    /// At the app's start, when it hosted as it quit: takes over the server it left running, or
    /// starts it again unless something else answers on its port. Blocking.
    pub fn resume(&self, scope: Scope) -> Result<Option<HostedServer>, HostingError> {
        if let Some(adopted) = adopt(&self.data_dir) {
            let server = adopted.server.clone();
            *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(adopted);
            return Ok(Some(server));
        }
        let port = scope.listen()?.port();
        if healthy(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2)) {
            return Ok(None);
        }
        self.host(scope).map(Some)
    }

    /// The server this app hosts, if it is running.
    pub fn status(&self) -> Option<HostedServer> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if running.as_mut().is_some_and(|current| current.alive()) {
            return running.as_ref().map(|current| current.server.clone());
        }
        *running = None;
        None
    }

    /// Stops the hosted server, if any. Blocking (up to [`STOP_TIMEOUT`]).
    pub fn stop(&self) {
        let taken = self.running.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(running) = taken {
            tracing::info!(addr = %running.addr, "stopping the hosted Confab server");
            running.stop();
        }
    }

    /// Lets the server go on after the app quits ("Keep hosting in the background").
    pub fn detach(&self) {
        if let Some(running) = self.running.lock().unwrap_or_else(|p| p.into_inner()).take() {
            tracing::info!(addr = %running.addr, "the hosted Confab server keeps running");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// The server built by cargo: `$CONFAB_SERVER_BIN`, else `target/debug/confab-server` (this
    /// test runs from `target/debug/deps`).
    fn server_binary() -> PathBuf {
        if let Some(path) = std::env::var_os("CONFAB_SERVER_BIN") {
            return path.into();
        }
        let exe = std::env::current_exe().unwrap();
        let path = exe.parent().unwrap().parent().unwrap().join("confab-server");
        assert!(path.is_file(), "build it first: cargo build -p confab-server ({})", path.display());
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("confab-hosting-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn starts_answers_and_stops_the_real_server() {
        let dir = temp_dir("start");
        let running = start(&server_binary(), &dir, "127.0.0.1:0".parse().unwrap(), Scope::ThisComputer).unwrap();
        let url = running.server.url.clone();
        assert_ne!(running.addr.port(), 0, "the real port is read from the server's line");
        assert_eq!(url, format!("http://127.0.0.1:{}", running.addr.port()));
        assert!(running.server.share_urls.is_empty(), "nothing to share for this computer only");
        assert!(healthy(&url, Duration::from_secs(2)));
        assert!(healthy(&format!("{url}/"), Duration::from_secs(2)), "a trailing slash is fine");
        assert!(dir.join("confab.db").exists(), "the data lives in the given directory");

        // A taken port is said in words, before and after starting a second server.
        let taken = start(&server_binary(), &temp_dir("taken"), running.addr, Scope::ThisComputer).unwrap_err();
        assert!(matches!(taken, HostingError::PortTaken(addr) if addr == running.addr), "{taken:?}");
        let words = taken.to_string();
        assert!(words.contains(&format!("Port {} is already in use", running.addr.port())), "{words}");

        running.stop();
        assert!(!healthy(&url, Duration::from_secs(1)), "stopped");
        let _ = std::fs::remove_dir_all(dir);
        let _ = std::fs::remove_dir_all(temp_dir("taken"));
    }

    #[test]
    fn local_network_gives_addresses_to_share() {
        let dir = temp_dir("lan");
        let running = start(&server_binary(), &dir, "0.0.0.0:0".parse().unwrap(), Scope::LocalNetwork).unwrap();
        let port = running.addr.port();
        assert_eq!(running.server.url, format!("http://127.0.0.1:{port}"), "this app signs in over loopback");
        let expected: Vec<String> = lan_addresses().iter().map(|ip| format!("http://{ip}:{port}")).collect();
        assert_eq!(running.server.share_urls, expected);
        for url in &running.server.share_urls {
            assert!(healthy(url, Duration::from_secs(2)), "{url} answers");
        }
        running.stop();
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A server kept hosting when the app quit is taken over by the next run, which can stop it.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_next_run_takes_over_a_server_kept_hosting() {
        let dir = temp_dir("adopt");
        let running = start(&server_binary(), &dir, "127.0.0.1:0".parse().unwrap(), Scope::ThisComputer).unwrap();
        let url = running.server.url.clone();
        // The app quits and keeps hosting. (Here the test process stays the server's parent: a
        // thread reaps it, as init would.)
        let Process::Child(mut child) = running.process else { unreachable!() };
        let reaper = std::thread::spawn(move || child.wait());

        let mut adopted = adopt(&dir).expect("taken over");
        assert!(adopted.alive());
        assert_eq!(adopted.server.url, url);
        assert_eq!(adopted.server.scope, Scope::ThisComputer);
        adopted.stop();
        assert!(reaper.join().unwrap().is_ok());
        assert!(!healthy(&url, Duration::from_secs(1)), "stopped");
        assert!(!dir.join(RECORD).exists(), "the record goes with it");
        assert!(adopt(&dir).is_none(), "nothing left to take over");

        // A record naming a process that is not a confab-server on this directory is not taken over.
        let record =
            Record { pid: std::process::id(), addr: "127.0.0.1:1".parse().unwrap(), scope: Scope::ThisComputer };
        std::fs::write(dir.join(RECORD), serde_json::to_vec(&record).unwrap()).unwrap();
        assert!(adopt(&dir).is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_missing_binary_is_said_in_words() {
        let missing = Path::new("/nonexistent/confab-server");
        let error =
            start(missing, &temp_dir("missing"), "127.0.0.1:0".parse().unwrap(), Scope::ThisComputer).unwrap_err();
        assert!(matches!(error, HostingError::NoServerBinary(_)), "{error:?}");
        assert!(error.to_string().starts_with("The Confab server is not installed"));
        let _ = std::fs::remove_dir_all(temp_dir("missing"));
    }

    #[test]
    fn probe() {
        // Nothing listens on a port just freed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        assert!(!healthy(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)));
        assert!(!healthy("", Duration::from_secs(1)));
        assert!(!healthy("http://", Duration::from_secs(1)));
        // Something that answers, but not 200: not a Confab server.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 256];
            let n = stream.read(&mut request).unwrap();
            stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n").unwrap();
            String::from_utf8_lossy(&request[..n]).into_owned()
        });
        assert!(!healthy(&format!("{url}/base"), Duration::from_secs(2)));
        assert!(answer.join().unwrap().starts_with("GET /base/healthz HTTP/1.1\r\n"), "the path is kept");
    }

    #[test]
    fn listening_line_and_addresses() {
        assert_eq!(
            listening_address("x\nconfab-server listening on http://0.0.0.0:4000\n"),
            Some("0.0.0.0:4000".parse().unwrap())
        );
        assert_eq!(listening_address("starting\n"), None);
        for ip in lan_addresses() {
            assert!(!ip.is_loopback() && !ip.is_link_local(), "{ip}");
        }
    }
}
