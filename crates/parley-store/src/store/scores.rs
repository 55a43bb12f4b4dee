//! Scored agent conversations (issue 59): the conversations drawn to be scored by a judge
//! model in the background (`agent_scores`), their scores and verdicts, read for the
//! insights page, the API and the score metric. Rows are added in the commit of the event
//! that ended the conversation; the scoring worker claims pending rows with a lease (a row
//! goes to one process at a time), records each score, and sums what the judge spent today.
//! Times are Unix microseconds.

use super::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The most rows one report read returns (`scored_rows`).
pub const MAX_SCORED_ROWS: i64 = 20_000;
/// The most transcripts one `worst_scores` read returns.
pub const MAX_WORST: i64 = 20;

/// A pending row claimed by the worker.
#[derive(Debug, Clone, PartialEq, Eq, sqlx_macros::FromRow)]
pub struct ScoreJob {
    pub id: i64,
    pub flow: String,
    /// The agent step's insight key.
    pub step: String,
    pub conversation_id: i64,
    pub started_us: i64,
    pub ended_us: i64,
    /// How the run ended (a flow insights' outcome name).
    pub outcome: String,
}

/// What became of a claimed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreStatus {
    Scored,
    Failed,
    Skipped,
}

impl ScoreStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreStatus::Scored => "scored",
            ScoreStatus::Failed => "failed",
            ScoreStatus::Skipped => "skipped",
        }
    }
}

/// The judge's work on one conversation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreRecord {
    /// Criteria passed / criteria, for a scored row.
    pub score: Option<f64>,
    /// The verdicts as JSON: `[{"criterion", "pass", "reason"}]`.
    pub verdicts: Option<String>,
    /// The transcript the judge read as JSON (masked as the step's guardrails say).
    pub transcript: Option<String>,
    pub tokens: i64,
    pub cost_micros: i64,
    /// Why a row failed or was skipped.
    pub reason: Option<String>,
}

/// A scored conversation, for the report (`transcript` only in `worst_scores`).
#[derive(Debug, Clone, PartialEq, sqlx_macros::FromRow)]
pub struct ScoredRow {
    pub id: i64,
    pub flow: String,
    pub step: String,
    pub conversation_id: i64,
    pub outcome: String,
    pub ended_us: i64,
    pub score: f64,
    pub verdicts: String,
    pub transcript: Option<String>,
    pub judge_tokens: i64,
    pub judge_cost_micros: i64,
    pub scored_us: i64,
}

/// Rows of a flow's step by status, for the report.
#[derive(Debug, Clone, PartialEq, Eq, sqlx_macros::FromRow)]
pub struct ScoreStatusCount {
    pub flow: String,
    pub step: String,
    pub status: String,
    pub n: i64,
}

#[async_trait]
pub trait AgentScores {
    /// Claims at most `limit` pending rows whose lease is free for `owner` until `now + lease`,
    /// oldest first; a row is never given to two owners at once.
    async fn claim_scores(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ScoreJob>>;

    /// Records what became of row `id` claimed by `owner`; false when the row is not
    /// `owner`'s pending row any more.
    async fn record_score(
        &self,
        id: i64,
        owner: &str,
        status: ScoreStatus,
        record: &ScoreRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Leaves row `id` pending, claimed by nobody before `until` (the day's budget is spent).
    async fn hold_score(&self, id: i64, owner: &str, until: DateTime<Utc>) -> StoreResult<()>;

    /// Marks pending rows of conversations that ended before `before` skipped, with `reason`;
    /// how many.
    async fn skip_stale_scores(&self, before: DateTime<Utc>, reason: &str) -> StoreResult<u64>;

    /// Tokens and cost (micro-dollars) the judge spent on `flow`'s `step` since `since`.
    async fn judge_spend(
        &self,
        flow: &str,
        step: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)>;

    /// The scores of `flow`'s `step`'s last `limit` scored conversations, newest first.
    async fn recent_scores(&self, flow: &str, step: &str, limit: i64) -> StoreResult<Vec<f64>>;

    /// Conversations scored between `since` and `until`, `flow`'s only when given, without
    /// transcripts, in (flow, step, id) order, at most `MAX_SCORED_ROWS`.
    async fn scored_rows(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<ScoredRow>>;

    /// The `n` lowest scored conversations of `flow`'s `step` in the period, with transcripts.
    async fn worst_scores(
        &self,
        flow: &str,
        step: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        n: i64,
    ) -> StoreResult<Vec<ScoredRow>>;

    /// Rows of conversations ended in the period by (flow, step, status).
    async fn score_statuses(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<ScoreStatusCount>>;
}

pub(crate) fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

const ROW_COLS: &str = "id, flow, step, conversation_id, outcome, ended_us, score, verdicts";

pub(crate) fn scored_rows_sql() -> String {
    format!(
        "select {ROW_COLS}, cast(null as text) as transcript, judge_tokens, judge_cost_micros, scored_us
         from agent_scores
         where status = 'scored' and scored_us >= $1 and scored_us < $2
           and (cast($3 as text) is null or flow = $3)
         order by flow, step, id limit $4"
    )
}

pub(crate) fn worst_sql() -> String {
    format!(
        "select {ROW_COLS}, transcript, judge_tokens, judge_cost_micros, scored_us
         from agent_scores
         where status = 'scored' and flow = $1 and step = $2 and scored_us >= $3 and scored_us < $4
         order by score, id limit $5"
    )
}

pub(crate) const STATUSES_SQL: &str = "select flow, step, status, count(*) as n from agent_scores
     where ended_us >= $1 and ended_us < $2 and (cast($3 as text) is null or flow = $3)
     group by flow, step, status order by flow, step, status limit 5000";

pub(crate) const SPEND_SQL: &str =
    "select cast(coalesce(sum(judge_tokens), 0) as bigint), cast(coalesce(sum(judge_cost_micros), 0) as bigint)
     from agent_scores where flow = $1 and step = $2 and scored_us >= $3";

pub(crate) const RECENT_SQL: &str = "select score from agent_scores
     where status = 'scored' and flow = $1 and step = $2 order by scored_us desc, id desc limit $3";
