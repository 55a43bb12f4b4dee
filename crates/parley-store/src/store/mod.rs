//! Durable state behind a few traits by concept (`Ingest`, `Inbox`, `Outbox`, `Timers`,
//! `Schedules`, `Senders`, `Reads`, `MediaDownloads`, `Contacts`, `FlowSaves` (the studio's
//! saves), `Process`; together `Store`), with a
//! SQLite and a PostgreSQL implementation chosen by `database.url`, each with its own migrations
//! (`migrations/sqlite`, `migrations/postgres`). Each backend implements each trait in the
//! file of that concept; statements and row decoders several of its files use live in its
//! leaf module `rows`, and the statements that are the same on both backends in `sql`.
//!
//! Every method is one short transaction that never spans a network call. The store owns
//! the invariants that must hold across processes: deduplication by provider message id,
//! one worker per conversation at a time (leases), head-of-line outbox order per
//! conversation, and timers that fire exactly once. `files` keeps the bytes of inbound
//! media (a folder of files named by their SHA-256), beside the rows that refer to them.

mod apply;
mod audit;
mod broadcasts;
mod chatwoot;
mod contacts;
mod events_log;
mod events_out;
mod exchanges;
mod experiment_insights;
pub mod files;
mod flow_saves;
mod insights;
mod knowledge_docs;
mod media;
mod migrations;
mod model;
pub mod postgres;
mod retention;
mod rollouts;
mod routing;
mod rows;
mod scores;
mod shared_reads;
mod sql;
pub mod sqlite;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod unanswered;

pub use audit::*;
pub use broadcasts::*;
pub use chatwoot::*;
pub use contacts::*;
pub use events_log::*;
pub use events_out::*;
pub use exchanges::*;
pub use experiment_insights::*;
pub use flow_saves::*;
pub use insights::*;
pub use knowledge_docs::*;
pub use media::*;
pub use model::*;
pub use retention::*;
pub use rollouts::*;
pub use routing::*;
pub use scores::*;
pub use unanswered::*;

use crate::domain::contact_file::ContactImport;
use crate::domain::{Contact, Conversation, StoredEvent};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

pub type Id = crate::domain::Id;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {}", migration_words(.0))]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The group transaction this write belonged to did not commit; nothing of it is kept.
    #[error("database write not committed: {0}")]
    Commit(String),
    /// Another process owns this SQLite database.
    #[error("{0}")]
    InUse(String),
    #[error("the database writer has stopped")]
    WriterStopped,
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    /// The database's place on disk cannot be used (a folder missing or read-only).
    #[error("{0}")]
    Place(String),
    /// Another process took over this work because our lease ran out; our result is dropped.
    #[error("lease on {what} {id} is no longer held by this process")]
    LeaseLost { what: &'static str, id: Id },
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: Id },
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A value sqlx could not decode (a `rows` struct's column, a scalar) is stored data that
/// cannot be read, as the hand decoders before them said; every other sqlx error is the
/// database's.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            e => StoreError::Database(e),
        }
    }
}

/// A migration failure in words an operator can act on: a database that a newer Parley
/// migrated is said to be one (after a downgrade), instead of sqlx's "previously applied
/// but is missing".
fn migration_words(e: &sqlx::migrate::MigrateError) -> String {
    match e {
        sqlx::migrate::MigrateError::VersionMissing(v) => format!(
            "this database was migrated by a newer Parley (its migration {v} is not one this version knows): run that newer version, or restore the backup taken before the upgrade (README, Upgrades)"
        ),
        other => other.to_string(),
    }
}

impl StoreError {
    /// A failure that may pass by itself (the database unreachable, restarting, busy, out
    /// of disk, a conflict between transactions): worth retrying soon, unlike corrupt data
    /// or a lease another process now holds.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // Connection exceptions (08), serialization failures and deadlocks (40),
                // insufficient resources (53, e.g. disk full), operator intervention (57,
                // e.g. admin shutdown), system errors (58), a database not accepting
                // connections or a lock not available (55), one renamed or dropped away
                // for now (3D), logins refused while the server is reconfigured (28);
                // SQLite: busy, locked, full, I/O.
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    ["08", "40", "53", "57", "58", "55", "3D", "28"]
                        .iter()
                        .any(|c| code.starts_with(c))
                        || code
                            .parse::<i32>()
                            .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 10 | 13))
                }),
                _ => false,
            },
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::SystemIoFailure
                        | rusqlite::ErrorCode::CannotOpen
                )
            ),
            StoreError::Commit(_) => true,
            _ => false,
        }
    }
}

