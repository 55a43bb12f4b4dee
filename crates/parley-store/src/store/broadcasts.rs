//! Broadcasts in the store: the broadcast row (its state, audience cursor and lease), one
//! row per recipient, and the portfolio's reach. The values the trait takes and gives.

use super::Id;
use crate::domain::broadcast::BroadcastState;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A broadcast as asked for, checked before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBroadcast {
    pub name: String,
    pub sender_id: i64,
    pub template_name: String,
    pub template_language: String,
    /// `marketing`, `utility`, `authentication` when known.
    pub category: Option<String>,
    /// The `VariableMap` as JSON.
    pub variables: serde_json::Value,
    /// The audience as JSON; `None` when the recipients were given as a list.
    pub audience: Option<serde_json::Value>,
    pub frequency_cap_secs: Option<i64>,
    pub reply_flow: Option<String>,
    pub portfolio: Option<String>,
    /// The portfolio's messaging limit (`None`: unlimited or no portfolio).
    pub messaging_limit: Option<i64>,
    pub start_at: DateTime<Utc>,
}

/// A broadcast as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Broadcast {
    pub id: Id,
    pub name: String,
    pub sender_id: i64,
    pub template_name: String,
    pub template_language: String,
    pub category: Option<String>,
    pub variables: serde_json::Value,
    pub audience: Option<serde_json::Value>,
    pub frequency_cap_secs: Option<i64>,
    pub reply_flow: Option<String>,
    pub portfolio: Option<String>,
    pub messaging_limit: Option<i64>,
    pub start_at: DateTime<Utc>,
    pub state: BroadcastState,
    /// Every recipient is in the recipients table.
    pub prepared: bool,
    /// The last conversation id of the audience already read.
    pub cursor: Id,
    /// Sending waits until then (the portfolio's messaging limit is reached).
    pub wait_until: Option<DateTime<Utc>>,
    pub wait_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One recipient to record: its send's rendered message, or why it is skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecipient {
    /// `None`: the contact has no conversation with the broadcast's sender yet; one is
    /// created with the recipient.
    pub conversation_id: Option<Id>,
    pub contact_id: Id,
    /// `Ok(outbound message JSON)` or `Err(skip reason code)`.
    pub outcome: Result<String, String>,
}

/// How a broadcast page prices each send it queues: the cost ledger's prediction, written
/// in the transaction that queues the send (as a step's replies are), with the window and
/// the free-entry-point window of the recipient's conversation as they are then.
#[derive(Debug, Clone)]
pub struct SendPricing {
    pub pricer: std::sync::Arc<crate::domain::pricing::Pricer>,
    pub window: crate::domain::WindowPolicy,
}

impl SendPricing {
    /// The prediction for a queued send: `payload` is its `OutboundMessage` as stored,
    /// `entry_point` the conversation state's `entry_point` as JSON text (if any).
    pub fn predict(
        &self,
        payload: &str,
        last_inbound_at: Option<DateTime<Utc>>,
        entry_point: Option<&str>,
        now: DateTime<Utc>,
    ) -> super::StoreResult<crate::domain::pricing::CostPrediction> {
        let message: crate::domain::OutboundMessage = serde_json::from_str(payload)
            .map_err(|e| super::StoreError::Corrupt(format!("broadcast payload: {e}")))?;
        // A damaged entry point prices as none (the message is then charged).
        let entry_point: Option<crate::domain::pricing::EntryPoint> =
            entry_point.and_then(|text| serde_json::from_str(text).ok());
        let open = crate::domain::pricing::service_window_open(&self.window, last_inbound_at, now);
        Ok(self
            .pricer
            .predict(
                &message.content,
                &message.to,
                open,
                entry_point.as_ref(),
                now,
            )
            .cost)
    }

    /// Counts committed broadcast sends' predictions (by sender) in Prometheus, under flow
    /// `broadcast`.
    pub fn count(priced: &[(i64, crate::domain::pricing::CostPrediction)]) {
        for (sender_id, cost) in priced {
            crate::metrics::message_priced(
                *sender_id,
                "broadcast",
                cost.category.as_str(),
                cost.pricing_type.as_str(),
                cost.price_micros,
            );
        }
    }
}

/// What queueing one page of sends did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageOutcome {
    /// This many sends were queued with their recipients (maybe 0 while some remain).
    Queued(usize),
    /// The portfolio reached its messaging limit: nothing more until `until`.
    LimitReached { until: DateTime<Utc>, queued: usize },
    /// No recipient is left: the broadcast is done.
    Finished,
    /// The broadcast was paused or cancelled meanwhile (or is not ours any more).
    Stopped,
}

/// How a broadcast's recipients stand, counted from the database: one row per recipient
/// state, skip reason, outbound status and error code (a row of `sql::BROADCAST_COUNTS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx_macros::FromRow)]
pub struct RecipientCount {
    /// `pending`, `queued` or `skipped`.
    pub state: String,
    pub reason: Option<String>,
    /// The status of the recipient's latest send (`queued`, `accepted`, `sent`, …).
    pub status: Option<String>,
    pub error_code: Option<i64>,
    /// A copy of a send WhatsApp held back (131049) waits for its day.
    pub deferred: bool,
    /// Why its latest send was skipped at send time, when that was not the broadcast's
    /// cancellation or a marketing stop: `opted_out`.
    pub skip_reason: Option<String>,
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// Per-recipient detail, for tests and the CLI (a row of `sql::BROADCAST_RECIPIENTS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx_macros::FromRow)]
pub struct RecipientRow {
    pub id: Id,
    pub conversation_id: Id,
    pub contact_id: Id,
    pub state: String,
    pub reason: Option<String>,
    pub outbound_id: Option<Id>,
}

/// A contact an audience is matched against, with its conversation with the broadcast's
/// sender if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub contact: crate::domain::Contact,
    pub conversation_id: Option<Id>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub state: crate::domain::ConversationState,
}

/// The page size of `broadcast_recipients` reads.
pub const RECIPIENTS_PAGE: i64 = 1_000;

/// What a broadcast's send skipped at send time says (`Outbox::broadcast_send_stop`), read
/// back by the progress (`sql::BROADCAST_COUNTS`: `opted_out`).
pub fn broadcast_stop(cancelled: bool, opted_out: bool) -> Option<String> {
    if cancelled {
        Some("the broadcast was cancelled".into())
    } else if opted_out {
        Some(
            "opted_out: the customer opted out after the broadcast was planned (STOP, or an \
             import with opted_in: no); not sent"
                .into(),
        )
    } else {
        None
    }
}
