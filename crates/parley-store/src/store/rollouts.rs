//! Flow rollouts (issue 58): the share of new conversations each flow's candidate version
//! is served, kept in `flow_rollouts` so every process sees a change without a restart.
//! The SQL to read is the same on both backends; each backend's file runs it.

use crate::store::rows::Stamp;
use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The most rollouts `Rollouts::rollouts` returns (one per flow: far more than any project
/// has flows).
pub const MAX_ROLLOUTS: i64 = 10_000;

/// One flow's rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollout {
    pub flow: String,
    /// The candidate's label (`candidate: v2`) the share was set for.
    pub candidate: String,
    /// Percent of new conversations served the candidate, 0 to 100.
    pub share: u8,
    /// Set by a promote (100 %); a later share or rollback clears it.
    pub promoted: bool,
    pub updated_at: DateTime<Utc>,
}

/// A `flow_rollouts` row as either backend returns it.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct RolloutCols {
    flow: String,
    candidate: String,
    share: i64,
    promoted: bool,
    updated_at: Stamp,
}

impl From<RolloutCols> for Rollout {
    fn from(r: RolloutCols) -> Self {
        Rollout {
            flow: r.flow,
            candidate: r.candidate,
            share: r.share.clamp(0, 100) as u8,
            promoted: r.promoted,
            updated_at: r.updated_at.0,
        }
    }
}

pub(crate) const ROLLOUTS: &str =
    "select flow, candidate, cast(share as bigint) as share, promoted, updated_at
     from flow_rollouts order by flow limit $1";

#[async_trait]
pub trait Rollouts: Send + Sync {
    /// Every flow's rollout, by flow id.
    async fn rollouts(&self) -> StoreResult<Vec<Rollout>>;

    /// Sets `flow`'s rollout (its candidate's label, the share 0 to 100, clamped, and
    /// whether it is promoted), replacing what was there.
    async fn set_rollout(
        &self,
        flow: &str,
        candidate: &str,
        share: u8,
        promoted: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
}
