//! Delivery statuses for accepted sandbox sends, delivered into Parley the way a provider's
//! status webhooks are: through the attached `StatusSink` (the ingestor), after configurable delays, optionally
//! duplicated or in reverse order (which the store must shrug off).

use super::SandboxRules;
use crate::domain::{Clock, DeliveryStatus, ProviderError, StatusUpdate};
use std::sync::Arc;
use std::time::Duration;

/// A refused status is tried again this many times, waiting 50 ms, then twice as long each
/// time up to 1 s (about 5 s in all), as a provider retries a webhook answered 503.
const STATUS_TRIES: u32 = 8;
const STATUS_RETRY_FIRST: Duration = Duration::from_millis(50);
const STATUS_RETRY_MAX: Duration = Duration::from_secs(1);

/// The statuses to send and when, relative to the send.
pub(super) fn plan(rules: &SandboxRules) -> Vec<(Duration, DeliveryStatus)> {
    let s = &rules.config.statuses;
    if !s.enabled {
        return Vec::new();
    }
    let mut delays: Vec<(Duration, DeliveryStatus)> = [
        (s.sent_after, DeliveryStatus::Sent),
        (s.delivered_after, DeliveryStatus::Delivered),
        (s.read_after, DeliveryStatus::Read),
    ]
    .into_iter()
    .filter_map(|(d, st)| d.map(|d| (d, st)))
    .collect();
    delays.sort_by_key(|(d, _)| *d);
    if s.out_of_order {
        let times: Vec<Duration> = delays.iter().map(|(d, _)| *d).collect();
        let order: Vec<DeliveryStatus> = delays.iter().rev().map(|(_, st)| *st).collect();
        delays = times.into_iter().zip(order).collect();
    }
    if s.duplicates {
        delays = delays.into_iter().flat_map(|x| [x, x]).collect();
    }
    delays
}

pub(super) fn spawn(
    rules: Arc<SandboxRules>,
    clock: Arc<dyn Clock>,
    sender_id: i64,
    provider_message_id: String,
    recipient: String,
    pricing: Option<crate::domain::pricing::StatusPricing>,
    held: bool,
) {
    // A message held back for the customer's marketing limit only ever fails.
    let plan = if held {
        let after = rules.config.statuses.sent_after.unwrap_or_default();
        vec![(after, DeliveryStatus::Failed)]
    } else {
        plan(&rules)
    };
    let Some(sink) = rules.statuses.clone() else {
        return;
    };
    if plan.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let start = tokio::time::Instant::now();
        for (after, status) in plan {
            tokio::time::sleep_until(start + after).await;
            let now = clock.now();
            let status = StatusUpdate {
                provider_message_id: provider_message_id.clone(),
                status,
                timestamp: Some(now),
                recipient: Some(recipient.trim_start_matches('+').to_string()),
                error: (status == DeliveryStatus::Failed).then(|| ProviderError {
                    code: super::rules::MARKETING_LIMITED,
                    title: "Message failed to send because of an unknown error".into(),
                    details: Some(
                        "Message not delivered to maintain healthy ecosystem engagement.".into(),
                    ),
                }),
                outbox_id: None,
                // Meta puts `pricing` on `sent` and on `delivered` (not on `read`).
                pricing: pricing.clone().filter(|_| status != DeliveryStatus::Read),
            };
            // Refused (the database busy or failing), it is tried again as Meta retries a
            // webhook answered 503, a few times over a few seconds, then given up.
            let mut backoff = STATUS_RETRY_FIRST;
            let mut tries = 0;
            loop {
                match sink.deliver_status(sender_id, status.clone(), now).await {
                    Ok(known) => {
                        if !known {
                            tracing::debug!(%provider_message_id, "sandbox status for a message not stored yet");
                        }
                        break;
                    }
                    Err(e) if tries < STATUS_TRIES => {
                        tracing::debug!(error = %e, retry_in = ?backoff, "sandbox status refused; trying again");
                        tries += 1;
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(STATUS_RETRY_MAX);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "sandbox status not delivered");
                        return;
                    }
                }
            }
        }
    });
}
