//! `Rollouts` on PostgreSQL.

use super::PgStore;
use crate::store::rollouts::{RolloutCols, MAX_ROLLOUTS, ROLLOUTS};
use crate::store::{Rollout, Rollouts, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl Rollouts for PgStore {
    async fn rollouts(&self) -> StoreResult<Vec<Rollout>> {
        let rows: Vec<RolloutCols> = sqlx::query_as(ROLLOUTS)
            .bind(MAX_ROLLOUTS)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn set_rollout(
        &self,
        flow: &str,
        candidate: &str,
        share: u8,
        promoted: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "insert into flow_rollouts (flow, candidate, share, promoted, updated_at)
             values ($1, $2, $3, $4, $5)
             on conflict (flow) do update set candidate = excluded.candidate,
                 share = excluded.share, promoted = excluded.promoted,
                 updated_at = excluded.updated_at",
        )
        .bind(flow)
        .bind(candidate)
        .bind(i32::from(share.min(100)))
        .bind(promoted)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
