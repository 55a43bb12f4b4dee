//! The commands that work on the configured database only — `parley contacts`,
//! `parley broadcasts` and `parley backup` — with their arguments and how each runs on
//! the config (`config_file::load_database_config`) and prints what it did.

use crate::cli::config_file::load_database_config;
use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};

// Parsed once at start: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum BroadcastsCommand {
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
pub enum ContactsCommand {
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

/// `parley contacts import|export`.
pub fn contacts(command: ContactsCommand) -> anyhow::Result<()> {
    use crate::domain::contact_file::ImportFormat;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut out = std::io::stdout().lock();
    match command {
        ContactsCommand::Import { config, file } => {
            let config = load_database_config(config.as_deref(), "contacts import")?;
            runtime.block_on(crate::cli::contacts::import(&config, &file, &mut out))
        }
        ContactsCommand::Export { config, format } => {
            let config = load_database_config(config.as_deref(), "contacts export")?;
            let format = ImportFormat::from_name(&format).unwrap_or(ImportFormat::Csv);
            runtime.block_on(crate::cli::contacts::export(&config, format, &mut out))
        }
    }
}

/// `parley broadcasts …`.
pub fn broadcasts(command: BroadcastsCommand) -> anyhow::Result<()> {
    use crate::cli::broadcasts as b;
    use crate::domain::broadcast::BroadcastAction;
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
pub fn backup(url: &str, out: &Path) -> anyhow::Result<()> {
    use crate::cli::backup::Backup;
    let made = crate::cli::backup::run(url, out)?;
    let database = crate::config::DatabaseConfig {
        url: url.to_string(),
        ..Default::default()
    };
    let file = out.display().to_string();
    crate::cli::audit::record_in(&database, "backup", Some(&file), serde_json::json!({}));
    match made {
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
