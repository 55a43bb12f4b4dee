//! `Costs` on PostgreSQL: the ledger's status updates and reads (SQL shared in
//! `store::sql`); predictions are written with their messages (`rows::insert_outbound`).

use super::PgStore;
use crate::domain::pricing::{CostPrediction, StatusPricing};
use crate::domain::Id;
use crate::store::shared_reads::for_postgres as shared;
use crate::store::{CostEntry, CostGrouping, CostRow, Costs, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

const DAY: &str = "to_char(c.created_at at time zone 'UTC', 'YYYY-MM-DD')";

/// Records a status's `pricing` on message `id`'s ledger row (if it has one); see the
/// SQLite store's `record_pricing`.
pub(super) async fn record_pricing(
    conn: &mut PgConnection,
    id: i64,
    pricing: &StatusPricing,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let actual = crate::store::apply::actual_pricing(pricing);
    sqlx::query(
        "update message_costs set
             actual_category = $2, actual_type = $3, actual_billable = $4, pricing_model = $5,
             actual_micros = case
                 when $4::boolean is null then null
                 when not $4::boolean then 0
                 else case $2::text
                     when 'marketing' then rate_marketing
                     when 'utility' then rate_utility
                     when 'authentication' then rate_authentication
                     when 'service' then rate_service
                     else predicted_micros end
                 end,
             updated_at = $6
         where outbound_id = $1",
    )
    .bind(id)
    .bind(actual.category)
    .bind(actual.kind)
    .bind(actual.billable)
    .bind(actual.model)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl Costs for PgStore {
    async fn costs(
        &self,
        by: CostGrouping,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CostRow>> {
        shared::costs(&self.pool, by, DAY, since, until, limit).await
    }

    async fn costs_by_broadcast(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CostRow>> {
        shared::costs_by_broadcast(&self.pool, since, until, limit).await
    }

    async fn predicted_spend(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<i64> {
        shared::predicted_spend(
            &self.pool,
            sender_id,
            since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        )
        .await
    }

    async fn record_prediction(
        &self,
        outbound_id: Id,
        sender_id: i64,
        cost: &CostPrediction,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into message_costs (outbound_id, sender_id, market, currency,
                 predicted_category, predicted_type, predicted_micros, rate_marketing,
                 rate_utility, rate_authentication, rate_service, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
             on conflict (outbound_id) do update set
                 market = excluded.market, currency = excluded.currency,
                 predicted_category = excluded.predicted_category,
                 predicted_type = excluded.predicted_type,
                 predicted_micros = excluded.predicted_micros,
                 rate_marketing = excluded.rate_marketing, rate_utility = excluded.rate_utility,
                 rate_authentication = excluded.rate_authentication,
                 rate_service = excluded.rate_service, updated_at = excluded.updated_at",
        )
        .bind(outbound_id)
        .bind(sender_id)
        .bind(&cost.market)
        .bind(&cost.currency)
        .bind(cost.category.as_str())
        .bind(cost.pricing_type.as_str())
        .bind(cost.price_micros)
        .bind(cost.rates.marketing)
        .bind(cost.rates.utility)
        .bind(cost.rates.authentication)
        .bind(cost.rates.service)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn cost_entry(&self, outbound_id: Id) -> StoreResult<Option<CostEntry>> {
        shared::cost_entry(&self.pool, outbound_id).await
    }
}
