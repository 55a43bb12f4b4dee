//! `ExperimentInsights` on SQLite.

use super::SqliteStore;
use crate::store::ExperimentInsights;
use async_trait::async_trait;

#[async_trait]
impl ExperimentInsights for SqliteStore {}
