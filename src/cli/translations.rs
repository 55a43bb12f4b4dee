//! `parley translations export FILE` and `parley translations import FILE [--dry-run]`
//! (issue 58): the flows' texts for translators, as CSV or PO, and their translations
//! back into the `<flow file>.<language>.po` files beside the flows. The formats and the
//! matching are the flows crate's (`flows::languages::{io, import}`).

use crate::cli::config_file::load_config;
use crate::config::Config;
use crate::flows::languages::import::{plan, Plan};
use crate::flows::languages::io::{self, FlowTexts};
use anyhow::{bail, Context};
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum TranslationsCommand {
    /// Write every flow's customer-facing texts and their translations to FILE (.csv or .po).
    Export {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// The language of a PO file (needed when the flows have several besides their base).
        #[arg(long)]
        language: Option<String>,
        file: PathBuf,
    },
    /// Read translations from FILE (.csv or .po) into the translation files beside the flows.
    Import {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The language of a PO file whose header does not say it.
        #[arg(long)]
        language: Option<String>,
        file: PathBuf,
    },
}

/// `parley translations …`.
pub fn main(command: TranslationsCommand) -> anyhow::Result<()> {
    let out = match command {
        TranslationsCommand::Export {
            config,
            language,
            file,
        } => export(&load_config(config.as_deref())?, &file, language.as_deref())?,
        TranslationsCommand::Import {
            config,
            dry_run,
            language,
            file,
        } => {
            let config = load_config(config.as_deref())?;
            let out = import(&config, &file, language.as_deref(), dry_run)?;
            if !dry_run {
                let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
                let detail = serde_json::json!({ "language": language });
                super::audit::record_in(
                    &config.database,
                    "translations.import",
                    name.as_deref(),
                    detail,
                );
            }
            out
        }
    };
    print!("{out}");
    Ok(())
}

enum Format {
    Csv,
    Po,
}

fn format_of(file: &Path) -> anyhow::Result<Format> {
    match file.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("csv") => Ok(Format::Csv),
        Some(e) if e.eq_ignore_ascii_case("po") => Ok(Format::Po),
        _ => bail!(
            "{}: name a .csv or a .po file (the format follows the name)",
            file.display()
        ),
    }
}

/// Every loaded flow (candidate versions too) with its texts. Refuses flows with errors.
fn flow_texts(config: &Config) -> anyhow::Result<Vec<FlowTexts>> {
    let report = crate::flows::load_configured(config);
    let Some(set) = report.set.as_ref().filter(|_| report.errors() == 0) else {
        bail!(
            "the flows have errors; fix them first (`parley check`):\n{}",
            report.render()
        );
    };
    let mut out = Vec::new();
    for flow in set.flows().iter().chain(set.candidates()) {
        let source = std::fs::read_to_string(&flow.file)
            .with_context(|| format!("cannot read {}", flow.file))?;
        out.push(FlowTexts::new(flow, &source));
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// `parley translations export FILE`: what it wrote, in one line.
pub fn export(config: &Config, file: &Path, language: Option<&str>) -> anyhow::Result<String> {
    let format = format_of(file)?;
    let flows = flow_texts(config)?;
    let text = match format {
        Format::Csv => io::export_csv(&flows),
        Format::Po => io::export_po(&flows, language).map_err(anyhow::Error::msg)?,
    };
    std::fs::write(file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    let count: usize = flows
        .iter()
        .filter(|f| f.languages.len() > 1)
        .map(|f| f.texts.len())
        .sum();
    Ok(format!(
        "{}: {count} text(s) of {} flow(s) with languages\n",
        file.display(),
        flows.iter().filter(|f| f.languages.len() > 1).count()
    ))
}

/// `parley translations import FILE`: what changed (or would, with `dry_run`).
pub fn import(
    config: &Config,
    file: &Path,
    language: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<String> {
    let format = format_of(file)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > io::MAX_INPUT_BYTES {
        bail!(
            "{}: {} MiB; at most {} MiB is read (translations of a few flows are far smaller: is this the right file?)",
            file.display(),
            size / 1024 / 1024,
            io::MAX_INPUT_BYTES / 1024 / 1024
        );
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {} as text (UTF-8)", file.display()))?;
    let (cells, removals) = match format {
        Format::Csv => (io::read_csv(&text), true),
        Format::Po => (io::read_po(&text, language), false),
    };
    let cells = cells.map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let flows = flow_texts(config)?;
    let plan = plan(&flows, &cells, removals);
    report(file, &plan, dry_run)
}

fn report(file: &Path, plan: &Plan, dry_run: bool) -> anyhow::Result<String> {
    let mut out = String::new();
    for s in &plan.skipped {
        out.push_str(&format!("{}: {s}\n", file.display()));
    }
    if !plan.errors.is_empty() {
        let errors: Vec<String> = plan
            .errors
            .iter()
            .map(|e| format!("{}: {e}", file.display()))
            .collect();
        bail!("{out}{}\nnothing was written", errors.join("\n"));
    }
    for n in &plan.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    for c in &plan.changes {
        out.push_str(&format!("{c}\n"));
    }
    if plan.changes.is_empty() {
        out.push_str("nothing to change\n");
        return Ok(out);
    }
    let count = |sign| plan.changes.iter().filter(|c| c.sign == sign).count();
    let counts = format!(
        "{} added, {} changed, {} removed in {} file(s)",
        count('+'),
        count('~'),
        count('-'),
        plan.writes.len()
    );
    if dry_run {
        out.push_str(&format!("dry run: {counts}; nothing written\n"));
        return Ok(out);
    }
    for (path, text) in &plan.writes {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    out.push_str(&format!("{counts}\n"));
    Ok(out)
}
