//! `parley translations export FILE` and `parley translations import FILE [--dry-run]`
//! (issue 58): the flows' texts for translators, as CSV or PO, and their translations
//! back into the `<flow file>.<language>.po` files beside the flows.

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TranslationsCommand {
    /// Write every flow's customer-facing texts and their translations to FILE (.csv or .po).
    Export {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        file: PathBuf,
    },
    /// Read translations from FILE (.csv or .po) into the translation files beside the flows.
    Import {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        /// Show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        file: PathBuf,
    },
}

/// `parley translations …`.
pub fn main(_command: TranslationsCommand) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
