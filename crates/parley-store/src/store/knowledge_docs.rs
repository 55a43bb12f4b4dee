//! Knowledge fetched from the web (issue 59): web pages and sitemaps' pages an agent step names, as text, kept in `knowledge_documents` so every process reads the same copy and a restart needs no fetch.

use async_trait::async_trait;

#[async_trait]
pub trait KnowledgeDocs {}
