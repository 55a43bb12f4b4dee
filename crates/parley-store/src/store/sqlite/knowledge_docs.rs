//! `KnowledgeDocs` on sqlite (issue 59).

use super::SqliteStore;
use crate::store::KnowledgeDocs;
use async_trait::async_trait;

#[async_trait]
impl KnowledgeDocs for SqliteStore {}
