//! `AgentScores` on PostgreSQL: rows added inside the commit of a step; a claim takes free
//! pending rows with `for update skip locked`, so two processes never get the same row.

use super::PgStore;
use crate::store::scores::{self, us};
use crate::store::{
    AgentScores, ScoreJob, ScoreRecord, ScoreStatus, ScoreStatusCount, ScoredRow, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

#[async_trait]
impl AgentScores for PgStore {
    async fn claim_scores(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: i64,
    ) -> StoreResult<Vec<ScoreJob>> {
        let until = us(now) + lease.as_micros() as i64;
        let mut jobs: Vec<ScoreJob> = sqlx::query_as(
            "update agent_scores set lease_owner = $1, lease_until_us = $2
             where id in (select id from agent_scores where status = 'pending'
                 and (lease_until_us is null or lease_until_us < $3)
                 order by id limit $4 for update skip locked)
             returning id, flow, step, conversation_id, started_us, ended_us, outcome",
        )
        .bind(owner)
        .bind(until)
        .bind(us(now))
        .bind(limit.clamp(1, 1000))
        .fetch_all(&self.pool)
        .await?;
        jobs.sort_by_key(|j| j.id);
        Ok(jobs)
    }

    async fn record_score(
        &self,
        id: i64,
        owner: &str,
        status: ScoreStatus,
        r: &ScoreRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "update agent_scores set status = $3, score = $4, verdicts = $5,
                 transcript = $6, judge_tokens = $7, judge_cost_micros = $8,
                 scored_us = $9, reason = $10, lease_owner = null, lease_until_us = null
             where id = $1 and lease_owner = $2 and status = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(status.as_str())
        .bind(r.score)
        .bind(&r.verdicts)
        .bind(&r.transcript)
        .bind(r.tokens)
        .bind(r.cost_micros)
        .bind(us(now))
        .bind(&r.reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn hold_score(&self, id: i64, owner: &str, until: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "update agent_scores set lease_until_us = $3
             where id = $1 and lease_owner = $2 and status = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(us(until))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn skip_stale_scores(&self, before: DateTime<Utc>, reason: &str) -> StoreResult<u64> {
        let done = sqlx::query(
            "update agent_scores set status = 'skipped', reason = $2,
                 lease_owner = null, lease_until_us = null
             where status = 'pending' and ended_us < $1",
        )
        .bind(us(before))
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
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
            .fetch_one(&self.pool)
            .await?)
    }

    async fn recent_scores(&self, flow: &str, step: &str, limit: i64) -> StoreResult<Vec<f64>> {
        let rows: Vec<(f64,)> = sqlx::query_as(scores::RECENT_SQL)
            .bind(flow)
            .bind(step)
            .bind(limit.clamp(1, 1000))
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
            .await?)
    }
}

/// Records a step's conversations to score, in the transaction of its commit: each from
/// its run's start to `now`.
pub(super) async fn add(
    conn: &mut sqlx::PgConnection,
    now: DateTime<Utc>,
    conversation_id: i64,
    requests: &[crate::domain::insight::ScoreRequest],
) -> StoreResult<()> {
    for r in requests {
        sqlx::query(
            "insert into agent_scores (flow, step, conversation_id, started_us, ended_us, outcome)
             values ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&r.flow)
        .bind(&r.step)
        .bind(conversation_id)
        .bind(r.started_ms.saturating_mul(1000))
        .bind(us(now))
        .bind(r.outcome)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
