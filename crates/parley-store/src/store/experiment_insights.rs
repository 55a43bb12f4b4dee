//! Experiments' insights (issue 58): the counters of runs by experiment and arm
//! (`experiment_insights`), added to by `Inbox::commit_step` in the transaction of the event
//! they count (with the flow insights), and summed over a period here.

use super::StoreResult;
use async_trait::async_trait;

/// The most (experiment, arm, step, counter) sums one read returns; beyond it the answer is
/// cut (`ArmInsightSums::truncated`).
pub const MAX_ARM_INSIGHT_ROWS: i64 = 50_000;

/// The longest flow name a read filters by.
pub const MAX_FLOW_FILTER: usize = 200;

/// A counter of an arm summed over a period: `step` empty for the runs' outcomes (and
/// `started`, `finish_ms`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx_macros::FromRow)]
pub struct ArmInsightRow {
    pub experiment: String,
    pub arm: String,
    pub step: String,
    pub what: String,
    pub n: i64,
}

/// The sums of a period, in (experiment, arm, step, what) order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ArmInsightSums {
    pub rows: Vec<ArmInsightRow>,
    /// More than `MAX_ARM_INSIGHT_ROWS` sums matched; the rest were left out.
    pub truncated: bool,
}

/// `experiment_insights`: `$1`..`$2` the hours, `$3` the flow (null: every flow; else its
/// experiments `<flow>/…` and `<flow>@version`), `$4` the most rows.
pub(crate) const EXPERIMENT_INSIGHTS: &str =
    "select experiment, arm, step, what, cast(sum(n) as bigint) as n from experiment_insights
     where hour >= $1 and hour < $2
       and (cast($3 as text) is null or experiment = $3 || '@version'
            or substr(experiment, 1, length($3) + 1) = $3 || '/')
     group by experiment, arm, step, what
     order by experiment, arm, step, what
     limit $4";

/// What the messages of an experiment's flow cost, by the arm their conversation is
/// recorded in (`ConversationState::experiments`): a row of `arm_costs`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx_macros::FromRow)]
pub struct ArmCost {
    pub arm: String,
    /// The flow's messages queued in the period to conversations in the arm.
    pub messages: i64,
    /// The cost ledger's predictions of those not failed or skipped (micro-units).
    pub predicted_micros: i64,
}

/// The most arms `arm_costs` returns.
pub const MAX_COST_ARMS: i64 = 100;

/// The longest experiment name `arm_costs` looks up.
pub const MAX_EXPERIMENT_NAME: usize = 400;

/// `arm_costs` with the arm read by `$arm` (each backend's JSON expression of the
/// conversation's recorded arm, given `$3`): `$1`..`$2` the messages' `created_at`, `$4` the
/// flow, `$5` the most rows.
pub(crate) fn arm_costs_sql(arm: &str) -> String {
    format!(
        "select {arm} as arm, count(*) as messages,
                cast(coalesce(sum(case when m.status in ('failed', 'skipped') then 0
                                       else c.predicted_micros end), 0) as bigint) as predicted_micros
         from outbound_messages m
         join conversations v on v.id = m.conversation_id
         left join message_costs c on c.outbound_id = m.id
         where m.flow = $4 and m.created_at >= $1 and m.created_at < $2 and {arm} is not null
         group by {arm}
         order by {arm}
         limit $5"
    )
}

#[async_trait]
pub trait ExperimentInsights: Send + Sync {
    /// What the messages of `experiment`'s flow queued in `[since, until)` cost, by the arm
    /// of `experiment` their conversation is recorded in (its latest arm, for a flow's
    /// versions); at most `MAX_COST_ARMS` arms. A name longer than `MAX_EXPERIMENT_NAME`, or
    /// holding a `"`, matches nothing.
    async fn arm_costs(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        experiment: &str,
    ) -> StoreResult<Vec<ArmCost>>;

    /// The arms' counters of the hours from `since_hour` up to (not including)
    /// `until_hour`, summed by experiment, arm, step and counter; only `flow`'s experiments
    /// when given (a name longer than `MAX_FLOW_FILTER` matches nothing).
    async fn experiment_insights(
        &self,
        since_hour: i64,
        until_hour: i64,
        flow: Option<&str>,
    ) -> StoreResult<ArmInsightSums>;
}

/// Rows as read, one more than the limit telling that there are more.
pub(crate) fn sums(mut rows: Vec<ArmInsightRow>) -> ArmInsightSums {
    let truncated = rows.len() as i64 > MAX_ARM_INSIGHT_ROWS;
    rows.truncate(MAX_ARM_INSIGHT_ROWS as usize);
    ArmInsightSums { rows, truncated }
}

/// `arm_costs` on a pool: `$arm` the backend's expression of the recorded arm, `$key` what
/// `$3` binds (the experiment, or SQLite's JSON path to its arm).
macro_rules! read_arm_costs {
    ($pool:expr, $since:expr, $until:expr, $experiment:expr, $arm:expr, $key:expr) => {{
        let experiment: &str = $experiment;
        if experiment.len() > $crate::store::MAX_EXPERIMENT_NAME || experiment.contains('"') {
            return Ok(Vec::new());
        }
        let (flow, _) = $crate::domain::insight::experiment_flow(experiment);
        let rows: Vec<$crate::store::ArmCost> =
            sqlx::query_as(&$crate::store::experiment_insights::arm_costs_sql($arm))
                .bind($crate::store::rows::Stamp($since))
                .bind($crate::store::rows::Stamp($until))
                .bind($key)
                .bind(flow)
                .bind($crate::store::MAX_COST_ARMS)
                .fetch_all($pool)
                .await?;
        Ok(rows)
    }};
}
pub(crate) use read_arm_costs;

/// The read, the same SQL on both backends' pools.
macro_rules! read_experiment_insights {
    ($pool:expr, $since:expr, $until:expr, $flow:expr) => {{
        let flow: Option<&str> = $flow;
        if flow.is_some_and(|f| f.len() > $crate::store::MAX_FLOW_FILTER) {
            return Ok($crate::store::ArmInsightSums::default());
        }
        let rows: Vec<$crate::store::ArmInsightRow> =
            sqlx::query_as($crate::store::experiment_insights::EXPERIMENT_INSIGHTS)
                .bind($since)
                .bind($until)
                .bind(flow)
                .bind($crate::store::MAX_ARM_INSIGHT_ROWS + 1)
                .fetch_all($pool)
                .await?;
        Ok($crate::store::experiment_insights::sums(rows))
    }};
}
pub(crate) use read_experiment_insights;
