//! `Exchanges` on PostgreSQL: model exchanges and transcripts (`model_exchanges`).

use super::PgStore;
use crate::domain::Id;
use crate::store::rows::ExchangeCols;
use crate::store::shared_reads::for_postgres as shared;
use crate::store::sql::MODEL_EXCHANGE;
use crate::store::{Exchanges, ModelExchange, StoreResult, UsageBy, UsageRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Exchanges for PgStore {
    async fn model_exchange(&self, event_id: Id, seq: i64) -> StoreResult<Option<ModelExchange>> {
        let row: Option<ExchangeCols> = sqlx::query_as(MODEL_EXCHANGE)
            .bind(event_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }

    /// The table is partitioned by month (migration 0037), so its unique key holds
    /// `created_at` too: one (event, seq) across months is kept by a lock per pair and a
    /// look taken after it (a statement of its own, so its snapshot sees the other's row).
    async fn record_model_exchange(&self, x: &ModelExchange) -> StoreResult<Option<ModelExchange>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "select pg_advisory_xact_lock(
                 hashtextextended('model_exchanges:' || $1::bigint || ':' || $2::bigint, 0))",
        )
        .bind(x.event_id)
        .bind(x.seq)
        .execute(&mut *tx)
        .await?;
        let inserted = sqlx::query(
            "insert into model_exchanges (conversation_id, event_id, seq, kind, flow, step,
                 model, request, answer, error, input_tokens, output_tokens, cost_micros,
                 latency_ms, created_at)
             select $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15
             where not exists (select 1 from model_exchanges where event_id = $2 and seq = $3)
             on conflict do nothing
             returning 1",
        )
        .bind(x.conversation_id)
        .bind(x.event_id)
        .bind(x.seq)
        .bind(x.kind.as_str())
        .bind(&x.flow)
        .bind(&x.step)
        .bind(&x.model)
        .bind(&x.request)
        .bind(&x.answer)
        .bind(&x.error)
        .bind(x.input_tokens)
        .bind(x.output_tokens)
        .bind(x.cost_micros)
        .bind(x.latency_ms)
        .bind(x.created_at)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        tx.commit().await?;
        if inserted {
            return Ok(None);
        }
        self.model_exchange(x.event_id, x.seq).await
    }

    async fn conversation_exchanges(
        &self,
        conversation_id: Id,
        limit: i64,
    ) -> StoreResult<Vec<ModelExchange>> {
        shared::conversation_exchanges(&self.pool, conversation_id, limit).await
    }

    async fn model_usage(
        &self,
        by: UsageBy,
        since: Option<DateTime<Utc>>,
        limit: i64,
    ) -> StoreResult<Vec<UsageRow>> {
        let sql = format!(
            "select {col}::text as key, count(*)::bigint as calls,
                    count(error)::bigint as failed,
                    sum(input_tokens)::bigint as input_tokens,
                    sum(output_tokens)::bigint as output_tokens,
                    sum(cost_micros)::bigint as cost_micros
             from model_exchanges where ($1::timestamptz is null or created_at >= $1)
             group by {col} order by sum(cost_micros) desc, key limit $2",
            col = by.column()
        );
        Ok(sqlx::query_as(&sql)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }
}
