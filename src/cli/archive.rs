//! `parley archive` (issue 60): read the archive files retention wrote (by contact, by day)
//! and restore a contact's history into the database.
//!
//! - `parley archive list`: each kind and day, with its files and rows;
//! - `parley archive read [--contact PHONE] [--day YYYY-MM-DD] [--kind KIND] [--table]`:
//!   the rows as JSON lines (one archived row each, as written), or a readable table;
//! - `parley archive restore --contact PHONE`: that contact's archived messages back into
//!   the database (a message already there is left alone: restoring twice adds nothing).
//!
//! The folder is `retention.dir` of the config, or `--dir`; with `retention.to: bucket`
//! (and no `--dir`) the files are read from the bucket of `media.s3`, downloaded to a
//! temporary folder first (`workers::retention::bucket`). Reads are bounded per file
//! (`workers::retention::archive`): a damaged file is named, with what to do.

use crate::cli::config_file::load_database_config;
use crate::config::ArchiveTo;
use crate::store::{self, HistoryKind};
use crate::workers::retention::archive::{Archive, ArchiveFile, Record};
use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ArchiveArgs {
    #[arg(long, env = "PARLEY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// The archive folder (default: retention.dir of the config, or the bucket of media.s3
    /// with retention.to: bucket).
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

#[derive(Subcommand)]
pub enum ArchiveCommand {
    /// What is archived: each kind and day with its files and rows.
    List,
    /// Archived rows, as JSON lines (default) or a table (--table).
    Read {
        /// A contact's phone number (+34…) or key (bsuid:…).
        #[arg(long)]
        contact: Option<String>,
        /// One UTC day, like 2026-03-01.
        #[arg(long)]
        day: Option<String>,
        /// One kind: inbound_messages, outbound_messages, timer_events, events_out, event_deliveries, model_exchanges, audit_log.
        #[arg(long)]
        kind: Option<String>,
        /// A readable table instead of JSON lines.
        #[arg(long)]
        table: bool,
    },
    /// Put a contact's archived messages back into the database (stop the daemon first on SQLite).
    Restore {
        /// The contact's phone number (+34…) or key (bsuid:…).
        #[arg(long)]
        contact: String,
    },
}

/// `parley archive …`.
pub fn main(args: ArchiveArgs) -> anyhow::Result<()> {
    let config = load_database_config(args.config.as_deref(), "archive")?;
    let selection = match &args.command {
        ArchiveCommand::List => Selection::new(None, None, None)?,
        ArchiveCommand::Read {
            contact, day, kind, ..
        } => Selection::new(contact.clone(), day.as_deref(), kind.as_deref())?,
        ArchiveCommand::Restore { contact } => Selection::new(Some(contact.clone()), None, None)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    // Kept until the end: the files downloaded from the bucket.
    let mut _downloaded = None;
    let (archive, place) = match &args.dir {
        None if config.retention.to == ArchiveTo::Bucket => {
            let (folder, place) = runtime.block_on(download(&config, &selection))?;
            let archive = Archive::new(folder.path());
            _downloaded = Some(folder);
            (archive, place)
        }
        dir => {
            let dir = dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(&config.retention.dir));
            let place = dir.display().to_string();
            (Archive::new(dir), place)
        }
    };
    let mut out = std::io::stdout().lock();
    match args.command {
        ArchiveCommand::List => list(&archive, &place, &mut out),
        ArchiveCommand::Read { table, .. } => read(&archive, &selection, table, &mut out),
        ArchiveCommand::Restore { .. } => {
            runtime.block_on(restore(&config, &archive, &place, &selection, &mut out))
        }
    }
}

/// The bucket's archive files `selection` may need, downloaded to a temporary folder laid
/// out as a local archive; the folder, and the bucket's name for messages.
async fn download(
    config: &crate::config::Config,
    selection: &Selection,
) -> anyhow::Result<(tempfile::TempDir, String)> {
    let archive = crate::workers::retention::configured(config).map_err(anyhow::Error::msg)?;
    let bucket = archive
        .bucket()
        .context("retention.to: bucket needs media.s3")?;
    let place = config
        .media
        .s3
        .as_ref()
        .map(|s3| format!("the bucket {} ({}archive/)", s3.bucket, s3.prefix))
        .unwrap_or_default();
    let folder =
        tempfile::tempdir().context("cannot make a temporary folder for the archive's files")?;
    crate::workers::retention::bucket::download(bucket, folder.path(), |kind, day| {
        selection.kind_day(kind, day)
    })
    .await
    .with_context(|| {
        format!(
            "cannot read the archive from {place}: check media.s3 and that the bucket is reachable"
        )
    })?;
    Ok((folder, place))
}

/// Which rows a read takes.
struct Selection {
    contact: Option<String>,
    day: Option<NaiveDate>,
    kind: Option<HistoryKind>,
}

impl Selection {
    fn new(contact: Option<String>, day: Option<&str>, kind: Option<&str>) -> anyhow::Result<Self> {
        let contact = contact.map(|c| contact_key(&c)).transpose()?;
        let day = day
            .map(|d| {
                d.parse::<NaiveDate>()
                    .map_err(|_| anyhow::anyhow!("--day: `{d}` is not a day like 2026-03-01"))
            })
            .transpose()?;
        let kind = kind
            .map(|k| {
                HistoryKind::parse(k).ok_or_else(|| {
                    anyhow::anyhow!(
                        "--kind: `{k}` is not a kind of history; use one of {}",
                        HistoryKind::ALL.map(|k| k.name()).join(", ")
                    )
                })
            })
            .transpose()?;
        Ok(Self { contact, day, kind })
    }

    fn file(&self, f: &ArchiveFile) -> bool {
        self.kind_day(f.kind, f.day)
    }

    fn kind_day(&self, kind: HistoryKind, day: NaiveDate) -> bool {
        self.day.is_none_or(|d| d == day) && self.kind.is_none_or(|k| k == kind)
    }

    fn record(&self, r: &Record) -> bool {
        self.contact
            .as_deref()
            .is_none_or(|c| r.contact.as_deref() == Some(c))
    }
}

/// A contact's key as the store writes it: a phone number normalised (`+34 600 00 00 01`
/// is `+34600000001`), or a `bsuid:` key as given.
fn contact_key(text: &str) -> anyhow::Result<String> {
    if text.starts_with("bsuid:") {
        return Ok(text.to_string());
    }
    crate::domain::PhoneNumber::parse(text)
        .map(|p| p.as_e164().to_string())
        .map_err(|e| {
            anyhow::anyhow!(
                "--contact: `{text}` is not a phone number ({e}); write it like +34600000001"
            )
        })
}

fn files(archive: &Archive, selection: &Selection) -> anyhow::Result<Vec<ArchiveFile>> {
    let files = archive
        .files()
        .with_context(|| format!("cannot read the archive folder {}", archive.dir().display()))?;
    Ok(files.into_iter().filter(|f| selection.file(f)).collect())
}

fn list(archive: &Archive, place: &str, out: &mut impl Write) -> anyhow::Result<()> {
    let files = files(archive, &Selection::new(None, None, None)?)?;
    let mut by_day: BTreeMap<(&'static str, NaiveDate), (u64, u64)> = BTreeMap::new();
    for file in &files {
        let mut rows = 0;
        crate::workers::retention::archive::read_file(&file.path, |_| {
            rows += 1;
            Ok(())
        })?;
        let entry = by_day.entry((file.kind.name(), file.day)).or_default();
        entry.0 += 1;
        entry.1 += rows;
    }
    if by_day.is_empty() {
        writeln!(out, "nothing archived in {place}")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<10} {:>6} {:>10}",
        "kind", "day", "files", "rows"
    )?;
    for ((kind, day), (files, rows)) in by_day {
        writeln!(out, "{kind:<18} {day:<10} {files:>6} {rows:>10}")?;
    }
    Ok(())
}

fn read(
    archive: &Archive,
    selection: &Selection,
    table: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let files = files(archive, selection)?;
    if table {
        writeln!(
            out,
            "{:<18} {:>10} {:<25} {:<16} summary",
            "kind", "id", "at", "contact"
        )?;
    }
    let write_error = |e: std::io::Error| crate::workers::retention::archive::ReadError::Io {
        path: "standard output".into(),
        source: e,
    };
    archive.read(
        &files,
        |r| selection.record(r),
        |r| {
            if table {
                writeln!(
                    out,
                    "{:<18} {:>10} {:<25} {:<16} {}",
                    r.kind,
                    r.id,
                    r.at.format("%Y-%m-%dT%H:%M:%SZ"),
                    r.contact.as_deref().unwrap_or("-"),
                    summary(&r)
                )
                .map_err(write_error)
            } else {
                serde_json::to_writer(&mut *out, &r).map_err(|e| write_error(e.into()))?;
                writeln!(out).map_err(write_error)
            }
        },
    )?;
    Ok(())
}

/// A row in a few words for the table: a message's text, an event's kind, an action.
fn summary(r: &Record) -> String {
    let row = &r.row;
    let text = row["payload"]["content"]["body"]
        .as_str()
        .or_else(|| row["payload"]["content"]["text"]["body"].as_str())
        .or_else(|| row["payload"]["message"]["content"]["body"].as_str())
        .map(str::to_string)
        .or_else(|| row["status"].as_str().map(|s| format!("[{s}]")))
        .or_else(|| row["action"].as_str().map(str::to_string))
        .or_else(|| row["kind"].as_str().map(str::to_string))
        .unwrap_or_default();
    let short: String = text.chars().take(60).collect();
    short.replace('\n', " ")
}

async fn restore(
    config: &crate::config::Config,
    archive: &Archive,
    place: &str,
    selection: &Selection,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let files = files(archive, selection)?;
    let mut rows: BTreeMap<HistoryKind, Vec<serde_json::Value>> = BTreeMap::new();
    archive.read(
        &files,
        |r| selection.record(r),
        |r| {
            // Only messages come back; the rest of a contact's history stays archived.
            if let Some(kind) = HistoryKind::parse(&r.kind).filter(|k| k.restorable()) {
                rows.entry(kind).or_default().push(r.row);
            }
            Ok(())
        },
    )?;
    let found: usize = rows.values().map(Vec::len).sum();
    let contact = selection.contact.as_deref().unwrap_or_default();
    if found == 0 {
        writeln!(out, "no archived messages of {contact} in {place}")?;
        return Ok(());
    }
    let store = store::connect(&config.database)
        .await
        .with_context(|| format!("cannot open the database {}", config.database.url))?;
    // The messages go back into the contact's conversations, which are never archived: none
    // here means another database than the one archived.
    let senders: std::collections::BTreeSet<i64> = rows
        .values()
        .flatten()
        .filter_map(|r| r["sender_id"].as_i64())
        .collect();
    let mut known = false;
    for sender in senders {
        known |= store.find_conversation(sender, contact).await?.is_some();
    }
    if !known {
        anyhow::bail!(
            "{contact} has no conversation in the database {}: restore into the database the archive was made from (--config)",
            config.database.url
        );
    }
    let mut put = 0;
    for (kind, rows) in rows {
        for chunk in rows.chunks(500) {
            put += store.restore_history(kind, chunk.to_vec()).await?;
        }
    }
    super::audit::record(
        &store,
        "archive.restore",
        Some(contact),
        serde_json::json!({ "archived": found, "restored": put }),
    )
    .await;
    writeln!(
        out,
        "{put} of {found} archived messages of {contact} put back ({} already there)",
        found as u64 - put
    )?;
    Ok(())
}
