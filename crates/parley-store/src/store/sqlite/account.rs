//! Templates' live state and contacts' marketing state on SQLite (`store::Account`).
//! `defer_in` and `stop_in` run inside the transaction of a status webhook (`statuses`) or of
//! a recorded send failure (`outbox`).

use super::rows::micros;
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::error_class::marketing_deferral;
use crate::domain::{
    LiveTemplate, MarketingPreference, MarketingState, TemplateChange, TemplateUpdate,
};
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::sql::NOT_MARKETING;
use crate::store::{Account, Id, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// A held-back copy's ledger row: its original's prediction (`?1` the copy, `?2` the
/// original, `?3` now).
const COPY_PREDICTION: &str = "insert into message_costs (outbound_id, sender_id, market, currency,
         predicted_category, predicted_type, predicted_micros, rate_marketing, rate_utility,
         rate_authentication, rate_service, created_at, updated_at)
     select ?1, sender_id, market, currency, predicted_category, predicted_type,
            predicted_micros, rate_marketing, rate_utility, rate_authentication, rate_service,
            ?3, ?3
     from message_costs where outbound_id = ?2";

/// How long a 131049 keeps every marketing message from the contact.
const LIMIT_HOURS: i64 = 24;

/// WhatsApp held back outbound message `outbound_id` (131049): its contact gets no marketing
/// for 24 hours, and a copy is kept (once per held-back send) to go out after the next wait
/// on the ladder (`marketing_deferral`). Returns when the copy is due, in microseconds; `None` when the ladder
/// is spent.
pub(super) fn defer_in(conn: &Conn<'_>, outbound_id: Id, now: i64) -> StoreResult<Option<i64>> {
    let row: Option<(i64, i64, bool)> = conn
        .prepare_cached_text(&format!(
            "select o.deferrals, v.contact_id, {NOT_MARKETING} from outbound_messages o
             join conversations v on v.id = o.conversation_id where o.id = ?1"
        ))?
        .query_row([outbound_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((deferrals, contact_id, not_marketing)) = row else {
        return Ok(None);
    };
    let limit = now + LIMIT_HOURS * 3_600_000_000;
    conn.prepare_cached(
        "update contacts set marketing_limited_until = ?1
         where id = ?2 and (marketing_limited_until is null or marketing_limited_until < ?1)",
    )?
    .execute(params![limit, contact_id])?;
    let Some(wait) = marketing_deferral(deferrals.max(0) as u32).filter(|_| !not_marketing) else {
        return Ok(None);
    };
    let due = now + wait.as_micros() as i64;
    conn.prepare_cached(
        "insert into deferred_sends
             (sender_id, conversation_id, payload, fallback, origin, deferrals, due_at,
              created_at, source_id, broadcast_recipient)
         select sender_id, conversation_id, payload, fallback, origin, deferrals + 1, ?2, ?3, id,
                broadcast_recipient
         from outbound_messages where id = ?1
         on conflict (source_id) do nothing",
    )?
    .execute(params![outbound_id, due, now])?;
    Ok(Some(due))
}

/// The customer of outbound message `outbound_id` stopped marketing (131050): a status
/// webhook or a recorded failure with that code.
pub(super) fn stop_in(conn: &Conn<'_>, outbound_id: Id, now: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "update contacts set marketing_stopped_at = coalesce(marketing_stopped_at, ?2)
         where id = (select v.contact_id from outbound_messages o
                     join conversations v on v.id = o.conversation_id where o.id = ?1)",
    )?
    .execute(params![outbound_id, now])?;
    Ok(())
}

#[async_trait]
impl Account for SqliteStore {
    async fn record_template_update(
        &self,
        update: &TemplateUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let update = update.clone();
        let now = micros(now);
        self.writer
            .run(move |conn| {
                let language = update.language.clone().unwrap_or_default();
                conn.prepare_cached(
                    "insert into template_states (name, language, template_id, updated_at)
                     values (?1, ?2, ?3, ?4)
                     on conflict (name, language) do update set
                         template_id = coalesce(excluded.template_id, template_states.template_id),
                         updated_at = excluded.updated_at",
                )?
                .execute(params![
                    update.name,
                    language,
                    update.template_id,
                    now
                ])?;
                let name = &update.name;
                match &update.change {
                    TemplateChange::Status {
                        status,
                        reason,
                        category,
                    } => {
                        conn.prepare_cached(
                            "update template_states set status = ?3, reason = ?4,
                                 category = coalesce(?5, category)
                             where name = ?1 and language = ?2",
                        )?
                        .execute(params![
                            name,
                            language,
                            status,
                            reason,
                            category.map(|c| c.as_str())
                        ])?;
                    }
                    TemplateChange::Category { category, .. } => {
                        conn.prepare_cached(
                            "update template_states set category = ?3,
                                 impending_category = null, impending_on = null
                             where name = ?1 and language = ?2",
                        )?
                        .execute(params![
                            name,
                            language,
                            category.as_str()
                        ])?;
                    }
                    TemplateChange::CategoryImpending { category, on } => {
                        conn.prepare_cached(
                            "update template_states set impending_category = ?3,
                                 impending_on = ?4
                             where name = ?1 and language = ?2",
                        )?
                        .execute(params![
                            name,
                            language,
                            category.as_str(),
                            on.map(micros)
                        ])?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn live_templates(&self) -> StoreResult<Vec<LiveTemplate>> {
        shared::live_templates(&self.reader).await
    }

    async fn live_template(&self, name: &str, language: &str) -> StoreResult<Option<LiveTemplate>> {
        shared::live_template(&self.reader, name, language).await
    }

    async fn set_marketing_preference(
        &self,
        preference: &MarketingPreference,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let ids = crate::domain::Identities::of(&preference.contact);
        let stopped = preference.stopped;
        let at = micros(preference.at.unwrap_or(now));
        let now = micros(now);
        let tell = self.events.on();
        self.writer
            .run(move |conn| {
                // Found by phone and/or business-scoped id like a message's sender, and
                // created when Parley has not met the customer yet.
                let Some((id, _)) = super::identity::link(conn, &ids, None, None, None, now, true)?
                else {
                    return Ok(());
                };
                if tell {
                    tell_preference(conn, id, stopped, now)?;
                }
                conn.prepare_cached(
                    "update contacts set marketing_stopped_at =
                         case when ?2 then coalesce(marketing_stopped_at, ?3) else null end
                     where id = ?1",
                )?
                .execute(params![id, stopped, at])?;
                Ok(())
            })
            .await
    }

    async fn marketing_state(&self, conversation_id: Id) -> StoreResult<MarketingState> {
        shared::marketing_state(&self.reader, conversation_id).await
    }

    async fn release_deferred(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let now = micros(now);
        // Polled: a read on the pool first, so an idle store takes no write transaction.
        let due = sqlx::query("select 1 from deferred_sends where due_at <= ?1 limit 1")
            .bind(now)
            .fetch_optional(&self.reader)
            .await?;
        if due.is_none() {
            return Ok(0);
        }
        self.writer
            .run(move |conn| {
                // One at a time, each with its original's flow, step and cost prediction
                // (a copy is priced as the send it repeats).
                let due: Vec<(i64, i64)> = conn
                    .prepare_cached(
                        "select id, source_id from deferred_sends where due_at <= ?1 order by id",
                    )?
                    .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                for (id, source) in &due {
                    let copy: i64 = conn
                        .prepare_cached("insert into outbound_messages
                             (sender_id, conversation_id, payload, fallback, origin, status,
                              next_attempt_at, created_at, updated_at, deferrals, broadcast_recipient,
                              flow, step)
                         select d.sender_id, d.conversation_id, d.payload, d.fallback, d.origin,
                                'queued', ?2, ?2, ?2, d.deferrals, d.broadcast_recipient, o.flow, o.step
                         from deferred_sends d left join outbound_messages o on o.id = d.source_id
                         where d.id = ?1
                         returning id",
                        )?
                        .query_row(params![id, now], |r| r.get(0))?;
                    conn.prepare_cached(COPY_PREDICTION)?
                        .execute(params![copy, source, now])?;
                    conn.prepare_cached("delete from deferred_sends where id = ?1")?
                        .execute([id])?;
                }
                Ok(due.len())
            })
            .await
    }
}

/// Events out of a marketing preference about contact `id`, before it is applied
/// (`store::events_log::preference_events`).
fn tell_preference(conn: &Conn<'_>, id: Id, stopped: bool, now: i64) -> StoreResult<()> {
    let (key, name, bsuid, created_at, stopped_at): (
        String,
        Option<String>,
        Option<String>,
        i64,
        Option<i64>,
    ) = conn
        .prepare_cached(
            "select key, name, bsuid, created_at, marketing_stopped_at from contacts where id = ?1",
        )?
        .query_row([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
    let events = crate::store::events_log::preference_events(
        (id, key, name, bsuid),
        created_at == now,
        stopped && stopped_at.is_none(),
        super::rows::time(now)?,
    );
    super::events_log::insert_events(conn, &events)
}
