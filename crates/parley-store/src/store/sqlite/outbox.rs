//! The outbox on SQLite: enqueue, head-of-line claims per conversation, send outcomes.

use super::rows::{from_text, json_text, micros, opt_time, time, OutboundRow};
use super::statements::Conn;
use super::statuses::replay_early_statuses;
use super::SqliteStore;
use crate::store::apply::{lease_until, IN_DOUBT, OPTED_OUT_BEFORE_SEND, STOPPED_BY_OPT_OUT};
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{
    NewOutbound, NextSend, OutboundRecord, Outbox, OutboxItem, SendOutcome, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

/// A claimed row as read on the writer thread; its JSON is parsed after.
struct ClaimedRow {
    id: i64,
    sender_id: i64,
    conversation_id: i64,
    payload: String,
    fallback: String,
    attempts: i32,
    created_at: i64,
    last_inbound_at: Option<i64>,
}

impl ClaimedRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            sender_id: r.get(1)?,
            conversation_id: r.get(2)?,
            payload: r.get(3)?,
            fallback: r.get(4)?,
            attempts: r.get(5)?,
            created_at: r.get(6)?,
            last_inbound_at: r.get(7)?,
        })
    }

    fn parse(self) -> StoreResult<OutboxItem> {
        Ok(OutboxItem {
            id: self.id,
            sender_id: self.sender_id,
            conversation_id: self.conversation_id,
            message: from_text("outbound payload", &self.payload)?,
            fallback: from_text("outbound fallback", &self.fallback)?,
            attempts: self.attempts,
            created_at: time(self.created_at)?,
            last_inbound_at: opt_time(self.last_inbound_at)?,
        })
    }
}

/// A send outcome with its values ready to bind.
enum Update {
    Accepted {
        provider_message_id: String,
        converted: Option<String>,
    },
    Retry {
        at: i64,
        code: Option<i64>,
        title: String,
    },
    Failed {
        code: Option<i64>,
        title: String,
        window_closed: bool,
    },
    Skipped {
        reason: String,
    },
    Requeue,
}

/// Whether any status is waiting for its message: almost never, so the replay that
/// follows an accepted send is skipped with one cheap read.
/// An opt-out stops the contact's sends still queued (`apply::STOPPED_BY_OPT_OUT`), in
/// the transaction that records it; one a process holds is being sent now and is left alone.
/// Their held-back marketing copies (131049) go too.
pub(super) fn stop_queued_sends(conn: &Conn<'_>, contact_id: i64, now: i64) -> StoreResult<()> {
    conn.prepare_cached_text(&stop_queued_sql())?
        .execute(params![contact_id, now, OPTED_OUT_BEFORE_SEND])?;
    conn.prepare_cached_text(&format!(
        "delete from deferred_sends
         where conversation_id in (select id from conversations where contact_id = ?1)
           and origin in {STOPPED_BY_OPT_OUT}"
    ))?
    .execute([contact_id])?;
    Ok(())
}

/// `stop_queued_sends`'s update: `?1` the contact, `?2` now, `?3` the reason.
fn stop_queued_sql() -> String {
    format!(
        "update outbound_messages set status = 'skipped', error_title = ?3, updated_at = ?2
         where conversation_id in (select id from conversations where contact_id = ?1)
           and status = 'queued' and origin in {STOPPED_BY_OPT_OUT}
           and (lease_until is null or lease_until <= ?2)"
    )
}

fn has_early_statuses(conn: &Conn<'_>) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("select exists (select 1 from early_statuses)")?
        .query_row([], |r| r.get(0))?)
}

impl Update {
    /// The outcome's values ready to bind, and what it does to the contact's marketing.
    fn of(outcome: &SendOutcome) -> StoreResult<(Self, Option<crate::domain::ErrorClass>)> {
        let marketing = crate::store::apply::marketing_outcome(outcome);
        let update = match outcome {
            SendOutcome::Accepted {
                provider_message_id,
                converted_to,
            } => Update::Accepted {
                provider_message_id: provider_message_id.clone(),
                converted: converted_to
                    .as_ref()
                    .map(|c| json_text("outbound content", c))
                    .transpose()?,
            },
            SendOutcome::Retry { at, code, title } => Update::Retry {
                at: micros(*at),
                code: *code,
                title: title.clone(),
            },
            SendOutcome::Failed {
                code,
                title,
                window_closed,
            } => Update::Failed {
                code: *code,
                title: title.clone(),
                window_closed: *window_closed,
            },
            SendOutcome::Skipped { reason } => Update::Skipped {
                reason: reason.clone(),
            },
            SendOutcome::Requeue => Update::Requeue,
        };
        Ok((update, marketing))
    }
}

