//! The `parley` command line: `serve`, `check`, `init`, `keygen`, `simulate`, `test`,
//! `backup`.

use anyhow::Context;
use clap::{Parser, Subcommand};
use parley::config::{Config, LogFormat};
use parley::domain::SystemClock;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Self-hosted WhatsApp automation daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[allow(clippy::large_enum_variant)] // parsed once at start
#[derive(Subcommand)]
enum Command {
    /// Run the daemon (embedded default without --config: SQLite parley.db, flows/, a sandbox sender).
    Serve {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on, like 127.0.0.1:9000 (overrides the config's `listen`).
        #[arg(long, env = "PARLEY_LISTEN")]
        listen: Option<String>,
    },
    /// Validate the config and every flow; print each problem; exit non-zero if any.
    Check {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// The address `serve` will be given (overrides the config's `listen`), checked as serve checks it.
        #[arg(long, env = "PARLEY_LISTEN")]
        listen: Option<String>,
    },
    /// Write a new project (parley.yaml, example flows and tests, scripts, an API key) into DIR.
    Init {
        /// The project's folder (created if missing); refuses to overwrite any file.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Print a new API key and the SHA-256 hash to put in `api_keys`.
    Keygen,
    /// Talk to the flows as a customer, through the sandbox (interactive without TEXT).
    Simulate {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// The customer's phone number, like +34600000001.
        #[arg(long)]
        from: String,
        /// Print how every trigger judged each message.
        #[arg(long)]
        explain: bool,
        /// One message to send; without it, lines are read from the terminal.
        text: Vec<String>,
    },
    /// Copy the database while Parley runs: a SQLite file (VACUUM INTO), or PostgreSQL with pg_dump.
    Backup {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// Where to write the copy (must not exist); it appears only when complete, readable by its owner only.
        out: PathBuf,
    },
    /// Import or export contacts (CSV or JSON) on the configured database.
    Contacts {
        #[command(subcommand)]
        command: ContactsCommand,
    },
    /// Create, list, show, pause, resume or cancel broadcasts on the configured database.
    Broadcasts {
        #[command(subcommand)]
        command: BroadcastsCommand,
    },
    /// Run flow test files (default: the flows folder's tests/*.test.yaml).
    Test {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Call the configured models (the network, a key) and write what each test asked
        /// and got to `<test>.exchanges.yaml` beside it, which later runs replay offline.
        #[arg(long)]
        record: bool,
        /// Test files or folders.
        paths: Vec<PathBuf>,
    },
}

// Parsed once at start: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum BroadcastsCommand {
    /// Send a template to an audience (--tag, --field, --inactive-for…) or a list (--list FILE).
    Create {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        name: Option<String>,
        /// The template's id, or its name with --language.
        #[arg(long)]
        template: String,
        #[arg(long)]
        language: Option<String>,
        #[arg(long)]
        sender: Option<i64>,
        /// A placeholder's value: `1={{ contact.fields.first_name }}` (repeat per placeholder).
        #[arg(long = "var")]
        variables: Vec<String>,
        /// Contacts with this tag (repeat: all of them).
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long = "without-tag")]
        without_tags: Vec<String>,
        /// Contacts whose field has this value: `plan=gold` (repeat: all of them).
        #[arg(long = "field")]
        fields: Vec<String>,
        #[arg(long)]
        inactive_for: Option<String>,
        #[arg(long)]
        active_within: Option<String>,
        /// A file with one phone number (with its country code) a line, instead of an audience.
        #[arg(long)]
        list: Option<PathBuf>,
        /// When to start (RFC 3339); now when not given.
        #[arg(long)]
        start_at: Option<String>,
        /// The flow a customer's reply to this broadcast starts.
        #[arg(long)]
        reply_flow: Option<String>,
        #[arg(long)]
        frequency_cap: Option<String>,
        /// Every contact (without an audience or a list, nobody is chosen by default).
        #[arg(long)]
        all: bool,
    },
    /// List broadcasts, newest first.
    List {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
    },
    /// A broadcast and its progress, as JSON.
    Show {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        id: i64,
    },
    /// Stop queueing a broadcast's sends until it is resumed.
    Pause {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        id: i64,
    },
    Resume {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        id: i64,
    },
    /// Cancel a broadcast: its sends not yet made are dropped.
    Cancel {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        id: i64,
    },
}

#[derive(Subcommand)]
enum ContactsCommand {
    /// Import FILE (.csv or .json): contacts found by phone or user_id are updated, others created; prints the rows refused and why.
    Import {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        file: PathBuf,
    },
    /// Print every contact as CSV or JSON (the shape an import reads).
    Export {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, value_parser = ["csv", "json"], default_value = "csv")]
        format: String,
    },
}

