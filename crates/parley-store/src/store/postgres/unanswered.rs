//! `Unanswered` on PostgreSQL: `add` runs inside the transaction of a step's commit, after
//! a transaction lock per flow so that concurrent commits keep the per-flow bound exact
//! (agent questions are rare, so they seldom wait on it).

use super::PgStore;
use crate::domain::insight::UnansweredQuestion;
use crate::store::unanswered::{columns, read_unanswered};
use crate::store::{StoreResult, Unanswered, UnansweredRow, MAX_UNANSWERED_PER_FLOW};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Unanswered for PgStore {
    async fn unanswered(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UnansweredRow>> {
        read_unanswered!(&self.pool, since, until, flow, limit)
    }
}

/// Counts a step's unanswered questions, in the transaction of its commit: a question
/// already listed grows by one; a new one is listed while its flow has fewer than
/// `MAX_UNANSWERED_PER_FLOW`. Flows are locked in name order (`columns` sorts), so two
/// commits never wait on each other in a circle.
pub(super) async fn add(
    conn: &mut sqlx::PgConnection,
    now: DateTime<Utc>,
    questions: &[UnansweredQuestion],
) -> StoreResult<()> {
    let ms = now.timestamp_millis();
    let mut locked: Option<String> = None;
    for (flow, step, normalized, question, best) in columns(questions) {
        if locked.as_deref() != Some(flow.as_str()) {
            sqlx::query("select pg_advisory_xact_lock(hashtext('unanswered_questions:' || $1))")
                .bind(&flow)
                .execute(&mut *conn)
                .await?;
            locked = Some(flow.clone());
        }
        sqlx::query(
            "insert into unanswered_questions
                 (flow, step, normalized, question, n, best_score, first_seen_ms, last_seen_ms)
             select $1, $2, $3, $4, 1, $5, $6, $6
             where exists (select 1 from unanswered_questions
                           where flow = $1 and step = $2 and normalized = $3)
                or (select count(*) from unanswered_questions where flow = $1) < $7
             on conflict (flow, step, normalized) do update set
                 n = unanswered_questions.n + 1,
                 best_score = greatest(unanswered_questions.best_score, excluded.best_score),
                 last_seen_ms = greatest(unanswered_questions.last_seen_ms, excluded.last_seen_ms)",
        )
        .bind(&flow)
        .bind(&step)
        .bind(&normalized)
        .bind(&question)
        .bind(best)
        .bind(ms)
        .bind(MAX_UNANSWERED_PER_FLOW)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
