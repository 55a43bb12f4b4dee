//! `Insights` on SQLite: the flow insights' counters (`flow_insights`), read through the
//! reader pool; `add` is what `commit_step` runs on the writer thread, and the writer
//! writes the counts of a batch's jobs once, before its commit (`write_tally`).

use super::SqliteStore;
use crate::domain::insight::{hour_of, Count};
use crate::store::sql::{insight_row, step_delivery, FLOW_INSIGHTS, STEP_DELIVERIES};
use crate::store::{insights, InsightSums, Insights, StepDelivery, StoreResult, MAX_INSIGHT_ROWS};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};
use std::cell::RefCell;
use std::collections::HashMap;

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

/// Adds a tally's counts to the counters of `now`'s hour, at the commit of the batch the
/// calling job runs in: the counts wait on the writer's thread (`staged`) until the job
/// ends, are dropped if it failed (its savepoint undone), and are summed over the batch's
/// jobs, so a counter that many steps of one batch add to is written once
/// (`write_tally`, called by the writer before each commit). Near saturation a batch holds
/// tens of steps of the same flows: one upsert per counter and batch instead of per step.
pub(super) fn add(now: DateTime<Utc>, counts: &[Count]) {
    let hour = hour_of(now);
    TALLY.with_borrow_mut(|t| t.staged.extend(counts.iter().map(|c| (hour, c.clone()))));
}

type Key = (String, String, i64, &'static str);

/// Counts waiting on the writer's thread: the running job's (`staged`), and those of the
/// jobs of this batch that succeeded (`batch`).
#[derive(Default)]
struct Tally {
    staged: Vec<(i64, Count)>,
    batch: HashMap<Key, i64>,
}

thread_local! {
    static TALLY: RefCell<Tally> = RefCell::new(Tally::default());
}

/// The running job ended: its counts join the batch's if it succeeded, or are dropped.
pub(super) fn job_ended(succeeded: bool) {
    TALLY.with_borrow_mut(|t| {
        if !succeeded {
            t.staged.clear();
            return;
        }
        let Tally { staged, batch } = t;
        for (hour, c) in staged.drain(..) {
            *batch.entry((c.flow, c.step, hour, c.what)).or_insert(0) += c.n;
        }
    });
}

/// Whether counts wait to be written with the next commit.
pub(super) fn tally_waiting() -> bool {
    TALLY.with_borrow(|t| !t.batch.is_empty())
}

/// Writes the batch's counts, one prepared upsert per counter (cheaper than one statement
/// reading them all from JSON), in the transaction about to commit.
pub(super) fn write_tally(conn: &Connection) -> StoreResult<()> {
    let batch = TALLY.with_borrow_mut(|t| std::mem::take(&mut t.batch));
    let mut upsert = conn.prepare_cached(
        "insert into flow_insights (flow, step, hour, what, n) values (?1, ?2, ?3, ?4, ?5)
         on conflict (flow, step, hour, what) do update set n = n + excluded.n",
    )?;
    for ((flow, step, hour, what), n) in &batch {
        upsert.execute(params![flow, step, hour, what, n])?;
    }
    Ok(())
}

/// Drops every count waiting: the transaction they were for is not committed.
pub(super) fn drop_tally() {
    TALLY.with_borrow_mut(|t| {
        t.staged.clear();
        t.batch.clear();
    });
}
