//! Broadcasts on SQLite (`store::Broadcasts`): every write is one job on the writer thread,
//! so a page's sends, its recipients' marks and the portfolio's reach commit together.

mod page;

use super::rows::{micros, opt_time, time};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::broadcast::{BroadcastAction, BroadcastState, REACH_WINDOW_HOURS};
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{
    Broadcast, Broadcasts, Candidate, Id, NewBroadcast, NewRecipient, PageOutcome, RecipientCount,
    RecipientRow, SendPricing, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::time::Duration;

const COLUMNS: &str = "id, name, sender_id, template_name, template_language, category, \
     variables, audience, frequency_cap_secs, reply_flow, portfolio, messaging_limit, start_at, \
     state, prepared, cursor, wait_until, wait_reason, created_at, updated_at";

pub(super) fn dur(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 4)
}

pub(super) const DAY: i64 = REACH_WINDOW_HOURS * 3_600_000_000;

fn json(what: &str, text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn decode(r: &rusqlite::Row<'_>) -> StoreResult<Broadcast> {
    let state: String = r.get("state")?;
    Ok(Broadcast {
        id: r.get("id")?,
        name: r.get("name")?,
        sender_id: r.get("sender_id")?,
        template_name: r.get("template_name")?,
        template_language: r.get("template_language")?,
        category: r.get("category")?,
        variables: json("broadcast variables", &r.get::<_, String>("variables")?)?,
        audience: r
            .get::<_, Option<String>>("audience")?
            .map(|a| json("broadcast audience", &a))
            .transpose()?,
        frequency_cap_secs: r.get("frequency_cap_secs")?,
        reply_flow: r.get("reply_flow")?,
        portfolio: r.get("portfolio")?,
        messaging_limit: r.get("messaging_limit")?,
        start_at: time(r.get("start_at")?)?,
        state: BroadcastState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("broadcast state {state:?}")))?,
        prepared: r.get::<_, bool>("prepared")?,
        cursor: r.get("cursor")?,
        wait_until: opt_time(r.get("wait_until")?)?,
        wait_reason: r.get("wait_reason")?,
        created_at: time(r.get("created_at")?)?,
        updated_at: time(r.get("updated_at")?)?,
    })
}

fn insert_recipients(
    conn: &Conn<'_>,
    id: Id,
    sender_id: i64,
    recipients: &[NewRecipient],
    now: i64,
) -> StoreResult<()> {
    let mut conversation = conn.prepare_cached(
        "insert into conversations (sender_id, contact_id, created_at) values (?1, ?2, ?3)
         on conflict (sender_id, contact_id) do update set sender_id = excluded.sender_id
         returning id",
    )?;
    let mut insert = conn.prepare_cached(
        "insert into broadcast_recipients
             (broadcast_id, conversation_id, contact_id, state, reason, payload)
         values (?1, ?2, ?3, case when ?4 is null then 'skipped' else 'pending' end, ?5, ?4)
         on conflict (broadcast_id, contact_id) do nothing",
    )?;
    for r in recipients {
        let (payload, reason) = match &r.outcome {
            Ok(p) => (Some(p.as_str()), None),
            Err(why) => (None, Some(why.as_str())),
        };
        let conversation_id: Id = match r.conversation_id {
            Some(c) => c,
            None => conversation.query_row(params![sender_id, r.contact_id, now], |r| r.get(0))?,
        };
        insert.execute(params![id, conversation_id, r.contact_id, payload, reason])?;
    }
    Ok(())
}

/// Checks and renews the lease; the broadcast's state, `LeaseLost` when not ours.
fn hold(conn: &Conn<'_>, id: Id, owner: &str, now: i64, until: i64) -> StoreResult<String> {
    conn.prepare_cached(
        "update broadcasts set lease_until = ?4
         where id = ?1 and lease_owner = ?2 and lease_until > ?3
         returning state",
    )?
    .query_row(params![id, owner, now, until], |r| r.get(0))
    .optional()?
    .ok_or(StoreError::LeaseLost {
        what: "broadcast",
        id,
    })
}

