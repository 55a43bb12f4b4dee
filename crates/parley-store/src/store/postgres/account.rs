//! Templates' live state and contacts' marketing state on PostgreSQL (`store::Account`).
//! `defer_in` and `stop_in` run inside the transaction of a status webhook (`statuses`) or of
//! a recorded send failure (`outbox`).

use super::PgStore;
use crate::domain::error_class::marketing_deferral;
use crate::domain::{
    LiveTemplate, MarketingPreference, MarketingState, TemplateChange, TemplateUpdate,
};
use crate::store::shared_reads::for_postgres as shared;
use crate::store::sql::NOT_MARKETING;
use crate::store::{Account, Id, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{PgConnection, Row};

/// How long a 131049 keeps every marketing message from the contact.
const LIMIT: TimeDelta = TimeDelta::hours(24);

/// WhatsApp held back outbound message `outbound_id` (131049): its contact gets no marketing
/// for 24 hours, and a copy is kept (once per held-back send) to go out after the next wait
/// on the ladder (`marketing_deferral`). Returns when the copy is due; `None` when the ladder
/// is spent.
pub(super) async fn defer_in(
    conn: &mut PgConnection,
    outbound_id: Id,
    now: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    let row = sqlx::query(&format!(
        "select o.deferrals, v.contact_id, {NOT_MARKETING} as not_marketing from outbound_messages o
         join conversations v on v.id = o.conversation_id where o.id = $1"
    ))
    .bind(outbound_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let deferrals: i32 = row.try_get("deferrals")?;
    let contact_id: i64 = row.try_get("contact_id")?;
    let not_marketing: bool = row.try_get("not_marketing")?;
    let limit = now + LIMIT;
    sqlx::query(
        "update contacts set marketing_limited_until = $1
         where id = $2 and (marketing_limited_until is null or marketing_limited_until < $1)",
    )
    .bind(limit)
    .bind(contact_id)
    .execute(&mut *conn)
    .await?;
    let Some(wait) = marketing_deferral(deferrals.max(0) as u32).filter(|_| !not_marketing) else {
        return Ok(None);
    };
    let wait = TimeDelta::from_std(wait).unwrap_or(LIMIT);
    let due = now + wait;
    sqlx::query(
        "insert into deferred_sends
             (sender_id, conversation_id, payload, fallback, origin, deferrals, due_at,
              created_at, source_id, broadcast_recipient)
         select sender_id, conversation_id, payload, fallback, origin, deferrals + 1, $2, $3, id,
                broadcast_recipient
         from outbound_messages where id = $1
         on conflict (source_id) do nothing",
    )
    .bind(outbound_id)
    .bind(due)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(Some(due))
}

/// The customer of outbound message `outbound_id` stopped marketing (131050): a status
/// webhook or a recorded failure with that code.
pub(super) async fn stop_in(
    conn: &mut PgConnection,
    outbound_id: Id,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "update contacts set marketing_stopped_at = coalesce(marketing_stopped_at, $2)
         where id = (select v.contact_id from outbound_messages o
                     join conversations v on v.id = o.conversation_id where o.id = $1)",
    )
    .bind(outbound_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Account for PgStore {
    async fn record_template_update(
        &self,
        update: &TemplateUpdate,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let language = update.language.clone().unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "insert into template_states (name, language, template_id, updated_at)
             values ($1, $2, $3, $4)
             on conflict (name, language) do update set
                 template_id = coalesce(excluded.template_id, template_states.template_id),
                 updated_at = excluded.updated_at",
        )
        .bind(&update.name)
        .bind(&language)
        .bind(&update.template_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let query = match &update.change {
            TemplateChange::Status {
                status,
                reason,
                category,
            } => sqlx::query(
                "update template_states set status = $3, reason = $4,
                     category = coalesce($5, category)
                 where name = $1 and language = $2",
            )
            .bind(&update.name)
            .bind(&language)
            .bind(status)
            .bind(reason)
            .bind(category.map(|c| c.as_str())),
            TemplateChange::Category { category, .. } => sqlx::query(
                "update template_states set category = $3,
                     impending_category = null, impending_on = null
                 where name = $1 and language = $2",
            )
            .bind(&update.name)
            .bind(&language)
            .bind(category.as_str()),
            TemplateChange::CategoryImpending { category, on } => sqlx::query(
                "update template_states set impending_category = $3, impending_on = $4
                 where name = $1 and language = $2",
            )
            .bind(&update.name)
            .bind(&language)
            .bind(category.as_str())
            .bind(on),
        };
        query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn live_templates(&self) -> StoreResult<Vec<LiveTemplate>> {
        shared::live_templates(&self.pool).await
    }

    async fn live_template(&self, name: &str, language: &str) -> StoreResult<Option<LiveTemplate>> {
        shared::live_template(&self.pool, name, language).await
    }

    async fn set_marketing_preference(
        &self,
        preference: &MarketingPreference,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let ids = crate::domain::Identities::of(&preference.contact);
        let at = preference.at.unwrap_or(now);
        let mut tx = self.pool.begin().await?;
        // Found by phone and/or business-scoped id like a message's sender, and created when
        // Parley has not met the customer yet.
        let linked = super::identity::link(&mut tx, &ids, None, None, None, now, true).await?;
        if let Some((id, _)) = linked {
            if self.events.on() {
                let (key, name, bsuid, created_at, stopped_at): (
                    String,
                    Option<String>,
                    Option<String>,
                    DateTime<Utc>,
                    Option<DateTime<Utc>>,
                ) = sqlx::query_as(
                    "select key, name, bsuid, created_at, marketing_stopped_at
                     from contacts where id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                let events = crate::store::events_log::preference_events(
                    (id, key, name, bsuid),
                    created_at == crate::store::events_log::to_micros(now),
                    preference.stopped && stopped_at.is_none(),
                    now,
                );
                super::events_log::insert_events(&mut tx, &events).await?;
            }
            sqlx::query(
                "update contacts set marketing_stopped_at =
                     case when $2 then coalesce(marketing_stopped_at, $3) else null end
                 where id = $1",
            )
            .bind(id)
            .bind(preference.stopped)
            .bind(at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn marketing_state(&self, conversation_id: Id) -> StoreResult<MarketingState> {
        shared::marketing_state(&self.pool, conversation_id).await
    }

    async fn release_deferred(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        // Locked, then moved in one transaction: rows one process moves, another skips.
        // One at a time, each with its original's flow, step and cost prediction (a copy is
        // priced as the send it repeats).
        let mut tx = self.pool.begin().await?;
        let due: Vec<(i64, i64)> = sqlx::query_as(
            "select id, source_id from deferred_sends where due_at <= $1 order by id
             for update skip locked",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for (id, source) in &due {
            let copy: i64 = sqlx::query_scalar(
                "insert into outbound_messages
                     (sender_id, conversation_id, payload, fallback, origin, status,
                      next_attempt_at, created_at, updated_at, deferrals, broadcast_recipient,
                      flow, step)
                 select d.sender_id, d.conversation_id, d.payload, d.fallback, d.origin,
                        'queued', $2, $2, $2, d.deferrals, d.broadcast_recipient, o.flow, o.step
                 from deferred_sends d left join outbound_messages o on o.id = d.source_id
                 where d.id = $1
                 returning id",
            )
            .bind(id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "insert into message_costs (outbound_id, sender_id, market, currency,
                     predicted_category, predicted_type, predicted_micros, rate_marketing,
                     rate_utility, rate_authentication, rate_service, created_at, updated_at)
                 select $1, sender_id, market, currency, predicted_category, predicted_type,
                        predicted_micros, rate_marketing, rate_utility, rate_authentication,
                        rate_service, $3, $3
                 from message_costs where outbound_id = $2",
            )
            .bind(copy)
            .bind(source)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("delete from deferred_sends where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(due.len())
    }
}
