//! Rows as both backends' reads return them, decoded by sqlx's `FromRow` derive from a
//! `SqliteRow` or a `PgRow` alike, and turned into the store's values. The two backends
//! store a time and a JSON value differently (SQLite: INTEGER microseconds and TEXT;
//! PostgreSQL: `timestamptz` and `jsonb`); `Stamp`, `State` and sqlx's `Json` decode either.
//! A value that does not decode is a column decode error, which the store reports as
//! `StoreError::Corrupt`. A leaf: it uses neither backend.

use super::apply;
use super::{
    AudienceRow, ConversationSummary, CostEntry, CostRow, DownloadStatus, ExchangeKind, Id,
    InsightRow, KindCount, MediaRecord, ModelExchange, RecipientCount, RecipientRow, SenderStop,
    StepDelivery, StoreError, UsageRow,
};
use crate::domain::{
    Contact, Conversation, ConversationState, EventKind, LiveTemplate, MarketingState, MediaKind,
    StoredEvent, TemplateCategory,
};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
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

fn time(stamp: Option<Stamp>) -> Option<DateTime<Utc>> {
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

/// `id, sender_id, contact_id, last_inbound_at, state, created_at` of `conversations`.
#[derive(sqlx::FromRow)]
pub(crate) struct ConversationCols {
    id: Id,
    sender_id: i64,
    contact_id: Id,
    last_inbound_at: Option<Stamp>,
    state: Option<State>,
    created_at: Stamp,
}

impl From<ConversationCols> for Conversation {
    fn from(r: ConversationCols) -> Self {
        Conversation {
            id: r.id,
            sender_id: r.sender_id,
            contact_id: r.contact_id,
            last_inbound_at: time(r.last_inbound_at),
            state: r.state.unwrap_or_default().0,
            created_at: r.created_at.0,
        }
    }
}

/// A contact joined with its conversation: `key, name, attributes, tags, bsuid, username`,
/// its id as `contact_id` and its creation as `contact_created_at`.
#[derive(sqlx::FromRow)]
pub(crate) struct JoinedContact {
    contact_id: Id,
    key: String,
    name: Option<String>,
    attributes: Json<Map<String, Value>>,
    tags: Json<Vec<String>>,
    contact_created_at: Stamp,
    bsuid: Option<String>,
    username: Option<String>,
}

impl From<JoinedContact> for Contact {
    fn from(r: JoinedContact) -> Self {
        Contact {
            id: r.contact_id,
            key: r.key,
            name: r.name,
            attributes: r.attributes.0,
            tags: r.tags.0,
            created_at: r.contact_created_at.0,
            user_id: r.bsuid,
            username: r.username,
        }
    }
}

/// A row of `sql::CONVERSATIONS_PAGE`.
#[derive(sqlx::FromRow)]
pub(crate) struct SummaryCols {
    #[sqlx(flatten)]
    conversation: ConversationCols,
    #[sqlx(flatten)]
    contact: JoinedContact,
}

impl From<SummaryCols> for ConversationSummary {
    fn from(r: SummaryCols) -> Self {
        ConversationSummary {
            conversation: r.conversation.into(),
            contact: r.contact.into(),
        }
    }
}

/// A row of `Schedules::audience_page`: a conversation and its contact.
#[derive(sqlx::FromRow)]
pub(crate) struct AudienceCols {
    conversation_id: Id,
    last_inbound_at: Option<Stamp>,
    state: Option<State>,
    #[sqlx(flatten)]
    contact: JoinedContact,
}

impl From<AudienceCols> for AudienceRow {
    fn from(r: AudienceCols) -> Self {
        AudienceRow {
            conversation_id: r.conversation_id,
            contact: r.contact.into(),
            last_inbound_at: time(r.last_inbound_at),
            state: r.state.unwrap_or_default().0,
        }
    }
}

/// A row of `sql::CONVERSATION_INBOUND`: `id, payload, received_at`.
#[derive(sqlx::FromRow)]
pub(crate) struct InboundCols {
    id: Id,
    payload: Json<EventKind>,
    received_at: Stamp,
}

impl InboundCols {
    pub(crate) fn event(self, conversation_id: Id) -> StoredEvent {
        StoredEvent {
            id: self.id,
            conversation_id,
            kind: self.payload.0,
            received_at: self.received_at.0,
        }
    }
}

/// A row `kind, n` of `Reads::outbound_kind_counts` (a missing kind counts as empty).
#[derive(sqlx::FromRow)]
pub(crate) struct KindCountCols {
    kind: Option<String>,
    n: i64,
}

impl From<KindCountCols> for KindCount {
    fn from(r: KindCountCols) -> Self {
        KindCount {
            kind: r.kind.unwrap_or_default(),
            count: r.n,
        }
    }
}

/// A row of `sql::STOPPED_SENDERS`.
#[derive(sqlx::FromRow)]
pub(crate) struct SenderStopCols {
    sender_id: i64,
    code: Option<i64>,
    reason: String,
    stopped_at: Stamp,
}

impl From<SenderStopCols> for SenderStop {
    fn from(r: SenderStopCols) -> Self {
        SenderStop {
            sender_id: r.sender_id,
            code: r.code,
            reason: r.reason,
            stopped_at: r.stopped_at.0,
        }
    }
}

/// A row of `template_states` (`sql::LIVE_TEMPLATES`); a category Parley does not know
/// reads as none.
#[derive(sqlx::FromRow)]
pub(crate) struct LiveTemplateCols {
    name: String,
    language: String,
    status: Option<String>,
    reason: Option<String>,
    category: Option<String>,
    impending_category: Option<String>,
    impending_on: Option<Stamp>,
    updated_at: Stamp,
}

impl From<LiveTemplateCols> for LiveTemplate {
    fn from(r: LiveTemplateCols) -> Self {
        let category = |c: Option<String>| c.as_deref().and_then(TemplateCategory::parse);
        LiveTemplate {
            name: r.name,
            language: r.language,
            status: r.status,
            reason: r.reason,
            category: category(r.category),
            impending_category: category(r.impending_category),
            impending_on: time(r.impending_on),
            updated_at: r.updated_at.0,
        }
    }
}

/// A row of `sql::MARKETING_STATE`.
#[derive(sqlx::FromRow)]
pub(crate) struct MarketingCols {
    marketing_stopped_at: Option<Stamp>,
    marketing_limited_until: Option<Stamp>,
}

impl From<MarketingCols> for MarketingState {
    fn from(r: MarketingCols) -> Self {
        MarketingState {
            stopped_at: time(r.marketing_stopped_at),
            limited_until: time(r.marketing_limited_until),
        }
    }
}

/// A `model_exchanges` row (`sql::MODEL_EXCHANGE`).
#[derive(sqlx::FromRow)]
pub(crate) struct ExchangeCols {
    conversation_id: Id,
    event_id: Id,
    seq: i64,
    kind: String,
    flow: String,
    step: String,
    model: String,
    request: Json<Value>,
    answer: Option<Json<Value>>,
    error: Option<String>,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
    latency_ms: i64,
    created_at: Stamp,
}

impl From<ExchangeCols> for ModelExchange {
    fn from(r: ExchangeCols) -> Self {
        ModelExchange {
            conversation_id: r.conversation_id,
            event_id: r.event_id,
            seq: r.seq,
            kind: ExchangeKind::parse(&r.kind),
            flow: r.flow,
            step: r.step,
            model: r.model,
            request: r.request.0,
            answer: r.answer.map(|a| a.0),
            error: r.error,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micros: r.cost_micros,
            latency_ms: r.latency_ms,
            created_at: r.created_at.0,
        }
    }
}

/// A row of `Exchanges::model_usage`.
#[derive(sqlx::FromRow)]
pub(crate) struct UsageCols {
    key: String,
    calls: i64,
    failed: i64,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: i64,
}

impl From<UsageCols> for UsageRow {
    fn from(r: UsageCols) -> Self {
        UsageRow {
            key: r.key,
            calls: r.calls,
            failed: r.failed,
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            cost_micros: r.cost_micros,
        }
    }
}

/// A `media_downloads` row (`sql::MEDIA_COLUMNS`); a kind or status Parley does not know
/// is corrupt.
#[derive(sqlx::FromRow)]
pub(crate) struct MediaCols {
    id: Id,
    sender_id: i64,
    conversation_id: Id,
    event_id: Id,
    provider_message_id: String,
    kind: String,
    media_id: Option<String>,
    url: Option<String>,
    declared_mime_type: Option<String>,
    declared_sha256: Option<String>,
    status: String,
    attempts: i32,
    error: Option<String>,
    sha256: Option<String>,
    content_type: Option<String>,
    size_bytes: Option<i64>,
    created_at: Stamp,
    stored_at: Option<Stamp>,
}

impl TryFrom<MediaCols> for MediaRecord {
    type Error = StoreError;

    fn try_from(r: MediaCols) -> Result<Self, StoreError> {
        Ok(MediaRecord {
            id: r.id,
            sender_id: r.sender_id,
            conversation_id: r.conversation_id,
            event_id: r.event_id,
            provider_message_id: r.provider_message_id,
            kind: MediaKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("media kind `{}`", r.kind)))?,
            media_id: r.media_id,
            url: r.url,
            declared_mime_type: r.declared_mime_type,
            declared_sha256: r.declared_sha256,
            status: DownloadStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("download status `{}`", r.status)))?,
            attempts: r.attempts,
            error: r.error,
            sha256: r.sha256,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            created_at: r.created_at.0,
            stored_at: time(r.stored_at),
        })
    }
}

