//! `AgentScores` on SQLite: rows added on the writer thread inside the commit of a step,
//! claimed and recorded on the writer thread (one writer: a claim is atomic), read through
//! the reader pool.

use super::SqliteStore;
use crate::store::scores::{self, us};
use crate::store::{
    AgentScores, ScoreJob, ScoreRecord, ScoreStatus, ScoreStatusCount, ScoredRow, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use std::time::Duration;

#[async_trait]
impl AgentScores for SqliteStore {
    async fn claim_scores(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ScoreJob>> {
        let owner = owner.to_string();
        let until = us(now) + lease.as_micros() as i64;
        let now = us(now);
        self.writer
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "update agent_scores set lease_owner = ?1, lease_until_us = ?2
                     where id in (select id from agent_scores where status = 'pending'
                         and (lease_until_us is null or lease_until_us < ?3)
                         order by id limit ?4)
                     returning id, flow, step, conversation_id, started_us, ended_us, outcome",
                )?;
                let rows =
                    stmt.query_map(params![owner, until, now, limit.clamp(1, 1000)], |r| {
                        Ok(ScoreJob {
                            id: r.get(0)?,
                            flow: r.get(1)?,
                            step: r.get(2)?,
                            conversation_id: r.get(3)?,
                            started_us: r.get(4)?,
                            ended_us: r.get(5)?,
                            outcome: r.get(6)?,
                        })
                    })?;
                let mut jobs = rows.collect::<Result<Vec<_>, _>>()?;
                jobs.sort_by_key(|j| j.id);
                Ok(jobs)
            })
            .await
    }

    async fn record_score(
        &self,
        id: i64,
        owner: &str,
        status: ScoreStatus,
        record: &ScoreRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (owner, r, now) = (owner.to_string(), record.clone(), us(now));
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "update agent_scores set status = ?3, score = ?4, verdicts = ?5,
                             transcript = ?6, judge_tokens = ?7, judge_cost_micros = ?8,
                             scored_us = ?9, reason = ?10, lease_owner = null, lease_until_us = null
                         where id = ?1 and lease_owner = ?2 and status = 'pending'",
                    )?
                    .execute(params![
                        id,
                        owner,
                        status.as_str(),
                        r.score,
                        r.verdicts,
                        r.transcript,
                        r.tokens,
                        r.cost_micros,
                        now,
                        r.reason
                    ])?;
                Ok(n == 1)
            })
            .await
    }

    async fn hold_score(&self, id: i64, owner: &str, until: DateTime<Utc>) -> StoreResult<()> {
        let (owner, until) = (owner.to_string(), us(until));
        self.writer
            .run(move |conn| {
                conn.prepare_cached(
                    "update agent_scores set lease_until_us = ?3
                     where id = ?1 and lease_owner = ?2 and status = 'pending'",
                )?
                .execute(params![id, owner, until])?;
                Ok(())
            })
            .await
    }

    async fn skip_stale_scores(&self, before: DateTime<Utc>, reason: &str) -> StoreResult<u64> {
        let (before, reason) = (us(before), reason.to_string());
        self.writer
            .run(move |conn| {
                let n = conn
                    .prepare_cached(
                        "update agent_scores set status = 'skipped', reason = ?2,
                             lease_owner = null, lease_until_us = null
                         where status = 'pending' and ended_us < ?1",
                    )?
                    .execute(params![before, reason])?;
                Ok(n as u64)
            })
            .await
    }

    async fn judge_spend(
        &self,
        flow: &str,
        step: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(scores::SPEND_SQL)
            .bind(flow)
            .bind(step)
            .bind(us(since))
            .fetch_one(&self.reader)
            .await?)
    }

    async fn recent_scores(&self, flow: &str, step: &str, limit: i64) -> StoreResult<Vec<f64>> {
        let rows: Vec<(f64,)> = sqlx::query_as(scores::RECENT_SQL)
            .bind(flow)
            .bind(step)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    async fn scored_rows(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<ScoredRow>> {
        Ok(sqlx::query_as(&scores::scored_rows_sql())
            .bind(us(since))
            .bind(us(until))
            .bind(flow)
            .bind(scores::MAX_SCORED_ROWS)
            .fetch_all(&self.reader)
            .await?)
    }

    async fn worst_scores(
        &self,
        flow: &str,
        step: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        n: i64,
    ) -> StoreResult<Vec<ScoredRow>> {
        Ok(sqlx::query_as(&scores::worst_sql())
            .bind(flow)
            .bind(step)
            .bind(us(since))
            .bind(us(until))
            .bind(n.clamp(1, scores::MAX_WORST))
            .fetch_all(&self.reader)
            .await?)
    }

    async fn score_statuses(
        &self,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        flow: Option<&str>,
    ) -> StoreResult<Vec<ScoreStatusCount>> {
        Ok(sqlx::query_as(scores::STATUSES_SQL)
            .bind(us(since))
            .bind(us(until))
            .bind(flow)
            .fetch_all(&self.reader)
            .await?)
    }
}

/// Records a step's conversations to score, in the transaction of its commit: each from
/// its run's start to `now`.
pub(super) fn add(
    conn: &super::statements::Conn<'_>,
    now: DateTime<Utc>,
    conversation_id: i64,
    requests: &[crate::domain::insight::ScoreRequest],
) -> StoreResult<()> {
    if requests.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "insert into agent_scores (flow, step, conversation_id, started_us, ended_us, outcome)
         values (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in requests {
        insert.execute(params![
            r.flow,
            r.step,
            conversation_id,
            r.started_ms.saturating_mul(1000),
            us(now),
            r.outcome
        ])?;
    }
    Ok(())
}
