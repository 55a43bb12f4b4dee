//! Flow insights as stored: counters per flow, step, hour and counter name
//! (`flow_insights`), added to by `Inbox::commit_step` in the transaction of the event they
//! count, and summed over a period here.

use super::StoreResult;
use async_trait::async_trait;

/// The most (flow, step, counter) sums one read returns; beyond it the answer is cut
/// (`InsightSums::truncated`). Far more than the loaded flows have steps.
pub const MAX_INSIGHT_ROWS: i64 = 50_000;

/// A counter summed over a period: `step` empty for the flow's own outcomes (a row of
/// `sql::FLOW_INSIGHTS`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx_macros::FromRow)]
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

/// What one step's messages became over a period (`Insights::step_deliveries`), by the flow
/// and step the messages record (`outbound_messages.flow`, `.step`: the step's `id` or its
/// place, `step 2 (line 17)`). A row of `sql::STEP_DELIVERIES`.
#[derive(Debug, Clone, PartialEq, Eq, Default, sqlx_macros::FromRow)]
pub struct StepDelivery {
    pub flow: String,
    pub step: String,
    /// Messages the step queued.
    pub messages: i64,
    /// Of those, the ones that left Parley (accepted by the provider, or failed there).
    pub sent: i64,
    /// Delivered or read.
    pub delivered: i64,
    #[sqlx(rename = "read_count")]
    pub read: i64,
    pub failed: i64,
    /// The cost ledger's predictions of the messages not failed or skipped, and the cost by
    /// the `pricing` their statuses carried (micro-units of the rate card's currency).
    pub predicted_micros: i64,
    pub actual_micros: i64,
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

    /// What the messages each step queued in `[since, until)` became, by flow and step
    /// (only `flow`'s when given), at most `MAX_INSIGHT_ROWS` rows.
    async fn step_deliveries(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<StepDelivery>>;
}

/// Rows as read, one more than the limit telling that there are more.
pub(super) fn sums(mut rows: Vec<InsightRow>) -> InsightSums {
    let truncated = rows.len() as i64 > MAX_INSIGHT_ROWS;
    rows.truncate(MAX_INSIGHT_ROWS as usize);
    InsightSums { rows, truncated }
}
