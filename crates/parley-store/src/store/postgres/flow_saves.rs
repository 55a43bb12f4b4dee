//! `FlowSaves` on PostgreSQL: the studio's saves (`flow_saves`).

use super::PgStore;
use crate::domain::Id;
use crate::store::flow_saves::{bounded, EntryCols, SaveCols, FLOW_SAVE, FLOW_SAVES};
use crate::store::{FlowSave, FlowSaveEntry, FlowSaves, NewFlowSave, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl FlowSaves for PgStore {
    async fn record_flow_save(&self, s: &NewFlowSave) -> StoreResult<Id> {
        Ok(sqlx::query_scalar(
            "insert into flow_saves (path, at, who, version, previous, text, diff)
             values ($1, $2, $3, $4, $5, $6, $7) returning id",
        )
        .bind(&s.path)
        .bind(s.at)
        .bind(&s.who)
        .bind(&s.version)
        .bind(&s.previous)
        .bind(&s.text)
        .bind(&s.diff)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn flow_saves(&self, path: &str, limit: i64) -> StoreResult<Vec<FlowSaveEntry>> {
        let rows: Vec<EntryCols> = sqlx::query_as(FLOW_SAVES)
            .bind(path)
            .bind(bounded(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn flow_save(&self, id: Id) -> StoreResult<Option<FlowSave>> {
        let row: Option<SaveCols> = sqlx::query_as(FLOW_SAVE)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(Into::into))
    }
}
