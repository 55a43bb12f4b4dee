//! Flow rollouts (issue 58): the share of new conversations each flow's candidate version is served, kept in `flow_rollouts` so every process sees a change without a restart.

use async_trait::async_trait;

#[async_trait]
pub trait Rollouts: Send + Sync {}
