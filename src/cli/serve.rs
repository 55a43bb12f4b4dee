//! `parley serve`: the daemon on its two runtimes (the workers', and HTTP on a thread of
//! its own), the address it listens on and what to do when it cannot, the logs, and the
//! signals that stop it (or, for SIGHUP, do not).

use crate::cli::config_file::load_config;
use crate::config::{Config, LogFormat};
use crate::domain::SystemClock;
use anyhow::Context;
use std::path::Path;
use std::sync::Arc;

pub fn serve(config_path: Option<&Path>, listen: Option<&str>) -> anyhow::Result<()> {
    let mut config = load_config(config_path)?;
    override_listen(&mut config, listen)?;
    // Where the address came from, for an error that says which setting to change.
    let from = match (listen, config_path) {
        (Some(_), _) => "--listen or PARLEY_LISTEN".to_string(),
        (None, Some(path)) => format!("`listen:` in {}", path.display()),
        (None, None) => "the default; set it with --listen or PARLEY_LISTEN".to_string(),
    };
    init_logging(&config);
    if config_path.is_none() {
        tracing::info!("no --config given: running the embedded default (SQLite parley.db, flows/, sandbox sender 1 +15550000000)");
    }
    // The workers never preempt HTTP or the writer on waking (`threads::batch_scheduling`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("parley-worker")
        .on_thread_start(crate::threads::batch_scheduling)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // HTTP on a thread of its own (`App::serve_on`): webhooks are acknowledged as soon as
    // they are stored, however busy the workers are; with short time slices, it runs as
    // soon as a webhook wakes it (`threads::short_slices`).
    let http = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("parley-http")
        .on_thread_start(|| {
            crate::threads::short_slices();
        })
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let on = http.handle().clone();
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| cannot_listen(&config.listen, &from, &e))?;
        let mut app = crate::app::App::build(config, Arc::new(SystemClock)).await?;
        app.state = app
            .state
            .with_studio_runner(Arc::new(super::studio_runs::Runs));
        if app.state.sandbox.serves_http() {
            let addr = listener
                .local_addr()
                .context("reading the listening address")?;
            tracing::info!("sandbox page: http://{}/sandbox", reachable(addr));
        }
        app.serve_on(listener, shutdown_signal(), Some(on)).await
    });
    // The workers' runtime first: its tasks may still hold connections made on the other.
    drop(runtime);
    drop(http);
    served
}

/// Puts `--listen` (or `PARLEY_LISTEN`) in place of the config's `listen`, checked as the
/// file's would be: the address decides more than the port (the sandbox on a public one).
/// `serve` and `check` share it, so what `check` passes `serve` starts with.
pub fn override_listen(config: &mut Config, listen: Option<&str>) -> anyhow::Result<()> {
    let Some(addr) = listen else { return Ok(()) };
    config.listen = addr.to_string();
    let problems = config.validate();
    if !problems.is_empty() {
        anyhow::bail!(
            "--listen {addr} (or PARLEY_LISTEN): {}",
            problems.join("\n")
        );
    }
    Ok(())
}

/// Why the HTTP address could not be taken, naming the setting it came from and what to do.
fn cannot_listen(addr: &str, from: &str, e: &std::io::Error) -> anyhow::Error {
    let advice = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process holds this port: stop the other process or choose another port"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: choose a port above 1024, like 8080"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; this machine has no such address: use 127.0.0.1 (this machine) or 0.0.0.0 (every network)"
        }
        _ => "",
    };
    anyhow::anyhow!("cannot listen on {addr} ({from}): {e}{advice}")
}

/// The address a browser on this machine reaches a listener on: `0.0.0.0` is not one.
fn reachable(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, addr.port())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    // A closed terminal (`parley serve &` over ssh) or a `kill -HUP` out of habit must not
    // stop the daemon without draining (and systemd would not restart it: death by SIGHUP
    // counts as clean). Flows reload by themselves; the config needs a restart.
    #[cfg(unix)]
    let hangup = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            while s.recv().await.is_some() {
                tracing::info!("SIGHUP received and ignored: flows reload by themselves when their files change; a config change needs a restart (SIGTERM, then start again)");
            }
        }
        std::future::pending::<()>().await
    };
    #[cfg(not(unix))]
    let hangup = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
        _ = hangup => {}
    }
    tracing::info!("shutdown signal received");
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| {
            EnvFilter::try_new(
                config
                    .log
                    .level
                    .as_deref()
                    .unwrap_or("info,sqlx=warn,tower_http=warn"),
            )
        })
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in log files or journald.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // A log line that cannot be written (the pipe to a log shipper closed, `| head`) is
    // dropped: tracing's own report of it would go to stderr with `eprintln!`, which
    // panics when stderr is that same closed pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .log_internal_errors(false);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Human => builder.init(),
    }
}
