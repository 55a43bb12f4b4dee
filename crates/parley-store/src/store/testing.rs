//! What tests of the store need, here and in the crates above (feature `test-support`):
//! a fresh store on each backend and the fixtures the conformance suite is written with.

use super::postgres::PgStore;
use super::DynStore;
use crate::config::{DatabaseConfig, SqliteSynchronous};
use sqlx::postgres::{PgConnectOptions, PgPool};
use std::future::Future;
use std::io::Write;
use std::str::FromStr;
use std::sync::{Arc, Once};

pub mod fixtures;

pub const POSTGRES_URL_VAR: &str = "PARLEY_TEST_POSTGRES_URL";

/// Runs a scenario on a brand-new SQLite file, opened through `store::connect` like the
/// daemon does.
pub async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("create a temporary directory");
    scenario(sqlite_in(dir.path()).await).await;
}

/// A new SQLite store in `dir/parley.db`, opened through `store::connect` like the daemon
/// does (for other modules' tests too).
pub async fn sqlite_in(dir: &std::path::Path) -> DynStore {
    let config = DatabaseConfig {
        url: format!("sqlite://{}", dir.join("parley.db").display()),
        max_connections: 4,
        sqlite_synchronous: SqliteSynchronous::Normal,
    };
    let store = super::connect(&config)
        .await
        .expect("open the SQLite store");
    assert_eq!(store.backend(), "sqlite");
    store
}

/// Runs a scenario in a schema of its own, dropped afterwards even when the scenario fails.
pub async fn on_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(DynStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    with_postgres(|store: PgStore| {
        let store: DynStore = Arc::new(store);
        assert_eq!(store.backend(), "postgres");
        scenario(store)
    })
    .await
}

/// `on_postgres` for a scenario that needs the PostgreSQL store itself.
pub async fn with_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(PgStore) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        static SKIPPED: Once = Once::new();
        // Straight to stderr: the test harness would swallow `eprintln!` of a passing test.
        SKIPPED.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: PostgreSQL conformance tests (set {POSTGRES_URL_VAR})"
            );
        });
        return;
    };
    let schema = format!("parley_t_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPool::connect(&url)
        .await
        .expect("connect to PARLEY_TEST_POSTGRES_URL");
    sqlx::query(&format!("create schema {schema}"))
        .execute(&admin)
        .await
        .expect("create a test schema");

    let options = PgConnectOptions::from_str(&url)
        .expect("parse PARLEY_TEST_POSTGRES_URL")
        .options([("search_path", schema.as_str())]);
    let store = PgStore::connect_with(options, 4)
        .await
        .expect("open the PostgreSQL store");
    let pool = store.pool.clone();
    let outcome = tokio::spawn(scenario(store)).await;

    pool.close().await;
    let _ = sqlx::query(&format!("drop schema {schema} cascade"))
        .execute(&admin)
        .await;
    admin.close().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
