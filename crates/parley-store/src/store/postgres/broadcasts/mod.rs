//! Broadcasts on PostgreSQL (`store::Broadcasts`). A page of sends is one transaction of a
//! few statements over arrays; the portfolio's messaging limit is counted under a
//! transaction-scoped advisory lock per portfolio, so processes sharing the database never
//! reach more customers than the limit between them.

mod page;

use super::PgStore;
use crate::domain::broadcast::{BroadcastAction, BroadcastState};
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{
    Broadcast, Broadcasts, Candidate, Id, NewBroadcast, NewRecipient, PageOutcome, RecipientCount,
    RecipientRow, SendPricing, StoreError, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};
use std::collections::HashMap;
use std::time::Duration;

const COLUMNS: &str = "id, name, sender_id, template_name, template_language, category, \
     variables, audience, frequency_cap_secs, reply_flow, portfolio, messaging_limit, start_at, \
     state, prepared, cursor, wait_until, wait_reason, created_at, updated_at";

pub(super) fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or_else(|_| chrono::Duration::days(365))
}

fn decode(r: &PgRow) -> StoreResult<Broadcast> {
    let state: String = r.try_get("state")?;
    Ok(Broadcast {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        sender_id: r.try_get("sender_id")?,
        template_name: r.try_get("template_name")?,
        template_language: r.try_get("template_language")?,
        category: r.try_get("category")?,
        variables: r.try_get::<Json<serde_json::Value>, _>("variables")?.0,
        audience: r
            .try_get::<Option<Json<serde_json::Value>>, _>("audience")?
            .map(|a| a.0),
        frequency_cap_secs: r.try_get("frequency_cap_secs")?,
        reply_flow: r.try_get("reply_flow")?,
        portfolio: r.try_get("portfolio")?,
        messaging_limit: r.try_get("messaging_limit")?,
        start_at: r.try_get("start_at")?,
        state: BroadcastState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("broadcast state {state:?}")))?,
        prepared: r.try_get("prepared")?,
        cursor: r.try_get("cursor")?,
        wait_until: r.try_get("wait_until")?,
        wait_reason: r.try_get("wait_reason")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

async fn insert_recipients(
    tx: &mut Transaction<'_, Postgres>,
    id: Id,
    sender_id: i64,
    recipients: &[NewRecipient],
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if recipients.is_empty() {
        return Ok(());
    }
    let missing: Vec<Id> = recipients
        .iter()
        .filter(|r| r.conversation_id.is_none())
        .map(|r| r.contact_id)
        .collect();
    let mut created: HashMap<Id, Id> = HashMap::new();
    if !missing.is_empty() {
        // The no-op update makes `returning` give existing rows too.
        let rows = sqlx::query(
            "insert into conversations (sender_id, contact_id, created_at)
             select $1, c, $3 from unnest($2::bigint[]) as t(c)
             on conflict (sender_id, contact_id) do update set sender_id = excluded.sender_id
             returning id, contact_id",
        )
        .bind(sender_id)
        .bind(&missing)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        for r in rows {
            created.insert(r.try_get("contact_id")?, r.try_get("id")?);
        }
    }
    let conversations: Vec<Id> = recipients
        .iter()
        .map(|r| {
            r.conversation_id
                .or_else(|| created.get(&r.contact_id).copied())
                .ok_or(StoreError::NotFound {
                    what: "conversation of contact",
                    id: r.contact_id,
                })
        })
        .collect::<StoreResult<_>>()?;
    let contacts: Vec<Id> = recipients.iter().map(|r| r.contact_id).collect();
    let payloads: Vec<Option<String>> = recipients
        .iter()
        .map(|r| r.outcome.as_ref().ok().cloned())
        .collect();
    let reasons: Vec<Option<String>> = recipients
        .iter()
        .map(|r| r.outcome.as_ref().err().cloned())
        .collect();
    sqlx::query(
        "insert into broadcast_recipients
             (broadcast_id, conversation_id, contact_id, state, reason, payload)
         select $1, v, c, case when p is null then 'skipped' else 'pending' end, why, p::jsonb
         from unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[]) as t(v, c, p, why)
         on conflict (broadcast_id, contact_id) do nothing",
    )
    .bind(id)
    .bind(&conversations)
    .bind(&contacts)
    .bind(&payloads)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Checks and renews the lease; the broadcast's state, `LeaseLost` when not ours.
async fn hold(
    tx: &mut Transaction<'_, Postgres>,
    id: Id,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> StoreResult<String> {
    sqlx::query_scalar(
        "update broadcasts set lease_until = $4
         where id = $1 and lease_owner = $2 and lease_until > $3
         returning state",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .bind(until)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::LeaseLost {
        what: "broadcast",
        id,
    })
}

/// Counts a committed page's predictions in Prometheus (see `SendPricing::count`).
fn count_priced(sender_id: i64, costs: &[crate::domain::pricing::CostPrediction]) {
    for c in costs {
        crate::metrics::message_priced(
            sender_id,
            "broadcast",
            c.category.as_str(),
            c.pricing_type.as_str(),
            c.price_micros,
        );
    }
}

#[async_trait]
impl Broadcasts for PgStore {
    async fn create_broadcast(
        &self,
        b: &NewBroadcast,
        recipients: &[NewRecipient],
        now: DateTime<Utc>,
    ) -> StoreResult<Id> {
        let mut tx = self.pool.begin().await?;
        let id: Id = sqlx::query_scalar(
            "insert into broadcasts
                 (name, sender_id, template_name, template_language, category, variables,
                  audience, frequency_cap_secs, reply_flow, portfolio, messaging_limit, start_at,
                  state, prepared, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'sending', $13, $14, $14)
             returning id",
        )
        .bind(&b.name)
        .bind(b.sender_id)
        .bind(&b.template_name)
        .bind(&b.template_language)
        .bind(&b.category)
        .bind(Json(&b.variables))
        .bind(b.audience.as_ref().map(Json))
        .bind(b.frequency_cap_secs)
        .bind(&b.reply_flow)
        .bind(&b.portfolio)
        .bind(b.messaging_limit)
        .bind(b.start_at)
        .bind(b.audience.is_none())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for chunk in recipients.chunks(5_000) {
            insert_recipients(&mut tx, id, b.sender_id, chunk, now).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn broadcast(&self, id: Id) -> StoreResult<Option<Broadcast>> {
        sqlx::query(&format!("select {COLUMNS} from broadcasts where id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(decode)
            .transpose()
    }

    async fn broadcasts(&self, before: Option<Id>, limit: i64) -> StoreResult<Vec<Broadcast>> {
        sqlx::query(&format!(
            "select {COLUMNS} from broadcasts where ($1::bigint is null or id < $1)
             order by id desc limit $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(decode)
        .collect()
    }

    async fn broadcast_action(
        &self,
        id: Id,
        action: BroadcastAction,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Result<BroadcastState, String>>> {
        let mut tx = self.pool.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("select state from broadcasts where id = $1 for update")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(state) = state else { return Ok(None) };
        let from = BroadcastState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("broadcast state {state:?}")))?;
        let waiting: bool = sqlx::query_scalar(crate::store::sql::BROADCAST_WAITING)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let to = match action.apply(from, waiting) {
            Ok(to) => to,
            Err(why) => return Ok(Some(Err(why))),
        };
        sqlx::query(
            "update broadcasts set state = $2, updated_at = $3, wait_until = null,
                 wait_reason = null
             where id = $1",
        )
        .bind(id)
        .bind(to.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if to == BroadcastState::Cancelled {
            sqlx::query(
                "update outbound_messages set status = 'skipped',
                     error_title = 'the broadcast was cancelled', updated_at = $2
                 where broadcast_recipient in
                       (select id from broadcast_recipients where broadcast_id = $1)
                   and status = 'queued'
                   and (lease_until is null or lease_until <= $2)",
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "delete from deferred_sends where broadcast_recipient in
                     (select id from broadcast_recipients where broadcast_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(Ok(to)))
    }

    async fn claim_broadcast(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<Broadcast>> {
        sqlx::query(&format!(
            "update broadcasts set lease_owner = $1, lease_until = $2, wait_until = null,
                 wait_reason = null
             where id = (select id from broadcasts
                         where state = 'sending' and start_at <= $3
                           and (wait_until is null or wait_until <= $3)
                           and (lease_until is null or lease_until <= $3)
                         order by id limit 1 for update skip locked)
             returning {COLUMNS}"
        ))
        .bind(owner)
        .bind(later(now, lease))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
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
        let mut tx = self.pool.begin().await?;
        hold(&mut tx, id, owner, now, later(now, lease)).await?;
        let sender_id: i64 = sqlx::query_scalar(
            "update broadcasts set cursor = $2, prepared = $3, updated_at = $4 where id = $1
             returning sender_id",
        )
        .bind(id)
        .bind(cursor)
        .bind(done)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        insert_recipients(&mut tx, id, sender_id, recipients, now).await?;
        tx.commit().await?;
        Ok(())
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
        let mut tx = self.pool.begin().await?;
        if hold(&mut tx, id, owner, now, later(now, lease)).await? != "sending" {
            return Ok(PageOutcome::Stopped);
        }
        let timing = page::Timing {
            pair_gap,
            reply_window,
            now,
        };
        let page = page::queue_page(&mut tx, id, limit, &timing, pricing).await?;
        if matches!(page.outcome, PageOutcome::Finished) && self.events.on() {
            super::events_log::tell_broadcast_finished(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        count_priced(page.sender_id, &page.costs);
        Ok(page.outcome)
    }

    async fn release_broadcast(&self, id: Id, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "update broadcasts set lease_owner = null, lease_until = null
             where id = $1 and lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn renew_broadcast(
        &self,
        id: Id,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let state = hold(&mut tx, id, owner, now, later(now, lease)).await?;
        tx.commit().await?;
        Ok(state == "sending")
    }

    async fn broadcast_counts(&self, id: Id) -> StoreResult<Vec<RecipientCount>> {
        shared::broadcast_counts(&self.pool, id).await
    }

    async fn broadcast_recipients(
        &self,
        id: Id,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<RecipientRow>> {
        shared::broadcast_recipients(&self.pool, id, after, limit).await
    }

    async fn broadcast_candidates(
        &self,
        sender_id: i64,
        after: Id,
        limit: i64,
    ) -> StoreResult<Vec<Candidate>> {
        shared::broadcast_candidates(&self.pool, sender_id, after, limit).await
    }

    async fn portfolio_reached(&self, portfolio: &str, since: DateTime<Utc>) -> StoreResult<i64> {
        shared::portfolio_reached(&self.pool, portfolio, since).await
    }
}
