//! The store conformance suite: every scenario is written once against `DynStore` and run
//! on both backends, SQLite (a fresh database file per test) and PostgreSQL (a fresh schema
//! per test in the database named by `PARLEY_TEST_POSTGRES_URL`; skipped when unset).
//!
//! Run with `cargo test -p parley-store`. Scenario modules end with `conformance!(...)`,
//! which generates `<module>::sqlite::<scenario>` and `<module>::postgres::<scenario>`.

use super::postgres::PgStore;
use super::testing::*;
use super::DynStore;
use crate::config::DatabaseConfig;
use sqlx::postgres::{PgConnectOptions, PgPool};
use std::future::Future;
use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;

/// Generates one test per backend for each named scenario of the calling module.
macro_rules! conformance {
    ($($scenario:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::store::testing::on_sqlite(super::$scenario).await
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::store::testing::on_postgres(super::$scenario).await
                }
            )+
        }
    };
}

// Declared after the macro so that they see it.
mod account;
mod audit;
mod broadcasts;
mod chatwoot;
mod contacts;
mod costs;
mod events_log;
mod events_out;
mod exchanges;
mod experiment_insights;
mod flow_saves;
mod handoff;
mod identity;
mod inbox;
mod ingest;
mod insights;
mod knowledge_docs;
mod media;
mod outbox;
mod partitions;
mod process;
mod reads;
mod retention;
mod rollouts;
mod routing;
mod schedules;
mod scores;
mod timers;
mod unanswered;

#[tokio::test]
async fn sqlite_in_memory_database_reads_what_it_wrote() {
    let config = DatabaseConfig {
        url: "sqlite::memory:".into(),
        ..DatabaseConfig::default()
    };
    let store = super::connect(&config)
        .await
        .expect("open an in-memory SQLite store");
    let (_, conversation) = fixtures::receive(&store, "wamid.1", 1, fixtures::t(0)).await;
    let found = store
        .find_conversation(fixtures::SENDER, &fixtures::customer(1).key())
        .await;
    assert_eq!(found.expect("read").map(|c| c.id), Some(conversation));
    store.ping().await.expect("ping");
}

/// The outbox claim walks its index in order and stops after `limit` rows even in a fresh
/// database that was never analyzed (the planner settings of `PgStore`): without them the
/// planner took a bitmap scan and sorted the whole backlog on every claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outbox_claim_walks_its_index_without_statistics() {
    with_postgres(|store: PgStore| async move {
        let dyn_store: DynStore = Arc::new(store.clone());
        let mut backlog = Vec::new();
        for n in 1..=200u32 {
            let conversation = dyn_store
                .ensure_conversation(
                    fixtures::SENDER,
                    &fixtures::customer(n),
                    None,
                    fixtures::t(0),
                )
                .await
                .unwrap()
                .id;
            for k in 0..10 {
                backlog.push(fixtures::text_to(conversation, n, &format!("m{k}")));
            }
        }
        dyn_store.enqueue(&backlog, fixtures::t(0)).await.unwrap();
        let plan: Vec<String> =
            sqlx::query_scalar(&format!("explain {}", crate::store::postgres::CLAIM_SENDS))
                .bind("o")
                .bind(fixtures::t(30))
                .bind(fixtures::t(1))
                .bind(32_i64)
                .bind(fixtures::t(90))
                .bind("in doubt")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Scan using outbound_messages_ready"),
            "{plan}"
        );
        for node in ["Sort", "Bitmap", "Seq Scan"] {
            assert!(
                !plan.contains(node),
                "a {node} in the claim's plan:\n{plan}"
            );
        }
    })
    .await
}

/// Runs `waiting` (which waits for rows `holding` changed) and commits `holding` once
/// `waiting` has had time to take its snapshot and wait; returns what `waiting` gave. Should
/// `waiting` start late on a loaded machine, it sees the commit instead: the race's other
/// order, which every test using this must pass too.
async fn commit_while_it_waits<T: Send + 'static>(
    holding: sqlx::Transaction<'static, sqlx::Postgres>,
    waiting: impl Future<Output = T> + Send + 'static,
) -> T {
    let waiting = tokio::spawn(waiting);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holding.commit().await.unwrap();
    waiting.await.unwrap()
}

