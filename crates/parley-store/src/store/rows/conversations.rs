//! Conversations and contacts, alone or together (the API's listings, a schedule's
//! audience, a broadcast's candidates), and a conversation's inbound messages, as rows.

use super::columns::{time, Stamp, State};
use crate::domain::{Contact, Conversation, EventKind, StoredEvent};
use crate::store::{AudienceRow, Candidate, ConversationSummary, Id};
use serde_json::{Map, Value};
use sqlx::types::Json;

/// `id, sender_id, contact_id, last_inbound_at, state, created_at` of `conversations`.
#[derive(sqlx_macros::FromRow)]
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

/// A contact's own columns, `key, name, attributes, tags, bsuid, username`; its id and
/// creation time are read under the names the query gives them (`ContactCols`,
/// `JoinedContact`).
#[derive(sqlx_macros::FromRow)]
pub(crate) struct ContactBody {
    key: String,
    name: Option<String>,
    attributes: Json<Map<String, Value>>,
    tags: Json<Vec<String>>,
    bsuid: Option<String>,
    username: Option<String>,
}

impl ContactBody {
    /// The contact, with its id and creation time.
    pub(crate) fn contact(self, id: Id, created_at: Stamp) -> Contact {
        Contact {
            id,
            key: self.key,
            name: self.name,
            attributes: self.attributes.0,
            tags: self.tags.0,
            created_at: created_at.0,
            user_id: self.bsuid,
            username: self.username,
        }
    }
}

/// `id, key, name, attributes, tags, created_at, bsuid, username` of `contacts`.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct ContactCols {
    id: Id,
    created_at: Stamp,
    #[sqlx(flatten)]
    body: ContactBody,
}

impl From<ContactCols> for Contact {
    fn from(r: ContactCols) -> Self {
        r.body.contact(r.id, r.created_at)
    }
}

/// A contact joined with its conversation: `key, name, attributes, tags, bsuid, username`,
/// its id as `contact_id` and its creation as `contact_created_at`.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct JoinedContact {
    contact_id: Id,
    contact_created_at: Stamp,
    #[sqlx(flatten)]
    body: ContactBody,
}

impl From<JoinedContact> for Contact {
    fn from(r: JoinedContact) -> Self {
        r.body.contact(r.contact_id, r.contact_created_at)
    }
}

/// A row of `sql::CONVERSATIONS_PAGE`.
#[derive(sqlx_macros::FromRow)]
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
#[derive(sqlx_macros::FromRow)]
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

/// A row of `sql::BROADCAST_CANDIDATES`: a contact, its conversation with the sender if it
/// has one, and its latest inbound message with any sender.
#[derive(sqlx_macros::FromRow)]
pub(crate) struct CandidateCols {
    #[sqlx(flatten)]
    contact: JoinedContact,
    conversation_id: Option<Id>,
    last_inbound_at: Option<Stamp>,
    state: Option<State>,
}

impl From<CandidateCols> for Candidate {
    fn from(r: CandidateCols) -> Self {
        Candidate {
            contact: r.contact.into(),
            conversation_id: r.conversation_id,
            last_inbound_at: time(r.last_inbound_at),
            state: r.state.unwrap_or_default().0,
        }
    }
}

/// A row of `sql::CONVERSATION_INBOUND`: `id, payload, received_at`.
#[derive(sqlx_macros::FromRow)]
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
