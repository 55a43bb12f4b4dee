//! The timer loop: moves due timers into their conversations as events (the store does it
//! atomically, so each fires once across processes), then wakes the inbox. Sleeps until
//! the next due time, a new timer, or the poll interval.

use super::Wakeups;
use crate::domain::Clock;
use crate::store::DynStore;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub async fn run(
    store: DynStore,
    clock: Arc<dyn Clock>,
    wake: Wakeups,
    poll_interval: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let now = clock.now();
        match store.fire_due_timers(now, 500).await {
            Ok(n) if n > 0 => {
                tracing::debug!(fired = n, "timers fired");
                wake.inbox.notify_one();
                continue;
            }
            Ok(_) => {}
            Err(e) => crate::metrics::logs::error_every!(error = %e, "firing timers failed"),
        }
        let sleep = match store.next_timer_due().await {
            Ok(Some(due)) => (due - now).to_std().unwrap_or_default().min(poll_interval),
            _ => poll_interval,
        };
        tokio::select! {
            _ = wake.timers.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}