/// An ingest that locked the conversation first, added an event and committed while a
/// releasing step (or a plain release) waited for the row: the new event keeps the
/// conversation claimable. Without the `xmin` check of `release_lease`, the release's
/// snapshot missed the event and cleared `has_work`, and the message was never answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_event_committed_while_a_release_waits_is_not_lost() {
    with_postgres(|store: PgStore| async move {
        use fixtures::*;
        let dyn_store: DynStore = Arc::new(store.clone());
        for (round, by_step) in [(1, true), (2, false)] {
            let (event, conversation) =
                receive(&dyn_store, &format!("wamid.race.{round}"), round, t(0)).await;
            assert_eq!(
                dyn_store
                    .claim_conversations("o", t(1), LEASE, 10)
                    .await
                    .unwrap(),
                vec![conversation]
            );
            if !by_step {
                // The step is done; the conversation is given back by a plain release.
                dyn_store
                    .commit_step(&step(conversation, event, "o", t(2)))
                    .await
                    .unwrap();
            }
            // The "ingest": holds the conversation's row while it adds an event.
            let mut ingest = store.pool.begin().await.unwrap();
            sqlx::query("update conversations set has_work = true where id = $1")
                .bind(conversation)
                .execute(&mut *ingest)
                .await
                .unwrap();
            sqlx::query(
                "insert into conversation_events
                     (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
                 select conversation_id, sender_id, provider_message_id || '.late', kind,
                        payload, received_at
                 from conversation_events where id = $1",
            )
            .bind(event)
            .execute(&mut *ingest)
            .await
            .unwrap();
            // The release is waiting on the row (its snapshot taken) when the ingest commits.
            let releasing = {
                let dyn_store = dyn_store.clone();
                async move {
                    if by_step {
                        let mut last = step(conversation, event, "o", t(2));
                        last.release = true;
                        dyn_store.commit_step(&last).await.map(|_| ())
                    } else {
                        dyn_store.release_conversation(conversation, "o").await
                    }
                }
            };
            commit_while_it_waits(ingest, releasing).await.unwrap();
            assert_eq!(
                dyn_store
                    .claim_conversations("p", t(3), LEASE, 10)
                    .await
                    .unwrap(),
                vec![conversation],
                "round {round}: the event that arrived during the release is still work"
            );
        }
    })
    .await;
}

/// A step that commits a reply while its conversation's previous reply is being recorded
/// as accepted (the record's transaction holds that row): the step waits for the record
/// and sees the previous reply as it now is, so its reply is next in line and handed over.
/// Read from the step's snapshot, the previous reply still looked queued, nothing was
/// handed over, and the record's own look for queued messages had run before the step
/// committed: the reply waited for the outbox's poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_reply_behind_a_send_being_recorded_is_handed_over() {
    with_postgres(|store: PgStore| async move {
        use fixtures::*;
        let dyn_store: DynStore = Arc::new(store.clone());
        let (first_event, conversation) = receive(&dyn_store, "wamid.1", 1, t(0)).await;
        dyn_store
            .claim_work("a", t(1), LEASE, 10, 32)
            .await
            .unwrap();
        let (second_event, _) = receive(&dyn_store, "wamid.2", 1, t(1)).await;
        let mut commit = step(conversation, first_event, "a", t(2));
        commit.outbound = vec![text_to(conversation, 1, "one")];
        let one = dyn_store
            .commit_step_and_claim(&commit, Some(LEASE))
            .await
            .unwrap()
            .handed
            .expect("handed");
        // "one" is being recorded as accepted: its row is held until the record commits.
        let mut record = store.pool.begin().await.unwrap();
        sqlx::query(
            "update outbound_messages set status = 'accepted',
                 provider_message_id = 'wamid.out1', lease_owner = null, lease_until = null
             where id = $1",
        )
        .bind(one.id)
        .execute(&mut *record)
        .await
        .unwrap();
        // The step has taken its snapshot and waits for "one" when the record commits.
        let stepping = {
            let dyn_store = dyn_store.clone();
            async move {
                let mut commit = step(conversation, second_event, "a", t(3));
                commit.outbound = vec![text_to(conversation, 1, "two")];
                commit.release = true;
                dyn_store.commit_step_and_claim(&commit, Some(LEASE)).await
            }
        };
        let committed = commit_while_it_waits(record, stepping).await.unwrap();
        let handed = committed
            .handed
            .expect("\"two\" is next in line: handed over");
        assert_eq!(handed.id, committed.ids[0]);
        assert!(claim_ids(&dyn_store, "b", t(4), 10).await.is_empty());
    })
    .await;
}

