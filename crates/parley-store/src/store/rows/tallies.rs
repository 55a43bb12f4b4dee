//! Counts and sums as rows: flow insights, what each step's messages became, the cost
//! ledger and a broadcast's recipients.

use crate::store::{
    CostEntry, CostRow, Id, InsightRow, RecipientCount, RecipientRow, StepDelivery,
};

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