#[async_trait]
impl Broadcasts for SqliteStore {
    async fn create_broadcast(
        &self,
        b: &NewBroadcast,
        recipients: &[NewRecipient],
        now: DateTime<Utc>,
    ) -> StoreResult<Id> {
        let b = b.clone();
        let recipients = recipients.to_vec();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let id: Id = conn
                    .prepare_cached(
                        "insert into broadcasts
                             (name, sender_id, template_name, template_language, category,
                              variables, audience, frequency_cap_secs, reply_flow, portfolio,
                              messaging_limit, start_at, state, prepared, created_at, updated_at)
                         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'sending',
                                 ?13, ?14, ?14)
                         returning id",
                    )?
                    .query_row(
                        params![
                            b.name,
                            b.sender_id,
                            b.template_name,
                            b.template_language,
                            b.category,
                            b.variables.to_string(),
                            b.audience.as_ref().map(|a| a.to_string()),
                            b.frequency_cap_secs,
                            b.reply_flow,
                            b.portfolio,
                            b.messaging_limit,
                            micros(b.start_at),
                            b.audience.is_none(),
                            now
                        ],
                        |r| r.get(0),
                    )?;
                insert_recipients(conn, id, b.sender_id, &recipients, now)?;
                Ok(id)
            })
            .await
    }

    async fn broadcast(&self, id: Id) -> StoreResult<Option<Broadcast>> {
        self.writer
            .run(move |conn| {
                let mut st = conn.prepare_cached_text(&format!(
                    "select {COLUMNS} from broadcasts where id = ?1"
                ))?;
                let mut rows = st.query([id])?;
                rows.next()?.map(decode).transpose()
            })
            .await
    }

    async fn broadcasts(&self, before: Option<Id>, limit: i64) -> StoreResult<Vec<Broadcast>> {
        self.writer
            .run(move |conn| {
                let mut st = conn.prepare_cached_text(&format!(
                    "select {COLUMNS} from broadcasts where (?1 is null or id < ?1)
                     order by id desc limit ?2"
                ))?;
                let mut rows = st.query(params![before, limit])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(decode(r)?);
                }
                Ok(out)
            })
            .await
    }

    async fn broadcast_action(
        &self,
        id: Id,
        action: BroadcastAction,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Result<BroadcastState, String>>> {
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let state: Option<String> = conn
                    .prepare_cached("select state from broadcasts where id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?;
                let Some(state) = state else { return Ok(None) };
                let from = BroadcastState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("broadcast state {state:?}")))?;
                let waiting: bool = conn
                    .prepare_cached(crate::store::sql::BROADCAST_WAITING)?
                    .query_row([id], |r| r.get(0))?;
                let to = match action.apply(from, waiting) {
                    Ok(to) => to,
                    Err(why) => return Ok(Some(Err(why))),
                };
                conn.prepare_cached(
                    "update broadcasts set state = ?2, updated_at = ?3, wait_until = null,
                         wait_reason = null
                     where id = ?1",
                )?
                .execute(params![id, to.as_str(), now])?;
                if to == BroadcastState::Cancelled {
                    conn.prepare_cached(
                        "update outbound_messages set status = 'skipped',
                             error_title = 'the broadcast was cancelled', updated_at = ?2
                         where broadcast_recipient in
                               (select id from broadcast_recipients where broadcast_id = ?1)
                           and status = 'queued'
                           and (lease_until is null or lease_until <= ?2)",
                    )?
                    .execute(params![id, now])?;
                    conn.prepare_cached(
                        "delete from deferred_sends where broadcast_recipient in
                             (select id from broadcast_recipients where broadcast_id = ?1)",
                    )?
                    .execute([id])?;
                }
                Ok(Some(Ok(to)))
            })
            .await
    }

    async fn claim_broadcast(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<Broadcast>> {
        let owner = owner.to_owned();
        let now = micros(now);
        let until = now + dur(lease);
        self.writer
            .run(move |conn| {
                let mut st = conn.prepare_cached_text(&format!(
                    "update broadcasts set lease_owner = ?1, lease_until = ?2, wait_until = null,
                         wait_reason = null
                     where id = (select id from broadcasts
                                 where state = 'sending' and start_at <= ?3
                                   and (wait_until is null or wait_until <= ?3)
                                   and (lease_until is null or lease_until <= ?3)
                                 order by id limit 1)
                     returning {COLUMNS}"
                ))?;
                let mut rows = st.query(params![owner, until, now])?;
                rows.next()?.map(decode).transpose()
            })
            .await
    }

    async fn broadcast_prepare(
        &self,
        id: Id,
        owner: &str,
        cursor: Id,
        recipients: &[NewRecipient],
        done: bool,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<()> {
        let owner = owner.to_owned();
        let recipients = recipients.to_vec();
        let now = micros(now);
        let until = now + dur(lease);
        self.writer
            .run(move |conn| {
                hold(conn, id, &owner, now, until)?;
                let sender_id: i64 = conn
                    .prepare_cached(
                        "update broadcasts set cursor = ?2, prepared = ?3, updated_at = ?4
                         where id = ?1 returning sender_id",
                    )?
                    .query_row(params![id, cursor, done, now], |r| r.get(0))?;
                insert_recipients(conn, id, sender_id, &recipients, now)
            })
            .await
    }

    async fn broadcast_queue_page(
        &self,
        id: Id,
        owner: &str,
        limit: i64,
        pair_gap: Duration,
        reply_window: Duration,
        now: DateTime<Utc>,
        lease: Duration,
        pricing: &SendPricing,
    ) -> StoreResult<PageOutcome> {
        let owner = owner.to_owned();
        let pricing = pricing.clone();
        let at = now;
        let now = micros(now);
        let until = now + dur(lease);
        let tell = self.events.on();
        let (outcome, priced) = self
            .writer
            .run(move |conn| {
                let mut priced = Vec::new();
                let outcome = if hold(conn, id, &owner, now, until)? != "sending" {
                    PageOutcome::Stopped
                } else {
                    let page = page::Page {
                        id,
                        limit,
                        at,
                        gap: dur(pair_gap),
                        reply: dur(reply_window),
                    };
                    page::queue_page(conn, &page, &pricing, &mut priced)?
                };
                if matches!(outcome, PageOutcome::Finished) && tell {
                    super::events_log::tell_broadcast_finished(conn, id, now)?;
                }
                Ok((outcome, priced))
            })
            .await?;
        SendPricing::count(&priced);
        Ok(outcome)
    }

    async fn release_broadcast(&self, id: Id, owner: &str) -> StoreResult<()> {
        let owner = owner.to_owned();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "update broadcasts set lease_owner = null, lease_until = null
                     where id = ?1 and lease_owner = ?2",
                )?
                .execute(params![id, owner])?;
                Ok(())
            })
            .await
    }

    async fn renew_broadcast(
        &self,
        id: Id,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool> {
        let owner = owner.to_owned();
        let now = micros(now);
        let until = now + dur(lease);
        self.writer
            .run(move |conn| Ok(hold(conn, id, &owner, now, until)? == "sending"))
            .await
    }

    async fn broadcast_counts(&self, id: Id) -> StoreResult<Vec<RecipientCount>> {
        shared::broadcast_counts(&self.reader, id).await
    }

    async fn broadcast_recipients(
        &self,
        id: Id,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<RecipientRow>> {
        shared::broadcast_recipients(&self.reader, id, after, limit).await
    }

    async fn broadcast_candidates(
        &self,
        sender_id: i64,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<Candidate>> {
        shared::broadcast_candidates(&self.reader, sender_id, after, limit).await
    }

    async fn portfolio_reached(&self, portfolio: &str, since: DateTime<Utc>) -> StoreResult<i64> {
        shared::portfolio_reached(&self.reader, portfolio, since).await
    }
}
