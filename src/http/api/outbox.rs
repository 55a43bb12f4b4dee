//! What every API send shares: finding the sender and whether it is online, the optional
//! spend limit, and handing the message to the outbox (the same queue, window rule and
//! statuses as flow sends) and waking it.

use crate::config::{SenderConfig, SpendPeriod};
use crate::domain::{OutboundMessage, WindowFallback};
use crate::http::AppState;
use crate::store::{Id, NewOutbound, Origin, StoreResult};
use chrono::{Datelike, TimeZone, Utc};

/// `sender_id` → its config, or `None` when no such sender is configured.
pub fn sender(st: &AppState, id: i64) -> Option<&SenderConfig> {
    st.config.sender(id)
}

/// Senders stopped after a 190/368-class error are "offline" until restarted.
pub async fn is_offline(st: &AppState, id: i64) -> StoreResult<bool> {
    Ok(st
        .store
        .stopped_senders()
        .await?
        .iter()
        .any(|s| s.sender_id == id))
}

/// Whether one more message of `kind` (`OutboundContent::kind_name` form: `text`,
/// `template`, `image`, …) would take the sender past its spend limit.
pub async fn over_budget(st: &AppState, sender: &SenderConfig, kind: &str) -> StoreResult<bool> {
    let Some(limit) = &sender.spend_limit else {
        return Ok(false);
    };
    let now = st.clock.now();
    let since = match limit.period {
        SpendPeriod::Total => None,
        SpendPeriod::Day => Utc
            .with_ymd_and_hms(now.year(), now.month(), now.day(), 0, 0, 0)
            .single(),
        SpendPeriod::Month => Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single(),
    };
    let spent: f64 = st
        .store
        .outbound_kind_counts(sender.id, since)
        .await?
        .iter()
        .map(|k| k.count as f64 * limit.prices.of(&k.kind))
        .sum();
    // A small tolerance so that 0.1 + 0.2 does not refuse a budget of exactly 0.3.
    Ok(spent + limit.prices.of(kind) > limit.amount + 1e-9)
}

/// Queues one message of an API request and wakes the outbox. Free-form messages fail
/// (never fall back) if the window closed before they leave.
pub async fn enqueue(
    st: &AppState,
    sender_id: i64,
    conversation_id: Id,
    message: OutboundMessage,
) -> StoreResult<Id> {
    let ids = st
        .store
        .enqueue(
            &[NewOutbound {
                sender_id,
                conversation_id,
                message,
                fallback: WindowFallback::Fail,
                origin: Origin::Api,
            }],
            st.clock.now(),
        )
        .await?;
    st.wake.outbox.notify_one();
    Ok(ids.first().copied().unwrap_or_default())
}

/// The id the API gives a queued message before the provider's id is known: the platforms
/// answer with a provider SID at once, Parley sends asynchronously.
pub fn parley_message_id(id: Id) -> String {
    format!("parley-{id}")
}
