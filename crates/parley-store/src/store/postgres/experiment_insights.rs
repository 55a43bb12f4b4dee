//! `ExperimentInsights` on PostgreSQL: the arms' counters (`experiment_insights`), written by
//! `insights::add` in the commit of a step, summed here.

use super::PgStore;
use crate::store::experiment_insights::{read_arm_costs, read_experiment_insights};
use crate::store::{ArmCost, ArmInsightSums, ExperimentInsights, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ExperimentInsights for PgStore {
    async fn experiment_insights(
        &self,
        since_hour: i64,
        until_hour: i64,
        flow: Option<&str>,
    ) -> StoreResult<ArmInsightSums> {
        read_experiment_insights!(&self.pool, since_hour, until_hour, flow)
    }

    async fn arm_costs(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        experiment: &str,
    ) -> StoreResult<Vec<ArmCost>> {
        read_arm_costs!(
            &self.pool,
            since,
            until,
            experiment,
            "(v.state -> 'experiments' -> cast($3 as text) ->> 'arm')",
            experiment
        )
    }
}
