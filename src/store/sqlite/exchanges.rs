//! `Exchanges` on SQLite: model exchanges and transcripts (`model_exchanges`).

use super::rows::{from_text, json_text, micros, time};
use super::SqliteStore;
use crate::domain::Id;
use crate::store::sql::{CONVERSATION_EXCHANGES, MODEL_EXCHANGE};
use crate::store::{ExchangeKind, Exchanges, ModelExchange, StoreResult, UsageBy, UsageRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn exchange(row: &SqliteRow) -> StoreResult<ModelExchange> {
    let answer: Option<String> = row.try_get("answer")?;
    Ok(ModelExchange {
        conversation_id: row.try_get("conversation_id")?,
        event_id: row.try_get("event_id")?,
        seq: row.try_get("seq")?,
        kind: ExchangeKind::parse(row.try_get::<&str, _>("kind")?),
        flow: row.try_get("flow")?,
        step: row.try_get("step")?,
        model: row.try_get("model")?,
        request: from_text("model_exchanges.request", row.try_get("request")?)?,
        answer: answer
            .map(|a| from_text("model_exchanges.answer", &a))
            .transpose()?,
        error: row.try_get("error")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        cost_micros: row.try_get("cost_micros")?,
        latency_ms: row.try_get("latency_ms")?,
        created_at: time(row.try_get("created_at")?)?,
    })
}

#[async_trait]
impl Exchanges for SqliteStore {
    async fn model_exchange(&self, event_id: Id, seq: i64) -> StoreResult<Option<ModelExchange>> {
        sqlx::query(MODEL_EXCHANGE)
            .bind(event_id)
            .bind(seq)
            .fetch_optional(&self.reader)
            .await?
            .map(|r| exchange(&r))
            .transpose()
    }

    async fn record_model_exchange(&self, x: &ModelExchange) -> StoreResult<ModelExchange> {
        let request = json_text("model_exchanges.request", &x.request)?;
        let answer = x
            .answer
            .as_ref()
            .map(|a| json_text("model_exchanges.answer", a))
            .transpose()?;
        let row = x.clone();
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into model_exchanges (conversation_id, event_id, seq, kind, flow, step,
                         model, request, answer, error, input_tokens, output_tokens, cost_micros,
                         latency_ms, created_at)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                     on conflict (event_id, seq) do nothing",
                )?
                .execute(params![
                    row.conversation_id,
                    row.event_id,
                    row.seq,
                    row.kind.as_str(),
                    row.flow,
                    row.step,
                    row.model,
                    request,
                    answer,
                    row.error,
                    row.input_tokens,
                    row.output_tokens,
                    row.cost_micros,
                    row.latency_ms,
                    micros(row.created_at),
                ])?;
                Ok(())
            })
            .await?;
        Ok(self
            .model_exchange(x.event_id, x.seq)
            .await?
            .unwrap_or_else(|| x.clone()))
    }

    async fn conversation_exchanges(
        &self,
        conversation_id: Id,
        limit: i64,
    ) -> StoreResult<Vec<ModelExchange>> {
        sqlx::query(CONVERSATION_EXCHANGES)
            .bind(conversation_id)
            .bind(limit)
            .fetch_all(&self.reader)
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
            "select cast({col} as text) as key, count(*) as calls,
                    sum(case when error is null then 0 else 1 end) as failed,
                    sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens,
                    sum(cost_micros) as cost_micros
             from model_exchanges where created_at >= ?1
             group by {col} order by sum(cost_micros) desc, key limit ?2",
            col = by.column()
        );
        let since = since.map(micros).unwrap_or(i64::MIN);
        sqlx::query(&sql)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.reader)
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
