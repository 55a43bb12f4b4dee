//! The `parley` command line: `serve`, `check`, `init`, `keygen`, `simulate`, `test`,
//! `backup`, `contacts`, `broadcasts`. This file parses the arguments and dispatches; each
//! command lives in `parley::cli` (`serve.rs`, `check.rs`, `database_commands.rs`, …).

use clap::{Parser, Subcommand};
use parley::cli::check::check;
use parley::cli::config_file::{load_config, load_database_config};
use parley::cli::database_commands::{
    backup, broadcasts, contacts, BroadcastsCommand, ContactsCommand,
};
use parley::cli::serve::serve;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Print a new API key and the `api_keys` entry (its SHA-256, scopes, expiry) to paste.
    Keygen(parley::cli::init::KeygenArgs),
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
        /// The customer's language (the contact field `language`), one the flows declare, like es.
        #[arg(long)]
        language: Option<String>,
        /// Force an experiment's arm for the customer, like welcome/opening=long (repeatable).
        #[arg(long = "arm", value_name = "EXPERIMENT=ARM")]
        arms: Vec<String>,
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
    /// Events out: the delivery log, and replays of deliveries, on the configured database.
    Events {
        #[command(subcommand)]
        command: parley::cli::events::EventsCommand,
    },
    /// Flows' texts for translators: export them to a CSV or PO file, import translations back.
    Translations {
        #[command(subcommand)]
        command: parley::cli::translations::TranslationsCommand,
    },
    /// A flow's candidate version: show its share of new conversations, raise it, promote it or roll it back.
    Rollout(parley::cli::rollout::RolloutArgs),
    /// Evaluate agents: run the scenarios of flows/evals/ with a simulated customer and a judge, N times each.
    Eval(parley::cli::eval::EvalArgs),
    /// Read the archives retention wrote (by contact, by day), or restore a contact's history.
    Archive(parley::cli::archive::ArchiveArgs),
    /// Write the JSON Schemas of flow files, flow test files and the config into DIR, one file each.
    Schema {
        /// The folder to write them into (created if missing).
        dir: PathBuf,
    },
    /// Run the language server over stdin and stdout, for editors (VS Code, Neovim, Helix…).
    Lsp {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
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
            language,
            arms,
            text,
        } => match load_config(config.as_deref()) {
            Ok(config) => parley::cli::simulate::main(parley::cli::simulate::Options {
                config,
                from,
                text: (!text.is_empty()).then(|| text.join(" ")),
                explain,
                language,
                arms,
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
        Command::Events { command } => match parley::cli::events::main(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Translations { command } => match parley::cli::translations::main(command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Rollout(args) => match parley::cli::rollout::main(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Eval(args) => parley::cli::eval::main(args),
        Command::Archive(args) => match parley::cli::archive::main(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("parley: {}", plain(&e));
                ExitCode::FAILURE
            }
        },
        Command::Init { dir } => parley::cli::init::main(&dir),
        Command::Schema { dir } => parley::cli::schema::main(&dir),
        Command::Lsp { config } => parley::cli::lsp::main(config.as_deref()),
        Command::Keygen(args) => {
            print!("{}", parley::cli::init::keygen(&args));
            ExitCode::SUCCESS
        }
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
