//! What a sender and its account stand at, as rows: spend by message kind, stopped
//! senders, templates' live state and a contact's marketing state.

use super::columns::{time, Stamp};
use crate::domain::{LiveTemplate, MarketingState, TemplateCategory};
use crate::store::{KindCount, SenderStop};

/// A row `kind, n` of `Reads::outbound_kind_counts` (a missing kind counts as empty).
#[derive(sqlx_macros::FromRow)]
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
#[derive(sqlx_macros::FromRow)]
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
#[derive(sqlx_macros::FromRow)]
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
#[derive(sqlx_macros::FromRow)]
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