/// An error and its causes on one line, as `{:#}` writes them, less each cause whose words
/// the line already holds (a database error quotes the driver's, which is also its cause:
/// "pool timed out …: pool timed out …").
fn plain(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, listen } => match serve(config.as_deref(), listen.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Check { config, listen } => check(config.as_deref(), listen.as_deref()),
        Command::Simulate {
            config,
            from,
            explain,
            text,
        } => match load_config(config.as_deref()) {
            Ok(config) => parley::cli::simulate::main(parley::cli::simulate::Options {
                config,
                from,
                text: (!text.is_empty()).then(|| text.join(" ")),
                explain,
            }),
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Test {
            config,
            junit,
            record,
            paths,
        } => match load_config(config.as_deref()) {
            Ok(config) => parley::cli::flowtest::main(config, paths, junit, record),
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Backup { config, out } => match load_database_config(config.as_deref(), "backup")
            .and_then(|config| backup(&config.database.url, &out))
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: backup failed: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Contacts { command } => match contacts(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Broadcasts { command } => match broadcasts(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Init { dir } => parley::cli::init::main(&dir),
        Command::Keygen => {
            let (key, hash) = parley::cli::init::new_api_key();
            println!("key:        {key}");
            println!("key_sha256: {hash}");
            println!();
            println!("Give the key to the client; put only the hash in the config:");
            println!("api_keys:\n  - {{ name: my-client, key_sha256: \"{hash}\" }}");
            ExitCode::SUCCESS
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::embedded_default()),
    }
}

/// The config for `parley COMMAND`, which only works on the database: provider and model
/// secrets may be unset (`Config::load_for_database`). What else refuses the file says
/// which command needed it and how to give it the variables the service has.
fn load_database_config(path: Option<&Path>, command: &str) -> anyhow::Result<Config> {
    let Some(path) = path else {
        return Ok(Config::embedded_default());
    };
    Config::load_for_database(path).map_err(|e| {
        let text = e.to_string();
        if text.contains("environment variable") {
            anyhow::anyhow!(
                "{text}\n`parley {command}` reads the database settings from {file}, so the variables above \
                 must be set in this shell too; under systemd they are in /etc/parley/parley.env: \
                 run `set -a; . /etc/parley/parley.env; set +a` first (as a user who may read it)",
                file = path.display()
            )
        } else {
            anyhow::anyhow!(
                "{text}\n`parley {command}` reads its database settings from {file}: fix the problems above first",
                file = path.display()
            )
        }
    })
}

/// `parley contacts import|export`.
fn contacts(command: ContactsCommand) -> anyhow::Result<()> {
    use parley::domain::contact_file::ImportFormat;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut out = std::io::stdout().lock();
    match command {
        ContactsCommand::Import { config, file } => {
            let config = load_database_config(config.as_deref(), "contacts import")?;
            runtime.block_on(parley::cli::contacts::import(&config, &file, &mut out))
        }
        ContactsCommand::Export { config, format } => {
            let config = load_database_config(config.as_deref(), "contacts export")?;
            let format = ImportFormat::from_name(&format).unwrap_or(ImportFormat::Csv);
            runtime.block_on(parley::cli::contacts::export(&config, format, &mut out))
        }
    }
}

/// `parley broadcasts …`.
fn broadcasts(command: BroadcastsCommand) -> anyhow::Result<()> {
    use parley::cli::broadcasts as b;
    use parley::domain::broadcast::BroadcastAction;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut out = std::io::stdout().lock();
    match command {
        BroadcastsCommand::Create {
            config,
            name,
            template,
            language,
            sender,
            variables,
            tags,
            without_tags,
            fields,
            inactive_for,
            active_within,
            list,
            start_at,
            reply_flow,
            frequency_cap,
            all,
        } => {
            let config = load_database_config(config.as_deref(), "broadcasts create")?;
            let args = b::CreateArgs {
                name,
                template,
                language,
                sender,
                variables,
                tags,
                without_tags,
                fields,
                inactive_for,
                active_within,
                list,
                start_at,
                reply_flow,
                frequency_cap,
                all,
            };
            runtime.block_on(b::create(&config, args, &mut out))
        }
        BroadcastsCommand::List { config } => {
            let config = load_database_config(config.as_deref(), "broadcasts list")?;
            runtime.block_on(b::list(&config, &mut out))
        }
        BroadcastsCommand::Show { config, id } => {
            let config = load_database_config(config.as_deref(), "broadcasts show")?;
            runtime.block_on(b::show(&config, id, &mut out))
        }
        BroadcastsCommand::Pause { config, id } => {
            let config = load_database_config(config.as_deref(), "broadcasts pause")?;
            runtime.block_on(b::act(&config, id, BroadcastAction::Pause, &mut out))
        }
        BroadcastsCommand::Resume { config, id } => {
            let config = load_database_config(config.as_deref(), "broadcasts resume")?;
            runtime.block_on(b::act(&config, id, BroadcastAction::Resume, &mut out))
        }
        BroadcastsCommand::Cancel { config, id } => {
            let config = load_database_config(config.as_deref(), "broadcasts cancel")?;
            runtime.block_on(b::act(&config, id, BroadcastAction::Cancel, &mut out))
        }
    }
}

/// `parley backup`: an online copy of the configured database.
fn backup(url: &str, out: &Path) -> anyhow::Result<()> {
    use parley::cli::backup::Backup;
    match parley::cli::backup::run(url, out)? {
        Backup::Sqlite { database, bytes } => {
            println!(
                "backed up {} to {} ({} KiB, integrity ok)",
                database.display(),
                out.display(),
                bytes / 1024
            );
            println!("restore: stop Parley, then put this file in place of the database and remove its -wal and -shm files");
        }
        Backup::Postgres => {
            println!("backed up the PostgreSQL database to {}", out.display());
            println!(
                "restore: pg_restore --no-owner --dbname <empty database url> {}",
                out.display()
            );
        }
    }
    Ok(())
}

fn serve(config_path: Option<&Path>, listen: Option<&str>) -> anyhow::Result<()> {
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
        .on_thread_start(parley::threads::batch_scheduling)
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
            parley::threads::short_slices();
        })
        .enable_all()
        .build()
        .context("starting the HTTP runtime")?;
    let on = http.handle().clone();
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .map_err(|e| cannot_listen(&config.listen, &from, &e))?;
        let app = parley::app::App::build(config, Arc::new(SystemClock)).await?;
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
fn override_listen(config: &mut Config, listen: Option<&str>) -> anyhow::Result<()> {
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

fn check(config_path: Option<&Path>, listen: Option<&str>) -> ExitCode {
    let name = config_path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(embedded default)".into());
    let mut config = match load_config(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = override_listen(&mut config, listen) {
        println!("{name}: {e}");
        return ExitCode::FAILURE;
    }
    // Folders Parley must write, as the service's user would find them.
    let places = parley::config::places::problems(&config);
    for p in &places {
        println!("{name}: {p}");
    }
    if !places.is_empty() {
        return ExitCode::FAILURE;
    }
    // The models' own files (a scripted model's rules) are read as the daemon would.
    if let Err(problems) = parley::models::Models::from_config(&config) {
        for p in problems {
            println!("{name}: {p}");
        }
        return ExitCode::FAILURE;
    }
    let report = parley::flows::load_configured(&config);
    if !report.problems.is_empty() {
        println!("{}", report.render());
    }
    // The flows' test files, read as `parley test` would (not run).
    let tests = parley::cli::flowtest::unreadable_tests(&config);
    for t in &tests {
        println!("{t}");
    }
    let flows = report.set.as_ref().map(|s| s.len());
    // With errors the flows do not load: whether there would be none is not known.
    let warnings = config.warnings(flows.unwrap_or(1));
    for w in &warnings {
        println!("{name}: warning: {w}");
    }
    let ready = match flows {
        Some(n) if report.errors() == 0 => format!("; {n} flow(s) ready"),
        _ => String::new(),
    };
    let config_warnings = match warnings.len() {
        0 => String::new(),
        n => format!(" with {n} warning(s)"),
    };
    let tests_line = match tests.len() {
        0 => String::new(),
        n => format!("; {n} test file(s) with errors"),
    };
    println!(
        "{name}: config ok{config_warnings}; flows in {}: {} error(s), {} warning(s){ready}{tests_line}",
        config.flows.dir,
        report.errors(),
        report.warnings(),
    );
    if report.errors() == 0 && tests.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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

#[cfg(test)]
mod tests {
    /// A cause whose words the line already holds is not written again.
    #[test]
    fn an_error_line_says_each_cause_once() {
        let e = anyhow::Error::new(std::io::Error::other("pool timed out"))
            .context("database error: pool timed out")
            .context("opening database postgres://x");
        assert_eq!(
            super::plain(&e),
            "opening database postgres://x: database error: pool timed out"
        );
    }
}
