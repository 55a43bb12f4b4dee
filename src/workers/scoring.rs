//! Scored real conversations (issue 59): agent conversations drawn at their end
//! (`agent_scores`) are judged by the step's `score.judge` model against its `rubric`, in
//! the background and within the step's budget; the scores feed the insights page, the API
//! and `parley_agent_score`.
//!
//! Every `TICK` the worker claims pending rows with a lease (several processes share the
//! work, a row goes to one at a time). A row whose flow, step or `score:` is gone is
//! skipped. A step whose judge spent its day's budget (UTC) leaves its rows pending until
//! the next day; rows still pending two days after their conversation ended are skipped.

mod judge;

use crate::config::Config;
use crate::domain::Clock;
use crate::engine::FlowEngine;
use crate::flows::{AgentSpec, Op};
use crate::store::{DynStore, ScoreJob, ScoreRecord, ScoreStatus};
use chrono::{DateTime, Duration as Days, TimeZone, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use judge::{Line, Verdict, MAX_CHARS, MAX_MESSAGES};

/// How often pending rows are looked for.
pub const TICK: Duration = Duration::from_secs(1);
/// How long a claimed row is this process's.
const LEASE: Duration = Duration::from_secs(300);
/// Rows claimed at once.
const BATCH: i64 = 10;
/// The most messages of each kind read for one transcript.
const READ: i64 = 200;
/// Rows pending longer than this after their conversation ended are skipped.
const STALE_DAYS: i64 = 2;
/// The scores the `parley_agent_score` gauge averages.
const GAUGE_OF: i64 = 50;

/// Starts the worker on `workers` until `stop`.
pub fn spawn(
    config: &Arc<Config>,
    store: &DynStore,
    engine: &Arc<FlowEngine>,
    clock: &Arc<dyn Clock>,
    owner: &str,
    workers: &TaskTracker,
    stop: &CancellationToken,
) {
    let _ = config;
    let w = Worker {
        store: store.clone(),
        engine: engine.clone(),
        clock: clock.clone(),
        owner: format!("{owner}/scoring"),
    };
    let stop = stop.clone();
    workers.spawn(async move {
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.cancelled() => return,
            }
            ticks += 1;
            // Without a `score:` in the loaded flows nothing new is drawn: the rows left
            // (a `score:` just removed) are looked at once a minute, not every second.
            if !w.any_scoring() && !ticks.is_multiple_of(IDLE_TICKS) {
                continue;
            }
            if let Err(e) = w.round().await {
                tracing::warn!("scoring agent conversations failed: {e}");
            }
        }
    });
}

struct Worker {
    store: DynStore,
    engine: Arc<FlowEngine>,
    clock: Arc<dyn Clock>,
    owner: String,
}

/// Ticks between rounds when no loaded flow scores its conversations.
const IDLE_TICKS: u64 = 60;

/// What a claimed row comes to.
enum Done {
    Record(ScoreStatus, ScoreRecord),
    /// The day's budget is spent: pending until `until`.
    Hold(DateTime<Utc>),
}

impl Worker {
    /// Some loaded flow has an agent step with `score:`.
    fn any_scoring(&self) -> bool {
        self.engine.flows().flows().iter().any(|f| {
            f.steps
                .iter()
                .any(|step| matches!(&step.op, crate::flows::Op::Agent(a) if a.score.is_some()))
        })
    }

    async fn round(&self) -> crate::store::StoreResult<()> {
        let now = self.clock.now();
        let stale = self
            .store
            .skip_stale_scores(
                now - Days::days(STALE_DAYS),
                "the judge's budget left it unscored for two days",
            )
            .await?;
        if stale > 0 {
            tracing::info!(
                "{stale} agent conversations left unscored by the judge's budget were skipped"
            );
        }
        let jobs = self
            .store
            .claim_scores(&self.owner, now, LEASE, BATCH)
            .await?;
        for job in jobs {
            let done = self.score(&job).await?;
            let now = self.clock.now();
            match done {
                Done::Hold(until) => {
                    count(&job.flow, "skipped_budget");
                    self.store.hold_score(job.id, &self.owner, until).await?;
                }
                Done::Record(status, record) => {
                    let cost = record.cost_micros;
                    self.store
                        .record_score(job.id, &self.owner, status, &record, now)
                        .await?;
                    metrics::counter!(crate::metrics::AGENT_JUDGE_COST, "flow" => job.flow.clone())
                        .increment(cost.max(0) as u64);
                    count(&job.flow, status.as_str());
                    if status == ScoreStatus::Scored {
                        let recent = self
                            .store
                            .recent_scores(&job.flow, &job.step, GAUGE_OF)
                            .await?;
                        let mean = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
                        metrics::gauge!(crate::metrics::AGENT_SCORE, "flow" => job.flow.clone())
                            .set(mean);
                    }
                }
            }
        }
        Ok(())
    }

