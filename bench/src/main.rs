//! `confab-load`: a Socket.IO load generator for Confab and for the seed's reference server.
//!
//! Layout:
//! - `sio`: Socket.IO v4 connections (codec and handshake from `confab_socketio`); one task per connection.
//! - `accounts`: Confab accounts, friendships and conversations made through the REST API (cached in a file).
//! - `step`: one open-loop step at a fixed rate: schedule, per-message bookkeeping, histograms, summary.
//! - `procfs`: server RSS and CPU from `/proc/<pid>`, the open-file limit.
//!
//! A run: make or load accounts (Confab), sample the servers' RSS, open `--connections` connections
//! (round-robin over `--urls`, source addresses spread over 127.0.0.x), wait `--settle`, sample RSS
//! again (→ memory per idle connection), then run one step per `--rate`, and with `--search` look for
//! the highest rate that still delivers ≥ `--min-delivery` with p99 ≤ `--max-p99-ms`.
//! With `--storm` (Confab) the run is a reconnect storm instead: see `storm`.
//! Every latency is measured in this one process: the content of each message carries its step,
//! sequence number and scheduled send time.

mod accounts;
mod procfs;
mod sio;
mod step;
mod storm;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::sio::{Command, Endpoint, SendSpec, Shared};
use crate::step::{Step, StepSummary};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Target {
    /// Confab: REST accounts, token auth, `sendMessage {conversationId, content, clientMsgId}`.
    Confab,
    /// The seed's server (bench/reference): auth `{userId, username}`, `sendMessage {recipientId, …}`.
    Reference,
}

/// Seconds, as `10`, `2.5`, `10s` or `500ms`.
fn seconds(text: &str) -> Result<f64, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?}: expected seconds, e.g. 10s or 500ms"))?;
    if !(value >= 0.0 && value.is_finite()) {
        return Err(format!("{text:?}: must be ≥ 0"));
    }
    Ok(value * scale)
}

#[derive(Debug, Parser)]
#[command(
    name = "confab-load",
    about = "Socket.IO load generator: connections, open-loop message rate, delivery latency, loss, server memory and CPU"
)]
struct Args {
    #[arg(long, value_enum, default_value = "confab")]
    target: Target,
    /// Server base URLs, comma-separated; connection i goes to URL i mod n (with pairs, the two members
    /// of a conversation land on different nodes). REST setup uses the first.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:4000")]
    urls: Vec<String>,
    /// Socket.IO connections, one per user.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Members per conversation: 2 = direct conversations (pairs); more = groups (Confab only).
    #[arg(long, default_value_t = 2)]
    group_size: usize,
    /// Offered message rates (messages/s over all connections), one measured step each, comma-separated.
    /// None: only connect and measure idle memory.
    #[arg(long, value_delimiter = ',')]
    rate: Vec<f64>,
    /// After the --rate steps, search the highest rate with delivery ≥ --min-delivery and p99 ≤ --max-p99-ms:
    /// doubling from --search-start, then bisecting --search-refine times.
    #[arg(long)]
    search: bool,
    #[arg(long, default_value_t = 1000.0)]
    search_start: f64,
    #[arg(long, default_value_t = 256000.0)]
    search_max: f64,
    #[arg(long, default_value_t = 3)]
    search_refine: u32,
    /// Tries more at a rate that failed before the search believes it (one step is one sample).
    #[arg(long, default_value_t = 1)]
    search_retries: u32,
    #[arg(long, default_value_t = 50.0)]
    max_p99_ms: f64,
    #[arg(long, default_value_t = 0.999)]
    min_delivery: f64,
    /// Measured window of each step.
    #[arg(long, default_value = "10s", value_parser = seconds)]
    duration: f64,
    /// Sending before the measured window of each step (not counted).
    #[arg(long, default_value = "3s", value_parser = seconds)]
    warmup: f64,
    /// How long to wait after a step's last send for missing acks and deliveries before counting them lost.
    #[arg(long, default_value = "5s", value_parser = seconds)]
    grace: f64,
    /// Pause between connecting and the idle RSS sample.
    #[arg(long, default_value = "3s", value_parser = seconds)]
    settle: f64,
    /// After a step's grace period, wait up to this long (uncounted) for the server to acknowledge
    /// everything still outstanding, so the next step starts on an idle server.
    #[arg(long, default_value = "120s", value_parser = seconds)]
    drain: f64,
    /// Pause between steps.
    #[arg(long, default_value = "2s", value_parser = seconds)]
    pause: f64,
    /// Message content size in bytes (≥ 32).
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Spread connections over source addresses 127.0.0.1 … 127.0.0.N (loopback servers only): each
    /// source address has its own ~28k ephemeral ports towards one server port.
    #[arg(long, default_value_t = 8)]
    source_ips: u8,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 200)]
    connect_concurrency: usize,
    #[arg(long, default_value = "60s", value_parser = seconds)]
    connect_timeout: f64,
    /// Diagnostic: disable delayed ACKs on the generator's sockets (TCP_QUICKACK after every read), to
    /// measure what a server without TCP_NODELAY loses to Nagle's algorithm.
    #[arg(long)]
    quickack: bool,
    /// Server process ids to sample (RSS, CPU), comma-separated, in the order of --urls.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Confab: file caching the accounts (reused while the server's database is the same).
    #[arg(long)]
    accounts: Option<PathBuf>,
    /// Confab: only make (or complete) the accounts in --accounts, then exit. Lets a script create them
    /// once and restart the server before measuring, so Argon2's memory is not in the RSS baseline.
    #[arg(long, requires = "accounts")]
    setup_only: bool,
    /// Confab: REST requests in flight during setup.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: usize,
    /// Print the human report on stderr and one JSON line on stdout.
    #[arg(long)]
    json: bool,
    /// Confab: a reconnect storm instead of message steps (see `bench/run-faults.sh`): connect, print
    /// `storm: ready`, and once the server has gone and come back, report how the connections
    /// reconnected and caught up.
    #[arg(long)]
    storm: bool,
    /// How long after the first lost connection the storm may take before it counts as failed.
    #[arg(long, default_value = "60s", value_parser = seconds)]
    storm_timeout: f64,
    /// Worker threads of the generator (default: the CPUs it may run on).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Debug, Serialize)]
