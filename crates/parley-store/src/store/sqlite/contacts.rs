//! `Contacts` on SQLite: imports upserted on the writer thread, a batch per transaction;
//! exports read in id order from the reader pool.

use super::identity;
use super::rows::{self, from_text, json_text, micros};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::contact_file::ContactImport;
use crate::domain::{Contact, Id};
use crate::store::events_log::{import_events, opted_out, Imported};
use crate::store::{Contacts, ImportOutcome, StoreResult, IMPORT_BATCH};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use serde_json::{Map, Value};

#[async_trait]
impl Contacts for SqliteStore {
    async fn import_contacts(
        &self,
        rows: &[ContactImport],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<ImportOutcome>> {
        let now = micros(now);
        let tell = self.events.on();
        let mut outcomes = Vec::with_capacity(rows.len());
        for batch in rows.chunks(IMPORT_BATCH) {
            let batch = batch.to_vec();
            let done = self
                .writer
                .run(move |conn| {
                    batch
                        .iter()
                        .map(|row| import_one(conn, row, now, tell))
                        .collect::<StoreResult<Vec<_>>>()
                })
                .await?;
            outcomes.extend(done);
        }
        Ok(outcomes)
    }

    async fn export_contacts(&self, after: Id, limit: i64) -> StoreResult<Vec<Contact>> {
        let found = sqlx::query(
            "select id, key, name, attributes, tags, created_at, bsuid, username from contacts
             where id > ?1 and merged_into is null order by id limit ?2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        found
            .iter()
            .map(|r| rows::contact(r, "id", "created_at"))
            .collect()
    }
}

fn import_one(
    conn: &Conn<'_>,
    row: &ContactImport,
    now: i64,
    tell: bool,
) -> StoreResult<ImportOutcome> {
    let ids = row.identities();
    // Events out: the name before the row, to tell whether it changed.
    let name_before: Option<String> = if tell {
        conn.prepare_cached(
            "select name from contacts where phone = ?1 or bsuid = ?2 order by id limit 1",
        )?
        .query_row(params![ids.phone, ids.bsuid], |r| r.get(0))
        .optional()?
        .flatten()
    } else {
        None
    };
    let existed: bool = conn
        .prepare_cached(
            "select exists (select 1 from contacts where phone = ?1)
                 or exists (select 1 from contacts where bsuid = ?2)",
        )?
        .query_row(params![ids.phone, ids.bsuid], |r| r.get(0))?;
    let Some((id, _)) = identity::link(conn, &ids, None, row.name.as_deref(), None, now, true)?
    else {
        return Ok(ImportOutcome::Refused(
            "neither phone nor user_id: give at least one".into(),
        ));
    };
    let (attributes, tags): (String, String) = conn
        .prepare_cached("select attributes, tags from contacts where id = ?1")?
        .query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut attributes: Map<String, Value> = from_text("contact attributes", &attributes)?;
    let mut tags: Vec<String> = from_text("contact tags", &tags)?;
    let before = (attributes.clone(), tags.clone());
    // The name is set by `link`.
    let patch = row.patch();
    patch.apply_to(&mut None, &mut attributes, &mut tags);
    if patch.opts_out() {
        super::outbox::stop_queued_sends(conn, id, now)?;
    }
    let changed = (&attributes, &tags) != (&before.0, &before.1);
    if tell {
        let (key, name, bsuid): (String, Option<String>, Option<String>) = conn
            .prepare_cached("select key, name, bsuid from contacts where id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        let events = import_events(&Imported {
            contact: (id, key, name, bsuid),
            created: !existed,
            name_before,
            row,
            changed,
            was_out: opted_out(&before.0),
            now: rows::time(now)?,
        });
        super::events_log::insert_events(conn, &events)?;
    }
    if changed {
        conn.prepare_cached("update contacts set attributes = ?2, tags = ?3 where id = ?1")?
            .execute(params![
                id,
                json_text("contact attributes", &attributes)?,
                json_text("contact tags", &tags)?
            ])?;
    }
    Ok(if existed {
        ImportOutcome::Updated(id)
    } else {
        ImportOutcome::Created(id)
    })
}
