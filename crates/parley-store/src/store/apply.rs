//! Decisions both backends make the same way, kept as pure functions so the SQLite and
//! PostgreSQL code only moves rows: whether a delivery status applies and what it enqueues,
//! how a conversation's state is read, and when a lease ends. No I/O here.

use super::{NewOutbound, Origin, StoreError, StoreResult};
use crate::domain::error_class::WINDOW_CLOSED_CODES;
use crate::domain::ConversationState;
use crate::domain::{
    DeliveryStatus, OutboundContent, OutboundMessage, StatusUpdate, WindowFallback,
};
use chrono::{DateTime, TimeDelta, Utc};
use std::time::Duration;

/// What a status webhook does to a stored outbound message.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct StatusChange {
    pub status: DeliveryStatus,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// A `failed` whose code means the customer-service window was closed.
    pub window_closed: bool,
}

/// `None` when the webhook is a repeat or arrived out of order.
pub(super) fn status_change(
    current: DeliveryStatus,
    update: &StatusUpdate,
) -> Option<StatusChange> {
    if !current.should_advance_to(update.status) {
        return None;
    }
    let failed = update.status == DeliveryStatus::Failed;
    let error = update.error.as_ref().filter(|_| failed);
    Some(StatusChange {
        status: update.status,
        error_code: error.map(|e| e.code),
        error_title: error.map(|e| e.title.clone()),
        window_closed: error.is_some_and(|e| WINDOW_CLOSED_CODES.contains(&e.code)),
    })
}

/// The marketing class of a `failed` status's code (131049 held back, 131050 stopped), if
/// it has one.
pub(super) fn marketing_class(change: &StatusChange) -> Option<crate::domain::ErrorClass> {
    use crate::domain::ErrorClass;
    let (class, _) = crate::domain::error_class::code_info(change.error_code?)?;
    matches!(
        class,
        ErrorClass::MarketingLimited | ErrorClass::MarketingStopped
    )
    .then_some(class)
}

/// The marketing class of a failed send's code (see `marketing_class`): recorded with the
/// failure in one transaction.
pub(super) fn marketing_outcome(outcome: &super::SendOutcome) -> Option<crate::domain::ErrorClass> {
    use crate::domain::ErrorClass;
    let super::SendOutcome::Failed {
        code: Some(code), ..
    } = outcome
    else {
        return None;
    };
    let (class, _) = crate::domain::error_class::code_info(*code)?;
    matches!(
        class,
        ErrorClass::MarketingLimited | ErrorClass::MarketingStopped
    )
    .then_some(class)
}

/// The template to enqueue when a free-form message failed because the window was closed
/// and its step declared a template fallback. Addressed like the original message.
pub(super) fn window_fallback(
    change: &StatusChange,
    sender_id: i64,
    conversation_id: i64,
    message: &OutboundMessage,
    fallback: &WindowFallback,
    attribution: (Option<String>, Option<String>),
) -> Option<NewOutbound> {
    let WindowFallback::Template(template) = fallback else {
        return None;
    };
    // A message already converted to its template has nothing left to fall back to.
    if !change.window_closed || !message.content.is_freeform() {
        return None;
    }
    Some(NewOutbound {
        sender_id,
        conversation_id,
        message: OutboundMessage {
            to: message.to.clone(),
            content: OutboundContent::Template(template.clone()),
            trace: None,
        },
        fallback: WindowFallback::Fail,
        origin: Origin::Fallback,
        // The step that sent the free-form message also sent its fallback. Its cost is
        // predicted by the outbox when it leaves (no rate card in the store).
        flow: attribution.0,
        step: attribution.1,
        cost: None,
    })
}

/// A status's `pricing` as the ledger records it: the category in Parley's words when it
/// is one Parley prices, whether it is billable (from `type` when Meta left `billable` out).
pub(crate) struct ActualPricing {
    pub category: Option<String>,
    pub kind: Option<String>,
    pub billable: Option<bool>,
    pub model: Option<String>,
}

pub(crate) fn actual_pricing(p: &crate::domain::pricing::StatusPricing) -> ActualPricing {
    use crate::domain::pricing::{Category, PricingType};
    let kind = p.kind.as_deref().and_then(PricingType::parse);
    ActualPricing {
        category: p
            .category
            .as_deref()
            .map(|c| Category::parse(c).map_or_else(|| c.to_string(), |c| c.as_str().to_string())),
        kind: p.kind.clone(),
        billable: p.billable.or(kind.map(|k| k.billable())),
        model: p.pricing_model.clone(),
    }
}

/// A contact's mutable fields, as read inside the step's transaction.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ContactFields {
    pub name: Option<String>,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
}

/// What a send still queued when its customer opted out says (skipped, not sent). The
/// `opted_out:` prefix is what broadcast progress counts (`sql::BROADCAST_COUNTS`).
pub(super) const OPTED_OUT_BEFORE_SEND: &str = "opted_out: the customer opted out (STOP, a \
flow setting `contact.opted_out`, or an import with opted_in: no) before it was sent; not sent";

