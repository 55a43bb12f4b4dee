//! `Insights` on PostgreSQL: the flow insights' counters (`flow_insights`). Steps add to
//! them inside their own statement or transaction (`inbox.rs`), rows locked in
//! (flow, step, hour, what) order, after the conversations, so concurrent commits never
//! deadlock on them.

use super::PgStore;
use crate::domain::insight::{hour_of, Tally};
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{InsightSums, Insights, StepDelivery, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

#[async_trait]
impl Insights for PgStore {
    async fn flow_insights(
        &self,
        since_hour: i64,
        until_hour: i64,
        flow: Option<&str>,
    ) -> StoreResult<InsightSums> {
        shared::flow_insights(&self.pool, since_hour, until_hour, flow).await
    }

    async fn step_deliveries(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<StepDelivery>> {
        shared::step_deliveries(&self.pool, since, until, flow).await
    }
}

/// The counts of a step as columns (flow, step, what, n), in lock order.
#[derive(Default)]
pub(super) struct Columns {
    pub flows: Vec<String>,
    pub steps: Vec<String>,
    pub whats: Vec<&'static str>,
    pub ns: Vec<i64>,
}

impl Columns {
    pub fn push(&mut self, tally: &Tally) {
        for c in tally.sorted() {
            self.flows.push(c.flow.clone());
            self.steps.push(c.step.clone());
            self.whats.push(c.what);
            self.ns.push(c.n);
        }
    }
}

/// Adds a step's counts to the counters of `now`'s hour: one statement, in its transaction.
pub(super) async fn add(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    tally: &Tally,
) -> StoreResult<()> {
    if tally.is_empty() {
        return Ok(());
    }
    let mut c = Columns::default();
    c.push(tally);
    sqlx::query(
        "insert into flow_insights (flow, step, hour, what, n)
         select x.flow, x.step, $1, x.what, x.n
         from unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) as x(flow, step, what, n)
         order by x.flow, x.step, x.what
         on conflict (flow, step, hour, what) do update set n = flow_insights.n + excluded.n",
    )
    .bind(hour_of(now))
    .bind(c.flows)
    .bind(c.steps)
    .bind(c.whats)
    .bind(c.ns)
    .execute(&mut *conn)
    .await?;
    add_arms(conn, now, tally).await
}

/// Adds a step's arms' counts to `experiment_insights` (`add`'s second statement).
async fn add_arms(conn: &mut PgConnection, now: DateTime<Utc>, tally: &Tally) -> StoreResult<()> {
    if tally.arms.is_empty() {
        return Ok(());
    }
    let (mut exps, mut arms, mut steps, mut whats, mut ns) =
        (vec![], vec![], vec![], vec![], vec![]);
    for c in tally.sorted_arms() {
        exps.push(c.experiment.as_str());
        arms.push(c.arm.as_str());
        steps.push(c.step.as_str());
        whats.push(c.what);
        ns.push(c.n);
    }
    sqlx::query(
        "insert into experiment_insights (experiment, arm, step, hour, what, n)
         select x.experiment, x.arm, x.step, $1, x.what, x.n
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
              as x(experiment, arm, step, what, n)
         order by x.experiment, x.arm, x.step, x.what
         on conflict (experiment, arm, step, hour, what)
         do update set n = experiment_insights.n + excluded.n",
    )
    .bind(hour_of(now))
    .bind(exps)
    .bind(arms)
    .bind(steps)
    .bind(whats)
    .bind(ns)
    .execute(conn)
    .await?;
    Ok(())
}
