//! The values the store takes and gives back.

use super::{Id, StoreResult};
use crate::domain::{
    Contact, ContactPatch, Conversation, ConversationState, DeliveryStatus, InboundMessage,
    NewTimer, OutboundContent, OutboundMessage, StatusUpdate, StoredEvent, Timer, TimerKind,
    WindowFallback,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One webhook item bound for a configured sender.
#[allow(clippy::large_enum_variant)] // built per webhook and moved; see `WebhookItem`
#[derive(Debug, Clone, PartialEq)]
pub enum IngestItem {
    Message {
        sender_id: i64,
        message: InboundMessage,
        received_at: DateTime<Utc>,
    },
    Status {
        sender_id: i64,
        status: StatusUpdate,
        received_at: DateTime<Utc>,
    },
    /// A customer's number or business-scoped user id changed: the contact moves (merging
    /// with one already known under the new identity), with its conversations.
    IdentityChange {
        sender_id: i64,
        change: crate::domain::IdentityChange,
        received_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new message, now waiting for its conversation's worker.
    Stored { event_id: Id, conversation_id: Id },
    /// Seen before (same sender and provider message id): nothing changed.
    Duplicate,
    /// The outbound message moved to this status.
    StatusApplied {
        outbound_id: Id,
        status: DeliveryStatus,
        /// Set when a closed-window failure enqueued the message's fallback template.
        fallback_id: Option<Id>,
    },
    /// Repeated or out-of-order status: nothing changed.
    StatusIgnored { outbound_id: Id },
    /// No outbound message has this provider id (sent by another system, or purged).
    StatusUnknownMessage,
    /// An identity change was applied to this contact (`None`: nobody Parley knows).
    IdentityApplied { contact_id: Option<Id> },
}

/// A conversation's next unprocessed events, with what the engine needs to handle them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationWork {
    pub conversation: Conversation,
    pub contact: Contact,
    pub events: Vec<StoredEvent>,
    /// The latest broadcast sent to this customer that names a `reply_flow`.
    pub broadcast_reply: Option<crate::domain::broadcast::BroadcastReply>,
}

/// A conversation an ingest claimed for the inbox (`Ingest::ingest_and_claim`): its id at
/// once, and its work either read from the rows the ingest loaded when the inbox runs it
/// (so that the webhook's acknowledgement does not wait for the JSON to be parsed), or
/// loaded by the worker (`load_work`, with its retries), where the ingest's commit only
/// took the lease.
pub struct ClaimedWork {
    pub conversation_id: Id,
    read: Option<Box<dyn FnOnce() -> StoreResult<ConversationWork> + Send>>,
}

impl ClaimedWork {
    pub fn new(
        conversation_id: Id,
        read: impl FnOnce() -> StoreResult<ConversationWork> + Send + 'static,
    ) -> Self {
        Self {
            conversation_id,
            read: Some(Box::new(read)),
        }
    }

    /// Leased, with its events still to load.
    pub fn to_load(conversation_id: Id) -> Self {
        Self {
            conversation_id,
            read: None,
        }
    }

    /// Work already read (a claim's).
    pub fn ready(work: ConversationWork) -> Self {
        Self::new(work.conversation.id, move || Ok(work))
    }

    /// The work read from the rows the ingest loaded; `None` when the worker is to load it.
    pub fn read(self) -> Option<StoreResult<ConversationWork>> {
        self.read.map(|read| read())
    }

    /// The work, read or loaded (up to `events` events) from `store`.
    #[cfg(any(test, feature = "test-support"))]
    pub async fn read_or_load(
        self,
        store: &dyn super::Inbox,
        events: i64,
    ) -> StoreResult<ConversationWork> {
        let id = self.conversation_id;
        match self.read() {
            Some(read) => read,
            None => store.load_work(id, events).await,
        }
    }
}

impl std::fmt::Debug for ClaimedWork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimedWork")
            .field("conversation_id", &self.conversation_id)
            .finish_non_exhaustive()
    }
}

/// A claim an ingest makes for the inbox of the process that stores the webhook
/// (`Ingest::ingest_and_claim`): as `Inbox::claim_work`'s arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxClaim {
    /// Shared: made for every webhook, from the inbox's one copy.
    pub owner: std::sync::Arc<str>,
    pub now: DateTime<Utc>,
    pub lease: std::time::Duration,
    /// At most this many conversations.
    pub limit: usize,
    /// Each conversation's first batch of up to this many events.
    pub events: i64,
}

