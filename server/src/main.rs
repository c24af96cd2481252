use anyhow::Context;
use clap::Parser;
use confab_server::Config;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    return_large_allocations_to_the_system();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = Config::parse();
    if config.rate_limits.disabled {
        tracing::warn!("RATE LIMITS ARE OFF (CONFAB_RATE_LIMITS=off): use this only for benchmarks");
    }
    let store = confab_server::open_store(&config).await.context("opening the database")?;
    let listener =
        tokio::net::TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (router, state) = confab_server::app(config, store).await.context("starting")?;
    // The one line on stdout: scripts and tests read the address from it.
    println!("confab-server listening on http://{addr}");
    tracing::info!(%addr, "listening");
    confab_server::serve(listener, router, state, shutdown_signal()).await?;
    Ok(())
}

/// glibc serves a large allocation from a thread's arena once one of that size has been freed, and
/// keeps it there: each Argon2 hash (19 MiB) on another blocking thread grew the process by that much
/// (1.9 GB after 10,000 registrations, measured with bench/). A fixed mmap threshold makes such
/// blocks mmap'd and unmapped when freed.
fn return_large_allocations_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread starts work.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
