//! The two column types the backends store differently, decoded (and bound) for either:
//! a time (SQLite: INTEGER microseconds; PostgreSQL: `timestamptz`) and a conversation's
//! state (SQLite: TEXT JSON; PostgreSQL: `jsonb`).

use crate::domain::ConversationState;
use crate::store::apply;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::types::Json;
use sqlx::{Database, Decode, Encode, Postgres, Sqlite, Type};

/// A point in time as either backend stores it: SQLite's INTEGER microseconds since the
/// epoch (one out of `DateTime`'s range does not decode), PostgreSQL's `timestamptz`.
/// Bound as a parameter, it is written the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(pub DateTime<Utc>);

impl From<Stamp> for DateTime<Utc> {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

impl Type<Sqlite> for Stamp {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for Stamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let micros = <i64 as Decode<Sqlite>>::decode(value)?;
        DateTime::from_timestamp_micros(micros)
            .map(Stamp)
            .ok_or_else(|| format!("timestamp {micros} is out of range").into())
    }
}

impl<'q> Encode<'q, Sqlite> for Stamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode(self.0.timestamp_micros(), buf)
    }
}

impl Type<Postgres> for Stamp {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Stamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<Postgres>>::decode(value).map(Stamp)
    }
}

impl<'q> Encode<'q, Postgres> for Stamp {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// The time of a nullable column.
pub(super) fn time(stamp: Option<Stamp>) -> Option<DateTime<Utc>> {
    stamp.map(|s| s.0)
}

/// A conversation's `state` column. State Parley cannot read back (damaged, or nested
/// deeper than the reader goes) starts afresh, as unreadable state always has, rather than
/// refusing every message of the conversation from then on (`apply::conversation_state`).
#[derive(Debug, Default)]
pub(crate) struct State(pub ConversationState);

impl Type<Sqlite> for State {
    fn type_info() -> SqliteTypeInfo {
        <&str as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <&str as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for State {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(State(apply::conversation_state_text(text)))
    }
}

impl Type<Postgres> for State {
    fn type_info() -> PgTypeInfo {
        <Json<Value> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <Json<Value> as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for State {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        match <Json<Value> as Decode<Postgres>>::decode(value) {
            Ok(Json(value)) => Ok(State(apply::conversation_state(&value))),
            Err(e) => {
                tracing::warn!(error = %e, "conversation state unreadable; starting fresh");
                Ok(State::default())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoreError, StoreResult};

    #[derive(sqlx_macros::FromRow)]
    struct At {
        at: Stamp,
    }

    async fn read_at(sql: &str) -> StoreResult<At> {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
        Ok(sqlx::query_as::<_, At>(sql).fetch_one(&pool).await?)
    }

    #[tokio::test]
    async fn a_stamp_reads_back_and_one_out_of_range_is_corrupt() {
        let at = read_at("select 1700000000123456 as at").await.unwrap();
        assert_eq!(at.at.0.timestamp_micros(), 1_700_000_000_123_456);
        match read_at("select 9223372036854775807 as at").await {
            Err(StoreError::Corrupt(why)) => assert!(why.contains("at"), "{why}"),
            Err(other) => panic!("an unreadable time is corrupt, not {other:?}"),
            Ok(_) => panic!("a time out of range was read"),
        }
        // A value of the wrong type is corrupt too, not the database's error.
        assert!(matches!(
            read_at("select 'yesterday' as at").await,
            Err(StoreError::Corrupt(_))
        ));
    }
}
