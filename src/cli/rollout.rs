//! `parley rollout FLOW [--share N | --promote | --rollback]` (issue 58): the share of new
//! conversations a flow's candidate version is served, on the configured database; without
//! an option it prints the rollout. The flows are read as `parley check` reads them, for the
//! candidate's label. A running daemon reads the change within 2 seconds. On SQLite a
//! running daemon holds the database: use `PUT /api/flows/{flow}/rollout` while it runs.

use crate::cli::config_file::load_config;
use crate::domain::{Clock, SystemClock};
use crate::store::{self, StoreError};
use crate::workers::rollouts::{self, Change};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RolloutArgs {
    #[arg(long, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// The flow's id.
    pub flow: String,
    /// Serve the candidate to this percent of new conversations (0 to 100).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100), conflicts_with_all = ["promote", "rollback"])]
    pub share: Option<u8>,
    /// Serve the candidate to every new conversation (100 %), marked promoted.
    #[arg(long, conflicts_with = "rollback")]
    pub promote: bool,
    /// Serve the candidate to no one (0 %).
    #[arg(long)]
    pub rollback: bool,
}

/// `parley rollout …`.
pub fn main(args: RolloutArgs) -> anyhow::Result<()> {
    let config = load_config(args.config.as_deref())?;
    let report = crate::flows::load_configured(&config);
    let Some(flows) = report.set.as_ref() else {
        anyhow::bail!(
            "the flows have errors, so their candidates are unknown; fix these first (`parley check` says the same):\n{}",
            report.render()
        );
    };
    let change = match (args.share, args.promote, args.rollback) {
        (Some(n), _, _) => Some(Change::Share(n)),
        (None, true, _) => Some(Change::Promote),
        (None, false, true) => Some(Change::Rollback),
        (None, false, false) => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = match store::connect(&config.database).await {
            Ok(s) => s,
            Err(StoreError::InUse(why)) => anyhow::bail!(
                "{why}\nwhile the daemon runs, change the rollout through it: `PUT /api/flows/{}/rollout` with {{\"share\": 10}}, {{\"promote\": true}} or {{\"rollback\": true}}",
                args.flow
            ),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot open the database {}", config.database.url)
                })
            }
        };
        if let Some(change) = change {
            rollouts::apply(&store, flows, &args.flow, change, SystemClock.now())
                .await?
                .map_err(|why| anyhow::anyhow!("{why}"))?;
            let (action, detail) = match change {
                Change::Share(n) => ("rollout.share", serde_json::json!({ "share": n })),
                Change::Promote => ("rollout.promote", serde_json::json!({})),
                Change::Rollback => ("rollout.rollback", serde_json::json!({})),
            };
            super::audit::record(&store, action, Some(&args.flow), detail).await;
        }
        let state = rollouts::state(&store, flows, &args.flow)
            .await?
            .map_err(|why| anyhow::anyhow!("{why}"))?;
        println!("{}", render(&state));
        Ok(())
    })
}

/// The rollout in a few lines.
fn render(state: &serde_json::Value) -> String {
    let s = |k: &str| state[k].as_str().unwrap_or_default().to_string();
    format!(
        "flow {}: candidate {} ({}) serves {} % of new conversations{}\n  current version {} ({})\n  candidate version {}",
        s("flow"),
        s("candidate"),
        state["files"]["candidate"].as_str().unwrap_or_default(),
        state["share"].as_u64().unwrap_or_default(),
        if state["promoted"].as_bool() == Some(true) { ", promoted" } else { "" },
        state["versions"]["current"].as_str().unwrap_or_default(),
        state["files"]["current"].as_str().unwrap_or_default(),
        state["versions"]["candidate"].as_str().unwrap_or_default(),
    )
}
