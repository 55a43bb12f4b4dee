//! `parley rollout FLOW [--share N | --promote | --rollback]` (issue 58): the share of new
//! conversations a flow's candidate version is served, on the configured database.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RolloutArgs {
    #[arg(long, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// The flow's id.
    pub flow: String,
}

/// `parley rollout …`.
pub fn main(_args: RolloutArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
