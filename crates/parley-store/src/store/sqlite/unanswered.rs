//! `Unanswered` on SQLite: `add` runs on the writer thread inside the commit of a step (one
//! writer, so the per-flow bound is exact); the read goes through the reader pool.

use super::statements::Conn;
use super::SqliteStore;
use crate::domain::insight::UnansweredQuestion;
use crate::store::unanswered::{columns, read_unanswered};
use crate::store::{StoreResult, Unanswered, UnansweredRow, MAX_UNANSWERED_PER_FLOW};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl Unanswered for SqliteStore {
    async fn unanswered(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UnansweredRow>> {
        read_unanswered!(&self.reader, since, until, flow, limit)
    }
}

/// Counts a step's unanswered questions, in the transaction of its commit: a question
/// already listed grows by one; a new one is listed while its flow has fewer than
/// `MAX_UNANSWERED_PER_FLOW`.
pub(super) fn add(
    conn: &Conn<'_>,
    now: DateTime<Utc>,
    questions: &[UnansweredQuestion],
) -> StoreResult<()> {
    if questions.is_empty() {
        return Ok(());
    }
    let ms = now.timestamp_millis();
    let mut upsert = conn.prepare_cached(
        "insert into unanswered_questions
             (flow, step, normalized, question, n, best_score, first_seen_ms, last_seen_ms)
         select ?1, ?2, ?3, ?4, 1, ?5, ?6, ?6
         where exists (select 1 from unanswered_questions
                       where flow = ?1 and step = ?2 and normalized = ?3)
            or (select count(*) from unanswered_questions where flow = ?1) < ?7
         on conflict (flow, step, normalized) do update set
             n = n + 1,
             best_score = max(best_score, excluded.best_score),
             last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
    )?;
    for (flow, step, normalized, question, best) in columns(questions) {
        upsert.execute(params![
            flow,
            step,
            normalized,
            question,
            best,
            ms,
            MAX_UNANSWERED_PER_FLOW
        ])?;
    }
    Ok(())
}
