//! Contacts, conversations and the inbox on SQLite: one worker per conversation through a
//! lease, events handled in arrival order, each step committed in one write job.

mod step;

use step::release_lease;

use super::identity;
use super::rows::{
    self, from_text, micros, opt_time, time, upsert_contact, Captured, CONVERSATION_COLUMNS,
};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::{Contact, Conversation, EventKind, StoredEvent};
use crate::domain::{ContactRef, Identities};
use crate::store::apply::lease_until;
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{
    Committed, ConversationWork, Inbox, OutboxItem, StepCommit, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

/// The latest broadcast recipient of a conversation whose broadcast names a reply flow and
/// whose send was accepted (`BroadcastReply`).
const BROADCAST_REPLY: &str = "
    select r.id, b.reply_flow, r.reply_until
    from broadcast_recipients r join broadcasts b on b.id = r.broadcast_id
    where r.conversation_id = ?1 and r.reply_until is not null and b.reply_flow is not null
      and exists (select 1 from outbound_messages o where o.broadcast_recipient = r.id
                  and o.status in ('accepted', 'sent', 'delivered', 'read'))
    order by r.id desc limit 1";

#[async_trait]
impl Inbox for SqliteStore {
    async fn ensure_conversation(
        &self,
        sender_id: i64,
        contact: &ContactRef,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        let key = contact.key();
        let identities = contact.user_id().map(|_| Identities::of(contact));
        let name = name.map(str::to_owned);
        let now = micros(now);
        let tell = self.events.on();
        self.writer
            .run(move |conn| {
                // A BSUID may belong to a contact stored under its phone: found, not doubled.
                let linked = match &identities {
                    Some(ids) => identity::link(conn, ids, None, name.as_deref(), None, now, true)?,
                    None => None,
                };
                let contact_id = match linked {
                    Some((id, _)) => id,
                    None => upsert_contact(conn, &key, name.as_deref(), now)?,
                };
                // The no-op update makes `returning` give the existing row too.
                let mut statement = conn.prepare_cached_text(&format!(
                    "insert into conversations (sender_id, contact_id, created_at) values (?1, ?2, ?3)
                     on conflict (sender_id, contact_id) do update set sender_id = excluded.sender_id
                     returning {CONVERSATION_COLUMNS}"
                ))?;
                let mut rows = statement.query(params![sender_id, contact_id, now])?;
                let row = rows.next()?.ok_or(StoreError::NotFound {
                    what: "conversation of contact",
                    id: contact_id,
                })?;
                let conversation = rows::conversation(row)?;
                if tell {
                    let at = (Some(conversation.id), Some(sender_id));
                    super::events_log::tell_contact_created(conn, contact_id, at, now, "api")?;
                }
                Ok(conversation)
            })
            .await
    }

    async fn conversation(&self, id: i64) -> StoreResult<Option<Conversation>> {
        shared::conversation(&self.reader, id).await
    }

    async fn find_conversation(
        &self,
        sender_id: i64,
        key: &str,
    ) -> StoreResult<Option<Conversation>> {
        shared::find_conversation(&self.reader, sender_id, key).await
    }

    async fn contact(&self, id: i64) -> StoreResult<Option<Contact>> {
        shared::contact(&self.reader, id).await
    }

    async fn claim_conversations(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<i64>> {
        let owner = owner.to_owned();
        let until = micros(lease_until(now, lease));
        let now = micros(now);
        self.writer
            .run(move |conn| claim_ids(conn, &owner, until, now, limit))
            .await
    }

    /// Claims and loads in ONE write job: the hot path's reads run on the writer thread,
    /// where a prepared statement is cheaper than a hand-off to a reader connection, and
    /// the rows' JSON is parsed after, off that thread.
    async fn claim_work(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
        events: i64,
    ) -> StoreResult<Vec<ConversationWork>> {
        let owner = owner.to_owned();
        let until = micros(lease_until(now, lease));
        let now = micros(now);
        let raw = self
            .writer
            .run(move |conn| {
                claim_ids(conn, &owner, until, now, limit)?
                    .into_iter()
                    .map(|id| load_raw(conn, id, events))
                    .collect::<StoreResult<Vec<_>>>()
            })
            .await?;
        crate::store::apply::readable_work(
            raw.into_iter()
                .map(|raw| (raw.conversation_id, raw.parse())),
        )
    }

    async fn load_work(&self, conversation_id: i64, limit: i64) -> StoreResult<ConversationWork> {
        self.writer
            .run(move |conn| load_raw(conn, conversation_id, limit))
            .await?
            .parse()
    }

    async fn commit_step_and_claim(
        &self,
        step: &StepCommit,
        outbox_lease: Option<Duration>,
    ) -> StoreResult<Committed> {
        // Serialised here, off the writer thread.
        let write = step::StepWrite::of(step, outbox_lease)?;
        let (queued, conversation_id) = (write.queued, write.conversation_id);
        let done = self
            .writer
            .run_short(move |conn| step::commit(conn, &write))
            .await?;
        let (ids, last_inbound_at, handed, more_work) = done;
        // The leased message as the outbox would have read it from its row.
        let handed = match (handed, step.outbound.first()) {
            (Some(id), Some(first)) => Some(OutboxItem {
                id,
                sender_id: first.sender_id,
                conversation_id,
                message: first.message.clone(),
                fallback: first.fallback.clone(),
                attempts: 0,
                created_at: time(queued)?,
                last_inbound_at: opt_time(last_inbound_at)?,
            }),
            _ => None,
        };
        Ok(Committed {
            ids,
            handed,
            more_work,
        })
    }

    async fn release_conversation(&self, conversation_id: i64, owner: &str) -> StoreResult<()> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| release_lease(conn, conversation_id, &owner, None).map(|_| ()))
            .await
    }

    async fn renew_conversation_lease(
        &self,
        conversation_id: i64,
        owner: &str,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let owner = owner.to_owned();
        let until = micros(until);
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "update conversations set lease_until = ?1 where id = ?2 and lease_owner = ?3",
                    )?
                    .execute(params![until, conversation_id, owner])?;
                Ok(n == 1)
            })
            .await
    }
}