/// Writes a send's outcome: fails with `LeaseLost` when `owner` does not hold the message.
fn apply_outcome(
    conn: &Conn<'_>,
    id: i64,
    owner: &str,
    update: &Update,
    marketing: Option<crate::domain::ErrorClass>,
    now: i64,
    tell: bool,
) -> StoreResult<()> {
    let changed = match &update {
        Update::Accepted {
            provider_message_id,
            converted,
        } => conn
            .prepare_cached(
                // A status that came before this answer (it named the send: see
                // `ADOPT_SEND`) already moved it on: `sent`, `read`, `failed`. Kept.
                "update outbound_messages set
                     status = case when status = 'queued' then 'accepted' else status end,
                     provider_message_id = ?3,
                     payload = case when ?4 is null then payload
                                    else json_set(payload, '$.content', json(?4)) end,
                     error_code = case when status = 'queued' then null else error_code end,
                     error_title = case when status = 'queued' then null else error_title end,
                     lease_owner = null, lease_until = null, updated_at = ?5
                 where id = ?1 and (lease_owner = ?2 or lease_owner = 'in-doubt'
                        or (lease_owner is null and status = 'queued'))",
            )?
            .execute(params![id, owner, provider_message_id, converted, now])?,
        Update::Retry { at, code, title } => conn
            .prepare_cached(
                "update outbound_messages set
                     attempts = attempts + 1, next_attempt_at = ?3, error_code = ?4,
                     error_title = ?5, lease_owner = null, lease_until = null,
                     updated_at = ?6
                 where id = ?1 and lease_owner = ?2",
            )?
            .execute(params![id, owner, at, code, title, now])?,
        Update::Failed {
            code,
            title,
            window_closed,
        } => conn
            .prepare_cached(
                "update outbound_messages set
                     status = 'failed', error_code = ?3, error_title = ?4,
                     window_closed = ?5, lease_owner = null, lease_until = null,
                     updated_at = ?6
                 where id = ?1 and lease_owner = ?2",
            )?
            .execute(params![id, owner, code, title, window_closed, now])?,
        // The reason is kept as the record's error title.
        Update::Skipped { reason } => conn
            .prepare_cached(
                "update outbound_messages set
                     status = 'skipped', error_title = ?3,
                     lease_owner = null, lease_until = null, updated_at = ?4
                 where id = ?1 and lease_owner = ?2",
            )?
            .execute(params![id, owner, reason, now])?,
        Update::Requeue => conn
            .prepare_cached(
                "update outbound_messages set lease_owner = null, lease_until = null
                 where id = ?1 and lease_owner = ?2",
            )?
            .execute(params![id, owner])?,
    };
    if changed == 0 {
        return Err(StoreError::LeaseLost {
            what: "outbound message",
            id,
        });
    }
    // See the PostgreSQL store: the failure and what it does to the contact
    // commit together.
    match marketing {
        Some(crate::domain::ErrorClass::MarketingLimited) => {
            super::account::defer_in(conn, id, now)?;
        }
        Some(_) => super::account::stop_in(conn, id, now)?,
        None => {}
    }
    // Events out (only when someone listens): an accepted send, a send that failed.
    if tell {
        match update {
            Update::Accepted { .. } => super::events_log::tell_outbound(conn, id, None, now)?,
            Update::Failed { .. } => {
                super::events_log::tell_outbound(conn, id, Some("failed"), now)?
            }
            _ => {}
        }
    }
    if matches!(update, Update::Accepted { .. }) && has_early_statuses(conn)? {
        replay_early_statuses(conn, id, tell)?;
    }
    Ok(())
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn enqueue(&self, messages: &[NewOutbound], now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
        let rows = messages
            .iter()
            .map(OutboundRow::new)
            .collect::<StoreResult<Vec<_>>>()?;
        let now = micros(now);
        self.writer
            .run(move |conn| rows.iter().map(|row| row.insert(conn, now)).collect())
            .await
    }

    async fn claim_outbound(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        in_doubt: Duration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxItem>> {
        let owner = owner.to_owned();
        let until = micros(lease_until(now, lease));
        let retry_at = micros(lease_until(now, in_doubt));
        let now = micros(now);
        // A message still `queued` blocks its conversation's later messages, in flight or
        // not, so replies leave in the order the flow produced them. A message whose lease
        // ran out (its process stopped mid-send) is put back to wait instead (`IN_DOUBT`,
        // the `set` expressions read the row as it was): it comes back without a lease.
        let rows = self
            .writer
            .run(move |conn| {
                conn.prepare_cached(
                    "update outbound_messages set
                         lease_owner = case when lease_owner is null then ?1 end,
                         lease_until = case when lease_owner is null then ?2 end,
                         next_attempt_at = case when lease_owner is null then next_attempt_at else ?5 end,
                         attempts = attempts + (lease_owner is not null),
                         error_title = case when lease_owner is null then error_title else ?6 end
                     where id in (
                         select o.id from outbound_messages o
                         where o.status = 'queued'
                           and o.next_attempt_at <= ?3
                           and (o.lease_until is null or o.lease_until <= ?3)
                           and not exists (select 1 from outbound_messages older
                                           where older.conversation_id = o.conversation_id
                                             and older.status = 'queued' and older.id < o.id)
                           and not exists (select 1 from sender_stops s where s.sender_id = o.sender_id)
                         order by o.next_attempt_at, o.id
                         limit ?4)
                     returning id, sender_id, conversation_id, payload, fallback, attempts, created_at,
                         (select last_inbound_at from conversations c
                          where c.id = outbound_messages.conversation_id) as last_inbound_at,
                         lease_owner is not null",
                )?
                .query_map(params![owner, until, now, limit, retry_at, IN_DOUBT], |r| {
                    Ok((ClaimedRow::read(r)?, r.get::<_, bool>(8)?))
                })?
                .collect::<Result<Vec<_>, _>>()
                .map_err(StoreError::from)
            })
            .await?;
        let (rows, doubtful): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, leased)| *leased);
        if !doubtful.is_empty() {
            let ids: Vec<i64> = doubtful.iter().map(|(row, _)| row.id).collect();
            tracing::warn!(?ids, wait = ?in_doubt, "{IN_DOUBT}");
        }
        // Parsed here, off the writer thread.
        let mut items = rows
            .into_iter()
            .map(|(row, _)| row.parse())
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    async fn renew_outbound_lease(
        &self,
        item: &OutboxItem,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool> {
        let (id, attempts, owner) = (item.id, item.attempts, owner.to_owned());
        let until = micros(lease_until(now, lease));
        self.writer
            .run(move |conn| {
                let renewed = conn
                    .prepare_cached(
                        "update outbound_messages set lease_until = ?4
                         where id = ?1 and lease_owner = ?2 and attempts = ?3 and status = 'queued'",
                    )?
                    .execute(params![id, owner, attempts, until])?;
                Ok(renewed == 1)
            })
            .await
    }

    async fn release_handed(
        &self,
        conversation_id: i64,
        owner: &str,
        hand_until: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let (owner, until) = (owner.to_owned(), micros(hand_until));
        self.writer
            .run(move |conn| {
                let released = conn
                    .prepare_cached(
                        "update outbound_messages set lease_owner = null, lease_until = null
                         where conversation_id = ?1 and lease_owner = ?2 and lease_until = ?3
                           and status = 'queued'",
                    )?
                    .execute(params![conversation_id, owner, until])?;
                Ok(released as u64)
            })
            .await
    }

    async fn record_outcome(
        &self,
        id: i64,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let owner = owner.to_owned();
        let (update, marketing) = Update::of(outcome)?;
        let now = micros(now);
        let tell = self.events.on();
        // The send is done: its outcome may wait a moment to share a commit.
        self.writer
            .run_riding(move |conn| apply_outcome(conn, id, &owner, &update, marketing, now, tell))
            .await
    }

    async fn record_outcome_and_claim_next(
        &self,
        item: &OutboxItem,
        owner: &str,
        outcome: &SendOutcome,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<NextSend> {
        // A retried or requeued message is still its conversation's head: the claim
        // decides when it goes again.
        if matches!(outcome, SendOutcome::Retry { .. } | SendOutcome::Requeue) {
            self.record_outcome(item.id, owner, outcome, now).await?;
            return Ok(NextSend::Unknown);
        }
        let id = item.id;
        let conversation_id = item.conversation_id;
        let owner = owner.to_owned();
        let (update, marketing) = Update::of(outcome)?;
        let until = micros(lease_until(now, lease));
        let now = micros(now);
        let tell = self.events.on();
        let next = self
            .writer
            .run_riding(move |conn| {
                apply_outcome(conn, id, &owner, &update, marketing, now, tell)?;
                // Most sends are their conversation's last: one look at the line's index
                // saves the update below, whose `returning` builds a temporary b-tree
                // each time it runs, even for no row.
                let queued: bool = conn
                    .prepare_cached(
                        "select exists (select 1 from outbound_messages
                                        where conversation_id = ?1 and status = 'queued')",
                    )?
                    .query_row([conversation_id], |r| r.get(0))?;
                if !queued {
                    return Ok(None);
                }
                conn.prepare_cached(
                    "update outbound_messages set lease_owner = ?1, lease_until = ?2
                     where id = (select o.id from outbound_messages o
                                 where o.conversation_id = ?3 and o.status = 'queued'
                                 order by o.id limit 1)
                       and next_attempt_at <= ?4
                       and lease_owner is null
                       and not exists (select 1 from sender_stops s
                                       where s.sender_id = outbound_messages.sender_id)
                     returning id, sender_id, conversation_id, payload, fallback, attempts, created_at,
                         (select last_inbound_at from conversations c
                          where c.id = outbound_messages.conversation_id) as last_inbound_at",
                )?
                .query_row(params![owner, until, conversation_id, now], ClaimedRow::read)
                .optional()
                .map_err(StoreError::from)
            })
            .await?;
        Ok(match next {
            Some(row) => NextSend::Leased(Box::new(row.parse()?)),
            None => NextSend::Nothing,
        })
    }

    async fn outbound(&self, id: i64) -> StoreResult<Option<OutboundRecord>> {
        shared::outbound(&self.reader, id).await
    }

    async fn conversation_outbound(
        &self,
        conversation_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<OutboundRecord>> {
        shared::conversation_outbound(&self.reader, conversation_id, before, limit).await
    }

    async fn outbox_depth(&self) -> StoreResult<i64> {
        shared::outbox_depth(&self.reader).await
    }

    async fn broadcast_send_stop(&self, id: crate::domain::Id) -> StoreResult<Option<String>> {
        let opted_out = "json_extract(c.attributes, '$.opted_out') = 1";
        shared::broadcast_send_stop(&self.reader, opted_out, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STOP runs on the writer thread, in the webhook's step: finding the contact's
    /// conversations must not read all of them (before `conversations_contact`, 10,000
    /// conversations meant 10,000 rows read for each opt-out).
    #[tokio::test]
    async fn an_opt_out_reads_only_its_contacts_conversations() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, conn) = super::super::migrated_for_test(&dir.path().join("o.db")).await;
        for id in 1..=10_000_i64 {
            conn.execute(
                "insert into conversations (id, sender_id, contact_id, created_at)
                 values (?1, 1 + ?1 % 3, ?1, 0)",
                [id],
            )
            .unwrap();
        }
        conn.execute(
            "insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at)
             values (1, 77, '{}', '\"fail\"', 'flow', 'queued', 0, 0, 0)",
            [],
        )
        .unwrap();
        let mut stop = conn.prepare(&stop_queued_sql()).unwrap();
        stop.execute(params![77, 1, "x"]).unwrap();
        let steps = stop.get_status(rusqlite::StatementStatus::VmStep);
        assert!(steps < 200, "the opt-out ran {steps} steps");
        let status: String = conn
            .query_row("select status from outbound_messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "skipped");
    }
}
