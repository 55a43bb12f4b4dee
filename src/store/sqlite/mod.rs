//! SQLite implementation of the store: one database file in WAL mode, the default backend.
//!
//! SQLite has a single writer, so every write goes through ONE connection owned by a writer
//! thread (`writer.rs`): each write is a closure run there, and the closures waiting at the
//! same moment share one transaction (group commit), each in its own savepoint. Writers queue
//! in-process instead of spinning on busy errors, and a write that reads before it writes
//! never loses its snapshot. API reads use a separate pool of read-only sqlx connections; the
//! hot path's reads run on the writer thread. Transactions begin `immediate` so that a second
//! process on the same file waits on `busy_timeout` rather than failing mid-transaction.
//! Timestamps are INTEGER unix microseconds and JSON is TEXT (see `migrations/sqlite`).
//!
//! The methods live next to their concept: `ingest` (webhooks), `inbox` (conversations,
//! leases, steps), `outbox` (sends), `timers`.

mod inbox;
mod ingest;
mod outbox;
mod owner;
mod reads;
mod rows;
mod schedules;
mod timers;
mod writer;

use writer::Writer;

use super::{
    AudienceRow, ConversationWork, IngestItem, IngestOutcome, NewEvent, NewOutbound,
    OutboundRecord, OutboxItem, ScheduleFire, SendOutcome, SenderStop, StepCommit, Store,
    StoreError, StoreResult,
};
use crate::config::{DatabaseConfig, SqliteSynchronous};
use crate::domain::ContactRef;
use crate::domain::{Contact, Conversation, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous as Synchronous,
};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a write waits for another process holding the file's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Writer,
    reader: SqlitePool,
    /// This process owns the file (`owner.rs`); shared by the store's clones.
    _owner: Arc<owner::OwnerLock>,
    /// Holds the temporary file that stands in for `sqlite::memory:`.
    _scratch: Option<Arc<tempfile::TempDir>>,
}