/// A row of `sql::FLOW_INSIGHTS`.
#[derive(sqlx::FromRow)]
pub(crate) struct InsightCols {
    flow: String,
    step: String,
    what: String,
    n: i64,
}

impl From<InsightCols> for InsightRow {
    fn from(r: InsightCols) -> Self {
        InsightRow {
            flow: r.flow,
            step: r.step,
            what: r.what,
            n: r.n,
        }
    }
}

/// A row of `sql::STEP_DELIVERIES`.
#[derive(sqlx::FromRow)]
pub(crate) struct StepDeliveryCols {
    flow: String,
    step: String,
    messages: i64,
    sent: i64,
    delivered: i64,
    read_count: i64,
    failed: i64,
    predicted_micros: i64,
    actual_micros: i64,
}

impl From<StepDeliveryCols> for StepDelivery {
    fn from(r: StepDeliveryCols) -> Self {
        StepDelivery {
            flow: r.flow,
            step: r.step,
            messages: r.messages,
            sent: r.sent,
            delivered: r.delivered,
            read: r.read_count,
            failed: r.failed,
            predicted_micros: r.predicted_micros,
            actual_micros: r.actual_micros,
        }
    }
}

/// A row of `sql::costs_sql` and `sql::costs_by_broadcast_sql`: the grouping's columns
/// (the others are not selected and stay unset), then the sums.
#[derive(sqlx::FromRow)]
pub(crate) struct CostCols {
    #[sqlx(default)]
    flow: Option<String>,
    #[sqlx(default)]
    step: Option<String>,
    #[sqlx(default)]
    sender_id: Option<i64>,
    #[sqlx(default)]
    day: Option<String>,
    #[sqlx(default)]
    category: Option<String>,
    #[sqlx(default)]
    broadcast_id: Option<i64>,
    messages: i64,
    predicted_micros: i64,
    priced: i64,
    billable: i64,
    actual_micros: i64,
}