/// Leases `?1` until `?2` up to `?4` conversations with work whose lease is free at `?3`:
/// those whose lease ran out first, by its end, then those nobody holds, oldest work first
/// (the order the PostgreSQL store needs, see its `claim_update!`; a lease that ran out is
/// not starved behind a steady backlog of free work). Both parts walk
/// `conversations_claimable` (migration 0022), where the held conversations sit after the
/// free ones in the order their leases end, so the first stops at the first lease still
/// running instead of stepping over every conversation a worker holds (a thousand waiting
/// on a model, say).
const CLAIM: &str = "
    update conversations set lease_owner = ?1, lease_until = ?2
    where id in (select id from (
                     select id from conversations
                     where has_work = 1
                       and coalesce(lease_until, 0) > 0 and coalesce(lease_until, 0) <= ?3
                     order by coalesce(lease_until, 0), work_since, id
                     limit ?4)
                 union all
                 select id from (
                     select id from conversations
                     where has_work = 1 and coalesce(lease_until, 0) = 0
                     order by work_since, id
                     limit ?4)
                 limit ?4)
    returning id, work_since";

/// Leases conversation `?3` to `?1` until `?2` if it has work and its lease is free at `?4`
/// (`CLAIM` for one conversation, which an ingest names).
pub(super) fn claim_one(
    conn: &Conn<'_>,
    owner: &str,
    until: i64,
    now: i64,
    conversation_id: i64,
) -> StoreResult<bool> {
    let n = conn
        .prepare_cached(
            "update conversations set lease_owner = ?1, lease_until = ?2
             where id = ?3 and has_work = 1 and coalesce(lease_until, 0) <= ?4",
        )?
        .execute(params![owner, until, conversation_id, now])?;
    Ok(n == 1)
}

