//! `ExperimentInsights` on PostgreSQL.

use super::PgStore;
use crate::store::ExperimentInsights;
use async_trait::async_trait;

#[async_trait]
impl ExperimentInsights for PgStore {}