/// The store is one value with a few traits, one per concept; each backend implements each
/// trait in the file of that concept (`sqlite/outbox.rs` holds `impl Outbox for SqliteStore`).
/// `Store` names them together and is implemented by whatever implements them all. Code
/// holding a `DynStore` calls any method of them without importing anything (a trait
/// object's supertrait methods are its own); code holding a `SqliteStore` or `PgStore`
/// itself imports the concept traits it calls: `use crate::store::{Inbox, Outbox};`.
pub trait Store:
    Process
    + Ingest
    + Inbox
    + Timers
    + Outbox
    + Senders
    + Schedules
    + Reads
    + Account
    + MediaDownloads
    + Exchanges
    + Contacts
    + Insights
    + Costs
    + Broadcasts
    + FlowSaves
    + Chatwoot
    + Routing
    + EventsOut
    + EventsLog
    + Rollouts
    + ExperimentInsights
    + AgentScores
    + Unanswered
    + KnowledgeDocs
    + Retention
    + Audit
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Process
        + Ingest
        + Inbox
        + Timers
        + Outbox
        + Senders
        + Account
        + Schedules
        + Reads
        + MediaDownloads
        + Exchanges
        + Contacts
        + Insights
        + Costs
        + Broadcasts
        + FlowSaves
        + Chatwoot
        + Routing
        + EventsOut
        + EventsLog
        + Rollouts
        + ExperimentInsights
        + AgentScores
        + Unanswered
        + KnowledgeDocs
        + Retention
        + Audit
        + Send
        + Sync
        + 'static
{
}

pub type DynStore = Arc<dyn Store>;

/// The database as a whole: which backend, whether it answers, and the leases of
/// processes that are gone.
#[async_trait]
pub trait Process: Send + Sync {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// Every distinct owner of a lease (live or expired) on conversations, sends and
    /// schedule fires, so a starting process can take over those of dead processes.
    async fn lease_owners(&self) -> StoreResult<Vec<String>>;

    /// Gives back every lease `owner` holds (its process is proven dead); how many.
    async fn release_leases_of(&self, owner: &str) -> StoreResult<u64>;

    /// Other processes' word that inbox work waits for a claim, as it comes (PostgreSQL:
    /// `LISTEN`, on a connection of its own, until the receiver is dropped); `None` where
    /// no other process can leave work (SQLite belongs to one process).
    fn work_announcements(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        None
    }
}

/// Webhook ingress.
#[async_trait]
pub trait Ingest: Send + Sync {
    /// Persists a batch of webhook items in ONE transaction (group commit), in order, and
    /// returns one outcome per item. Messages: contact and conversation are created on first
    /// sight, duplicates (same sender + provider message id) are reported and change nothing,
    /// the conversation's `last_inbound_at` moves forward to the provider timestamp (receipt
    /// time when the provider sent none) unless the content does not open the window
    /// (`InboundContent::opens_window`), and the conversation is marked as having work. An
    /// echo is also recorded as an outbound message (`sent`, origin `echo`).
    /// Statuses: applied to the outbound message with that provider id when
    /// `DeliveryStatus::should_advance_to` allows; a first `failed` with a closed-window code
    /// (131047/63016) on a message whose fallback is a template enqueues that template once,
    /// in the same transaction.
    async fn ingest(&self, items: &[IngestItem]) -> StoreResult<Vec<IngestOutcome>> {
        Ok(self.ingest_and_claim(items, None).await?.0)
    }

    /// `ingest`, and in the same transaction a claim for `claim.owner` of the
    /// conversations its messages gave work, as `Inbox::claim_work` would make of them:
    /// each one no worker holds is leased (up to `claim.limit` conversations) and handed
    /// back with its first batch of events, loaded in that transaction and parsed when the
    /// work is read (SQLite), or loaded by the worker (PostgreSQL: `ClaimedWork::to_load`).
    /// The caller hands that work to its inbox, which runs it without a claim of its own;
    /// what is not handed waits for a claim as before. Without a claim, `ingest`.
    async fn ingest_and_claim(
        &self,
        items: &[IngestItem],
        claim: Option<&InboxClaim>,
    ) -> StoreResult<(Vec<IngestOutcome>, Vec<ClaimedWork>)>;

