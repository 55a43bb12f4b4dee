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
mod audit;
mod batch;
mod broadcasts;
mod chatwoot;
mod column_groups;
mod contacts;
mod costs;
mod events_log;
mod events_out;
mod exchanges;
mod experiment_insights;
mod flow_saves;
mod identity;
mod inbox;
mod ingest;
mod insights;
mod knowledge_docs;
mod media;
mod outbox;
mod partitions;
mod reads;
mod retention;
mod rollouts;
mod routing;
mod rows;
mod schedules;
mod scores;
mod senders;
mod statuses;
mod timers;
mod unanswered;

#[cfg(test)]
pub(in crate::store) use outbox::CLAIM_SENDS;
pub use partitions::{Month, PARTITIONED_TABLES};

use super::{ConversationWork, Process, StoreError, StoreResult};
use crate::config::DatabaseConfig;
use async_trait::async_trait;
use batch::Batcher;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
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

/// Whether a connection to `url` (parsed as `options`) goes without TLS although no TLS mode
/// was asked for: the server is on this machine (a Unix socket, `localhost` or a loopback
/// address) and neither the URL (`sslmode`, `ssl-mode`) nor `PGSSLMODE` (`env_mode`) names
/// a mode. PostgreSQL's default mode, `prefer`, takes TLS whenever the server offers it and
/// checks no certificate; on loopback it protects nothing (the traffic never leaves the
/// machine, and `prefer` does not prove who answers) and costs every round trip: at 1,000
/// webhooks/s the end-to-end p50 was ~20 % lower without it (median of ten pairs of runs;
/// BENCHMARKS.md, "PostgreSQL on this machine without TLS").
fn plain_by_default(url: &str, options: &PgConnectOptions, env_mode: Option<&str>) -> bool {
    if env_mode.is_some_and(|m| !m.trim().is_empty()) {
        return false;
    }
    let asked = url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs()
            .any(|(k, _)| k == "sslmode" || k == "ssl-mode")
    });
    if asked {
        return false;
    }
    // A host that is a directory is a Unix socket's (`PGHOST=/var/run/postgresql`, or
    // sqlx's default when such a socket exists).
    if options.get_socket().is_some() || options.get_host().starts_with('/') {
        return true;
    }
    let host = options
        .get_host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The SQLSTATE of a connection `pg_hba.conf` lets in by no line
/// (`invalid_authorization_specification`).
const REFUSED: &str = "28000";

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
    /// Whether events out are recorded (`events_log`; shared by clones).
    pub(super) events: crate::store::Recording,
}

impl PgStore {
    /// Connects to `database.url` with a pool of `database.max_connections` and migrates.
    ///
    /// A server on this machine (a loopback address, `localhost` or a Unix socket) is
    /// reached without TLS unless the URL or `PGSSLMODE` says otherwise (`plain_by_default`);
    /// should it refuse a connection without TLS, Parley connects as the URL alone would
    /// have it (TLS if the server offers it).
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(&config.url)?;
        let env_mode = std::env::var("PGSSLMODE").ok();
        if !plain_by_default(&config.url, &options, env_mode.as_deref()) {
            return Self::connect_with(options, config.max_connections).await;
        }
        let plain = options.clone().ssl_mode(PgSslMode::Disable);
        match Self::connect_with(plain, config.max_connections).await {
            // The server refused the connection itself (`28000`, as `pg_hba.conf` does when
            // no line lets it in): perhaps it wants TLS even here (`hostssl`).
            Err(StoreError::Database(sqlx::Error::Database(e)))
                if e.code().as_deref() == Some(REFUSED) =>
            {
                tracing::info!(error = %e, "PostgreSQL refused a connection without TLS on this machine; connecting with TLS as the URL allows");
                Self::connect_with(options, config.max_connections).await
            }
            connected => connected,
        }
    }

    /// Connects with explicit options (tests set `search_path` to a schema of their own).
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> StoreResult<Self> {
        first_connection(
            &options.clone().options(PLANNER_SETTINGS),
            FIRST_CONNECTION_WAIT,
        )
        .await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.clone().options(PLANNER_SETTINGS))
            .await?;
        crate::store::migrations::migrator(crate::store::migrations::POSTGRES)
            .await?
            .run(&pool)
            .await?;
        if let Err(e) = partitions::ensure_months_ahead(&pool, chrono::Utc::now()).await {
            // Rows go to the default partition meanwhile; the daily run tries again.
            tracing::warn!(error = %e, "could not create the coming months' partitions at start");
        }
        partitions::keep_months_ahead(pool.clone());
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
            events: Default::default(),
        })
    }
}

