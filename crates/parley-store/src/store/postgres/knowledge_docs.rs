//! `KnowledgeDocs` on postgres (issue 59): a claim skips the sources another process is
//! claiming at that moment (`for update skip locked`).

use super::PgStore;
use crate::store::knowledge_docs::{PageCols, SourceCols, PAGES, SOURCES};
use crate::store::{
    KnowledgeDocs, KnowledgeFetched, KnowledgePage, KnowledgeSource, KnowledgeUse, StoreResult,
    KNOWLEDGE_PAGES_MAX, KNOWLEDGE_SOURCES_MAX,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl KnowledgeDocs for PgStore {
    async fn knowledge_register(
        &self,
        uses: &[KnowledgeUse],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        for u in uses {
            sqlx::query(
                "insert into knowledge_sources (source, used_by, next_fetch_at)
                 values ($1, $2, $3)
                 on conflict (source) do update set used_by = excluded.used_by",
            )
            .bind(&u.source)
            .bind(&u.used_by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn knowledge_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        let mut out: Vec<String> = sqlx::query_scalar(
            "update knowledge_sources set lease_owner = $1, lease_until = $2
             where source in (select source from knowledge_sources
                 where next_fetch_at <= $3 and (lease_until is null or lease_until < $3)
                 order by next_fetch_at, source limit $4 for update skip locked)
             returning source",
        )
        .bind(owner)
        .bind(lease_until)
        .bind(now)
        .bind(limit.clamp(0, KNOWLEDGE_SOURCES_MAX))
        .fetch_all(&self.pool)
        .await?;
        out.sort();
        Ok(out)
    }

    async fn knowledge_fetched(&self, f: &KnowledgeFetched) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let holder: Option<Option<String>> = sqlx::query_scalar(
            "select lease_owner from knowledge_sources where source = $1 for update",
        )
        .bind(&f.source)
        .fetch_optional(&mut *tx)
        .await?;
        if holder.flatten().as_deref() != Some(f.owner.as_str()) {
            return Ok(false);
        }
        if let Some(pages) = &f.pages {
            sqlx::query("delete from knowledge_documents where source = $1")
                .bind(&f.source)
                .execute(&mut *tx)
                .await?;
            for p in pages {
                sqlx::query(
                    "insert into knowledge_documents (source, url, title, kind, body, hash,
                         etag, last_modified, fetched_at)
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     on conflict (source, url) do nothing",
                )
                .bind(&f.source)
                .bind(&p.url)
                .bind(&p.title)
                .bind(&p.kind)
                .bind(&p.body)
                .bind(&p.hash)
                .bind(&p.etag)
                .bind(&p.last_modified)
                .bind(p.fetched_at)
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query(
            "update knowledge_sources set
                 fetched_at = case when $2::text is null then $3 else fetched_at end,
                 error = $2,
                 failures = case when $2::text is null then 0 else failures + 1 end,
                 next_fetch_at = $4, lease_owner = null, lease_until = null
             where source = $1",
        )
        .bind(&f.source)
        .bind(&f.error)
        .bind(f.at)
        .bind(f.next_fetch_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn knowledge_pages(&self, source: Option<&str>) -> StoreResult<Vec<KnowledgePage>> {
        let rows: Vec<PageCols> = sqlx::query_as(PAGES)
            .bind(source.unwrap_or(""))
            .bind(KNOWLEDGE_PAGES_MAX)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn knowledge_sources(&self) -> StoreResult<Vec<KnowledgeSource>> {
        let rows: Vec<SourceCols> = sqlx::query_as(SOURCES)
            .bind(KNOWLEDGE_SOURCES_MAX)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn knowledge_due_now(
        &self,
        source: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<String>> {
        let mut out: Vec<String> = sqlx::query_scalar(
            "update knowledge_sources set next_fetch_at = $2
             where $1 = '' or source = $1 returning source",
        )
        .bind(source.unwrap_or(""))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        out.sort();
        Ok(out)
    }
}
