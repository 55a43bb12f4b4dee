//! `parley contacts import FILE` and `parley contacts export [--format csv|json]`: the
//! same import and export as the API, on the configured database directly. On SQLite the
//! daemon holds the database: stop it first, or use the API while it runs.

use crate::config::Config;
use crate::domain::contact_file::{self, ExportRow, ImportFormat, MAX_BYTES};
use crate::domain::{Clock, SystemClock};
use crate::store::{self, DynStore};
use anyhow::Context;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

/// Imports `file` (CSV or JSON by its extension, else by its first character) and prints
/// the report: counts, then `row N: reason` for each refused row.
pub async fn import(config: &Config, file: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    crate::config::regular_file::open(file)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let format = file
        .extension()
        .and_then(|e| ImportFormat::from_name(&e.to_string_lossy()))
        .unwrap_or_else(|| {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'[') {
                ImportFormat::Json
            } else {
                ImportFormat::Csv
            }
        });
    let parsed = contact_file::parse(format, &bytes)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let store = open(config).await?;
    let report = store::import(store.as_ref(), parsed, SystemClock.now()).await?;
    let detail = serde_json::json!({
        "created": report.created,
        "updated": report.updated,
        "refused": report.refused.len(),
    });
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    super::audit::record(&store, "contacts.import", name.as_deref(), detail).await;
    write!(out, "{}", report.render())?;
    Ok(())
}

/// Writes every contact to `out` as CSV or JSON.
pub async fn export(
    config: &Config,
    format: ImportFormat,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open(config).await?;
    let mut failed = None;
    match format {
        ImportFormat::Csv => {
            let mut names = BTreeSet::new();
            store::for_each_contact(store.as_ref(), |page| {
                for c in page {
                    names.extend(contact_file::field_names(c).cloned());
                }
            })
            .await?;
            let fields: Vec<String> = names.into_iter().collect();
            out.write_all(contact_file::csv_header(&fields).as_bytes())?;
            store::for_each_contact(store.as_ref(), |page| {
                for c in page {
                    if let Err(e) = out.write_all(contact_file::csv_line(c, &fields).as_bytes()) {
                        failed.get_or_insert(e);
                    }
                }
            })
            .await?;
        }
        ImportFormat::Json => {
            out.write_all(b"[")?;
            let mut first = true;
            store::for_each_contact(store.as_ref(), |page| {
                for c in page {
                    let line = serde_json::to_string(&ExportRow::of(c)).unwrap_or_default();
                    let sep = if first { "\n" } else { ",\n" };
                    first = false;
                    if let Err(e) = write!(out, "{sep}{line}") {
                        failed.get_or_insert(e);
                    }
                }
            })
            .await?;
            out.write_all(b"\n]\n")?;
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(out.flush()?),
    }
}

async fn open(config: &Config) -> anyhow::Result<DynStore> {
    let store = store::connect(&config.database)
        .await
        .with_context(|| format!("cannot open the database {}", config.database.url))?;
    // As the daemon: an import's contact events are recorded when someone listens.
    if !config.events.endpoints.is_empty() || config.chatwoot.is_some() {
        store.record_events_from_now();
    }
    Ok(store)
}