/// What committing a step gives back (`Inbox::commit_step_and_claim`).
#[derive(Debug, Clone, PartialEq)]
pub struct Committed {
    /// The new outbound messages' ids.
    pub ids: Vec<Id>,
    /// The conversation's next message to send, already leased to the committing process
    /// for its outbox, so it leaves without a claim of its own.
    pub handed: Option<OutboxItem>,
    /// Whether the conversation, given back, may still have unprocessed events (events
    /// that arrived after the worker loaded its batch): a claim must look for them. `true`
    /// when the store cannot tell.
    pub more_work: bool,
}

/// After a send's outcome is recorded (`Outbox::record_outcome_and_claim_next`).
#[derive(Debug, Clone, PartialEq)]
pub enum NextSend {
    /// The conversation's next message, leased to the same owner: send it now.
    Leased(Box<OutboxItem>),
    /// The conversation has no message ready to send.
    Nothing,
    /// The store did not look: a claim must.
    Unknown,
}

/// Everything one engine step produced, committed together.
#[derive(Debug, Clone, PartialEq)]
pub struct StepCommit {
    pub conversation_id: Id,
    /// Lease holder; the commit is refused if the lease moved on.
    pub owner: String,
    pub event_id: Id,
    pub state: ConversationState,
    pub contact_patch: Option<ContactPatch>,
    pub outbound: Vec<NewOutbound>,
    pub timers: Vec<NewTimer>,
    /// Pending timers of this conversation to delete, e.g. an `ask` timeout once the
    /// customer answered.
    pub cancel_timers: Vec<TimerKind>,
    /// When the step ran (its event's turn began): leases are checked against it.
    pub now: DateTime<Utc>,
    /// When its replies are queued: their `created_at`, from which the outbox's latency is
    /// measured. Later than `now` by whatever the step waited for (a model's answer, an
    /// `http` step's; `StepOutput::waited`), else `now` itself.
    pub queued_at: DateTime<Utc>,
    /// Also gives the conversation back, as `release_conversation` does, in the same
    /// transaction (set on the last event the worker has in hand).
    pub release: bool,
    /// Added to the flow insights' counters of `now`'s hour, in the same transaction.
    pub insights: crate::domain::insight::Tally,
    /// Events out (`events_out`) to record in the same transaction: what this step changed
    /// that the systems next door hear of (empty when no endpoint listens).
    pub events: Vec<crate::domain::NewOutEvent>,
    /// Until when the first reply is leased to the step's owner when it is handed to its
    /// outbox (`commit_step_and_claim` with an outbox lease); `None`: `queued_at` plus
    /// that lease. The inbox makes it unique in its process, so the reply of a commit
    /// whose answer was lost can be found again (`Outbox::release_handed`).
    pub hand_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Flow,
    Api,
    /// A template sent because a free-form message found the window closed.
    Fallback,
    /// Sent by a person from the WhatsApp Business app on a shared number (coexistence),
    /// recorded from Meta's echo as `sent`; never sent, paced or charged by Parley.
    Echo,
    /// One recipient's send of a broadcast.
    Broadcast,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Flow => "flow",
            Origin::Api => "api",
            Origin::Fallback => "fallback",
            Origin::Echo => "echo",
            Origin::Broadcast => "broadcast",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "flow" => Origin::Flow,
            "api" => Origin::Api,
            "fallback" => Origin::Fallback,
            "echo" => Origin::Echo,
            "broadcast" => Origin::Broadcast,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewOutbound {
    pub sender_id: i64,
    pub conversation_id: Id,
    pub message: OutboundMessage,
    pub fallback: WindowFallback,
    pub origin: Origin,
    /// The flow that queued it (`None`: an API send or a system message).
    pub flow: Option<String>,
    /// The step that queued it: its `id`, or `step N` (its place in the file's `steps:`).
    pub step: Option<String>,
    /// What it is expected to cost, recorded in the ledger with it.
    pub cost: Option<crate::domain::pricing::CostPrediction>,
}

/// A claimed send, with what the outbox needs to decide the window at send time.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: Id,
    pub sender_id: i64,
    pub conversation_id: Id,
    pub message: OutboundMessage,
    pub fallback: WindowFallback,
    /// Attempts made before this one.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub last_inbound_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// The provider took it. `converted_to` is set when a closed window turned a free-form
    /// message into its fallback template at send time.
    Accepted {
        provider_message_id: String,
        converted_to: Option<OutboundContent>,
    },
    /// Try again at `at`; the failure is recorded as the last error.
    Retry {
        at: DateTime<Utc>,
        code: Option<i64>,
        title: String,
    },
    /// Final failure with the provider's code. `window_closed` marks 131047/63016 or a
    /// closed window found at send time with `if_window_closed: fail`.
    Failed {
        code: Option<i64>,
        title: String,
        window_closed: bool,
    },
    /// Dropped on purpose (window closed and the fallback said skip).
    Skipped { reason: String },
    /// The sender was stopped while this was claimed: back to the queue untouched.
    Requeue,
}