impl SqliteStore {
    /// Opens `database.url` (`sqlite://parley.db`, created if missing) and migrates it.
    /// `sqlite::memory:` opens a temporary file that is deleted with the store: the writer
    /// thread and the reader pool must see the same database, which an in-memory database
    /// cannot offer across connections.
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        let in_memory = config.url.contains(":memory:") || config.url.contains("mode=memory");
        let (options, scratch) = if in_memory {
            let dir = tempfile::tempdir().map_err(|e| {
                StoreError::Corrupt(format!("cannot create a temporary database: {e}"))
            })?;
            let options = SqliteConnectOptions::new().filename(dir.path().join("parley.db"));
            (options, Some(Arc::new(dir)))
        } else {
            (SqliteConnectOptions::from_str(&config.url)?, None)
        };
        let mut store = Self::open(
            options,
            config.sqlite_synchronous,
            config.max_connections.max(1),
        )
        .await?;
        store._scratch = scratch;
        Ok(store)
    }

    /// Creates (if missing) and migrates the file named by `options`, then starts the
    /// writer thread and a pool of `readers` read connections.
    pub async fn open(
        options: SqliteConnectOptions,
        sync: SqliteSynchronous,
        readers: u32,
    ) -> StoreResult<Self> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SqliteSynchronous::Normal => Synchronous::Normal,
                SqliteSynchronous::Full => Synchronous::Full,
            })
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        // Before anything touches the file: one process owns it.
        let (owner, fresh) = owner::acquire_shared(options.get_filename())?;
        {
            // Migrations run once, on a connection of their own, before anything writes.
            let mut conn = options.connect().await?;
            MIGRATOR.run(&mut conn).await?;
            conn.close().await?;
        }
        let writer = Writer::open(options.get_filename(), sync, BUSY_TIMEOUT)?;
        // Owning the file proves that whoever holds a lease in it is gone: take them all
        // back now rather than waiting for them to run out.
        let reclaimed = if fresh {
            writer.run(owner::reclaim_leases).await?
        } else {
            0
        };
        if reclaimed > 0 {
            tracing::info!(
                leases = reclaimed,
                "took back the leases of the previous process"
            );
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(readers)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            _owner: owner,
            _scratch: None,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn lease_owners(&self) -> StoreResult<Vec<String>> {
        self.writer.run(owner::lease_owners).await
    }

    async fn release_leases_of(&self, lease_owner: &str) -> StoreResult<u64> {
        let lease_owner = lease_owner.to_string();
        self.writer
            .run(move |conn| owner::release_leases_of(conn, &lease_owner))
            .await
    }

    async fn ingest(&self, items: &[IngestItem]) -> StoreResult<Vec<IngestOutcome>> {
        self.ingest_batch(items).await
    }

    async fn ensure_conversation(
        &self,
        sender_id: i64,
        contact: &ContactRef,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        self.ensure(sender_id, contact, name, now).await
    }

    async fn conversation(&self, id: i64) -> StoreResult<Option<Conversation>> {
        self.conversation_by_id(id).await
    }

    async fn find_conversation(
        &self,
        sender_id: i64,
        contact_key: &str,
    ) -> StoreResult<Option<Conversation>> {
        self.conversation_by_key(sender_id, contact_key).await
    }

    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        self.contact_by_id(id).await
    }

    async fn claim_conversations(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        self.claim_inbox(owner, now, lease, limit).await
    }

    async fn load_work(&self, conversation_id: i64, limit: i64) -> StoreResult<ConversationWork> {
        self.work(conversation_id, limit).await
    }

    async fn commit_step(&self, step: &StepCommit) -> StoreResult<Vec<i64>> {
        self.commit(step).await
    }

    async fn release_conversation(&self, conversation_id: i64, owner: &str) -> StoreResult<()> {
        self.release(conversation_id, owner).await
    }

    async fn fire_due_timers(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<u64> {
        self.fire_timers(now, limit).await
    }

    async fn next_timer_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.next_due().await
    }

    async fn enqueue(&self, messages: &[NewOutbound], now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
        self.enqueue_all(messages, now).await
    }

    async fn claim_outbound(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        self.claim_sends(owner, now, lease, limit).await
    }

    async fn record_outcome(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.record(id, owner, outcome, now).await
    }

    async fn outbound(&self, id: i64) -> StoreResult<Option<OutboundRecord>> {
        self.outbound_by_id(id).await
    }

    async fn conversation_outbound(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>> {
        self.outbound_page(conversation_id, before, limit).await
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        self.depth().await
    }

    async fn stop_sender(
        &self,
        sender_id: i64,
        code: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.stop(sender_id, code, reason, now).await
    }

    async fn resume_sender(&self, sender_id: i64) -> StoreResult<()> {
        self.resume(sender_id).await
    }

    async fn stopped_senders(&self) -> StoreResult<Vec<SenderStop>> {
        self.stops().await
    }

    async fn insert_events(&self, events: &[NewEvent]) -> StoreResult<Vec<Option<i64>>> {
        self.add_events(events).await
    }

    async fn last_schedule_fire(&self, flow_id: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.last_fire(flow_id).await
    }

    async fn record_schedule_fire(
        &self,
        flow_id: &str,
        fire_at: DateTime<Utc>,
        anchor: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.record_fire(flow_id, fire_at, anchor, now).await
    }

    async fn claim_schedule_fire(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<ScheduleFire>> {
        self.claim_fire(owner, now, lease).await
    }

    async fn schedule_progress(
        &self,
        fire_id: i64,
        owner: &str,
        cursor: i64,
        events: &[NewEvent],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<()> {
        self.progress(fire_id, owner, cursor, events, now, lease)
            .await
    }

    async fn finish_schedule_fire(
        &self,
        fire_id: i64,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.finish_fire(fire_id, owner, now).await
    }

    async fn audience_page(
        &self,
        sender_id: i64,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<AudienceRow>> {
        self.audience(sender_id, after, limit).await
    }

    async fn backlog(&self, sender_id: i64) -> StoreResult<i64> {
        self.sender_backlog(sender_id).await
    }

    async fn templates_sent_since(&self, sender_id: i64, since: DateTime<Utc>) -> StoreResult<i64> {
        self.templates_since(sender_id, since).await
    }

    async fn outbound_kind_counts(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<Vec<super::KindCount>> {
        self.kind_counts(sender_id, since).await
    }

    async fn last_template_at(&self, conversation_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
        self.latest_template(conversation_id).await
    }

    async fn conversations_page(
        &self,
        sender_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<super::ConversationSummary>> {
        self.conversation_list(sender_id, before, limit).await
    }

    async fn conversation_inbound(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.inbound_page(conversation_id, before, limit).await
    }
}
