//! `Costs` on SQLite: the ledger rows written with the messages they price and with the
//! statuses that carry `pricing`, and its reads (SQL shared in `store::sql`).

use super::rows::{micros, record_prediction};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::pricing::{CostPrediction, StatusPricing};
use crate::domain::Id;
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::{CostEntry, CostGrouping, CostRow, Costs, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

const DAY: &str = "strftime('%Y-%m-%d', c.created_at / 1000000, 'unixepoch')";

/// Records a status's `pricing` on message `id`'s ledger row (if it has one), with the cost
/// of the category Meta reported at the rates kept with the prediction.
pub(super) fn record_pricing(
    conn: &Conn<'_>,
    id: i64,
    pricing: &StatusPricing,
    now: i64,
) -> StoreResult<()> {
    let actual = crate::store::apply::actual_pricing(pricing);
    conn.prepare_cached(
        "update message_costs set
             actual_category = ?2, actual_type = ?3, actual_billable = ?4, pricing_model = ?5,
             actual_micros = case
                 when ?4 is null then null
                 when not ?4 then 0
                 else case ?2
                     when 'marketing' then rate_marketing
                     when 'utility' then rate_utility
                     when 'authentication' then rate_authentication
                     when 'service' then rate_service
                     else predicted_micros end
                 end,
             updated_at = ?6
         where outbound_id = ?1",
    )?
    .execute(params![
        id,
        actual.category,
        actual.kind,
        actual.billable,
        actual.model,
        now
    ])?;
    Ok(())
}

#[async_trait]
impl Costs for SqliteStore {
    async fn costs(
        &self,
        by: CostGrouping,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CostRow>> {
        shared::costs(&self.reader, by, DAY, since, until, limit).await
    }

    async fn costs_by_broadcast(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<CostRow>> {
        shared::costs_by_broadcast(&self.reader, since, until, limit).await
    }

    async fn predicted_spend(
        &self,
        sender_id: i64,
        since: Option<DateTime<Utc>>,
    ) -> StoreResult<i64> {
        shared::predicted_spend(
            &self.reader,
            sender_id,
            since.map(micros).unwrap_or(i64::MIN),
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
        let cost = cost.clone();
        let now = micros(now);
        self.writer
            .run(move |conn| record_prediction(conn, outbound_id, sender_id, &cost, now))
            .await
    }

    async fn cost_entry(&self, outbound_id: Id) -> StoreResult<Option<CostEntry>> {
        shared::cost_entry(&self.reader, outbound_id).await
    }
}