struct ServerReport {
    pid: u32,
    url: Option<String>,
    connections: usize,
    rss_before_kib: u64,
    rss_idle_kib: u64,
    rss_end_kib: u64,
    /// (idle RSS − RSS before connecting) / connections on this node.
    mem_per_conn_bytes: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    target: Target,
    urls: Vec<String>,
    connections: usize,
    group_size: usize,
    content_size: usize,
    connect_s: f64,
    servers: Vec<ServerReport>,
    /// Over all sampled servers: Σ RSS growth / connections.
    mem_per_conn_bytes: Option<f64>,
    generator_rss_kib: u64,
    /// Server CPU with every connection idle, µs per second (summed over --server-pid).
    idle_server_cpu_us_per_s: Option<f64>,
    steps: Vec<StepSummary>,
    /// Highest rate found that met the criteria (with --search).
    max_passing_rate: Option<f64>,
    /// Lowest rate found that did not.
    min_failing_rate: Option<f64>,
    /// The search stopped because the generator, not the server, was saturated.
    search_limited_by_generator: bool,
    disconnects: u64,
    foreign_messages: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.build()?.block_on(run(args))
}

/// Connection `i`'s source address: spread over 127.0.0.1 … 127.0.0.`ips` for a loopback server.
fn source_ip(endpoint: &Endpoint, i: usize, ips: u8) -> Option<IpAddr> {
    match endpoint.addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() && ips > 1 => {
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % ips as usize) as u8)))
        }
        _ => None,
    }
}

fn secs(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |s| format!("{s:.1} s"))
}

struct Conn {
    endpoint: usize,
    auth: String,
    spec: SendSpec,
}

