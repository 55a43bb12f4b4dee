//! `parley events log [--endpoint NAME] [--state parked] [--kind K] [--conversation ID]
//! [--limit N]` and `parley events replay --endpoint NAME (--id ID… | --parked [--since T]
//! [--until T])`: the delivery log and replays of events out, on the configured database
//! directly (a running daemon picks replayed deliveries up at its next look). On SQLite a
//! running daemon holds the database: use `POST /api/events/replay` while it runs.

use crate::cli::config_file::load_database_config;
use crate::domain::{Clock, OutEventKind, SystemClock};
use crate::store::{self, DeliveryFilter, DeliveryState, ReplaySelection};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum EventsCommand {
    /// The delivery log, newest first: event, kind, endpoint, state, attempts, last answer.
    Log {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        endpoint: Option<String>,
        /// pending, delivered or parked.
        #[arg(long, value_parser = ["pending", "delivered", "parked"])]
        state: Option<String>,
        /// A kind of event, like message.received.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        conversation: Option<i64>,
        /// At most this many rows (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Deliver again: the deliveries named by --id, or the endpoint's parked ones (--parked) of events between --since and --until.
    Replay {
        #[arg(long, env = "PARLEY_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        endpoint: String,
        /// The endpoint's parked deliveries.
        #[arg(long, conflicts_with = "id")]
        parked: bool,
        /// Events at or after this time (RFC 3339, like 2026-11-01T00:00:00Z).
        #[arg(long, requires = "parked")]
        since: Option<String>,
        /// Events before this time.
        #[arg(long, requires = "parked")]
        until: Option<String>,
        /// A delivery's id (repeat for several).
        #[arg(long)]
        id: Vec<i64>,
    },
}

/// `parley events …`.
pub fn main(command: EventsCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut out = std::io::stdout().lock();
    match command {
        EventsCommand::Log {
            config,
            endpoint,
            state,
            kind,
            conversation,
            limit,
        } => {
            let config = load_database_config(config.as_deref(), "events log")?;
            let kind = kind
                .map(|k| {
                    OutEventKind::parse(&k).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--kind: `{k}` is not a kind of event, like message.received"
                        )
                    })
                })
                .transpose()?;
            let filter = DeliveryFilter {
                endpoint,
                state: state.as_deref().and_then(DeliveryState::parse),
                kind,
                conversation_id: conversation,
                event_id: None,
                before: None,
                limit: limit.clamp(1, 500),
            };
            runtime.block_on(log(&config, &filter, &mut out))
        }
        EventsCommand::Replay {
            config,
            endpoint,
            parked,
            since,
            until,
            id,
        } => {
            let config = load_database_config(config.as_deref(), "events replay")?;
            let selection = if parked {
                ReplaySelection::Parked {
                    since: time("--since", since)?,
                    until: time("--until", until)?,
                }
            } else if !id.is_empty() {
                ReplaySelection::Ids(id)
            } else {
                anyhow::bail!("say what to replay: --id DELIVERY (repeatable) or --parked (with --since and --until to limit the period)");
            };
            runtime.block_on(async {
                let store = open(&config).await?;
                let n = store
                    .replay_deliveries(&endpoint, &selection, SystemClock.now())
                    .await?;
                let detail = match &selection {
                    ReplaySelection::Ids(ids) => serde_json::json!({ "ids": ids, "queued": n }),
                    ReplaySelection::Parked { .. } => {
                        serde_json::json!({ "parked": true, "queued": n })
                    }
                };
                super::audit::record(&store, "events.replay", Some(&endpoint), detail).await;
                writeln!(out, "{n} deliveries to {endpoint} queued again")?;
                Ok(())
            })
        }
    }
}

async fn open(config: &crate::config::Config) -> anyhow::Result<store::DynStore> {
    store::connect(&config.database)
        .await
        .with_context(|| format!("cannot open the database {}", config.database.url))
}

async fn log(
    config: &crate::config::Config,
    filter: &DeliveryFilter,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let store = open(config).await?;
    let rows = store.deliveries(filter).await?;
    writeln!(
        out,
        "{:<8} {:<12} {:<22} {:<16} {:<10} {:>8}  last answer",
        "delivery", "event", "kind", "endpoint", "state", "attempts"
    )?;
    for d in &rows {
        let answer = match (&d.last_status, &d.last_error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => s.to_string(),
            (None, None) => String::new(),
        };
        let answer: String = answer.chars().take(120).collect();
        writeln!(
            out,
            "{:<8} {:<12} {:<22} {:<16} {:<10} {:>8}  {}",
            d.id,
            format!("evt_{}", d.event_id),
            d.kind.as_str(),
            d.endpoint,
            d.state.as_str(),
            d.attempts,
            answer.replace(['\n', '\r'], " ")
        )?;
    }
    if rows.is_empty() {
        writeln!(out, "(no deliveries)")?;
    }
    Ok(())
}

fn time(flag: &str, value: Option<String>) -> anyhow::Result<Option<DateTime<Utc>>> {
    value
        .map(|s| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    anyhow::anyhow!("{flag}: `{s}` is not a time like 2026-11-01T00:00:00Z")
                })
        })
        .transpose()
}
