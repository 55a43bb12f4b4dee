//! `FlowSaves` on SQLite: the studio's saves (`flow_saves`), written on the writer thread
//! and read through the reader pool.

use super::rows::micros;
use super::SqliteStore;
use crate::domain::Id;
use crate::store::flow_saves::{bounded, EntryCols, SaveCols, FLOW_SAVE, FLOW_SAVES};
use crate::store::{FlowSave, FlowSaveEntry, FlowSaves, NewFlowSave, StoreResult};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl FlowSaves for SqliteStore {
    async fn record_flow_save(&self, save: &NewFlowSave) -> StoreResult<Id> {
        let s = save.clone();
        self.writer
            .run(move |conn| {
                Ok(conn
                    .prepare_cached(
                        "insert into flow_saves (path, at, who, version, previous, text, diff)
                         values (?1, ?2, ?3, ?4, ?5, ?6, ?7) returning id",
                    )?
                    .query_row(
                        params![
                            s.path,
                            micros(s.at),
                            s.who,
                            s.version,
                            s.previous,
                            s.text,
                            s.diff
                        ],
                        |row| row.get(0),
                    )?)
            })
            .await
    }

    async fn flow_saves(&self, path: &str, limit: i64) -> StoreResult<Vec<FlowSaveEntry>> {
        let rows: Vec<EntryCols> = sqlx::query_as(FLOW_SAVES)
            .bind(path)
            .bind(bounded(limit))
            .fetch_all(&self.reader)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn flow_save(&self, id: Id) -> StoreResult<Option<FlowSave>> {
        let row: Option<SaveCols> = sqlx::query_as(FLOW_SAVE)
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.map(Into::into))
    }
}