impl From<CostCols> for CostRow {
    fn from(r: CostCols) -> Self {
        CostRow {
            flow: r.flow,
            step: r.step,
            sender_id: r.sender_id,
            day: r.day,
            category: r.category,
            broadcast_id: r.broadcast_id,
            messages: r.messages,
            predicted_micros: r.predicted_micros,
            priced: r.priced,
            billable: r.billable,
            actual_micros: r.actual_micros,
        }
    }
}

/// A row of `sql::COST_ENTRY`.
#[derive(sqlx::FromRow)]
pub(crate) struct CostEntryCols {
    outbound_id: Id,
    sender_id: i64,
    market: String,
    currency: String,
    predicted_category: String,
    predicted_type: String,
    predicted_micros: i64,
    actual_category: Option<String>,
    actual_type: Option<String>,
    actual_billable: Option<bool>,
    pricing_model: Option<String>,
    actual_micros: Option<i64>,
}

impl From<CostEntryCols> for CostEntry {
    fn from(r: CostEntryCols) -> Self {
        CostEntry {
            outbound_id: r.outbound_id,
            sender_id: r.sender_id,
            market: r.market,
            currency: r.currency,
            predicted_category: r.predicted_category,
            predicted_type: r.predicted_type,
            predicted_micros: r.predicted_micros,
            actual_category: r.actual_category,
            actual_type: r.actual_type,
            actual_billable: r.actual_billable,
            pricing_model: r.pricing_model,
            actual_micros: r.actual_micros,
        }
    }
}

/// A row of `sql::BROADCAST_COUNTS`.
#[derive(sqlx::FromRow)]
pub(crate) struct RecipientCountCols {
    state: String,
    reason: Option<String>,
    status: Option<String>,
    error_code: Option<i64>,
    deferred: bool,
    skip_reason: Option<String>,
    n: i64,
}

impl From<RecipientCountCols> for RecipientCount {
    fn from(r: RecipientCountCols) -> Self {
        RecipientCount {
            state: r.state,
            reason: r.reason,
            status: r.status,
            error_code: r.error_code,
            deferred: r.deferred,
            skip_reason: r.skip_reason,
            count: r.n,
        }
    }
}

/// A row of `sql::BROADCAST_RECIPIENTS`.
#[derive(sqlx::FromRow)]
pub(crate) struct RecipientCols {
    id: Id,
    conversation_id: Id,
    contact_id: Id,
    state: String,
    reason: Option<String>,
    outbound_id: Option<Id>,
}

impl From<RecipientCols> for RecipientRow {
    fn from(r: RecipientCols) -> Self {
        RecipientRow {
            id: r.id,
            conversation_id: r.conversation_id,
            contact_id: r.contact_id,
            state: r.state,
            reason: r.reason,
            outbound_id: r.outbound_id,
        }
    }
}
