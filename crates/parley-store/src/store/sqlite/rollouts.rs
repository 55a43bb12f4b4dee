//! `Rollouts` on SQLite.

use super::SqliteStore;
use crate::store::Rollouts;
use async_trait::async_trait;

#[async_trait]
impl Rollouts for SqliteStore {}
