//! The scheduler: for each flow with a `schedule`, records each due fire once (the unique
//! row decides between processes), applying the missed-fire policy after downtime; then
//! runs fires: streams the audience in pages, one transaction per page holding the page's
//! events and the new cursor, so a run killed half-way resumes where it stopped and no
//! contact gets the flow twice for one fire. Before each page it waits while the sender
//! has more than `max_backlog` work pending, which paces the run to what the outbox
//! delivers.

use super::Wakeups;
use crate::config::{Config, SchedulerConfig};
use crate::domain::{Clock, ScheduledRun, Timer};
use crate::engine::FlowEngine;
use crate::flows::schedule::{Member, MissedPolicy};
use crate::flows::Flow;
use crate::store::{DynStore, NewEvent, ScheduleFire, StoreError, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub struct Scheduler {
    pub store: DynStore,
    pub engine: Arc<FlowEngine>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub owner: String,
    pub wake: Wakeups,
    /// When this process's previous round began: a fire due after it came due while this
    /// process was watching, so it is on time however far the clock moved since (a manual
    /// clock's jump, a suspended machine), never "missed while Parley was down".
    pub last_round: std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>,
}

impl Scheduler {
    fn settings(&self) -> &SchedulerConfig {
        &self.config.scheduler
    }

    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(e) = self.tick(&shutdown).await {
                crate::metrics::logs::error_every!(error = %e, "scheduler round failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings().poll_interval) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// One round: record due fires, then run every fire that needs a runner.
    pub async fn tick(&self, shutdown: &CancellationToken) -> StoreResult<()> {
        let flows = self.engine.flows();
        let previous = self
            .last_round
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(self.clock.now());
        for flow in flows.flows() {
            if flow.schedule.is_some() {
                self.record_due(flow, previous).await?;
            }
        }
        while !shutdown.is_cancelled() {
            let Some(fire) = self
                .store
                .claim_schedule_fire(&self.owner, self.clock.now(), self.settings().lease)
                .await?
            else {
                break;
            };
            match self.run_fire(&fire, shutdown).await {
                Ok(()) => {}
                Err(StoreError::LeaseLost { .. }) => tracing::warn!(
                    fire = fire.id,
                    "another process took over this schedule run"
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn record_due(
        &self,
        flow: &Flow,
        previous_round: Option<chrono::DateTime<chrono::Utc>>,
    ) -> StoreResult<()> {
        let Some(schedule) = &flow.schedule else {
            return Ok(());
        };
        let now = self.clock.now();
        let Some(last) = self.store.last_schedule_fire(&flow.id).await? else {
            // First sight: fires count from now on.
            self.store
                .record_schedule_fire(&flow.id, now, true, now)
                .await?;
            return Ok(());
        };
        let Some(due) = schedule.latest_due(last, now) else {
            return Ok(());
        };
        // A fire is on time when it came due after this process's previous round, or
        // within two scheduler rounds (plus a minute of slack) of it; later than that it
        // was missed while Parley was down.
        let grace = chrono::Duration::from_std(self.settings().poll_interval * 2)
            .unwrap_or_default()
            + chrono::Duration::minutes(1);
        let watched = previous_round.is_some_and(|previous| previous < due);
        let missed = !watched && now - due > grace;
        let run = !missed || schedule.missed == MissedPolicy::RunOnce;
        if self
            .store
            .record_schedule_fire(&flow.id, due, !run, now)
            .await?
        {
            if run {
                tracing::info!(flow = %flow.id, fire_at = %due, missed, "schedule fired");
            } else {
                tracing::info!(flow = %flow.id, fire_at = %due, "missed schedule fire skipped (missed: skip)");
            }
        }
        Ok(())
    }

    async fn run_fire(&self, fire: &ScheduleFire, shutdown: &CancellationToken) -> StoreResult<()> {
        let settings = self.settings();
        let flow = self.engine.flows().get(&fire.flow_id).cloned();
        let Some((flow, schedule)) = flow.and_then(|f| f.schedule.clone().map(|s| (f, s))) else {
            tracing::warn!(flow = %fire.flow_id, "scheduled flow is gone; its fire ends");
            return self
                .store
                .finish_schedule_fire(fire.id, &self.owner, self.clock.now())
                .await;
        };
        // The same rule `parley check` applies, so a schedule it accepts always has a sender.
        let ids: Vec<i64> = self.config.senders.iter().map(|s| s.id).collect();
        let sender = match schedule.sender_among(&ids) {
            Ok(s) => s,
            Err(why) => {
                tracing::error!(flow = %flow.id, "{why}; add `sender:` to the schedule");
                return self
                    .store
                    .finish_schedule_fire(fire.id, &self.owner, self.clock.now())
                    .await;
            }
        };
        let mut cursor = fire.cursor;
        let mut reached = 0usize;
        loop {
            if shutdown.is_cancelled() {
                // Leave the fire leased; its lease runs out and a process resumes it.
                return Ok(());
            }
            while self.store.backlog(sender).await? > i64::from(settings.max_backlog) {
                self.store
                    .schedule_progress(
                        fire.id,
                        &self.owner,
                        cursor,
                        &[],
                        self.clock.now(),
                        settings.lease,
                    )
                    .await?;
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.cancelled() => return Ok(()),
                }
            }
            let page = self
                .store
                .audience_page(sender, cursor, i64::from(settings.page_size))
                .await?;
            let Some(last) = page.last() else { break };
            let now = self.clock.now();
            let next_cursor = last.conversation_id;
            let events: Vec<NewEvent> = page
                .iter()
                .filter(|row| {
                    let member = Member {
                        tags: &row.contact.tags,
                        attributes: &row.contact.attributes,
                        last_inbound_at: row.last_inbound_at,
                        state: &row.state,
                    };
                    schedule
                        .audience
                        .matches(&member, now, schedule.frequency_cap)
                })
                .map(|row| NewEvent {
                    conversation_id: row.conversation_id,
                    sender_id: sender,
                    dedupe_key: Some(format!("schedule:{}:{}", fire.id, row.conversation_id)),
                    event: Timer::Scheduled(ScheduledRun {
                        flow: flow.id.clone(),
                        fire_id: fire.id,
                    }),
                    now,
                })
                .collect();
            reached += events.len();
            self.store
                .schedule_progress(
                    fire.id,
                    &self.owner,
                    next_cursor,
                    &events,
                    now,
                    settings.lease,
                )
                .await?;
            if !events.is_empty() {
                self.wake.inbox.notify_one();
            }
            cursor = next_cursor;
        }
        self.store
            .finish_schedule_fire(fire.id, &self.owner, self.clock.now())
            .await?;
        tracing::info!(flow = %flow.id, fire = fire.id, reached, "schedule run finished");
        Ok(())
    }
}
