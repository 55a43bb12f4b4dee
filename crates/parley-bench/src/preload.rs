//! `--preload N`: fills Parley's database with N finished conversations before the run, to
//! show that latency and memory do not grow with what is stored. Each has its contact, one
//! processed inbound message and one accepted reply, written straight into the database
//! (Parley is up and idle meanwhile; its own migrations made the tables).

use anyhow::Context;
use std::path::Path;
use std::time::Instant;

/// Contacts are `+31600000001`… so they never collide with the load's `+1555…` ones.
const SQLITE: &str = "
with recursive n(i) as (select 1 union all select i + 1 from n where i < ?1)
insert into contacts (key, name, created_at)
select '+31' || (600000000 + i), 'Preloaded ' || i, ?2 from n;

insert into conversations (sender_id, contact_id, last_inbound_at, state, created_at)
select 1, id, ?2, '{\"step\":\"done\"}', ?2 from contacts where key like '+316%';

insert into conversation_events
    (conversation_id, sender_id, provider_message_id, kind, payload, received_at, processed_at)
select v.id, 1, 'wamid.preload.' || v.id, 'message',
       '{\"kind\":\"message\",\"text\":\"a message stored before the run\"}', ?2, ?2
from conversations v join contacts c on c.id = v.contact_id where c.key like '+316%';

insert into outbound_messages
    (sender_id, conversation_id, payload, fallback, origin, status, provider_message_id,
     next_attempt_at, created_at, updated_at)
select 1, v.id, '{\"to\":\"' || c.key || '\",\"content\":{\"kind\":\"text\",\"body\":\"a reply\"}}',
       '\"fail\"', 'flow', 'accepted', 'wamid.preload.out.' || v.id, ?2, ?2, ?2
from conversations v join contacts c on c.id = v.contact_id where c.key like '+316%';
";

const POSTGRES: [&str; 4] = [
    "insert into contacts (key, name, created_at)
     select '+31' || (600000000 + i), 'Preloaded ' || i, now() from generate_series(1, $1) i",
    "insert into conversations (sender_id, contact_id, last_inbound_at, state, created_at)
     select 1, id, now(), '{\"step\":\"done\"}', now() from contacts where key like '+316%'",
    "insert into conversation_events
         (conversation_id, sender_id, provider_message_id, kind, payload, received_at, processed_at)
     select v.id, 1, 'wamid.preload.' || v.id, 'message',
            '{\"kind\":\"message\",\"text\":\"a message stored before the run\"}', now(), now()
     from conversations v join contacts c on c.id = v.contact_id where c.key like '+316%'",
    "insert into outbound_messages
         (sender_id, conversation_id, payload, fallback, origin, status, provider_message_id,
          next_attempt_at, created_at, updated_at)
     select 1, v.id, jsonb_build_object('to', c.key, 'content',
                jsonb_build_object('kind', 'text', 'body', 'a reply')),
            '\"fail\"', 'flow', 'accepted', 'wamid.preload.out.' || v.id, now(), now(), now()
     from conversations v join contacts c on c.id = v.contact_id where c.key like '+316%'",
];

/// Preloads a SQLite database file; returns the seconds it took.
pub fn sqlite(path: &Path, conversations: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut conn = rusqlite::Connection::open(path).context("opening the SQLite file")?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let now = chrono::Utc::now().timestamp_micros();
    let tx = conn.transaction()?;
    for statement in SQLITE.split(";\n").filter(|s| !s.trim().is_empty()) {
        let mut stmt = tx.prepare(statement)?;
        // `?1` (how many) appears in the first statement only; bind by number.
        if statement.contains("?1") {
            stmt.raw_bind_parameter(1, conversations as i64)?;
        }
        stmt.raw_bind_parameter(2, now)?;
        stmt.raw_execute()?;
    }
    tx.commit()?;
    conn.execute_batch("analyze")?;
    Ok(started.elapsed().as_secs_f64())
}

/// Preloads a PostgreSQL database; returns the seconds it took.
pub async fn postgres(url: &str, conversations: u64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let pool = sqlx::PgPool::connect(url).await?;
    let mut tx = pool.begin().await?;
    for (i, statement) in POSTGRES.iter().enumerate() {
        let query = sqlx::query(statement);
        let query = if i == 0 {
            query.bind(conversations as i64)
        } else {
            query
        };
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    sqlx::query("analyze").execute(&pool).await?;
    pool.close().await;
    Ok(started.elapsed().as_secs_f64())
}