    async fn score(&self, job: &ScoreJob) -> crate::store::StoreResult<Done> {
        let Some(spec) = self.spec_of(job) else {
            return Ok(skipped(
                "the flow, its agent step or the step's `score:` is gone",
            ));
        };
        let Some(score) = spec.score.clone() else {
            return Ok(skipped("the step has no `score:` now"));
        };
        let now = self.clock.now();
        let day = Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default());
        let (tokens, cost) = self.store.judge_spend(&job.flow, &job.step, day).await?;
        let over_tokens = score.tokens_per_day.is_some_and(|t| tokens as u64 >= t);
        let over_cost = score
            .cost_per_day
            .is_some_and(|c| cost as f64 >= c * 1_000_000.0);
        if over_tokens || over_cost {
            return Ok(Done::Hold(day + Days::days(1)));
        }
        let models = self.engine.models();
        let Some(model) = models.get(&score.judge) else {
            return Ok(failed(
                format!("there is no model `{}` in the config", score.judge),
                0,
                0,
            ));
        };
        let inbound = self
            .store
            .conversation_inbound(job.conversation_id, None, READ)
            .await?;
        let outbound = self
            .store
            .conversation_outbound(job.conversation_id, None, READ)
            .await?;
        let mask = spec.guardrails.mask_personal_data;
        let lines = judge::transcript(&inbound, &outbound, job.started_us, job.ended_us, mask);
        let transcript = serde_json::to_string(&lines).ok();
        match judge::judge(model, &lines, &spec.rubric).await {
            Ok(j) => {
                let passed = j.verdicts.iter().filter(|v| v.pass).count();
                let score = passed as f64 / j.verdicts.len().max(1) as f64;
                Ok(Done::Record(
                    ScoreStatus::Scored,
                    ScoreRecord {
                        score: Some(score),
                        verdicts: serde_json::to_string(&j.verdicts).ok(),
                        transcript,
                        tokens: j.tokens,
                        cost_micros: j.cost_micros,
                        reason: None,
                    },
                ))
            }
            Err((why, j)) => Ok(failed(why, j.tokens, j.cost_micros)),
        }
    }

    /// The agent step of the row, as the flows are now.
    fn spec_of(&self, job: &ScoreJob) -> Option<AgentSpec> {
        let flows = self.engine.flows();
        let flow = flows.get(&job.flow)?;
        (0..flow.steps.len()).find_map(|pc| match &flow.steps[pc].op {
            Op::Agent(a) if flow.insight_key(pc).as_deref() == Some(job.step.as_str()) => {
                Some((**a).clone())
            }
            _ => None,
        })
    }
}

fn skipped(why: &str) -> Done {
    Done::Record(
        ScoreStatus::Skipped,
        ScoreRecord {
            reason: Some(why.into()),
            ..ScoreRecord::default()
        },
    )
}

fn failed(why: String, tokens: i64, cost_micros: i64) -> Done {
    tracing::warn!("scoring an agent conversation failed: {why}");
    Done::Record(
        ScoreStatus::Failed,
        ScoreRecord {
            reason: Some(why),
            tokens,
            cost_micros,
            ..ScoreRecord::default()
        },
    )
}

fn count(flow: &str, result: &str) {
    metrics::counter!(
        crate::metrics::AGENT_SCORES,
        "flow" => flow.to_string(),
        "result" => result.to_string()
    )
    .increment(1);
}
