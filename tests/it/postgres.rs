//! The end-to-end path on PostgreSQL (skipped with a clear line when
//! PARLEY_TEST_POSTGRES_URL is not set; `.ci/run` sets it).

use crate::helpers::*;
use std::time::Duration;

/// A fresh database per test, so tests never see each other's rows.
pub async fn fresh_database() -> Option<String> {
    let Ok(base) = std::env::var("PARLEY_TEST_POSTGRES_URL") else {
        eprintln!("SKIPPED: PostgreSQL end-to-end test (set PARLEY_TEST_POSTGRES_URL)");
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("PARLEY_TEST_POSTGRES_URL reachable");
    let name = format!("parley_e2e_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("create database {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

#[tokio::test]
async fn postgres_duplicate_webhooks_give_one_reply_in_order() {
    let Some(url) = fresh_database().await else {
        return;
    };
    let app = spawn_with(Options {
        database_url: Some(url),
        ..Default::default()
    })
    .await;
    for i in 1..=10 {
        let body = meta_text(
            "16315551181",
            &format!("wamid.pg.{i}"),
            &format!("hi {i}"),
            now_unix(),
        );
        assert_eq!(app.post_meta(&body).await.status(), 200);
        assert_eq!(app.post_meta(&body).await.status(), 200);
    }
    let sends = app.wait_meta_sends(10, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sends_after = app.meta_sends().await;
    assert_eq!(
        sends_after.len(),
        10,
        "one reply per message, no duplicates"
    );
    let texts: Vec<&str> = sends.iter().map(body_text).collect();
    let expected: Vec<String> = (1..=10).map(|i| format!("echo: hi {i}")).collect();
    assert_eq!(texts, expected);
    app.shutdown().await;
}
