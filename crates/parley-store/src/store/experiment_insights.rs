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

#[async_trait]
pub trait ExperimentInsights: Send + Sync {
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
