//! The endpoints events are delivered to, built from the config, and the delivery workers
//! started for them (one loop per endpoint, on the daemon's worker tasks).

use super::deliver::Deliverer;
use super::webhook::WebhookEndpoint;
use super::worker::EndpointWorker;
use crate::config::Config;
use crate::domain::Clock;
use crate::store::DynStore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Every endpoint of `config`: the Standard Webhooks endpoints of `events.endpoints` (and
/// the Chatwoot bridge when `chatwoot` is set).
pub fn deliverers(
    config: &Config,
    _store: &DynStore,
    _clock: &Arc<dyn Clock>,
    tracer: &crate::telemetry::Tracer,
) -> Vec<Arc<dyn Deliverer>> {
    let allow_private = config.flows.allow_private_networks;
    let mut all: Vec<Arc<dyn Deliverer>> = Vec::new();
    for e in &config.events.endpoints {
        match WebhookEndpoint::new(e, allow_private) {
            Some(w) => all.push(Arc::new(w.with_tracer(tracer.clone()))),
            None => {
                tracing::error!(endpoint = %e.name, url = %e.url, "events out: the endpoint cannot be called; it gets nothing")
            }
        }
    }
    all.extend(crate::workers::chatwoot::bridge(config, _store, _clock));
    all
}

/// Starts a delivery loop per endpoint on `workers`, until `stop`.
pub fn spawn(
    config: &Config,
    store: &DynStore,
    clock: &Arc<dyn Clock>,
    owner: &str,
    workers: &TaskTracker,
    stop: &CancellationToken,
    tracer: &crate::telemetry::Tracer,
) {
    let events = &config.events;
    for deliverer in deliverers(config, store, clock, tracer) {
        let schedule = config
            .events
            .endpoints
            .iter()
            .find(|e| e.name == deliverer.name())
            .and_then(|e| e.schedule.clone())
            .unwrap_or_else(|| events.retry.schedule.clone());
        let worker = Arc::new(EndpointWorker {
            store: store.clone(),
            clock: clock.clone(),
            deliverer,
            owner: owner.to_string(),
            schedule,
            jitter: events.retry.jitter,
            concurrency: events.concurrency,
            poll: events.poll_interval,
            lease: events.lease,
        });
        workers.spawn(worker.run(stop.clone()));
    }
}
