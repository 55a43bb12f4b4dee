//! `Rollouts` on SQLite: written on the writer thread, read through the reader pool.

use super::rows::micros;
use super::SqliteStore;
use crate::store::rollouts::{RolloutCols, MAX_ROLLOUTS, ROLLOUTS};
use crate::store::{Rollout, Rollouts, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;

#[async_trait]
impl Rollouts for SqliteStore {
    async fn rollouts(&self) -> StoreResult<Vec<Rollout>> {
        let rows: Vec<RolloutCols> = sqlx::query_as(ROLLOUTS)
            .bind(MAX_ROLLOUTS)
            .fetch_all(&self.reader)
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
        let (flow, candidate) = (flow.to_string(), candidate.to_string());
        let share = i64::from(share.min(100));
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "insert into flow_rollouts (flow, candidate, share, promoted, updated_at)
                     values (?1, ?2, ?3, ?4, ?5)
                     on conflict (flow) do update set candidate = excluded.candidate,
                         share = excluded.share, promoted = excluded.promoted,
                         updated_at = excluded.updated_at",
                )?
                .execute(params![
                    flow,
                    candidate,
                    share,
                    promoted,
                    micros(now)
                ])?;
                Ok(())
            })
            .await
    }
}