/// How long a start waits for a server that cannot be reached yet (started after Parley).
const FIRST_CONNECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// One connection made by hand before the pools: a pool retries a server it cannot reach
/// until its 30 s acquire timeout and then says only "pool timed out". Here a server not
/// reachable yet (refused, no route) is tried again each second for `wait`, said at once in
/// the log, and the last attempt's own error is the answer; a refusal by the server itself
/// (no such database, a wrong password) is the answer at once.
async fn first_connection(
    options: &PgConnectOptions,
    wait: std::time::Duration,
) -> StoreResult<()> {
    use sqlx::{ConnectOptions, Connection};
    let deadline = tokio::time::Instant::now() + wait;
    let mut said = false;
    loop {
        let attempt = tokio::time::timeout(
            wait.max(std::time::Duration::from_secs(1)),
            options.connect(),
        )
        .await;
        let error = match attempt {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                return Ok(());
            }
            Ok(Err(sqlx::Error::Io(e))) => sqlx::Error::Io(e),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no answer from {}:{} within {}s",
                    options.get_host(),
                    options.get_port(),
                    wait.as_secs().max(1)
                ),
            )),
        };
        if tokio::time::Instant::now() + std::time::Duration::from_secs(1) > deadline {
            return Err(error.into());
        }
        if !said {
            said = true;
            tracing::warn!(host = options.get_host(), port = options.get_port(), error = %error, "PostgreSQL cannot be reached yet; trying again each second");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
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

#[cfg(test)]
mod tests {
    use super::{first_connection, plain_by_default, PgStore};
    use crate::config::DatabaseConfig;
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;

    fn plain(url: &str, env_mode: Option<&str>) -> bool {
        let options = PgConnectOptions::from_str(url).expect("a valid URL");
        plain_by_default(url, &options, env_mode)
    }

    /// Only a server on this machine with no TLS mode asked for goes without TLS.
    #[test]
    fn only_this_machine_without_a_tls_mode_goes_without_tls() {
        for url in [
            "postgres://root@127.0.0.1:5432/parley",
            "postgres://root@127.1.2.3/parley",
            "postgres://root@localhost/parley",
            "postgres://root@LOCALHOST:6543/parley?application_name=x",
            "postgres://root@[::1]:5432/parley",
            "postgres://root@localhost/parley?host=/var/run/postgresql",
            "postgres://root@%2Fvar%2Frun%2Fpostgresql/parley",
            "postgres://root@%2Ftmp/parley",
        ] {
            assert!(plain(url, None), "{url} is on this machine");
        }
        for url in [
            "postgres://root@db.example.com/parley",
            "postgres://root@10.0.0.5:5432/parley",
            "postgres://root@[2001:db8::1]/parley",
            "postgres://root@127.0.0.1/parley?sslmode=require",
            "postgres://root@localhost/parley?ssl-mode=prefer",
            "postgres://root@localhost/parley?sslmode=disable",
        ] {
            assert!(!plain(url, None), "{url} keeps its own mode");
        }
        // A socket's directory as the host (`PGHOST=/var/run/postgresql`, sqlx's default).
        let socket_dir = PgConnectOptions::new().host("/var/run/postgresql");
        assert!(plain_by_default("postgres:///parley", &socket_dir, None));
        assert!(!plain("postgres://root@127.0.0.1/parley", Some("require")));
        assert!(plain("postgres://root@127.0.0.1/parley", Some("")));
    }

    /// A server that cannot be reached is tried for the wait given, and the answer is its
    /// own error ("connection refused"), not the pool's "pool timed out" 30 s later.
    #[tokio::test]
    async fn an_unreachable_server_is_named_by_its_own_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let options =
            PgConnectOptions::from_str(&format!("postgres://root@127.0.0.1:{port}/parley"))
                .unwrap();
        let t0 = std::time::Instant::now();
        let e = first_connection(&options, std::time::Duration::from_secs(2))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.to_lowercase().contains("refused"), "{e}");
        assert!(!e.contains("pool timed out"), "{e}");
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(20),
            "{:?}",
            t0.elapsed()
        );
    }

    /// A server on this machine that refuses connections without TLS (as `hostssl` lines in
    /// `pg_hba.conf` would) is connected to again, with TLS if it offers it: here a fake
    /// server that refuses every connection and reports whether the second one asked for
    /// TLS first (PostgreSQL's `SSLRequest`).
    #[tokio::test]
    async fn a_refusal_without_tls_is_tried_again_with_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let mut first_bytes = Vec::new();
            for _ in 0..2 {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut head = [0_u8; 8];
                socket.read_exact(&mut head).await.unwrap();
                first_bytes.push(head == SSL_REQUEST);
                if head == SSL_REQUEST {
                    socket.write_all(b"N").await.unwrap();
                    socket.read_exact(&mut head).await.unwrap();
                }
                // The rest of the startup message, then the refusal.
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                let mut rest = vec![0_u8; len.saturating_sub(8)];
                socket.read_exact(&mut rest).await.unwrap();
                let mut fields = Vec::new();
                for (code, text) in [
                    (b'S', "FATAL"),
                    (b'V', "FATAL"),
                    (b'C', "28000"),
                    (
                        b'M',
                        "no pg_hba.conf entry for host \"127.0.0.1\", no encryption",
                    ),
                ] {
                    fields.push(code);
                    fields.extend_from_slice(text.as_bytes());
                    fields.push(0);
                }
                fields.push(0);
                let mut message = vec![b'E'];
                message.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                message.extend_from_slice(&fields);
                socket.write_all(&message).await.unwrap();
            }
            first_bytes
        });
        let config = DatabaseConfig {
            url: format!("postgres://parley@127.0.0.1:{port}/parley"),
            max_connections: 1,
            ..DatabaseConfig::default()
        };
        let refused = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            PgStore::connect(&config),
        )
        .await
        .expect("connect gives up on a refusal");
        assert!(refused.is_err(), "the fake server refuses every connection");
        let asked_tls = tokio::time::timeout(std::time::Duration::from_secs(5), server)
            .await
            .expect("a second connection, with TLS asked for, after the refusal")
            .unwrap();
        assert_eq!(
            asked_tls,
            [false, true],
            "first without TLS, then asking for it"
        );
    }

    /// `url` with `key=value` added to its query.
    fn with_param(url: &str, param: &str) -> String {
        let joint = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joint}{param}")
    }

    /// Whether the pool's connections use TLS, as the server sees them.
    async fn tls_in_use(store: &PgStore) -> bool {
        sqlx::query_scalar("select ssl from pg_stat_ssl where pid = pg_backend_pid()")
            .fetch_one(&store.pool)
            .await
            .expect("pg_stat_ssl")
    }

    /// What a server answers while its database is closed to connections (55000) or
    /// renamed away (3D000) is an outage to wait out, not a final error: a send outcome
    /// that meets it keeps being written (it used to be dropped, and the reply sent again).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_database_closed_to_connections_or_gone_is_a_transient_error() {
        let Ok(url) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
            eprintln!("SKIPPED: set PARLEY_TEST_POSTGRES_URL to test outage errors");
            return;
        };
        let admin = sqlx::PgPool::connect(&url).await.expect("connect");
        let name = format!("parley_t_{}", uuid::Uuid::new_v4().simple());
        let mut to = reqwest::Url::parse(&url).expect("a URL");
        to.set_path(&format!("/{name}"));
        let outage = |what: &'static str| {
            let to = to.to_string();
            async move {
                let err = sqlx::PgPool::connect(&to).await.expect_err(what);
                let e = crate::store::StoreError::from(err);
                assert!(e.is_transient(), "{what}: {e}");
            }
        };
        sqlx::query(&format!("create database {name}"))
            .execute(&admin)
            .await
            .expect("create a test database");
        sqlx::query(&format!("alter database {name} allow_connections false"))
            .execute(&admin)
            .await
            .expect("close it to connections");
        outage("a database closed to connections").await;
        sqlx::query(&format!("drop database {name}"))
            .execute(&admin)
            .await
            .expect("drop the test database");
        outage("a database that is not there").await;
    }

    /// Through `connect`, as the daemon opens it: the test server (on this machine) is
    /// reached without TLS; asked for in the URL, TLS is used when the server offers it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_on_this_machine_is_reached_without_tls_unless_asked() {
        let Ok(url) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
            eprintln!("SKIPPED: set PARLEY_TEST_POSTGRES_URL to test TLS on this machine");
            return;
        };
        if !plain(&url, std::env::var("PGSSLMODE").ok().as_deref()) {
            eprintln!(
                "SKIPPED: PARLEY_TEST_POSTGRES_URL is not on this machine or names a TLS mode"
            );
            return;
        }
        let admin = sqlx::PgPool::connect(&url).await.expect("connect");
        let schema = format!("parley_t_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("create schema {schema}"))
            .execute(&admin)
            .await
            .expect("create a test schema");
        let in_schema = with_param(&url, &format!("options[search_path]={schema}"));
        let config = |url: String| DatabaseConfig {
            url,
            max_connections: 2,
            ..DatabaseConfig::default()
        };
        let store = PgStore::connect(&config(in_schema.clone()))
            .await
            .expect("connect without TLS");
        let plain_used = tls_in_use(&store).await;
        store.pool.close().await;
        let server_offers: String = sqlx::query_scalar("show ssl")
            .fetch_one(&admin)
            .await
            .expect("show ssl");
        let asked = if server_offers == "on" {
            let store = PgStore::connect(&config(with_param(&in_schema, "sslmode=require")))
                .await
                .expect("connect with TLS");
            let used = tls_in_use(&store).await;
            store.pool.close().await;
            Some(used)
        } else {
            eprintln!("the test server offers no TLS: only the connection without it was checked");
            None
        };
        let _ = sqlx::query(&format!("drop schema {schema} cascade"))
            .execute(&admin)
            .await;
        admin.close().await;
        assert!(!plain_used, "a server on this machine was reached with TLS");
        assert_ne!(asked, Some(false), "sslmode=require was not honoured");
    }
}