/// Confab's Socket.IO handshake auth: `{token}`, a session token from the REST API.
#[derive(Serialize)]
struct Auth<'a> {
    token: &'a str,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let n = args.connections;
    let g = args.group_size;
    if n == 0 || g < 2 || !n.is_multiple_of(g) {
        bail!("--connections ({n}) must be a positive multiple of --group-size ({g}, at least 2)");
    }
    if args.target == Target::Reference && g != 2 {
        bail!("the reference server relays to one recipient: --group-size must be 2");
    }
    if args.storm && args.target != Target::Confab {
        bail!("--storm needs --target confab (it catches up with Confab's sync)");
    }
    if args.size < 32 {
        bail!("--size must be at least 32 bytes");
    }
    let limit = procfs::raise_nofile_limit();
    if (n as u64) + 64 > limit {
        bail!("{n} connections need more open files than this process may have ({limit}); run several generators");
    }
    let endpoints: Vec<Endpoint> = args.urls.iter().map(|u| Endpoint::parse(u)).collect::<anyhow::Result<_>>()?;
    let run_tag =
        format!("r{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() % 100_000_000);

    // Who connects how, and what each one sends.
    let conns: Vec<Conn> = match args.target {
        Target::Confab => {
            let accounts =
                accounts::ensure(&endpoints[0].base, n, g, args.setup_concurrency, args.accounts.as_deref()).await?;
            if args.setup_only {
                return Ok(());
            }
            if args.storm {
                let conns = (0..n)
                    .map(|i| {
                        Ok(storm::StormConn {
                            endpoint: endpoints[i % endpoints.len()].clone(),
                            source: source_ip(&endpoints[i % endpoints.len()], i, args.source_ips),
                            auth: serde_json::to_string(&Auth { token: &accounts.users[i].token })?,
                            conversation_id: accounts.conversations[i / g],
                        })
                    })
                    .collect::<serde_json::Result<_>>()?;
                let timeout = Duration::from_secs_f64(args.connect_timeout);
                let report = storm::run(conns, timeout, Duration::from_secs_f64(args.storm_timeout)).await?;
                eprintln!(
                    "storm: {} of {} lost their connection, {} back and caught up (sync acked); loss → caught up p50 {} / p99 {} / max {}; whole storm {}; {} failed reconnect attempts, {} failed syncs",
                    report.lost,
                    report.connections,
                    report.resynced,
                    secs(report.recovery_p50_s),
                    secs(report.recovery_p99_s),
                    secs(report.recovery_max_s),
                    secs(report.storm_s),
                    report.failed_attempts,
                    report.failed_syncs
                );
                if args.json {
                    println!("{}", serde_json::to_string(&report)?);
                }
                std::process::exit(if report.resynced == report.connections as u64 { 0 } else { 1 });
            }
            (0..n)
                .map(|i| {
                    Ok(Conn {
                        endpoint: i % endpoints.len(),
                        auth: serde_json::to_string(&Auth { token: &accounts.users[i].token })?,
                        spec: SendSpec::Confab { conversation_id: accounts.conversations[i / g], run: run_tag.clone() },
                    })
                })
                .collect::<serde_json::Result<_>>()?
        }
        Target::Reference => (0..n)
            .map(|i| Conn {
                endpoint: i % endpoints.len(),
                // The seed's protocol, not Confab's: confab-protocol has no type for it.
                auth: serde_json::json!({ "userId": format!("u{i}"), "username": format!("user{i}") }).to_string(),
                spec: SendSpec::Reference {
                    conversation_id: format!("c{}", i / 2),
                    recipient_id: format!("u{}", i ^ 1),
                },
            })
            .collect(),
    };

    let pids: Vec<String> = args.server_pid.iter().map(u32::to_string).collect();
    let sample_all =
        |pids: &[String]| -> anyhow::Result<Vec<procfs::Sample>> { pids.iter().map(|p| procfs::sample(p)).collect() };
    let before = sample_all(&pids)?;

    let shared = Arc::new(Shared {
        origin: Instant::now(),
        steps: RwLock::new(Vec::new()),
        content_size: args.size,
        disconnects: Default::default(),
        foreign: Default::default(),
        closing: Default::default(),
    });

    // Connect, a bounded number at a time; each connection's task starts as soon as it is up, so
    // early connections answer the server's pings while later ones connect.
    eprintln!("connecting {n} connections to {}", args.urls.join(", "));
    let started = Instant::now();
    let timeout = Duration::from_secs_f64(args.connect_timeout);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let endpoints = Arc::new(endpoints);
    let mut pending = Vec::with_capacity(n);
    let mut senders = Vec::with_capacity(n);
    for (i, conn) in conns.into_iter().enumerate() {
        let (tx, rx) = mpsc::unbounded_channel();
        senders.push(tx);
        let endpoint = endpoints[conn.endpoint].clone();
        let source = source_ip(&endpoint, i, args.source_ips);
        let permit = semaphore.clone().acquire_owned().await?;
        let quickack = args.quickack;
        let shared = shared.clone();
        pending.push(tokio::spawn(async move {
            let ws = sio::connect(&endpoint, source, &conn.auth, timeout, quickack).await;
            drop(permit);
            let ws = ws.with_context(|| format!("connection {i} to {}", endpoint.base))?;
            tokio::spawn(sio::run(ws, rx, conn.spec, shared));
            Ok::<_, anyhow::Error>(())
        }));
    }
    let mut failures = 0;
    let mut first_error = None;
    for task in pending {
        if let Err(e) = task.await? {
            failures += 1;
            first_error.get_or_insert(e);
        }
    }
    if let Some(e) = first_error {
        return Err(e.context(format!("{failures} of {n} connections failed")));
    }
    let connect_s = started.elapsed().as_secs_f64();
    eprintln!("connected {n} in {connect_s:.1}s; settling {:.0}s", args.settle);
    let settle_start = sample_all(&pids)?;
    let settle_clock = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let idle = sample_all(&pids)?;
    // What the servers burn with every connection idle (pings, timers, presence heartbeats): the
    // floor under each step's CPU per message.
    let idle_cpu_us_per_s = if pids.is_empty() {
        None
    } else {
        let used: u64 = settle_start.iter().zip(&idle).map(|(a, b)| b.cpu_us.saturating_sub(a.cpu_us)).sum();
        Some(used as f64 / settle_clock.elapsed().as_secs_f64())
    };

    let senders = Arc::new(senders);
    let mut steps = Vec::new();
    for &rate in &args.rate {
        steps.push(run_step(&shared, &senders, rate, &args, &pids, idle_cpu_us_per_s).await?);
        tokio::time::sleep(Duration::from_secs_f64(args.pause)).await;
    }
    let (mut max_pass, mut min_fail): (Option<f64>, Option<f64>) = (None, None);
    let mut generator_limited = false;
    if args.search {
        let mut rate = args.search_start.round().max(1.0);
        loop {
            let (pass, _) = search_step(&shared, &senders, rate, &args, &pids, idle_cpu_us_per_s, &mut steps).await?;
            if pass {
                max_pass = Some(rate);
                if rate * 2.0 > args.search_max {
                    break;
                }
                rate *= 2.0;
            } else {
                min_fail = Some(rate);
                break;
            }
        }
        // A failure while the generator was saturated says nothing about the server: stop there.
        if steps.last().is_some_and(|s| !s.pass && s.generator_bound) {
            generator_limited = true;
            eprintln!("search: the generator was saturated at the failing rate; the server's limit is higher");
        }
        for _ in 0..args.search_refine {
            if generator_limited {
                break;
            }
            let Some(high) = min_fail else { break };
            let low = max_pass.unwrap_or(0.0);
            let rate = ((low + high) / 2.0).round();
            if rate <= low || rate >= high {
                break;
            }
            let (pass, bound) =
                search_step(&shared, &senders, rate, &args, &pids, idle_cpu_us_per_s, &mut steps).await?;
            if pass {
                max_pass = Some(rate);
            } else {
                min_fail = Some(rate);
                generator_limited = bound;
            }
        }
    }
    let end = sample_all(&pids)?;
    shared.closing.store(true, Ordering::Relaxed);

    // Memory per connection: per node when every URL has its pid, otherwise over all pids.
    let per_node = |j: usize| (0..n).filter(|i| i % args.urls.len() == j).count();
    let servers: Vec<ServerReport> = pids
        .iter()
        .enumerate()
        .map(|(j, pid)| {
            let connections = if pids.len() == args.urls.len() { per_node(j) } else { 0 };
            ServerReport {
                pid: pid.parse().unwrap_or(0),
                url: (pids.len() == args.urls.len()).then(|| args.urls[j].clone()),
                connections,
                rss_before_kib: before[j].rss_kib,
                rss_idle_kib: idle[j].rss_kib,
                rss_end_kib: end[j].rss_kib,
                mem_per_conn_bytes: (connections > 0)
                    .then(|| (idle[j].rss_kib as f64 - before[j].rss_kib as f64) * 1024.0 / connections as f64),
            }
        })
        .collect();
    let grown: f64 = servers.iter().map(|s| s.rss_idle_kib as f64 - s.rss_before_kib as f64).sum();
    let report = Report {
        target: args.target,
        urls: args.urls.clone(),
        connections: n,
        group_size: g,
        content_size: args.size,
        connect_s,
        mem_per_conn_bytes: (!servers.is_empty()).then(|| grown * 1024.0 / n as f64),
        servers,
        generator_rss_kib: procfs::sample("self").map(|s| s.rss_kib).unwrap_or(0),
        idle_server_cpu_us_per_s: idle_cpu_us_per_s,
        steps,
        max_passing_rate: max_pass,
        min_failing_rate: min_fail,
        search_limited_by_generator: generator_limited,
        disconnects: shared.disconnects.load(Ordering::Relaxed),
        foreign_messages: shared.foreign.load(Ordering::Relaxed),
    };
    print_human(&report, &args);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    // Exit without closing 10k sockets one by one.
    std::process::exit(0);
}

