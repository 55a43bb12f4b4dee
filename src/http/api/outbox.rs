//! What every API send shares: finding the sender and whether it is online, the optional
//! spend limit, and handing the message to the outbox (the same queue, window rule and
//! statuses as flow sends) and waking it.

use crate::config::{SenderConfig, SpendPeriod};
use crate::domain::pricing::CostPrediction;
use crate::domain::{ContactRef, Conversation, OutboundContent, OutboundMessage, WindowFallback};
use crate::http::state::AppState;
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

/// What `content` sent to `to` in `conversation` (`None`: a customer never seen) is
/// predicted to cost now, and the conversation's entry point as the send leaves it.
pub fn price(
    st: &AppState,
    conversation: Option<&Conversation>,
    to: &ContactRef,
    content: &OutboundContent,
) -> (CostPrediction, Option<crate::domain::pricing::EntryPoint>) {
    let now = st.clock.now();
    let last = conversation.and_then(|c| c.last_inbound_at);
    let policy = st.config.window.policy();
    let mut entry_point = conversation.and_then(|c| c.state.entry_point);
    let cost = st.pricer.price_send(
        content,
        &WindowFallback::Fail,
        to,
        policy.state(last, now).is_open,
        crate::domain::pricing::service_window_open(&policy, last, now),
        &mut entry_point,
        now,
    );
    (cost, entry_point)
}

/// Whether one more message predicted to cost `price_micros` would take the sender past
/// its spend limit: the ledger's predicted prices of the period's messages that are not
/// failed or skipped, plus this one, against `amount` in the rate card's currency.
pub async fn over_budget(
    st: &AppState,
    sender: &SenderConfig,
    price_micros: i64,
) -> StoreResult<bool> {
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
    let spent = st.store.predicted_spend(sender.id, since).await?;
    Ok(spent.saturating_add(price_micros) > limit.amount_micros())
}

/// Queues one message of an API request, priced in the ledger, and wakes the outbox.
/// Free-form messages fail (never fall back) if the window closed before they leave.
pub async fn enqueue(
    st: &AppState,
    sender_id: i64,
    conversation: &Conversation,
    message: OutboundMessage,
) -> StoreResult<Id> {
    let (cost, _) = price(st, Some(conversation), &message.to, &message.content);
    let ids = st
        .store
        .enqueue(
            &[NewOutbound {
                sender_id,
                conversation_id: conversation.id,
                message,
                fallback: WindowFallback::Fail,
                origin: Origin::Api,
                flow: None,
                step: None,
                cost: Some(cost.clone()),
            }],
            st.clock.now(),
        )
        .await?;
    crate::metrics::message_priced(
        sender_id,
        "api",
        cost.category.as_str(),
        cost.pricing_type.as_str(),
        cost.price_micros,
    );
    st.wake.outbox.notify_one();
    Ok(ids.first().copied().unwrap_or_default())
}

/// The id the API gives a queued message before the provider's id is known: the platforms
/// answer with a provider SID at once, Parley sends asynchronously.
pub fn parley_message_id(id: Id) -> String {
    format!("parley-{id}")
}
