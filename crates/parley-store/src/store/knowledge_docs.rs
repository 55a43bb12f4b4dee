//! Knowledge fetched from the web (issue 59): web pages and sitemaps' pages an agent step names, as text, kept in `knowledge_documents` so every process reads the same copy and a restart needs no fetch.
//! `knowledge_sources` holds each source's schedule, last error and fetch lease: a process
//! claims the sources that are due (`knowledge_claim`), fetches them, and hands the result
//! back (`knowledge_fetched`), which only the lease's holder may do.

use crate::store::StoreResult;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The most sources claimed at once, and listed.
pub const KNOWLEDGE_SOURCES_MAX: i64 = 10_000;
/// The most pages read back at once (sitemaps give at most 1,000 pages each).
pub const KNOWLEDGE_PAGES_MAX: i64 = 100_000;

/// A web source the loaded flows name, and which steps name it (`flow/step, …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeUse {
    pub source: String,
    pub used_by: String,
}

/// A fetched page's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnowledgePage {
    /// The page or sitemap the flow names.
    pub source: String,
    /// The page's own address (the source itself, or one of a sitemap's pages).
    pub url: String,
    pub title: Option<String>,
    /// `html`, `pdf` or `text`.
    pub kind: String,
    /// The text; a PDF's pages are separated by a form feed (U+000C).
    pub body: String,
    /// A hash of `body`, to tell whether a fetch changed anything.
    pub hash: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// A source's state, for `GET /api/knowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnowledgeSource {
    pub source: String,
    pub used_by: String,
    pub pages: i64,
    pub fetched_at: Option<DateTime<Utc>>,
    pub next_fetch_at: DateTime<Utc>,
    pub error: Option<String>,
    /// Fetches that failed in a row.
    pub failures: i64,
}

/// The end of a fetch, handed back by the lease's holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnowledgeFetched {
    pub source: String,
    pub owner: String,
    pub at: DateTime<Utc>,
    /// The source's pages now (replacing those stored); `None` keeps them (the server said
    /// nothing changed, or the fetch failed).
    pub pages: Option<Vec<KnowledgePage>>,
    pub error: Option<String>,
    pub next_fetch_at: DateTime<Utc>,
}

#[async_trait]
pub trait KnowledgeDocs: Send + Sync {
    /// Records the sources the loaded flows name: a new one is due at once; a known one
    /// keeps its schedule and pages, with `used_by` updated.
    async fn knowledge_register(
        &self,
        uses: &[KnowledgeUse],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Leases to `owner`, until `lease_until`, up to `limit` sources due at `now` that no
    /// one holds, and returns them.
    async fn knowledge_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<String>>;

    /// Stores a fetch's result and frees the lease; `false` (and nothing stored) when
    /// `owner` no longer holds it.
    async fn knowledge_fetched(&self, fetched: &KnowledgeFetched) -> StoreResult<bool>;

    /// The stored pages: of `source`, or of all sources; by source then address.
    async fn knowledge_pages(&self, source: Option<&str>) -> StoreResult<Vec<KnowledgePage>>;

    /// Every source with its page count, by address.
    async fn knowledge_sources(&self) -> StoreResult<Vec<KnowledgeSource>>;

    /// Makes `source` (or every source) due at `now`; returns those made due.
    async fn knowledge_due_now(
        &self,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>>;
}

/// A `knowledge_documents` row as either backend returns it.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct PageCols {
    source: String,
    url: String,
    title: Option<String>,
    kind: String,
    body: String,
    hash: String,
    etag: Option<String>,
    last_modified: Option<String>,
    fetched_at: crate::store::rows::Stamp,
}

impl From<PageCols> for KnowledgePage {
    fn from(r: PageCols) -> Self {
        KnowledgePage {
            source: r.source,
            url: r.url,
            title: r.title,
            kind: r.kind,
            body: r.body,
            hash: r.hash,
            etag: r.etag,
            last_modified: r.last_modified,
            fetched_at: r.fetched_at.0,
        }
    }
}

/// A `knowledge_sources` row with its page count.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct SourceCols {
    source: String,
    used_by: String,
    pages: i64,
    fetched_at: Option<crate::store::rows::Stamp>,
    next_fetch_at: crate::store::rows::Stamp,
    error: Option<String>,
    failures: i64,
}

impl From<SourceCols> for KnowledgeSource {
    fn from(r: SourceCols) -> Self {
        KnowledgeSource {
            source: r.source,
            used_by: r.used_by,
            pages: r.pages,
            fetched_at: r.fetched_at.map(|s| s.0),
            next_fetch_at: r.next_fetch_at.0,
            error: r.error,
            failures: r.failures,
        }
    }
}

pub(crate) const PAGES: &str =
    "select source, url, title, kind, body, hash, etag, last_modified, fetched_at
     from knowledge_documents where ($1 = '' or source = $1) order by source, url limit $2";

pub(crate) const SOURCES: &str = "select s.source, s.used_by,
         (select count(*) from knowledge_documents d where d.source = s.source) as pages,
         s.fetched_at, s.next_fetch_at, s.error, cast(s.failures as bigint) as failures
     from knowledge_sources s order by s.source limit $1";
