//! `parley archive` (issue 60): read the archive files retention wrote (by contact, by day)
//! and restore a contact's history into the database.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ArchiveArgs {
    #[arg(long, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `parley archive …`.
pub fn main(args: ArchiveArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("parley archive is not built yet")
}
