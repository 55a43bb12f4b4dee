//! Experiments' insights (issue 58): the counters of runs by experiment and arm (`experiment_insights`), added to in the transaction of the event they count, and summed over a period.

use async_trait::async_trait;

#[async_trait]
pub trait ExperimentInsights: Send + Sync {}
