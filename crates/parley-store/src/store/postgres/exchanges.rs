//! `Exchanges` on PostgreSQL: model exchanges and transcripts (`model_exchanges`).

use super::PgStore;
use crate::domain::Id;
use crate::store::sql::{CONVERSATION_EXCHANGES, MODEL_EXCHANGE};
use crate::store::{ExchangeKind, Exchanges, ModelExchange, StoreResult, UsageBy, UsageRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::Row;

fn exchange(row: &PgRow) -> StoreResult<ModelExchange> {
    Ok(ModelExchange {
        conversation_id: row.try_get("conversation_id")?,
        event_id: row.try_get("event_id")?,
        seq: row.try_get("seq")?,
        kind: ExchangeKind::parse(row.try_get::<&str, _>("kind")?),
        flow: row.try_get("flow")?,
        step: row.try_get("step")?,
        model: row.try_get("model")?,
        request: row.try_get("request")?,
        answer: row.try_get("answer")?,
        error: row.try_get("error")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cost_micros: row.try_get("cost_micros")?,
        latency_ms: row.try_get("latency_ms")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Exchanges for PgStore {
    async fn model_exchange(&self, event_id: Id, seq: i64) -> StoreResult<Option<ModelExchange>> {
        sqlx::query(MODEL_EXCHANGE)
            .bind(event_id)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| exchange(&r))
            .transpose()
    }

    async fn record_model_exchange(&self, x: &ModelExchange) -> StoreResult<Option<ModelExchange>> {
        let inserted = sqlx::query(
            "insert into model_exchanges (conversation_id, event_id, seq, kind, flow, step,
                 model, request, answer, error, input_tokens, output_tokens, cost_micros,
                 latency_ms, created_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             on conflict (event_id, seq) do nothing
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
        .fetch_optional(&self.pool)
        .await?
        .is_some();
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
        sqlx::query(CONVERSATION_EXCHANGES)
            .bind(conversation_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(exchange)
            .collect()
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
        sqlx::query(&sql)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(UsageRow {
                    key: r.try_get("key")?,
                    calls: r.try_get("calls")?,
                    failed: r.try_get("failed")?,
                    input_tokens: r.try_get("input_tokens")?,
                    output_tokens: r.try_get("output_tokens")?,
                    cost_micros: r.try_get("cost_micros")?,
                })
            })
            .collect()
    }
}