/// Which queued sends an opt-out stops: a flow's (replies, scheduled flows, their fallback
/// templates) and a broadcast's. An API send is the operator's own decision and still goes.
pub(super) const STOPPED_BY_OPT_OUT: &str = "('flow', 'fallback', 'broadcast')";

/// A conversation row's `state` column: the engine's state, read once here. Unreadable
/// JSON (written by a newer version, or damaged) starts afresh, as it always has.
pub(super) fn conversation_state(value: &serde_json::Value) -> ConversationState {
    ConversationState::parse(value).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "conversation state unreadable; starting fresh");
        ConversationState::default()
    })
}

/// `conversation_state` of a state column's text: text that is not JSON Parley can read
/// (damaged, or nested deeper than the reader goes) starts afresh too, rather than refusing
/// every message of the conversation from then on.
pub(super) fn conversation_state_text(text: &str) -> ConversationState {
    match serde_json::from_str(text) {
        Ok(value) => conversation_state(&value),
        Err(e) => {
            tracing::warn!(error = %e, "conversation state unreadable; starting fresh");
            ConversationState::default()
        }
    }
}

/// What a send whose lease ran out without an outcome says while it waits: its process
/// stopped, perhaps after the provider took it. A status naming it (`StatusUpdate::outbox_id`)
/// settles it meanwhile; otherwise it is sent again after the wait, once.
pub(super) const IN_DOUBT: &str = "the process sending it stopped before recording the outcome; \
waiting for a status naming it before sending it again";

pub(super) fn lease_until(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    let lease = TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX);
    now.checked_add_signed(lease)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Until when a step's first reply is leased to the step's owner when handed to its outbox
/// (`Inbox::commit_step_and_claim`): `None` when nothing is to be handed over.
pub(super) fn hand_until(
    step: &crate::store::StepCommit,
    outbox_lease: Option<Duration>,
) -> Option<DateTime<Utc>> {
    outbox_lease
        .filter(|_| !step.outbound.is_empty())
        .map(|lease| {
            step.hand_until
                .unwrap_or_else(|| lease_until(step.queued_at, lease))
        })
}

/// The claimed conversations whose work could be read (`Inbox::claim_work`). One whose rows
/// cannot be read is logged and left out: its lease runs out and it is claimed again later.
/// A transient error fails the whole claim.
pub(super) fn readable_work<W>(
    loaded: impl IntoIterator<Item = (super::Id, StoreResult<W>)>,
) -> StoreResult<Vec<W>> {
    let mut work = Vec::new();
    for (id, load) in loaded {
        match load {
            Ok(w) => work.push(w),
            Err(e) if e.is_transient() => return Err(e),
            Err(e) => {
                tracing::error!(conversation_id = id, error = %e, "loading a conversation failed; will retry after the lease expires")
            }
        }
    }
    Ok(work)
}

pub(super) fn status(text: &str) -> StoreResult<DeliveryStatus> {
    DeliveryStatus::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown status {text:?}")))
}

pub(super) fn origin(text: &str) -> StoreResult<Origin> {
    Origin::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown origin {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderError;

    /// A conversation whose rows cannot be read is left out of the claim (its lease runs
    /// out and it is claimed again); a transient error fails the whole claim.
    #[test]
    fn readable_work_leaves_out_unreadable_conversations_and_fails_on_transient_errors() {
        let corrupt = || Err(StoreError::Corrupt("bad row".into()));
        let work = readable_work([(1, Ok("a")), (2, corrupt()), (3, Ok("c"))]).unwrap();
        assert_eq!(work, vec!["a", "c"]);
        let transient = Err(StoreError::Database(sqlx::Error::PoolTimedOut));
        assert!(readable_work([(1, Ok("a")), (2, transient), (3, corrupt())]).is_err());
    }

    fn update(status: DeliveryStatus, code: Option<i64>) -> StatusUpdate {
        StatusUpdate {
            provider_message_id: "wamid.1".into(),
            status,
            timestamp: None,
            recipient: None,
            outbox_id: None,
            pricing: None,
            error: code.map(|code| ProviderError {
                code,
                title: "t".into(),
                details: None,
            }),
        }
    }

    #[test]
    fn closed_window_codes_mark_the_failure() {
        let change = status_change(
            DeliveryStatus::Accepted,
            &update(DeliveryStatus::Failed, Some(131047)),
        );
        assert!(change.is_some_and(|c| c.window_closed && c.error_code == Some(131047)));
        let change = status_change(
            DeliveryStatus::Sent,
            &update(DeliveryStatus::Failed, Some(131026)),
        );
        assert!(change.is_some_and(|c| !c.window_closed));
        assert_eq!(
            status_change(
                DeliveryStatus::Failed,
                &update(DeliveryStatus::Failed, Some(131047))
            ),
            None
        );
    }
}
