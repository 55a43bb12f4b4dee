//! `KnowledgeDocs` on postgres (issue 59).

use super::PgStore;
use crate::store::KnowledgeDocs;
use async_trait::async_trait;

#[async_trait]
impl KnowledgeDocs for PgStore {}
