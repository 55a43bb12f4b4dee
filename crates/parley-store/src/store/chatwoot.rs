//! The Chatwoot bridge (issue 57): which Chatwoot contact and conversation mirror each Parley
//! conversation (`chatwoot_links`), which events are mirrored already and as which Chatwoot
//! message (`chatwoot_mirrored`, so a retry never posts twice), and the Chatwoot messages
//! already sent through Parley (`chatwoot_agent_messages`, written in the same transaction as
//! the send, so a webhook delivered twice sends once).

use super::{NewOutbound, StoreResult};
use crate::domain::Id;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// The Chatwoot side of one Parley conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatwootLink {
    pub conversation_id: Id,
    /// Chatwoot's contact id.
    pub contact_id: i64,
    /// The contact inbox's `source_id` (the contact's address in the API inbox).
    pub source_id: String,
    /// Chatwoot's conversation id (its `display_id`, the number in its addresses).
    pub chatwoot_conversation_id: i64,
}

/// What became of an event mirrored into Chatwoot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mirrored {
    /// Never tried.
    No,
    /// Tried, but whether Chatwoot created the message is unknown: look before posting again.
    InDoubt,
    /// Mirrored as this Chatwoot message.
    As(i64),
}

/// What a Chatwoot agent's message became in Parley.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentMessage {
    /// The outbound message sent for it (`None`: nothing was sent, e.g. the window was
    /// closed and no template configured).
    pub outbound_id: Option<Id>,
    /// Whether this call took it first (`false`: an earlier delivery of the webhook did,
    /// and nothing was written now).
    pub new: bool,
}

#[async_trait]
pub trait Chatwoot: Send + Sync {
    /// The Chatwoot side of Parley conversation `conversation_id`, if linked yet.
    async fn chatwoot_link(&self, conversation_id: Id) -> StoreResult<Option<ChatwootLink>>;

    /// The Parley conversation mirrored by Chatwoot conversation `chatwoot_conversation_id`.
    async fn chatwoot_conversation(&self, chatwoot_conversation_id: i64)
        -> StoreResult<Option<Id>>;

    /// Links a Parley conversation to its Chatwoot side (replacing an earlier link).
    async fn save_chatwoot_link(&self, link: &ChatwootLink, now: DateTime<Utc>) -> StoreResult<()>;

    /// What became of event `event_id` in Chatwoot.
    async fn chatwoot_mirrored(&self, event_id: Id) -> StoreResult<Mirrored>;

    /// Notes that event `event_id` is about to be posted (before the call: a call whose
    /// answer is lost leaves it `InDoubt`). Nothing changes once it is mirrored.
    async fn chatwoot_mirroring(&self, event_id: Id, now: DateTime<Utc>) -> StoreResult<()>;

    /// Records that event `event_id` is Chatwoot message `message_id`.
    async fn chatwoot_mirrored_as(
        &self,
        event_id: Id,
        message_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Takes Chatwoot message `chatwoot_message_id` (an agent's, in `conversation_id`) once:
    /// the first call records it with `send` queued in the outbox in the same transaction;
    /// later calls write nothing and say what the first one did.
    async fn take_chatwoot_message(
        &self,
        chatwoot_message_id: i64,
        conversation_id: Id,
        send: Option<&NewOutbound>,
        now: DateTime<Utc>,
    ) -> StoreResult<AgentMessage>;

    /// Whether outbound message `outbound_id` was sent for a Chatwoot agent (so it is in
    /// Chatwoot already and not mirrored back).
    async fn sent_for_chatwoot(&self, outbound_id: Id) -> StoreResult<bool>;
}
