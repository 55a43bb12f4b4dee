//! PostgreSQL implementation of the store, for several Parley processes sharing one
//! database.
//!
//! Work is split with time-limited leases claimed through `for no key update skip locked`,
//! so two processes never take the same conversation, send or timer, and a crashed
//! process's leases simply run out. Rows are always locked in one order (timers, contacts,
//! conversations, then events and outbound messages) so concurrent transactions queue
//! instead of deadlocking. Timestamps are `timestamptz`, JSON is `jsonb` (see
//! `migrations/postgres`).
//!
//! The methods live next to their concept: `ingest` (webhooks), `inbox` (conversations,
//! leases, steps), `outbox` (sends), `timers`. Step commits, accepted sends and work loads
//! of many conversations are batched into one statement each (`batch`: group commit).

mod batch;
mod inbox;
mod ingest;
mod outbox;
mod reads;
mod rows;
mod schedules;
mod timers;

#[cfg(test)]
pub(in crate::store) use outbox::CLAIM_SENDS;

use super::{
    AudienceRow, ConversationWork, IngestItem, IngestOutcome, NewEvent, NewOutbound,
    OutboundRecord, OutboxItem, ScheduleFire, SendOutcome, SenderStop, StepCommit, Store,
    StoreResult,
};
use crate::config::DatabaseConfig;
use crate::domain::{Contact, ContactRef, Conversation, StoredEvent};
use async_trait::async_trait;
use batch::Batcher;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Set on every connection. Each statement Parley sends is written against an index, and
/// its queue tables change faster than statistics follow them: in a fresh database, with
/// autovacuum off or behind, the planner estimated a handful of queued rows and chose a
/// bitmap scan and a sort, so every claim read and sorted the whole backlog (280 ms per
/// claim at 20,000 queued replies instead of 0.2 ms) and a burst became a collapse. With
/// these off, the claims walk their index in order and stop after `limit` rows whatever
/// the statistics say. JIT compiling is for long analytic queries; for Parley's short ones
/// it only adds compile time (hundreds of milliseconds) whenever a cost estimate is high.
const PLANNER_SETTINGS: [(&str, &str); 3] = [
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
    ("jit", "off"),
];

/// Writes one batch statement carries at most.
const MAX_BATCH: usize = 256;
/// Batch statements of one kind running at once (each on its own pooled connection). One:
/// writes that arrive while a batch runs make the next batch larger, which costs the
/// database less per write than two smaller batches side by side (measured: at 2,000/s
/// p99 51–69 ms with one, 55–379 ms with two).
const BATCHES_IN_FLIGHT: usize = 1;

/// A batcher (see `batch.rs`) running `run` on this pool.
fn batcher<J, R, Fut>(
    pool: &PgPool,
    kind: &'static str,
    run: fn(PgPool, Vec<J>) -> Fut,
) -> Batcher<J, R>
where
    J: Send + 'static,
    R: Send + 'static,
    Fut: std::future::Future<Output = Vec<StoreResult<R>>> + Send + 'static,
{
    let pool = pool.clone();
    Batcher::spawn(kind, MAX_BATCH, BATCHES_IN_FLIGHT, move |batch| {
        run(pool.clone(), batch)
    })
}

#[derive(Debug, Clone)]
pub struct PgStore {
    pub(super) pool: PgPool,
    /// Group commit of step commits without contact changes.
    steps: Batcher<StepCommit, Vec<i64>>,
    /// Group commit of accepted sends.
    accepts: Batcher<outbox::Outcome, ()>,
    /// Conversations' waiting work (conversation id, events wanted), read together.
    loads: Batcher<(i64, i64), ConversationWork>,
}

impl PgStore {
    /// Connects to `database.url` with a pool of `database.max_connections` and migrates.
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(&config.url)?;
        Self::connect_with(options, config.max_connections).await
    }

    /// Connects with explicit options (tests set `search_path` to a schema of their own).
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.options(PLANNER_SETTINGS))
            .await?;
        MIGRATOR.run(&pool).await?;
        let steps = batcher(&pool, "steps", inbox::commit_steps);
        let accepts = batcher(&pool, "accepted", outbox::record_accepted);
        let loads = batcher(&pool, "loads", inbox::load_work);
        Ok(Self {
            pool,
            steps,
            accepts,
            loads,
        })
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn lease_owners(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(&super::lease_owners_sql())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn release_leases_of(&self, owner: &str) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for table in super::LEASED_TABLES {
            n += sqlx::query(&format!(
                "update {table} set lease_owner = null, lease_until = null where lease_owner = $1"
            ))
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
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
