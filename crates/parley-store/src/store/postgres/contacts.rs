//! `Contacts` on PostgreSQL: imports upserted a batch per transaction (contacts found are
//! locked by `identity::link`, so a webhook for the same person waits); exports in id order.

use super::identity;
use super::rows::{self, json};
use super::PgStore;
use crate::domain::contact_file::ContactImport;
use crate::domain::{Contact, Id};
use crate::store::events_log::{import_events, opted_out, Imported};
use crate::store::{Contacts, ImportOutcome, StoreResult, IMPORT_BATCH};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::PgConnection;

#[async_trait]
impl Contacts for PgStore {
    async fn import_contacts(
        &self,
        rows: &[ContactImport],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ImportOutcome>> {
        let mut outcomes = Vec::with_capacity(rows.len());
        let tell = self.events.on();
        for batch in rows.chunks(IMPORT_BATCH) {
            let mut tx = self.pool.begin().await?;
            for row in batch {
                outcomes.push(import_one(&mut tx, row, now, tell).await?);
            }
            tx.commit().await?;
        }
        Ok(outcomes)
    }

    async fn export_contacts(&self, after: Id, limit: i64) -> StoreResult<Vec<Contact>> {
        let found = sqlx::query(
            "select id, key, name, attributes, tags, created_at, bsuid, username from contacts
             where id > $1 and merged_into is null order by id limit $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| rows::contact(r, "id", "created_at"))
            .collect()
    }
}

async fn import_one(
    conn: &mut PgConnection,
    row: &ContactImport,
    now: DateTime<Utc>,
    tell: bool,
) -> StoreResult<ImportOutcome> {
    let ids = row.identities();
    // Events out: the name before the row, to tell whether it changed.
    let name_before: Option<String> = if tell {
        sqlx::query_scalar::<_, Option<String>>(
            "select name from contacts where phone = $1 or bsuid = $2 order by id limit 1",
        )
        .bind(&ids.phone)
        .bind(&ids.bsuid)
        .fetch_optional(&mut *conn)
        .await?
        .flatten()
    } else {
        None
    };
    let existed: bool =
        sqlx::query_scalar("select exists (select 1 from contacts where phone = $1 or bsuid = $2)")
            .bind(&ids.phone)
            .bind(&ids.bsuid)
            .fetch_one(&mut *conn)
            .await?;
    let Some((id, _)) =
        identity::link(conn, &ids, None, row.name.as_deref(), None, now, true).await?
    else {
        return Ok(ImportOutcome::Refused(
            "neither phone nor user_id: give at least one".into(),
        ));
    };
    let found = sqlx::query("select attributes, tags from contacts where id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let mut attributes: Map<String, Value> = json(&found, "attributes")?;
    let mut tags: Vec<String> = json(&found, "tags")?;
    let before = (attributes.clone(), tags.clone());
    // The name is set by `link`.
    let patch = row.patch();
    patch.apply_to(&mut None, &mut attributes, &mut tags);
    if patch.opts_out() {
        super::outbox::stop_queued_sends(conn, id, now).await?;
    }
    let changed = (&attributes, &tags) != (&before.0, &before.1);
    if tell {
        let (key, name, bsuid): (String, Option<String>, Option<String>) =
            sqlx::query_as("select key, name, bsuid from contacts where id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        let events = import_events(&Imported {
            contact: (id, key, name, bsuid),
            created: !existed,
            name_before,
            row,
            changed,
            was_out: opted_out(&before.0),
            now,
        });
        super::events_log::insert_events(conn, &events).await?;
    }
    if changed {
        sqlx::query("update contacts set attributes = $2, tags = $3 where id = $1")
            .bind(id)
            .bind(Json(&attributes))
            .bind(Json(&tags))
            .execute(&mut *conn)
            .await?;
    }
    Ok(if existed {
        ImportOutcome::Updated(id)
    } else {
        ImportOutcome::Created(id)
    })
}