/// Another process stores a message for a conversation (holding its row) while an ingest
/// that claims for its inbox waits for that row, its snapshot taken before the other
/// commits: the work handed over holds both messages, not only the ingest's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_work_stored_by_another_process_meanwhile_is_handed_over_too() {
    with_postgres(|store: PgStore| async move {
        use fixtures::*;
        let dyn_store: DynStore = Arc::new(store.clone());
        let (event, conversation) = receive(&dyn_store, "wamid.1", 1, t(0)).await;
        dyn_store
            .claim_work("a", t(1), LEASE, 10, 32)
            .await
            .unwrap();
        let mut done = step(conversation, event, "a", t(2));
        done.release = true;
        dyn_store.commit_step(&done).await.unwrap();
        // The other process's ingest: the row locked, an event added, `has_work` set.
        let mut other = store.pool.begin().await.unwrap();
        sqlx::query("update conversations set has_work = true, work_since = $2 where id = $1")
            .bind(conversation)
            .bind(t(3))
            .execute(&mut *other)
            .await
            .unwrap();
        sqlx::query(
            "insert into conversation_events
                 (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
             select conversation_id, sender_id, 'wamid.other', kind, payload, $2
             from conversation_events where id = $1",
        )
        .bind(event)
        .bind(t(3))
        .execute(&mut *other)
        .await
        .unwrap();
        // The ingest has taken its snapshot and waits for the row when the other commits.
        let ingesting = {
            let dyn_store = dyn_store.clone();
            async move { ingest_one(&dyn_store, "wamid.2", 1, 4, "b").await }
        };
        let handed = commit_while_it_waits(other, ingesting).await;
        let work = read_the_one_handed(&dyn_store, handed).await;
        assert_eq!(work.conversation.id, conversation);
        assert_eq!(work.events.len(), 2, "{work:?}");
    })
    .await;
}

/// Several processes starting at once on a fresh PostgreSQL database (a deploy of two
/// replicas, a restart after an upgrade): every one of them starts, and each migration is
/// applied exactly once (sqlx holds an advisory lock while it migrates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_run_once_when_processes_start_together() {
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL migration test (set {POSTGRES_URL_VAR})"
        );
        return;
    };
    let schema = format!("parley_t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&url).await.expect("connect");
    sqlx::query(&format!("create schema {schema}"))
        .execute(&admin)
        .await
        .expect("create a test schema");
    let options = PgConnectOptions::from_str(&url)
        .expect("parse the URL")
        .options([("search_path", schema.as_str())]);
    let starts = (0..4).map(|_| tokio::spawn(PgStore::connect_with(options.clone(), 2)));
    let stores: Vec<_> = futures::future::join_all(starts).await;
    let applied: Result<Vec<(i64, i64)>, _> = sqlx::query_as(&format!(
        "select version, count(*) from {schema}._sqlx_migrations group by version order by version"
    ))
    .fetch_all(&admin)
    .await;
    for store in stores {
        let store = store.expect("join").expect("every process starts");
        store.pool.close().await;
    }
    let _ = sqlx::query(&format!("drop schema {schema} cascade"))
        .execute(&admin)
        .await;
    let applied = applied.expect("read the migrations table");
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("list migrations")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    assert_eq!(applied.len(), files, "every migration applied");
    assert!(
        applied.iter().all(|(_, n)| *n == 1),
        "each migration applied once: {applied:?}"
    );
}
