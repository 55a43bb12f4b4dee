//! Flow insights as stored: counters per flow, step, hour and counter name
//! (`flow_insights`), added to by `Inbox::commit_step` in the transaction of the event they
//! count, and summed over a period here.

use super::StoreResult;
use async_trait::async_trait;

/// The most (flow, step, counter) sums one read returns; beyond it the answer is cut
/// (`InsightSums::truncated`). Far more than the loaded flows have steps.
pub const MAX_INSIGHT_ROWS: i64 = 50_000;

/// A counter summed over a period: `step` empty for the flow's own outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsightRow {
    pub flow: String,
    pub step: String,
    pub what: String,
    pub n: i64,
}

/// The sums of a period, in (flow, step, what) order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InsightSums {
    pub rows: Vec<InsightRow>,
    /// More than `MAX_INSIGHT_ROWS` sums matched; the rest were left out.
    pub truncated: bool,
}

#[async_trait]
pub trait Insights: Send + Sync {
    /// The counters of the hours from `since_hour` up to (not including) `until_hour`
    /// (Unix seconds at the start of an hour), summed by flow, step and counter; only
    /// `flow`'s when given.
    async fn flow_insights(
        &self,
        since_hour: i64,
        until_hour: i64,
        flow: Option<&str>,
    ) -> StoreResult<InsightSums>;
}

/// Rows as read, one more than the limit telling that there are more.
pub(super) fn sums(mut rows: Vec<InsightRow>) -> InsightSums {
    let truncated = rows.len() as i64 > MAX_INSIGHT_ROWS;
    rows.truncate(MAX_INSIGHT_ROWS as usize);
    InsightSums { rows, truncated }
}
