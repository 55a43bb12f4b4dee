//! PostgreSQL's monthly partitions (migration 0037, `postgres/partitions.rs`): the months
//! ahead exist from the start, a row of any time is stored (the default partition takes
//! what no month holds, and moves into its month when that month is created), old months
//! are dropped whole with the count of their rows, only the partitioned tables can be
//! named, one model exchange per event and call across months, and a database migrated
//! with rows in it keeps every row and its ids. SQLite has no partitions: these run on
//! PostgreSQL only and say SKIPPED without `PARLEY_TEST_POSTGRES_URL`.

use super::fixtures::*;
use crate::store::postgres::{PgStore, PARTITIONED_TABLES};
use crate::store::testing::{with_postgres, POSTGRES_URL_VAR};
use crate::store::{DynStore, ExchangeKind, ModelExchange};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPool};
use std::str::FromStr;
use std::sync::Arc;

fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, 12, 0, 0).unwrap()
}

fn exchange(event_id: i64, seq: i64, created_at: DateTime<Utc>, text: &str) -> ModelExchange {
    ModelExchange {
        conversation_id: 7,
        event_id,
        seq,
        kind: ExchangeKind::Chat,
        flow: "support".into(),
        step: "step 1 (line 4)".into(),
        model: "assistant".into(),
        request: json!({"messages": [{"role": "user", "text": "hi"}]}),
        answer: Some(json!({ "text": text })),
        error: None,
        input_tokens: 10,
        output_tokens: 3,
        cost_micros: 4,
        latency_ms: 20,
        created_at,
    }
}

