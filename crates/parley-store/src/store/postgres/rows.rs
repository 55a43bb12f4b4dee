//! Turning PostgreSQL rows into store values. `jsonb` columns decode straight into the
//! domain types; a value that does not fit is `StoreError::Corrupt`, not a database error.
//! Also the statements several concept files run (inserting outbound messages): this is the
//! leaf they all import, and it imports none of them.

use super::column_groups::columns;
use crate::domain::{Contact, Conversation};
use crate::store::rows::{ContactBody, ConversationCols};
use crate::store::{NewOutbound, StoreResult};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Row};

/// A JSON column decoded into `T` (`rows`'s structs decode theirs with sqlx's `Json`);
/// a value that does not fit is `StoreError::Corrupt`.
pub(super) fn json<T: DeserializeOwned>(row: &PgRow, column: &str) -> StoreResult<T> {
    Ok(row.try_get::<Json<T>, _>(column)?.0)
}

/// The columns of a `conversations` row.
pub(super) use crate::store::sql::CONVERSATION_COLUMNS;

/// A `conversations` row (`rows::ConversationCols`).
pub(super) fn conversation(row: &PgRow) -> StoreResult<Conversation> {
    Ok(ConversationCols::from_row(row)?.into())
}

/// Columns: `key, name, attributes, tags, bsuid, username` (`rows::ContactBody`) and the id
/// and creation time under the given names (they differ when joined with a conversation).
pub(super) fn contact(row: &PgRow, id: &str, created_at: &str) -> StoreResult<Contact> {
    Ok(ContactBody::from_row(row)?.contact(row.try_get(id)?, row.try_get(created_at)?))
}

/// Inserts messages ready to send at `now`, with the predicted costs of those that have
/// one in the ledger, in one statement; ids come back in input order.
pub(super) async fn insert_outbound(
    conn: &mut PgConnection,
    messages: &[NewOutbound],
    now: DateTime<Utc>,
) -> StoreResult<Vec<i64>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let senders: Vec<i64> = messages.iter().map(|m| m.sender_id).collect();
    let conversations: Vec<i64> = messages.iter().map(|m| m.conversation_id).collect();
    let payloads: Vec<_> = messages.iter().map(|m| Json(&m.message)).collect();
    let fallbacks: Vec<_> = messages.iter().map(|m| Json(&m.fallback)).collect();
    let origins: Vec<&str> = messages.iter().map(|m| m.origin.as_str()).collect();
    let flows: Vec<Option<&str>> = messages.iter().map(|m| m.flow.as_deref()).collect();
    let steps: Vec<Option<&str>> = messages.iter().map(|m| m.step.as_deref()).collect();
    let costs = CostColumns::of(messages);
    // Identity values follow the `order by`, so sorted ids are in input order, and the
    // n-th id is the n-th message's (what joins a cost to its message).
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "with ins as (
             insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  next_attempt_at, created_at, updated_at, flow, step)
             select sender_id, conversation_id, payload, fallback, origin, 'queued', $6, $6, $6,
                    flow, step
             from unnest($1::bigint[], $2::bigint[], $3::jsonb[], $4::jsonb[], $5::text[],
                         $7::text[], $8::text[])
                  with ordinality as m(sender_id, conversation_id, payload, fallback, origin,
                                       flow, step, n)
             order by n
             returning id, sender_id
         ), numbered as (
             select id, sender_id, row_number() over (order by id) as n from ins
         ), costs as (
             insert into message_costs (outbound_id, sender_id, market, currency,
                 predicted_category, predicted_type, predicted_micros, rate_marketing,
                 rate_utility, rate_authentication, rate_service, created_at, updated_at)
             select numbered.id, numbered.sender_id, c.market, c.currency, c.category, c.kind,
                    c.price, c.rm, c.ru, c.ra, c.rs, $6, $6
             from unnest($9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[],
                         $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
                         $18::bigint[])
                  as c(n, market, currency, category, kind, price, rm, ru, ra, rs)
             join numbered on numbered.n = c.n
         )
         select id from numbered",
    )
    .bind(senders)
    .bind(conversations)
    .bind(payloads)
    .bind(fallbacks)
    .bind(origins)
    .bind(now)
    .bind(flows)
    .bind(steps)
    .bind(costs.n)
    .bind(costs.market)
    .bind(costs.currency)
    .bind(costs.category)
    .bind(costs.kind)
    .bind(costs.price)
    .bind(costs.rm)
    .bind(costs.ru)
    .bind(costs.ra)
    .bind(costs.rs)
    .fetch_all(conn)
    .await?;
    ids.sort_unstable();
    Ok(ids)
}

columns! {
    /// The predictions of a batch of messages as arrays, `n` the message's 1-based place
    /// (or, for a broadcast's page, its recipient).
    struct CostColumns<'a> {
        n: i64 => "bigint",
        market: &'a str => "text",
        currency: &'a str => "text",
        category: &'static str => "text",
        kind: &'static str => "text",
        price: i64 => "bigint",
        rm: i64 => "bigint",
        ru: i64 => "bigint",
        ra: i64 => "bigint",
        rs: i64 => "bigint",
    }
}

impl<'a> CostColumns<'a> {
    fn of(messages: &'a [NewOutbound]) -> Self {
        let mut c = Self::default();
        for (i, m) in messages.iter().enumerate() {
            if let Some(p) = &m.cost {
                c.push(i as i64 + 1, p);
            }
        }
        c
    }

    pub(super) fn push(&mut self, n: i64, p: &'a crate::domain::pricing::CostPrediction) {
        self.n.push(n);
        self.market.push(&p.market);
        self.currency.push(&p.currency);
        self.category.push(p.category.as_str());
        self.kind.push(p.pricing_type.as_str());
        self.price.push(p.price_micros);
        self.rm.push(p.rates.marketing);
        self.ru.push(p.rates.utility);
        self.ra.push(p.rates.authentication);
        self.rs.push(p.rates.service);
    }
}
