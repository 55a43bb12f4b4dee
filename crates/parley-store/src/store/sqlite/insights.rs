//! `Insights` on SQLite: the flow insights' counters (`flow_insights`), read through the
//! reader pool; `add` is what `commit_step` runs on the writer thread, inside its
//! transaction.

use super::statements::Conn;
use super::SqliteStore;
use crate::domain::insight::{hour_of, Tally};
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{InsightSums, Insights, StepDelivery, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl Insights for SqliteStore {
    async fn flow_insights(
        &self,
        since_hour: i64,
        until_hour: i64,
        flow: Option<&str>,
    ) -> StoreResult<InsightSums> {
        shared::flow_insights(&self.reader, since_hour, until_hour, flow).await
    }

    async fn step_deliveries(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<StepDelivery>> {
        shared::step_deliveries(&self.reader, since, until, flow).await
    }
}

/// Adds a tally's counts to the counters of `now`'s hour: one prepared upsert per counter,
/// which costs less than one statement reading them all from JSON (the JSON's parsing and
/// `json_extract`s were a quarter of this function's time); the arms' counts go to
/// `experiment_insights` the same way.
pub(super) fn add(conn: &Conn<'_>, now: DateTime<Utc>, tally: &Tally) -> StoreResult<()> {
    let hour = hour_of(now);
    if !tally.counts.is_empty() {
        let mut upsert = conn.prepare_cached(
            "insert into flow_insights (flow, step, hour, what, n) values (?1, ?2, ?3, ?4, ?5)
             on conflict (flow, step, hour, what) do update set n = n + excluded.n",
        )?;
        for c in &tally.counts {
            upsert.execute(params![c.flow, c.step, hour, c.what, c.n])?;
        }
    }
    if !tally.arms.is_empty() {
        let mut upsert = conn.prepare_cached(
            "insert into experiment_insights (experiment, arm, step, hour, what, n)
             values (?1, ?2, ?3, ?4, ?5, ?6)
             on conflict (experiment, arm, step, hour, what) do update set n = n + excluded.n",
        )?;
        for c in &tally.arms {
            upsert.execute(params![c.experiment, c.arm, c.step, hour, c.what, c.n])?;
        }
    }
    Ok(())
}
