//! `Rollouts` on PostgreSQL.

use super::PgStore;
use crate::store::Rollouts;
use async_trait::async_trait;

#[async_trait]
impl Rollouts for PgStore {}