/// One rate of the search. One step is one sample, and on a shared machine a stray stall can fail it:
/// a failure counts only if `--search-retries` more tries at the same rate fail too (a failure with the
/// generator saturated is not retried). Returns (passed, generator saturated).
async fn search_step(
    shared: &Arc<Shared>,
    senders: &Arc<Vec<mpsc::UnboundedSender<Command>>>,
    rate: f64,
    args: &Args,
    pids: &[String],
    idle_cpu_us_per_s: Option<f64>,
    steps: &mut Vec<StepSummary>,
) -> anyhow::Result<(bool, bool)> {
    let mut attempt = 0;
    loop {
        let summary = run_step(shared, senders, rate, args, pids, idle_cpu_us_per_s).await?;
        let (pass, bound) = (summary.pass, summary.generator_bound);
        steps.push(summary);
        tokio::time::sleep(Duration::from_secs_f64(args.pause)).await;
        if pass || bound || attempt >= args.search_retries {
            return Ok((pass, bound));
        }
        attempt += 1;
        eprintln!("  failed at {rate:.0} msg/s: trying that rate again");
    }
}

/// Runs one open-loop step at `rate` over every connection and returns its summary.
async fn run_step(
    shared: &Arc<Shared>,
    senders: &Arc<Vec<mpsc::UnboundedSender<Command>>>,
    rate: f64,
    args: &Args,
    pids: &[String],
    idle_cpu_us_per_s: Option<f64>,
) -> anyhow::Result<StepSummary> {
    if rate <= 0.0 {
        bail!("rates must be positive");
    }
    let id = shared.steps.read().unwrap_or_else(|p| p.into_inner()).len() as u32;
    // Message 0 is due a little from now, so the scheduler starts on time.
    let start_us = shared.now_us() + 200_000;
    let step = Arc::new(Step::new(id, rate, args.warmup, args.duration, start_us, (args.group_size - 1) as u32));
    shared.steps.write().unwrap_or_else(|p| p.into_inner()).push(step.clone());
    eprintln!(
        "step {id}: {rate:.0} msg/s, {:.0}s warmup + {:.0}s measured ({} messages)",
        args.warmup, args.duration, step.total
    );

    // The schedule runs on its own thread with fine-grained sleeps: tokio's timer has 1 ms
    // granularity, which would add up to a millisecond to every latency.
    let scheduler = {
        let (step, senders, origin) = (step.clone(), senders.clone(), shared.origin);
        std::thread::Builder::new().name("schedule".into()).spawn(move || {
            // SAFETY: prctl with PR_SET_TIMERSLACK only changes this thread's timer slack (default 50 µs).
            unsafe {
                libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
            }
            let n = senders.len();
            for k in 0..step.total {
                let sched_us = step.scheduled_us(k);
                let due = origin + Duration::from_micros(sched_us);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let _ = senders[(k as usize) % n].send(Command::Send { step: step.clone(), k, sched_us });
            }
        })?
    };

    let at = |us: u64| tokio::time::Instant::from_std(shared.origin + Duration::from_micros(us));
    let window_start_us = start_us + (args.warmup * 1e6) as u64;
    let window_end_us = window_start_us + (args.duration * 1e6) as u64;
    tokio::time::sleep_until(at(window_start_us)).await;
    step.in_window.store(true, Ordering::Relaxed);
    let cpu0: Vec<procfs::Sample> = pids.iter().map(|p| procfs::sample(p)).collect::<anyhow::Result<_>>()?;
    let self0 = procfs::sample("self")?;
    let t0 = Instant::now();
    tokio::time::sleep_until(at(window_end_us)).await;
    step.in_window.store(false, Ordering::Relaxed);
    let cpu1: Vec<procfs::Sample> = pids.iter().map(|p| procfs::sample(p)).collect::<anyhow::Result<_>>()?;
    let self1 = procfs::sample("self")?;
    let window_s = t0.elapsed().as_secs_f64();

    tokio::task::spawn_blocking(move || scheduler.join()).await?.map_err(|_| anyhow::anyhow!("scheduler panicked"))?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.grace);
    while !step.complete() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut summary = step.summary(window_s);
    // Steps must not overlap: an overloaded server may still be working through this step's backlog,
    // which would land in the next step's numbers. Wait (uncounted) until every ack is in.
    let drain_started = Instant::now();
    let drain_deadline = drain_started + Duration::from_secs_f64(args.drain);
    while step.acks_pending() > 0 && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Deliveries of acknowledged messages may still be in flight: give them a moment too.
    if step.acks_pending() == 0 && !step.complete() {
        let settle_deadline = (Instant::now() + Duration::from_secs(2)).min(drain_deadline);
        while !step.complete() && Instant::now() < settle_deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    summary.drain_s = drain_started.elapsed().as_secs_f64();
    summary.after_drain = Some(step::Counts::from(&step.summary(window_s)));
    if let Some(late) = &summary.after_drain
        && (summary.drain_s > 0.5 || late.lost != summary.lost)
    {
        eprintln!(
            "  after {:.1}s of drain: {} acked, {} ack errors {:?}, {} lost, {} duplicates",
            summary.drain_s, late.acked_ok, late.ack_errors, late.ack_error_codes, late.lost, late.duplicates
        );
    }
    summary.unacked_after_drain = step.acks_pending();
    if summary.unacked_after_drain > 0 {
        eprintln!(
            "  warning: {} messages still unacknowledged {:.0}s after the step",
            summary.unacked_after_drain, args.drain
        );
    }
    if !pids.is_empty() {
        let cpu_us: u64 = cpu0.iter().zip(&cpu1).map(|(a, b)| b.cpu_us.saturating_sub(a.cpu_us)).sum();
        summary.server_cpu_s = Some(cpu_us as f64 / 1e6);
        summary.server_cpu_us_per_delivery =
            (summary.delivered_in_window > 0).then(|| cpu_us as f64 / summary.delivered_in_window as f64);
        if let Some(idle) = idle_cpu_us_per_s {
            let net = (cpu_us as f64 - idle * window_s).max(0.0);
            summary.server_cpu_us_per_delivery_net =
                (summary.delivered_in_window > 0).then(|| net / summary.delivered_in_window as f64);
        }
    }
    summary.generator_cpu_pct = (self1.cpu_us.saturating_sub(self0.cpu_us)) as f64 / 1e6 / window_s * 100.0;
    // Of the cores this process may use: pinned to one core, 100% is the ceiling.
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    summary.generator_bound = summary.generator_cpu_pct >= 90.0 * cores;
    summary.pass = summary.delivery_ratio >= args.min_delivery
        && summary.delivery_ms.p99 <= args.max_p99_ms
        && summary.delivery_ms.count > 0;
    eprintln!("  {}", one_line(&summary));
    Ok(summary)
}