/// The table (partition) holding model exchange `event_id`'s call `seq`.
async fn home_of(pool: &PgPool, event_id: i64) -> String {
    sqlx::query_scalar("select tableoid::regclass::text from model_exchanges where event_id = $1")
        .bind(event_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_this_month_and_the_next_three_exist_from_the_start() {
    with_postgres(|store: PgStore| async move {
        let this = crate::store::postgres::Month::of(Utc::now());
        for table in PARTITIONED_TABLES {
            let months = store.months(table).await.unwrap();
            let mut want = this;
            for _ in 0..4 {
                assert!(months.contains(&want), "{table}: {want:?} in {months:?}");
                want = crate::store::postgres::Month::of(want.end());
            }
            let default: bool = sqlx::query_scalar("select to_regclass($1) is not null")
                .bind(format!("{table}_default"))
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert!(default, "{table} has a default partition");
        }
        // At the next start (or the next day) nothing is created twice.
        assert_eq!(
            store.ensure_months(Utc::now(), Utc::now()).await.unwrap(),
            0
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_row_no_month_holds_is_kept_and_moves_into_its_month() {
    with_postgres(|store: PgStore| async move {
        let dyn_store: DynStore = Arc::new(store.clone());
        let old = at(2021, 5, 17);
        dyn_store
            .record_model_exchange(&exchange(1, 0, old, "from long ago"))
            .await
            .unwrap();
        assert_eq!(home_of(&store.pool, 1).await, "model_exchanges_default");
        // Creating May 2021 (for every partitioned table) moves the row into it.
        assert_eq!(store.ensure_months(old, old).await.unwrap(), 4);
        assert_eq!(home_of(&store.pool, 1).await, "model_exchanges_p202105");
        let read = dyn_store.model_exchange(1, 0).await.unwrap().unwrap();
        assert_eq!(read.answer, Some(json!({ "text": "from long ago" })));
        assert_eq!(store.ensure_months(old, old).await.unwrap(), 0);
    })
    .await
}

/// Writes an event out at `when`; its id.
async fn event_out(pool: &PgPool, when: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(
        "insert into events_out (kind, at, data) values ('message.received', $1, '{}')
         returning id",
    )
    .bind(when)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_months_entirely_before_a_time_are_dropped_whole() {
    with_postgres(|store: PgStore| async move {
        let pool = store.pool.clone();
        store
            .ensure_months(at(2021, 1, 1), at(2021, 4, 1))
            .await
            .unwrap();
        for when in [
            at(2021, 1, 3),
            at(2021, 1, 30),
            at(2021, 2, 14),
            at(2021, 3, 25),
            at(2021, 4, 2),
            at(2020, 12, 31), // no month for it: the default partition keeps it
        ] {
            event_out(&pool, when).await;
        }
        sqlx::query("insert into audit_log (at, actor, via, action) values ($1, 'k', 'api', 'x')")
            .bind(at(2021, 1, 5).timestamp_millis())
            .execute(&pool)
            .await
            .unwrap();

        // March 20th: January and February lie entirely before it, March does not.
        let dropped = store
            .drop_months_before("events_out", at(2021, 3, 20))
            .await
            .unwrap();
        assert_eq!(dropped, 3, "the rows January and February held");
        let left: Vec<DateTime<Utc>> = sqlx::query_scalar("select at from events_out order by at")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(
            left,
            vec![at(2020, 12, 31), at(2021, 3, 25), at(2021, 4, 2)]
        );
        let months = store.months("events_out").await.unwrap();
        assert_eq!(
            months.first().map(|m| m.start()),
            Some(Utc.with_ymd_and_hms(2021, 3, 1, 0, 0, 0).unwrap())
        );
        // Only the table named: the audit log's January is still there, until asked.
        assert_eq!(count(&pool, "audit_log_p202101").await, 1);
        assert_eq!(
            store
                .drop_months_before("audit_log", at(2021, 2, 1))
                .await
                .unwrap(),
            1
        );
        // Again: nothing left to drop.
        assert_eq!(
            store
                .drop_months_before("events_out", at(2021, 3, 20))
                .await
                .unwrap(),
            0
        );
    })
    .await
}

/// A month that still holds what retention must keep is not dropped: an event out an
/// endpoint has not been sent yet, a pending delivery, and model exchanges (the ledger of
/// model usage and cost) at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_month_holding_rows_that_must_stay_is_kept() {
    with_postgres(|store: PgStore| async move {
        let pool = store.pool.clone();
        let dyn_store: DynStore = Arc::new(store.clone());
        store
            .ensure_months(at(2021, 1, 1), at(2021, 2, 1))
            .await
            .unwrap();
        let january = event_out(&pool, at(2021, 1, 10)).await;
        let february = event_out(&pool, at(2021, 2, 10)).await;
        // An endpoint whose cursor has passed January's event but not February's, with
        // January's delivery pending.
        sqlx::query("insert into event_cursors (endpoint, last_event_id) values ('crm', $1)")
            .bind(january)
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "insert into event_deliveries (endpoint, event_id, kind, event_at, next_at)
             values ('crm', $1, 'message.received', $2, $2)",
        )
        .bind(january)
        .bind(at(2021, 1, 10))
        .execute(&pool)
        .await
        .unwrap();
        let before = at(2021, 3, 1);
        assert_eq!(
            store
                .drop_months_before("events_out", before)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .drop_months_before("event_deliveries", before)
                .await
                .unwrap(),
            0
        );
        assert_eq!(count(&pool, "events_out").await, 2);

        // Delivered: January's event and delivery may go; February's event still waits.
        sqlx::query("update event_deliveries set state = 'delivered'")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            store
                .drop_months_before("event_deliveries", before)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .drop_months_before("events_out", before)
                .await
                .unwrap(),
            1
        );
        let left: Vec<i64> = sqlx::query_scalar("select id from events_out")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(left, vec![february]);

        dyn_store
            .record_model_exchange(&exchange(1, 0, at(2021, 1, 5), "a"))
            .await
            .unwrap();
        assert_eq!(
            store
                .drop_months_before("model_exchanges", before)
                .await
                .unwrap(),
            0
        );
        assert!(dyn_store.model_exchange(1, 0).await.unwrap().is_some());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_a_partitioned_table_can_be_named() {
    with_postgres(|store: PgStore| async move {
        let dyn_store: DynStore = Arc::new(store.clone());
        receive(&dyn_store, "wamid.1", 1, t(0)).await;
        for table in [
            "contacts",
            "conversation_events",
            "contacts; drop table contacts",
        ] {
            let e = store
                .drop_months_before(table, at(2100, 1, 1))
                .await
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not a table partitioned by month"), "{e}");
            assert!(
                e.contains("model_exchanges, events_out, event_deliveries, audit_log"),
                "{e}"
            );
            assert!(store.months(table).await.is_err());
        }
        let contacts: i64 = sqlx::query_scalar("select count(*) from contacts")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(contacts, 1, "nothing changed");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_exchange_per_event_and_call_across_months() {
    with_postgres(|store: PgStore| async move {
        let dyn_store: DynStore = Arc::new(store.clone());
        store
            .ensure_months(at(2021, 1, 1), at(2021, 3, 1))
            .await
            .unwrap();
        let first = exchange(9, 0, at(2021, 1, 31), "first");
        assert_eq!(dyn_store.record_model_exchange(&first).await.unwrap(), None);
        // The same call recorded again in another month (a retry much later, another
        // process): the first stays and is the answer.
        let later = exchange(9, 0, at(2021, 3, 1), "later");
        assert_eq!(
            dyn_store.record_model_exchange(&later).await.unwrap(),
            Some(first.clone())
        );
        // Many processes at once: one row.
        let racing = (0..8u32).map(|n| {
            let dyn_store = dyn_store.clone();
            let x = exchange(10, 0, at(2021, 1 + n % 3, 1), &format!("r{n}"));
            tokio::spawn(async move { dyn_store.record_model_exchange(&x).await.unwrap() })
        });
        let answers = futures::future::join_all(racing).await;
        assert_eq!(
            answers
                .iter()
                .filter(|a| a.as_ref().unwrap().is_none())
                .count(),
            1
        );
        let rows: i64 = sqlx::query_scalar("select count(*) from model_exchanges")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(rows, 2);
    })
    .await
}

/// A database made before migration 0037, with rows in each of the four tables: after the
/// migration every row is there, in its month (or the default partition when it is older
/// than 24 months), read back through the store, and new rows continue the old ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_existing_database_keeps_its_rows_and_ids() {
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL partition migration test (set {POSTGRES_URL_VAR})"
        );
        return;
    };
    let schema = format!("parley_t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&url).await.expect("connect");
    sqlx::query(&format!("create schema {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    let before = PgPool::connect_with(options.clone()).await.unwrap();
    let list = crate::store::migrations::POSTGRES;
    let up_to = list.iter().position(|m| m.0 == 37).expect("migration 0037");
    crate::store::migrations::migrator(&list[..up_to])
        .await
        .unwrap()
        .run(&before)
        .await
        .unwrap();
    let last_month = Utc::now() - chrono::TimeDelta::days(31);
    let long_ago = at(2001, 1, 1);
    for (event, when) in [(1_i64, last_month), (2, long_ago)] {
        sqlx::query(
            "insert into model_exchanges (conversation_id, event_id, seq, kind, flow, step,
                 model, request, created_at) values (7, $1, 0, 'chat', 'f', 's', 'm', '{}', $2)",
        )
        .bind(event)
        .bind(when)
        .execute(&before)
        .await
        .unwrap();
    }
    sqlx::query("insert into events_out (kind, at, data) values ('message.received', $1, '{}')")
        .bind(last_month)
        .execute(&before)
        .await
        .unwrap();
    sqlx::query(
        "insert into event_deliveries (endpoint, event_id, kind, event_at, next_at)
         values ('crm', 1, 'message.received', $1, $1)",
    )
    .bind(last_month)
    .execute(&before)
    .await
    .unwrap();
    sqlx::query("insert into audit_log (at, actor, via, action) values ($1, 'k', 'api', 'x')")
        .bind(last_month.timestamp_millis())
        .execute(&before)
        .await
        .unwrap();
    before.close().await;

    let store = PgStore::connect_with(options, 2).await.expect("migrate");
    let outcome = tokio::spawn({
        let store = store.clone();
        async move {
            let month = format!("_p{}", last_month.format("%Y%m"));
            assert_eq!(
                home_of(&store.pool, 1).await,
                format!("model_exchanges{month}")
            );
            assert_eq!(home_of(&store.pool, 2).await, "model_exchanges_default");
            for table in ["events_out", "event_deliveries", "audit_log"] {
                let homes: Vec<String> =
                    sqlx::query_scalar(&format!("select tableoid::regclass::text from {table}"))
                        .fetch_all(&store.pool)
                        .await
                        .unwrap();
                assert_eq!(homes, vec![format!("{table}{month}")]);
            }
            let dyn_store: DynStore = Arc::new(store.clone());
            assert!(dyn_store.model_exchange(2, 0).await.unwrap().is_some());
            // The old ids go on: the next row takes id 3, and a duplicate call is refused.
            dyn_store
                .record_model_exchange(&exchange(3, 0, Utc::now(), "new"))
                .await
                .unwrap();
            let id: i64 = sqlx::query_scalar("select id from model_exchanges where event_id = 3")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(id, 3);
            assert!(dyn_store
                .record_model_exchange(&exchange(1, 0, Utc::now(), "again"))
                .await
                .unwrap()
                .is_some());
            let event: i64 = dyn_store.event_cursor("other").await.unwrap();
            assert_eq!(
                event, 1,
                "the cursor of a new endpoint starts after the last event"
            );
        }
    })
    .await;
    store.pool.close().await;
    let _ = sqlx::query(&format!("drop schema {schema} cascade"))
        .execute(&admin)
        .await;
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
