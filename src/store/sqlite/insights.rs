//! `Insights` on SQLite: the flow insights' counters (`flow_insights`), read through the
//! reader pool; `add` is what `commit_step` runs on the writer thread, inside its
//! transaction.

use super::rows::json_text;
use super::SqliteStore;
use crate::domain::insight::{hour_of, Tally};
use crate::store::sql::{insight_row, step_delivery, FLOW_INSIGHTS, STEP_DELIVERIES};
use crate::store::{insights, InsightSums, Insights, StepDelivery, StoreResult, MAX_INSIGHT_ROWS};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

#[async_trait]
impl Insights for SqliteStore {
    async fn flow_insights(
        &self,
        since_hour: i64,
        until_hour: i64,
        flow: Option<&str>,
    ) -> StoreResult<InsightSums> {
        let rows = sqlx::query(FLOW_INSIGHTS)
            .bind(since_hour)
            .bind(until_hour)
            .bind(flow)
            .bind(MAX_INSIGHT_ROWS + 1)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(insight_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(insights::sums(rows))
    }

    async fn step_deliveries(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<StepDelivery>> {
        sqlx::query(STEP_DELIVERIES)
            .bind(super::rows::micros(since))
            .bind(super::rows::micros(until))
            .bind(flow)
            .bind(MAX_INSIGHT_ROWS)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(step_delivery)
            .collect()
    }
}

/// A tally as the JSON `add` reads (`[[flow, step, what, n], …]` in lock order), `None` when
/// it is empty; built off the writer thread.
pub(super) fn counts_json(tally: &Tally) -> StoreResult<Option<String>> {
    if tally.is_empty() {
        return Ok(None);
    }
    let rows: Vec<(&str, &str, &str, i64)> = tally
        .sorted()
        .into_iter()
        .map(|c| (c.flow.as_str(), c.step.as_str(), c.what, c.n))
        .collect();
    json_text("insight counts", &rows).map(Some)
}

/// Adds the counts (`counts_json`) to the counters of `now`'s hour: one statement.
pub(super) fn add(conn: &Connection, now: DateTime<Utc>, counts: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "insert into flow_insights (flow, step, hour, what, n)
         select json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?1,
                json_extract(value, '$[2]'), json_extract(value, '$[3]')
         from json_each(?2) where true
         on conflict (flow, step, hour, what) do update set n = n + excluded.n",
    )?
    .execute(params![hour_of(now), counts])?;
    Ok(())
}