fn claim_ids(
    conn: &Conn<'_>,
    owner: &str,
    until: i64,
    now: i64,
    limit: i64,
) -> StoreResult<Vec<i64>> {
    // The update returns its rows in id order; sorted back to oldest work first.
    let mut claimed = conn
        .prepare_cached(CLAIM)?
        .query_map(params![owner, until, now, limit], |r| {
            Ok((r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(0)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    claimed.sort();
    Ok(claimed.into_iter().map(|(_, id)| id).collect())
}

/// A conversation's work as read on the writer thread, before its JSON is parsed.
pub(super) struct RawWork {
    pub(super) conversation_id: i64,
    conversation: Captured,
    events: Vec<(i64, String, i64)>,
    /// The latest broadcast reply route: recipient, flow, until.
    broadcast_reply: Option<(i64, String, i64)>,
}

impl RawWork {
    pub(super) fn parse(self) -> StoreResult<ConversationWork> {
        let conversation_id = self.conversation_id;
        Ok(ConversationWork {
            conversation: rows::conversation(&self.conversation)?,
            contact: rows::contact(&self.conversation, "contact_id", "contact_created_at")?,
            events: self
                .events
                .into_iter()
                .map(|(id, payload, received_at)| {
                    Ok(StoredEvent {
                        id,
                        conversation_id,
                        kind: from_text::<EventKind>("event", &payload)?,
                        received_at: time(received_at)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?,
            broadcast_reply: self
                .broadcast_reply
                .map(|(recipient_id, flow, until)| {
                    Ok::<_, StoreError>(crate::domain::broadcast::BroadcastReply {
                        recipient_id,
                        flow,
                        until: time(until)?,
                    })
                })
                .transpose()?,
        })
    }
}

pub(super) fn load_raw(conn: &Conn<'_>, conversation_id: i64, limit: i64) -> StoreResult<RawWork> {
    let conversation = conn
        .prepare_cached(
            "select v.id, v.sender_id, v.contact_id, v.last_inbound_at, v.state,
                    v.created_at, c.key, c.name, c.attributes, c.tags,
                    c.created_at as contact_created_at, c.bsuid, c.username
             from conversations v join contacts c on c.id = v.contact_id
             where v.id = ?1",
        )?
        .query([conversation_id])?
        .next()?
        .map(Captured::of)
        .transpose()?
        .ok_or(StoreError::NotFound {
            what: "conversation",
            id: conversation_id,
        })?;
    let events = conn
        .prepare_cached(
            "select id, payload, received_at from conversation_events
             where conversation_id = ?1 and processed_at is null
             order by id
             limit ?2",
        )?
        .query_map(params![conversation_id, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let broadcast_reply = if events.is_empty() {
        None
    } else {
        conn.prepare_cached(BROADCAST_REPLY)?
            .query_row([conversation_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?
    };
    Ok(RawWork {
        conversation_id,
        conversation,
        events,
        broadcast_reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim reads the conversations it can take, not the ones workers hold: with 1,000
    /// held (a model call each) it takes the free one and the one whose lease ran out, in
    /// that order, in a few dozen of SQLite's steps (the walk before migration 0022 ran
    /// 6,176 here, through all 1,000).
    #[tokio::test]
    async fn a_claim_steps_over_no_held_conversation() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, conn) = super::super::migrated_for_test(&dir.path().join("c.db")).await;
        let now = 1_000_000_000;
        let insert = "insert into conversations
                          (id, sender_id, contact_id, has_work, work_since, lease_owner, lease_until, created_at)
                      values (?1, 1, ?1, 1, ?2, ?3, ?4, 0)";
        for id in 1..=1000_i64 {
            // Held, with the oldest work of all: the old claim met these first.
            conn.execute(insert, params![id, id, "w", now + 30_000_000])
                .unwrap();
        }
        conn.execute(insert, params![2001, now - 5, "gone", now - 1])
            .unwrap();
        conn.execute(insert, params![2002, now - 10, None::<String>, None::<i64>])
            .unwrap();
        let mut claim = conn.prepare(CLAIM).unwrap();
        let claimed: Vec<i64> = claim
            .query_map(params!["me", now + 30_000_000, now, 10], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(claimed, vec![2001, 2002]);
        let steps = claim.get_status(rusqlite::StatementStatus::VmStep);
        // About 210: the two rows it takes, each also checked against the partial index of
        // threads' owners (migration 0026); none for the 1,000 it steps over.
        assert!(steps < 300, "the claim ran {steps} steps");
        let owners: Vec<(i64, String)> = conn
            .prepare("select id, lease_owner from conversations where id > 2000 order by id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(owners, vec![(2001, "me".into()), (2002, "me".into())]);
    }
}
