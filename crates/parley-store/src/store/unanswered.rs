//! Questions an agent's knowledge could not answer (issue 59), counted per flow and step
//! (`unanswered_questions`), read for the insights page and the API. `Inbox::commit_step`
//! adds a step's questions in the transaction of its event (each backend's
//! `unanswered::add`), so a replayed event counts nothing twice.

use super::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The most distinct questions kept per flow: beyond, a new question is not listed, and
/// only the counts of the questions already listed grow.
pub const MAX_UNANSWERED_PER_FLOW: i64 = 10_000;

/// The most questions one read returns per flow.
pub const MAX_UNANSWERED_READ: i64 = 1_000;

/// The most questions one read returns in all (over every flow).
pub const MAX_UNANSWERED_ROWS: i64 = 20_000;

/// The longest question kept, in characters (the engine cuts them already).
pub const UNANSWERED_QUESTION_MAX: usize = 500;

/// A question of a flow's agent step that no passage matched well enough.
#[derive(Debug, Clone, PartialEq, sqlx_macros::FromRow)]
pub struct UnansweredRow {
    pub flow: String,
    /// The agent step's insight key.
    pub step: String,
    /// The text as first written (masked when the step masks personal data).
    pub question: String,
    /// How often it was asked (any time, not only in the period read).
    pub n: i64,
    /// The best passage's highest score over the times it was asked.
    pub best_score: f64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

#[async_trait]
pub trait Unanswered: Send + Sync {
    /// The questions asked in `[since, until)` (last asked on or after `since`, first before
    /// `until`), per flow (only `flow` when given) the most asked first, at most `limit` per
    /// flow (1 to `MAX_UNANSWERED_READ`), in flow order.
    async fn unanswered(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<UnansweredRow>>;
}

/// A question as it is counted: lower case, its words (letters and digits) separated by one
/// space, so "Do you sell GIFT cards?" and "do you sell gift cards" are one question.
pub fn normalized_question(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out.chars().take(UNANSWERED_QUESTION_MAX).collect()
}

/// The questions (kept or not: a question past `MAX_UNANSWERED_PER_FLOW` is not listed)
/// as columns (flow, step, normalized, question, best score), in (flow, step, normalized)
/// order so concurrent commits lock rows in one order.
pub(crate) fn columns(
    questions: &[crate::domain::insight::UnansweredQuestion],
) -> Vec<(String, String, String, String, f64)> {
    let mut rows: Vec<_> = questions
        .iter()
        .map(|q| {
            let question: String = q.question.chars().take(UNANSWERED_QUESTION_MAX).collect();
            let best = if q.best_score.is_finite() {
                q.best_score
            } else {
                0.0
            };
            (
                q.flow.clone(),
                q.step.clone(),
                normalized_question(&question),
                question,
                best,
            )
        })
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    rows
}

/// The read, the same SQL on both backends: `$1`..`$2` the period (Unix milliseconds), `$3`
/// the flow (null: every flow), `$4` the most per flow, `$5` the most in all.
pub(crate) const UNANSWERED: &str =
    "select flow, step, question, n, best_score, first_seen_ms, last_seen_ms
     from (select flow, step, question, n, best_score, first_seen_ms, last_seen_ms,
                  row_number() over (partition by flow
                                     order by n desc, last_seen_ms desc, step, normalized) as r
           from unanswered_questions
           where last_seen_ms >= $1 and first_seen_ms < $2
             and (cast($3 as text) is null or flow = $3)) ranked
     where r <= $4
     order by flow, n desc, last_seen_ms desc, step, question
     limit $5";

/// The read on a pool.
macro_rules! read_unanswered {
    ($pool:expr, $since:expr, $until:expr, $flow:expr, $limit:expr) => {{
        let flow: Option<&str> = $flow;
        if flow.is_some_and(|f| f.len() > $crate::store::MAX_FLOW_FILTER) {
            return Ok(Vec::new());
        }
        let limit: i64 = $limit;
        let rows: Vec<$crate::store::UnansweredRow> =
            sqlx::query_as($crate::store::unanswered::UNANSWERED)
                .bind($since.timestamp_millis())
                .bind($until.timestamp_millis())
                .bind(flow)
                .bind(limit.clamp(1, $crate::store::MAX_UNANSWERED_READ))
                .bind($crate::store::MAX_UNANSWERED_ROWS)
                .fetch_all($pool)
                .await?;
        Ok(rows)
    }};
}
pub(crate) use read_unanswered;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_differing_in_case_spaces_and_marks_are_one() {
        assert_eq!(
            normalized_question("  Do you sell GIFT   cards?? "),
            "do you sell gift cards"
        );
        assert_eq!(
            normalized_question("¿Vendéis tarjetas?"),
            "vendéis tarjetas"
        );
        assert_eq!(normalized_question("?!"), "");
    }
}
