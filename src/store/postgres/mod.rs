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
//! Each trait of the store is implemented in the file of its concept: `ingest` (webhooks),
//! `inbox` (contacts, conversations, leases, steps), `outbox` (sends), `senders` (stopped
//! senders), `timers`, `schedules` (system events, schedule fires, audiences, pacing),
//! `media` (inbound media downloads) and `reads` (the API's listings); `Process` is here. They share only `rows` (row decoders
//! and the statements several of them run) and `statuses` (delivery statuses, applied by
//! `ingest` and replayed by `outbox`), which import none of them. Step commits, accepted sends and work loads
//! of many conversations are batched into one statement each (`batch`: group commit).
//! Work a process has no room for is announced to the others (`announce`: `NOTIFY` from
//! the statement that stores webhooks, `LISTEN` on a connection of each process's own).

mod account;
mod announce;
mod batch;
mod broadcasts;
mod contacts;
mod costs;
mod exchanges;
mod identity;
mod inbox;
mod ingest;
mod insights;
mod media;
mod outbox;
mod reads;
mod rows;
mod schedules;
mod senders;
mod statuses;
mod timers;

#[cfg(test)]
pub(in crate::store) use outbox::CLAIM_SENDS;

use super::{ConversationWork, Process, StoreResult};
use crate::config::DatabaseConfig;
use async_trait::async_trait;
use batch::Batcher;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;

/// Set on every connection. Each statement Parley sends is written against an index, and
/// its queue tables change faster than statistics follow them: in a fresh database, with
/// autovacuum off or behind, the planner estimated a handful of queued rows and chose a
/// bitmap scan and a sort, so every claim read and sorted the whole backlog (280 ms per
/// claim at 20,000 queued replies instead of 0.2 ms) and a burst became a collapse. With
/// these off, the claims walk their index in order and stop after `limit` rows whatever
/// the statistics say. JIT compiling is for long analytic queries; for Parley's short ones
/// it only adds compile time (hundreds of milliseconds) whenever a cost estimate is high.
///
/// Every statement is prepared once per connection and, with these settings, has one good
/// plan whatever its parameters: a generic plan is made once and reused. Left to choose,
/// PostgreSQL kept planning the statements over arrays (the batched loads and accepted
/// sends, the early-status lookup) afresh at every call, 0.3–0.4 ms each, which at 100
/// messages a second was a third of the database's CPU (measured with
/// `pg_stat_statements`: 4.3 ms of server CPU per message with custom plans, 2.8 ms with
/// generic ones; BENCHMARKS.md, "PostgreSQL: plans once, replies handed over"). A
/// generic plan is made with the statistics of its first use, often while the tables are
/// small, and kept for the connection's life: each statement is written so that its
/// shape does not depend on them (lookups are index probes, never joins over a queue's
/// whole index; see the event check in the step batch).
const PLANNER_SETTINGS: [(&str, &str); 4] = [
    ("enable_seqscan", "off"),
    ("enable_bitmapscan", "off"),
    ("jit", "off"),
    ("plan_cache_mode", "force_generic_plan"),
];

/// Writes one batch statement carries at most.
const MAX_BATCH: usize = 256;
/// Connections of the pool for lease statements (claims and renewals).
const LEASE_CONNECTIONS: u32 = 4;
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
    /// Connections whose commits do not wait for the disk (`synchronous_commit = off`),
    /// for statements that only take or renew leases: a lease lost in a database crash is
    /// harmless (every effect is guarded by the lease it was made under, and a lost lease
    /// is simply claimed again), and a claim on the hot path no longer waits for a flush.
    pub(super) leases: PgPool,
    /// Group commit of step commits without contact changes.
    steps: Batcher<inbox::StepJob, super::Committed>,
    /// Group commit of accepted sends.
    accepts: Batcher<outbox::Outcome, crate::store::NextSend>,
    /// Conversations' waiting work (conversation id, events wanted), read together.
    loads: Batcher<(i64, i64), ConversationWork>,
    /// How to connect, for the connection that listens for other processes' work.
    options: PgConnectOptions,
    /// Where this process's inbox claims look for leases that ran out (shared by clones).
    expired_walk: std::sync::Arc<std::sync::Mutex<inbox::ExpiredWalk>>,
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
            .connect_with(options.clone().options(PLANNER_SETTINGS))
            .await?;
        crate::store::migrations::migrator(crate::store::migrations::POSTGRES)
            .await?
            .run(&pool)
            .await?;
        let leases = PgPoolOptions::new()
            .max_connections(LEASE_CONNECTIONS.min(max_connections.max(1)))
            .connect_with(
                options
                    .clone()
                    .options(PLANNER_SETTINGS)
                    .options([("synchronous_commit", "off")]),
            )
            .await?;
        let steps = batcher(&pool, "steps", inbox::commit_steps);
        let accepts = batcher(&pool, "accepted", outbox::record_accepted);
        let loads = batcher(&pool, "loads", inbox::load_work);
        Ok(Self {
            pool,
            leases,
            steps,
            accepts,
            loads,
            options,
            expired_walk: Default::default(),
        })
    }
}

#[async_trait]
impl Process for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn lease_owners(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(&super::sql::lease_owners_sql())
            .fetch_all(&self.pool)
            .await?)
    }

    async fn release_leases_of(&self, owner: &str) -> StoreResult<u64> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for table in super::sql::LEASED_TABLES {
            n += sqlx::query(&format!(
                "update {table} set {} where lease_owner = $1",
                super::sql::give_back(table, "'-infinity'")
            ))
            .bind(owner)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// `NOTIFY`s from the statements that store webhooks (`announce`).
    fn work_announcements(&self) -> Option<tokio::sync::mpsc::Receiver<()>> {
        Some(announce::listen(self.options.clone()))
    }
}
