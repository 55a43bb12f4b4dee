//! `KnowledgeDocs` on sqlite (issue 59): written on the writer thread (each call one
//! transaction), read through the reader pool.

use super::rows::micros;
use super::SqliteStore;
use crate::store::knowledge_docs::{PageCols, SourceCols, PAGES, SOURCES};
use crate::store::{
    KnowledgeDocs, KnowledgeFetched, KnowledgePage, KnowledgeSource, KnowledgeUse, StoreResult,
    KNOWLEDGE_PAGES_MAX, KNOWLEDGE_SOURCES_MAX,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl KnowledgeDocs for SqliteStore {
    async fn knowledge_register(
        &self,
        uses: &[KnowledgeUse],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let uses = uses.to_vec();
        self.writer
            .run(move |conn| {
                for u in &uses {
                    conn.prepare_cached(
                        "insert into knowledge_sources (source, used_by, next_fetch_at)
                         values (?1, ?2, ?3)
                         on conflict (source) do update set used_by = excluded.used_by",
                    )?
                    .execute(params![u.source, u.used_by, micros(now)])?;
                }
                Ok(())
            })
            .await
    }

    async fn knowledge_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        let owner = owner.to_string();
        let limit = limit.clamp(0, KNOWLEDGE_SOURCES_MAX);
        self.writer
            .run(move |conn| {
                let mut statement = conn.prepare_cached(
                    "update knowledge_sources set lease_owner = ?1, lease_until = ?2
                     where source in (select source from knowledge_sources
                         where next_fetch_at <= ?3 and (lease_until is null or lease_until < ?3)
                         order by next_fetch_at, source limit ?4)
                     returning source",
                )?;
                let rows = statement.query_map(
                    params![owner, micros(lease_until), micros(now), limit],
                    |row| row.get::<_, String>(0),
                )?;
                let mut out = rows.collect::<Result<Vec<_>, _>>()?;
                out.sort();
                Ok(out)
            })
            .await
    }

    async fn knowledge_fetched(&self, f: &KnowledgeFetched) -> StoreResult<bool> {
        let f = f.clone();
        self.writer
            .run(move |conn| {
                let holder: Option<Option<String>> = conn
                    .prepare_cached("select lease_owner from knowledge_sources where source = ?1")?
                    .query_row(params![f.source], |row| row.get(0))
                    .optional()?;
                if holder.flatten().as_deref() != Some(f.owner.as_str()) {
                    return Ok(false);
                }
                if let Some(pages) = &f.pages {
                    conn.prepare_cached("delete from knowledge_documents where source = ?1")?
                        .execute(params![f.source])?;
                    for p in pages {
                        conn.prepare_cached(
                            "insert into knowledge_documents (source, url, title, kind, body, hash,
                                 etag, last_modified, fetched_at)
                             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                             on conflict (source, url) do nothing",
                        )?
                        .execute(params![
                            f.source,
                            p.url,
                            p.title,
                            p.kind,
                            p.body,
                            p.hash,
                            p.etag,
                            p.last_modified,
                            micros(p.fetched_at)
                        ])?;
                    }
                }
                conn.prepare_cached(
                    "update knowledge_sources set
                         fetched_at = case when ?2 is null then ?3 else fetched_at end,
                         error = ?2,
                         failures = case when ?2 is null then 0 else failures + 1 end,
                         next_fetch_at = ?4, lease_owner = null, lease_until = null
                     where source = ?1",
                )?
                .execute(params![
                    f.source,
                    f.error,
                    micros(f.at),
                    micros(f.next_fetch_at)
                ])?;
                Ok(true)
            })
            .await
    }

    async fn knowledge_pages(&self, source: Option<&str>) -> StoreResult<Vec<KnowledgePage>> {
        let rows: Vec<PageCols> = sqlx::query_as(PAGES)
            .bind(source.unwrap_or(""))
            .bind(KNOWLEDGE_PAGES_MAX)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn knowledge_sources(&self) -> StoreResult<Vec<KnowledgeSource>> {
        let rows: Vec<SourceCols> = sqlx::query_as(SOURCES)
            .bind(KNOWLEDGE_SOURCES_MAX)
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn knowledge_due_now(
        &self,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        let source = source.unwrap_or("").to_string();
        self.writer
            .run(move |conn| {
                let mut statement = conn.prepare_cached(
                    "update knowledge_sources set next_fetch_at = ?2
                     where ?1 = '' or source = ?1 returning source",
                )?;
                let rows = statement
                    .query_map(params![source, micros(now)], |row| row.get::<_, String>(0))?;
                let mut out = rows.collect::<Result<Vec<_>, _>>()?;
                out.sort();
                Ok(out)
            })
            .await
    }
}