fn one_line(s: &StepSummary) -> String {
    format!(
        "{:.0} msg/s offered: delivered {:.4} ({} lost, {} dup, {} ack err, {} no ack), {:.0} deliveries/s; delivery ms p50 {:.2} p99 {:.2} max {:.1}; ack p99 {:.2}; server CPU {}; generator {:.0}% CPU{}; {}",
        s.rate,
        s.delivery_ratio,
        s.lost,
        s.duplicates,
        s.ack_errors,
        s.ack_missing,
        s.delivered_per_s,
        s.delivery_ms.p50,
        s.delivery_ms.p99,
        s.delivery_ms.max,
        s.ack_ms.p99,
        s.server_cpu_us_per_delivery.map(|us| format!("{us:.1} µs/delivery")).unwrap_or_else(|| "-".into()),
        s.generator_cpu_pct,
        if s.generator_bound { " (saturated)" } else { "" },
        if s.pass { "PASS" } else { "FAIL" },
    )
}

fn print_human(r: &Report, args: &Args) {
    let mut out = String::new();
    use std::fmt::Write;
    let _ = writeln!(out, "\n== confab-load: {:?} at {} ==", r.target, r.urls.join(", "));
    let _ = writeln!(
        out,
        "{} connections ({} per conversation), connected in {:.1}s; generator RSS {} MiB; {} connections dropped by the server",
        r.connections,
        r.group_size,
        r.connect_s,
        r.generator_rss_kib / 1024,
        r.disconnects
    );
    for s in &r.servers {
        let _ = writeln!(
            out,
            "server pid {}{}: RSS {:.1} MiB before, {:.1} MiB with {} idle connections ({}), {:.1} MiB at the end",
            s.pid,
            s.url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default(),
            s.rss_before_kib as f64 / 1024.0,
            s.rss_idle_kib as f64 / 1024.0,
            if s.connections > 0 { s.connections } else { r.connections },
            s.mem_per_conn_bytes.map(|b| format!("{:.1} KiB per connection", b / 1024.0)).unwrap_or_else(|| "-".into()),
            s.rss_end_kib as f64 / 1024.0,
        );
    }
    if let Some(b) = r.mem_per_conn_bytes {
        let _ = writeln!(out, "memory per idle connection (all servers): {:.1} KiB", b / 1024.0);
    }
    if let Some(idle) = r.idle_server_cpu_us_per_s {
        let _ = writeln!(out, "server CPU with all connections idle: {:.1}% of a core", idle / 1e4);
    }
    if !r.steps.is_empty() {
        let _ = writeln!(
            out,
            "\n{:>8} {:>9} {:>8} {:>6} {:>6} {:>7} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>6} {:>7} {:>5}",
            "rate",
            "deliv/s",
            "ratio",
            "lost",
            "dup",
            "ackerr",
            "p50 ms",
            "p90",
            "p99",
            "p99.9",
            "max",
            "ack p50",
            "ack p99",
            "µs/msg",
            "net",
            "gen%",
            "ok"
        );
        for s in &r.steps {
            let _ = writeln!(
                out,
                "{:>8.0} {:>9.0} {:>8.4} {:>6} {:>6} {:>7} | {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1} | {:>8.2} {:>8.2} | {:>8} {:>6} {:>7.0} {:>5}",
                s.rate,
                s.delivered_per_s,
                s.delivery_ratio,
                s.lost,
                s.duplicates,
                s.ack_errors + s.ack_missing,
                s.delivery_ms.p50,
                s.delivery_ms.p90,
                s.delivery_ms.p99,
                s.delivery_ms.p999,
                s.delivery_ms.max,
                s.ack_ms.p50,
                s.ack_ms.p99,
                s.server_cpu_us_per_delivery.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into()),
                s.server_cpu_us_per_delivery_net.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into()),
                s.generator_cpu_pct,
                match (s.pass, s.generator_bound) {
                    (true, false) => "yes",
                    (true, true) => "yes*",
                    (false, false) => "no",
                    (false, true) => "no*",
                },
            );
            if !s.ack_error_codes.is_empty() {
                let _ = writeln!(out, "         ack errors: {:?}", s.ack_error_codes);
            }
        }
        let _ = writeln!(
            out,
            "latency: scheduled send → messageReceived (open loop; includes any lag of the generator: send lag p99 shown in JSON); criteria: ratio ≥ {} and p99 ≤ {} ms; * = generator saturated (≥ 90% CPU), latencies include its queueing",
            args.min_delivery, args.max_p99_ms
        );
    }
    if args.search {
        let _ = writeln!(
            out,
            "search: highest passing rate {}, lowest failing rate {}",
            r.max_passing_rate.map(|v| format!("{v:.0} msg/s")).unwrap_or_else(|| "none".into()),
            r.min_failing_rate.map(|v| format!("{v:.0} msg/s")).unwrap_or_else(|| "none (hit --search-max)".into()),
        );
        if r.search_limited_by_generator {
            let _ = writeln!(
                out,
                "search: limited by the generator (≥ 90% CPU at the failing rate): the server's limit is higher"
            );
        }
    }
    if args.json {
        eprint!("{out}");
    } else {
        print!("{out}");
    }
}