    /// Whether concurrent `ingest` calls already share one commit inside the store (SQLite's
    /// writer thread), so that callers need not gather them into one call first.
    fn shares_commits(&self) -> bool {
        false
    }
}

/// Contacts, conversations and the inbox: one worker per conversation, events in order.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Finds or creates the contact and its conversation with this sender (API sends).
    async fn ensure_conversation(
        &self,
        sender_id: i64,
        contact: &crate::domain::ContactRef,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Conversation>;

    async fn conversation(&self, id: Id) -> StoreResult<Option<Conversation>>;

    async fn find_conversation(
        &self,
        sender_id: i64,
        contact_key: &str,
    ) -> StoreResult<Option<Conversation>>;

    async fn contact(&self, id: Id) -> StoreResult<Option<Contact>>;

    /// Leases up to `limit` conversations that have unprocessed events and no live lease:
    /// those whose lease ran out first (a crashed or stalled worker's; they waited a whole
    /// lease already), by its end, then those nobody holds, oldest work first. Returned
    /// oldest work first.
    async fn claim_conversations(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<Id>>;

    /// The conversation, its contact, and up to `limit` unprocessed events in arrival order.
    async fn load_work(&self, conversation_id: Id, limit: i64) -> StoreResult<ConversationWork>;

    /// Commits what the engine produced for one event in one transaction: the event is
    /// marked processed, the conversation state replaced, the contact patched, outbound
    /// messages enqueued and timers created/cancelled. Fails with `LeaseLost` (and changes
    /// nothing) when `owner` no longer holds the conversation's lease, and with `NotFound`
    /// (changing nothing) when the event is not an unprocessed event of this conversation,
    /// so an event's replies are never committed twice.
    async fn commit_step(&self, step: &StepCommit) -> StoreResult<Vec<Id>> {
        Ok(self.commit_step_and_claim(step, None).await?.ids)
    }

    /// `commit_step`, and in the same transaction, when `outbox_lease` is given and the
    /// step queued a message that is its conversation's next to leave (no older message
    /// still queued, sender not stopped), leases that message to `step.owner` for
    /// `outbox_lease`, so the process's outbox sends it without a claim of its own. Says
    /// whether a conversation given back (`step.release`) still has events to process.
    async fn commit_step_and_claim(
        &self,
        step: &StepCommit,
        outbox_lease: Option<Duration>,
    ) -> StoreResult<Committed>;

    /// Claims conversations as `claim_conversations` does and loads each one's first batch
    /// of up to `events` events as `load_work` does. A conversation whose rows cannot be
    /// read is left out (its lease runs out and it is claimed again later) and logged.
    async fn claim_work(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
        events: i64,
    ) -> StoreResult<Vec<ConversationWork>> {
        let ids = self.claim_conversations(owner, now, lease, limit).await?;
        // Loaded together, not one after the other: a store that batches loads (the
        // PostgreSQL store) reads them all in one statement.
        let loads =
            futures::future::join_all(ids.iter().map(|&id| self.load_work(id, events))).await;
        apply::readable_work(ids.into_iter().zip(loads))
    }

    /// Gives the conversation back. If events arrived meanwhile it stays marked as having
    /// work, so the next claim picks it up.
    async fn release_conversation(&self, conversation_id: Id, owner: &str) -> StoreResult<()>;

    /// Moves `owner`'s lease on a conversation to `until` while a long step (a model call)
    /// runs; `false` when `owner` does not hold it any more.
    async fn renew_conversation_lease(
        &self,
        conversation_id: Id,
        owner: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// Language-model exchanges: recorded once per event and call, read back after a crash,
/// summed into usage and cost.
#[async_trait]
pub trait Exchanges: Send + Sync {
    /// The exchange recorded for call `seq` of event `event_id`.
    async fn model_exchange(&self, event_id: Id, seq: i64) -> StoreResult<Option<ModelExchange>>;

    /// Records an exchange and returns `None`; when one is already recorded for the event
    /// and `seq`, nothing changes and the recorded one is returned (the first answer wins).
    async fn record_model_exchange(
        &self,
        exchange: &ModelExchange,
    ) -> StoreResult<Option<ModelExchange>>;

    /// A conversation's exchanges, newest first.
    async fn conversation_exchanges(
        &self,
        conversation_id: Id,
        limit: i64,
    ) -> StoreResult<Vec<ModelExchange>>;

    /// Calls, tokens and cost since `since`, grouped `by`, largest cost first.
    async fn model_usage(
        &self,
        by: UsageBy,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> StoreResult<Vec<UsageRow>>;
}

/// Timers that fire exactly once.
#[async_trait]
pub trait Timers: Send + Sync {
    /// Moves every timer due at `now` (up to `limit`) into its conversation as a `Timer`
    /// event, atomically: each timer fires exactly once even with several processes.
    /// Returns how many fired.
    async fn fire_due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<u64>;

    /// The earliest due time of any pending timer, so the timer loop can sleep until then.
    async fn next_timer_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
}

/// The outbox: sends leave in order per conversation, each recorded once.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Enqueues messages outside a flow step (API sends), in one transaction.
    async fn enqueue(&self, messages: &[NewOutbound], now: DateTime<Utc>) -> StoreResult<Vec<Id>>;

    /// Leases up to `limit` outbound messages ready to send: status `queued`,
    /// `next_attempt_at <= now`, no live lease, sender not stopped, and no older unfinished
    /// (queued) message in the same conversation, so each conversation's messages leave in
    /// order. A message whose lease ran out without an outcome (the process sending it
    /// stopped, perhaps after the provider took it) is not claimed: it waits `in_doubt` (a
    /// status naming it settles it meanwhile; see `StatusUpdate::outbox_id`), then goes
    /// again, counted as an attempt.
    async fn claim_outbound(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        in_doubt: Duration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>>;

    /// Extends to `now + lease` the lease `owner` holds on `item` since it was claimed or
    /// handed over, if nothing took it since: still queued, still `owner`'s, and not put
    /// back by a claim after its lease ran out (which counts an attempt). `false` when it
    /// was taken: then it is not `owner`'s to send. Whether the old lease has run out does
    /// not matter: nobody sends a message without holding its lease, so one untouched
    /// since `owner` got it has not gone out.
    async fn renew_outbound_lease(
        &self,
        item: &OutboxItem,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool>;

    /// Gives back the lease of the reply a step commit handed to `owner`'s outbox until
    /// `hand_until` (`StepCommit::hand_until`), if that commit landed: for a commit whose
    /// answer was lost (the database went away mid-commit), the reply is leased to an
    /// outbox that never got it, and would otherwise wait for the lease to run out and then
    /// `unknown_outcome_wait` as if its process had died. Nobody holds it: the outbox
    /// never had it. Returns how many rows were given back (0 when nothing landed).
    async fn release_handed(
        &self,
        conversation_id: Id,
        owner: &str,
        hand_until: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Records what happened to a claimed send and releases its lease. Fails with
    /// `LeaseLost` when `owner` no longer holds it.
    async fn record_outcome(
        &self,
        id: Id,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// `record_outcome`, then (same owner, same lease length) leases the conversation's
    /// next message if one is ready, so a step's replies follow each other without a claim
    /// each. `NextSend::Unknown` when the store does not look.
    async fn record_outcome_and_claim_next(
        &self,
        item: &OutboxItem,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<NextSend> {
        let _ = lease;
        self.record_outcome(item.id, owner, outcome, now).await?;
        Ok(NextSend::Unknown)
    }

    async fn outbound(&self, id: Id) -> StoreResult<Option<OutboundRecord>>;

    /// Outbound messages of a conversation, newest first, `before` an id for paging.
    async fn conversation_outbound(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>>;

    /// Messages waiting to be sent (queued), for metrics.
    async fn outbox_depth(&self) -> StoreResult<i64>;

    /// Why outbound message `id`, a broadcast's send, must not go now although it was
    /// queued: its broadcast was cancelled, or its customer opted out (STOP, or an import
    /// with `opted_in: no`) after it was planned. `None` for any other message.
    async fn broadcast_send_stop(&self, id: Id) -> StoreResult<Option<String>>;
}

/// What Meta says about the account: templates' live status and category, and each
/// contact's marketing state (stopped by the customer, or held back by WhatsApp).
#[async_trait]
pub trait Account: Send + Sync {
    /// Records a template status or category change (upsert by name and language).
    async fn record_template_update(
        &self,
        update: &crate::domain::TemplateUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Every template Meta told Parley about, by name then language.
    async fn live_templates(&self) -> StoreResult<Vec<crate::domain::LiveTemplate>>;

    /// The live state of a template in a language (or of one recorded without language).
    async fn live_template(
        &self,
        name: &str,
        language: &str,
    ) -> StoreResult<Option<crate::domain::LiveTemplate>>;

    /// A customer stopped or resumed marketing (`user_preferences`); the contact is created
    /// if Parley has not met them yet.
    async fn set_marketing_preference(
        &self,
        preference: &crate::domain::MarketingPreference,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The marketing state of the contact of a conversation.
    async fn marketing_state(
        &self,
        conversation_id: Id,
    ) -> StoreResult<crate::domain::MarketingState>;

    /// Moves messages WhatsApp held back (131049) whose time has come into the outbox;
    /// returns how many. They are held back, with a copy kept for its day on the ladder
    /// (`marketing_deferral`), by the transaction that records the failure: a `failed`
    /// status (`Ingest`) or a failed send (`Outbox::record_outcome`); 131050 marks the
    /// customer as stopped the same way.
    async fn release_deferred(&self, now: DateTime<Utc>) -> StoreResult<usize>;
}

/// Senders whose sends are stopped.
#[async_trait]
pub trait Senders: Send + Sync {
    /// Stops all sends from a sender (credentials expired, account restricted).
    async fn stop_sender(
        &self,
        sender_id: i64,
        code: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    async fn resume_sender(&self, sender_id: i64) -> StoreResult<()>;

    async fn stopped_senders(&self) -> StoreResult<Vec<SenderStop>>;

    /// The Content SID of a Twilio template Parley created, by account and template hash.
    async fn twilio_content_sid(
        &self,
        account_sid: &str,
        content_hash: &str,
    ) -> StoreResult<Option<String>>;

    /// Keeps a created template's SID; the first one kept for a hash stays (another
    /// process may have created its own meanwhile, and both work).
    async fn save_twilio_content_sid(
        &self,
        account_sid: &str,
        content_hash: &str,
        content_sid: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// System events, schedules and their audiences, and the guards on a sender's pace.
#[async_trait]
pub trait Schedules: Send + Sync {
    /// Adds events to conversations (a scheduled run, a handoff release) in one
    /// transaction, marking them as having work. An event whose `dedupe_key` was already
    /// used by its sender is skipped (`None`), so a re-run never adds it twice.
    async fn insert_events(&self, events: &[NewEvent]) -> StoreResult<Vec<Option<Id>>>;

    /// When this schedule last fired (or was first seen), if ever.
    async fn last_schedule_fire(&self, flow_id: &str) -> StoreResult<Option<DateTime<Utc>>>;

    /// Records a fire of a schedule at `fire_at` (`anchor`: only marks when the schedule was
    /// first seen, nothing runs). Returns false when that fire was already recorded — by
    /// this process or another — so each fire is recorded once.
    async fn record_schedule_fire(
        &self,
        flow_id: &str,
        fire_at: DateTime<Utc>,
        anchor: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Leases one unfinished fire (new, or abandoned by a process whose lease expired).
    async fn claim_schedule_fire(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<ScheduleFire>>;

    /// Records one page of an audience run in one transaction: its events (deduplicated per
    /// contact and fire) and the new cursor; renews the lease. `LeaseLost` if not held.
    async fn schedule_progress(
        &self,
        fire_id: Id,
        owner: &str,
        cursor: Id,
        events: &[NewEvent],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<()>;

    /// Marks a fire done.
    async fn finish_schedule_fire(
        &self,
        fire_id: Id,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Conversations of a sender with their contacts, by id after `after`, for streaming an
    /// audience in pages (never the whole table at once).
    async fn audience_page(
        &self,
        sender_id: i64,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<AudienceRow>>;

    /// Work not yet done for a sender: unprocessed events plus queued messages (pacing).
    async fn backlog(&self, sender_id: i64) -> StoreResult<i64>;

    /// Templates a sender got accepted since `since` (daily caps).
    async fn templates_sent_since(&self, sender_id: i64, since: DateTime<Utc>) -> StoreResult<i64>;
}

/// Contacts in bulk: imported (found by phone or business-scoped user id, else created)
/// and exported in pages.
#[async_trait]
pub trait Contacts: Send + Sync {
    /// Upserts `rows` in order, one transaction per `IMPORT_BATCH` rows (a failure keeps the
    /// batches before it). A row found by its phone or user id updates that contact: the
    /// name if given, tags added, fields merged into its attributes (a `null` removes one),
    /// the opt-in state set; two contacts the row names are merged (`domain::identity`).
    /// One outcome per row, in order.
    async fn import_contacts(
        &self,
        rows: &[ContactImport],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ImportOutcome>>;

    /// Contacts (not the ones merged into others) by id after `after`, at most `limit`.
    async fn export_contacts(&self, after: Id, limit: i64) -> StoreResult<Vec<Contact>>;
}

/// Broadcasts: one template to many customers. Recipients are materialised into rows (a
/// list at creation, an audience in pages under the broadcast's lease), and each page of
/// sends is queued in the transaction that marks its recipients queued, so a kill at any
/// moment repeats and skips nobody. The portfolio's messaging limit is counted in the same
/// transaction from `portfolio_reach` (under a lock per portfolio on PostgreSQL).
#[async_trait]
pub trait Broadcasts: Send + Sync {
    /// Stores a broadcast, with its recipients when they were given as a list (then it is
    /// `prepared`), in one transaction.
    async fn create_broadcast(
        &self,
        broadcast: &NewBroadcast,
        recipients: &[NewRecipient],
        now: DateTime<Utc>,
    ) -> StoreResult<Id>;

    async fn broadcast(&self, id: Id) -> StoreResult<Option<Broadcast>>;

    /// Broadcasts, newest first, with ids below `before`.
    async fn broadcasts(&self, before: Option<Id>, limit: i64) -> StoreResult<Vec<Broadcast>>;

    /// Pauses, resumes or cancels; the new state, or `Err(why)` when the action does not
    /// apply to the broadcast's state. Cancelling also drops its sends still queued and
    /// not in flight, and its copies waiting for their day (131049).
    async fn broadcast_action(
        &self,
        id: Id,
        action: crate::domain::broadcast::BroadcastAction,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Result<crate::domain::broadcast::BroadcastState, String>>>;

    /// Leases one broadcast that is sending, due (`start_at`, `wait_until`), and not held
    /// by a live lease.
    async fn claim_broadcast(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<Broadcast>>;

    /// Records a page of the audience (recipients, deduplicated per contact; a conversation
    /// with the sender is created for a contact that has none) and the new cursor (a
    /// contact id); `done` marks the broadcast prepared. Renews the lease; `LeaseLost` if not
    /// held.
    #[allow(clippy::too_many_arguments)]
    async fn broadcast_prepare(
        &self,
        id: Id,
        owner: &str,
        cursor: Id,
        recipients: &[NewRecipient],
        done: bool,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<()>;

    /// Queues up to `limit` pending recipients' sends and marks them queued, in one
    /// transaction, within the portfolio's messaging limit; each send waits for the pair
    /// rate (`pair_gap` after the last send to that conversation); each send's cost
    /// prediction (`pricing`) is written with it. Renews the lease.
    #[allow(clippy::too_many_arguments)]
    async fn broadcast_queue_page(
        &self,
        id: Id,
        owner: &str,
        limit: i64,
        pair_gap: Duration,
        reply_window: Duration,
        now: DateTime<Utc>,
        lease: Duration,
        pricing: &SendPricing,
    ) -> StoreResult<PageOutcome>;

    /// Gives a broadcast back (shutdown, or waiting for the messaging limit).
    async fn release_broadcast(&self, id: Id, owner: &str) -> StoreResult<()>;

    /// Renews the lease while the worker waits for the sender's backlog; `LeaseLost` if not
    /// held, `Ok(false)` when the broadcast is no longer sending.
    async fn renew_broadcast(
        &self,
        id: Id,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool>;

    /// The recipients counted by state, skip reason, and their latest send's status.
    async fn broadcast_counts(&self, id: Id) -> StoreResult<Vec<RecipientCount>>;

    /// Recipients by id after `after` (paging).
    async fn broadcast_recipients(
        &self,
        id: Id,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<RecipientRow>>;

    /// Contacts (not merged into others) by id after `after`, each with its conversation
    /// with `sender_id` if any: an audience page.
    async fn broadcast_candidates(
        &self,
        sender_id: i64,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<Candidate>>;

    /// Unique customers a portfolio reached outside a window since `since`.
    async fn portfolio_reached(&self, portfolio: &str, since: DateTime<Utc>) -> StoreResult<i64>;
}

/// Reads for the API; none writes or locks.
#[async_trait]
pub trait Reads: Send + Sync {
    /// A sender's outbound messages created since `since` (ever when `None`) that are not
    /// failed or skipped, nor echoes of the WhatsApp Business app, counted by content kind
    /// (spend limits).
    async fn outbound_kind_counts(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<KindCount>>;

    /// When the latest template of a conversation that is not failed or skipped was queued
    /// (`window.template_opens_window`).
    async fn last_template_at(&self, conversation_id: Id) -> StoreResult<Option<DateTime<Utc>>>;

    /// Conversations with their contacts, newest first, optionally of one sender, with ids
    /// below `before` (paging).
    async fn conversations_page(
        &self,
        sender_id: Option<i64>,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationSummary>>;

    /// A conversation's inbound messages (not timers or system events), newest first, with
    /// ids below `before` (paging).
    async fn conversation_inbound(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The conversations handed to a person now (a handoff in their state), with their
    /// contacts, oldest conversation first, at most `limit` (the inbox page).
    async fn handoff_conversations(&self, limit: i64) -> StoreResult<Vec<ConversationSummary>>;

    /// Who wrote a conversation's outbound messages with ids from `from_id` on whose step
    /// starts with `prefix` (`inbox:` for the inbox's replies): `(id, step)`, at most `limit`.
    async fn outbound_authors(
        &self,
        conversation_id: Id,
        from_id: Id,
        prefix: &str,
        limit: i64,
    ) -> StoreResult<Vec<(Id, String)>>;
}

/// The cost ledger (`message_costs`): predictions are written with the outbound message
/// they price (`Outbox::enqueue`, `Inbox::commit_step`), Meta's `pricing` with the status
/// that carries it (`Ingest`); these are its reads and the outbox's late predictions.
#[async_trait]
pub trait Costs: Send + Sync {
    /// The ledger grouped `by`, for messages queued in `[since, until)` that are not failed
    /// or skipped, at most `limit` groups in key order.
    async fn costs(
        &self,
        by: CostGrouping,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CostRow>>;

    /// As `costs`, grouped by broadcast through `broadcast_recipients (broadcast_id,
    /// outbound_id)`.
    async fn costs_by_broadcast(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CostRow>>;

    /// What a sender's messages queued since `since` (ever when `None`), not failed or
    /// skipped, are predicted to cost (spend limits).
    async fn predicted_spend(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<i64>;

    /// Records (or replaces) the prediction of a message priced after it was queued: a
    /// fallback template queued by a status, or a free-form message turned into its
    /// template at send time.
    async fn record_prediction(
        &self,
        outbound_id: Id,
        sender_id: i64,
        cost: &crate::domain::pricing::CostPrediction,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// One message's ledger row.
    async fn cost_entry(&self, outbound_id: Id) -> StoreResult<Option<CostEntry>>;
}

/// Inbound media downloads: enqueued by `Ingest` with their message, claimed with a lease,
/// retried, and forgotten after the retention.
#[async_trait]
pub trait MediaDownloads: Send + Sync {
    /// Leases up to `limit` queued downloads whose `next_attempt_at <= now` and that no
    /// live lease holds, oldest due first.
    async fn claim_downloads(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<MediaRecord>>;

    /// Records what a claimed download ended in and releases its lease. Fails with
    /// `LeaseLost` (changing nothing) when `owner` no longer holds it.
    async fn record_download(
        &self,
        id: Id,
        owner: &str,
        outcome: &DownloadOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// The media of an inbound message (its event id), if it has any.
    async fn event_media(&self, event_id: Id) -> StoreResult<Option<MediaRecord>>;

    /// The newest stored download whose file has this SHA-256 (hex).
    async fn stored_media(&self, sha256: &str) -> StoreResult<Option<MediaRecord>>;

    /// Deletes up to `limit` downloads created before `cutoff` that no worker holds,
    /// oldest first, and returns how many it deleted and the files (hex SHA-256)
    /// no remaining download refers to: the caller may delete those files.
    async fn sweep_downloads(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<(u64, Vec<String>)>;

    /// Downloads still queued (metrics).
    async fn downloads_queued(&self) -> StoreResult<i64>;
}

/// The machine's name, for messages (best effort).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this machine".to_string())
}

/// Opens (creating a SQLite file if needed) and migrates the database named by the URL.
pub async fn connect(config: &crate::config::DatabaseConfig) -> StoreResult<DynStore> {
    if config.url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(config).await?))
    } else {
        Ok(Arc::new(postgres::PgStore::connect(config).await?))
    }
}
