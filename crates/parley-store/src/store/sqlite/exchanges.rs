//! `Exchanges` on SQLite: model exchanges and transcripts (`model_exchanges`).

use super::rows::{from_text, json_text, micros, time, Captured, Cols};
use super::statements::Conn;
use super::SqliteStore;
use crate::domain::Id;
use crate::store::shared_reads::for_sqlite as shared;
use crate::store::sql::MODEL_EXCHANGE;
use crate::store::{ExchangeKind, Exchanges, ModelExchange, StoreResult, UsageBy, UsageRow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// Decodes a `model_exchanges` row the writer thread copied out (`rows::Captured`); the
/// reader pool's rows decode as `store::rows::ExchangeCols`.
fn exchange(row: &impl Cols) -> StoreResult<ModelExchange> {
    Ok(ModelExchange {
        conversation_id: row.int("conversation_id")?,
        event_id: row.int("event_id")?,
        seq: row.int("seq")?,
        kind: ExchangeKind::parse(&row.text("kind")?),
        flow: row.text("flow")?,
        step: row.text("step")?,
        model: row.text("model")?,
        request: from_text("model_exchanges.request", &row.text("request")?)?,
        answer: row
            .opt_text("answer")?
            .map(|a| from_text("model_exchanges.answer", &a))
            .transpose()?,
        error: row.opt_text("error")?,
        input_tokens: row.int("input_tokens")?,
        output_tokens: row.int("output_tokens")?,
        cost_micros: row.int("cost_micros")?,
        latency_ms: row.int("latency_ms")?,
        created_at: time(row.int("created_at")?)?,
    })
}

/// The exchange recorded for `(event_id, seq)`, copied out on the writer thread (its JSON is
/// parsed after, off that thread).
fn recorded(conn: &Conn<'_>, event_id: Id, seq: i64) -> StoreResult<Option<Captured>> {
    conn.prepare_cached(MODEL_EXCHANGE)?
        .query_row(params![event_id, seq], |row| Ok(Captured::of(row)))
        .optional()?
        .transpose()
}

/// A `model_exchanges` row's columns other than its JSON, owned by the writer's job.
struct Columns {
    conversation_id: Id,
    event_id: Id,
    seq: i64,
    kind: &'static str,
    flow: String,
    step: String,
    model: String,
    error: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
    latency_ms: i64,
    /// Microseconds since the epoch.
    created_at: i64,
}

#[async_trait]
impl Exchanges for SqliteStore {
    /// Asked before every model call of an agent turn, so it runs on the writer thread like
    /// the hot path's other reads: a prepared statement there costs a few microseconds, a
    /// hand-off to a reader connection (sqlx's SQLite driver has a thread per connection)
    /// tens, and two more context switches (BENCHMARKS.md, "Agent turns without the reader
    /// pool").
    async fn model_exchange(&self, event_id: Id, seq: i64) -> StoreResult<Option<ModelExchange>> {
        self.writer
            .read(move |conn| recorded(conn, event_id, seq))
            .await?
            .as_ref()
            .map(exchange)
            .transpose()
    }

    /// The insert and, only when another try of this event recorded first, the read of what
    /// it recorded, in one job on the writer thread. The job takes the row's columns (its
    /// JSON already text), not a copy of its JSON trees.
    async fn record_model_exchange(&self, x: &ModelExchange) -> StoreResult<Option<ModelExchange>> {
        let request = json_text("model_exchanges.request", &x.request)?;
        let answer = x
            .answer
            .as_ref()
            .map(|a| json_text("model_exchanges.answer", a))
            .transpose()?;
        let row = Columns {
            conversation_id: x.conversation_id,
            event_id: x.event_id,
            seq: x.seq,
            kind: x.kind.as_str(),
            flow: x.flow.clone(),
            step: x.step.clone(),
            model: x.model.clone(),
            error: x.error.clone(),
            input_tokens: x.input_tokens,
            output_tokens: x.output_tokens,
            cost_micros: x.cost_micros,
            latency_ms: x.latency_ms,
            created_at: micros(x.created_at),
        };
        let earlier = self
            .writer
            .run(move |conn| {
                let inserted = conn
                    .prepare_cached(
                        "insert into model_exchanges (conversation_id, event_id, seq, kind, flow,
                             step, model, request, answer, error, input_tokens, output_tokens,
                             cost_micros, latency_ms, created_at)
                         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                         on conflict (event_id, seq) do nothing",
                    )?
                    .execute(params![
                        row.conversation_id,
                        row.event_id,
                        row.seq,
                        row.kind,
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
                        row.created_at,
                    ])?;
                if inserted == 1 {
                    return Ok(None);
                }
                recorded(conn, row.event_id, row.seq)
            })
            .await?;
        earlier.as_ref().map(exchange).transpose()
    }

    async fn conversation_exchanges(
        &self,
        conversation_id: Id,
        limit: i64,
    ) -> StoreResult<Vec<ModelExchange>> {
        shared::conversation_exchanges(&self.reader, conversation_id, limit).await
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
        Ok(sqlx::query_as(&sql)
            .bind(since)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?)
    }
}