/// An outbound message as stored, for reads and tests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboundRecord {
    pub id: Id,
    pub sender_id: i64,
    pub conversation_id: Id,
    pub message: OutboundMessage,
    pub fallback: WindowFallback,
    pub origin: Origin,
    pub status: DeliveryStatus,
    pub provider_message_id: Option<String>,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// Set when the failure was a closed window.
    pub window_closed: bool,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SenderStop {
    pub sender_id: i64,
    pub code: Option<i64>,
    pub reason: String,
    pub stopped_at: DateTime<Utc>,
}

/// A system event for a conversation, stored like a timer fire.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub conversation_id: Id,
    pub sender_id: i64,
    /// Unique per sender; a second event with the same key is skipped.
    pub dedupe_key: Option<String>,
    /// Stored as a fire of this timer, due now.
    pub event: Timer,
    pub now: DateTime<Utc>,
}

impl NewEvent {
    /// The event that ends `conversation`'s handoff to a person, `None` when it is not
    /// handed off. One per handoff, however often it is asked for; `by` names who asked
    /// (`api`, `sandbox`, `simulate`).
    pub fn release(conversation: &Conversation, by: &str, now: DateTime<Utc>) -> Option<Self> {
        let handoff = conversation.state.handoff.as_ref()?;
        Some(Self {
            conversation_id: conversation.id,
            sender_id: conversation.sender_id,
            dedupe_key: Some(format!(
                "release:{}:{}",
                conversation.id,
                handoff.since.timestamp_micros()
            )),
            event: Timer::Release {
                by: Some(by.into()),
            },
            now,
        })
    }
}

/// A leased fire of a scheduled flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleFire {
    pub id: Id,
    pub flow_id: String,
    pub fire_at: DateTime<Utc>,
    /// Last conversation id already handled; the run resumes after it.
    pub cursor: Id,
}

/// One candidate of a schedule's audience.
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceRow {
    pub conversation_id: Id,
    pub contact: Contact,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub state: ConversationState,
}

/// How many of a sender's outbound messages of one content kind (`text`, `media`,
/// `template`, …, the stored `content.kind`) were queued or sent; failed and skipped ones
/// are not counted (spend limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    pub kind: String,
    pub count: i64,
}

/// A conversation with its contact, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub contact: Contact,
}

/// How `Costs::costs` groups the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostGrouping {
    Flow,
    /// By flow and step.
    Step,
    Sender,
    /// By UTC day of the send.
    Day,
    /// By the predicted pricing category.
    Category,
}

impl CostGrouping {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "flow" => CostGrouping::Flow,
            "step" => CostGrouping::Step,
            "sender" => CostGrouping::Sender,
            "day" => CostGrouping::Day,
            "category" => CostGrouping::Category,
            _ => return None,
        })
    }
}

/// One group of the ledger: messages not failed or skipped, what they were predicted to
/// cost and what the statuses' `pricing` said (micro-units of the rate card's currency).
/// Only the fields of the grouping are set; `flow`/`step` are `None` for API sends.
/// Read from a row of `sql::costs_sql` or `sql::costs_by_broadcast_sql`: the grouping's
/// columns (the others are not selected and stay unset), then the sums.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, sqlx_macros::FromRow)]
pub struct CostRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub flow: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub sender_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[sqlx(default)]
    pub broadcast_id: Option<i64>,
    pub messages: i64,
    pub predicted_micros: i64,
    /// Messages whose status carried `pricing`.
    pub priced: i64,
    /// Of those, the ones Meta said are billable.
    pub billable: i64,
    /// The cost of the priced messages by the category Meta reported.
    pub actual_micros: i64,
}

/// One message's ledger row, for tests and the trace (a row of `sql::COST_ENTRY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx_macros::FromRow)]
pub struct CostEntry {
    pub outbound_id: Id,
    pub sender_id: i64,
    pub market: String,
    pub currency: String,
    pub predicted_category: String,
    pub predicted_type: String,
    pub predicted_micros: i64,
    pub actual_category: Option<String>,
    pub actual_type: Option<String>,
    pub actual_billable: Option<bool>,
    pub pricing_model: Option<String>,
    pub actual_micros: Option<i64>,
}
