//! Webhook ingress on SQLite: a batch of messages and statuses in one write job.

use super::identity;
use super::inbox::{claim_one, load_raw, RawWork};
use super::media::enqueue_download;
use super::rows::{json_text, micros, upsert_contact};
use super::statements::Conn;
use super::statuses::ingest_status;
use super::SqliteStore;
use crate::domain::{
    EventKind, Identities, IdentityChange, OutboundMessage, StatusUpdate, WindowFallback,
};
use crate::store::apply::lease_until;
use crate::store::{
    ClaimedWork, InboxClaim, Ingest, IngestItem, IngestOutcome, NewDownload, StoreResult,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[async_trait]
impl Ingest for SqliteStore {
    /// The writer thread commits every ingest waiting at once together (`run_first`).
    fn shares_commits(&self) -> bool {
        true
    }

    async fn ingest_and_claim(
        &self,
        items: &[IngestItem],
        claim: Option<&InboxClaim>,
    ) -> StoreResult<(Vec<IngestOutcome>, Vec<ClaimedWork>)> {
        // Everything that needs no database is done here, off the writer thread.
        let items = items
            .iter()
            .map(|item| {
                Ok(match item {
                    IngestItem::Message {
                        sender_id,
                        message,
                        received_at,
                    } => Prepared::Message(NewMessage {
                        sender_id: *sender_id,
                        provider_message_id: message.provider_message_id.clone(),
                        contact_key: message.from.key(),
                        identities: message
                            .from
                            .user_id()
                            .map(|_| Identities::of(&message.from)),
                        username: message.username.clone(),
                        profile_name: message.profile_name.clone(),
                        // Echoes, history and calls the business made leave the window.
                        inbound_at: message.opens_window_at(*received_at).map(micros),
                        received_at: micros(*received_at),
                        payload: json_text("event", &EventKind::Message(message.clone()))?,
                        media: NewDownload::of(message),
                        echo: match message.content.echoed() {
                            Some(content) => Some(json_text(
                                "echo",
                                &OutboundMessage {
                                    to: message.from.clone(),
                                    content,
                                    trace: None,
                                },
                            )?),
                            None => None,
                        },
                    }),
                    IngestItem::Status {
                        sender_id,
                        status,
                        received_at,
                    } => Prepared::Status(*sender_id, status.clone(), *received_at),
                    IngestItem::IdentityChange {
                        change,
                        received_at,
                        ..
                    } => Prepared::Identity(change.clone(), *received_at),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let claim = claim.map(|c| Claim {
            owner: c.owner.clone(),
            until: micros(lease_until(c.now, c.lease)),
            now: micros(c.now),
            limit: c.limit,
            events: c.events,
        });
        let tell = self.events.on();
        // Ahead of other writes: the webhook's acknowledgement waits for this commit.
        let (outcomes, raw) = self
            .writer
            .run_first(move |conn| {
                let outcomes = items
                    .iter()
                    .map(|item| match item {
                        Prepared::Message(message) => ingest_message(conn, message),
                        Prepared::Status(sender_id, status, received_at) => {
                            ingest_status(conn, *sender_id, status, *received_at, tell)
                        }
                        Prepared::Identity(change, received_at) => {
                            Ok(IngestOutcome::IdentityApplied {
                                contact_id: identity::apply_change(conn, change, *received_at)?,
                            })
                        }
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                let raw = match &claim {
                    Some(claim) => claim.stored(conn, &outcomes)?,
                    None => Vec::new(),
                };
                Ok((outcomes, raw))
            })
            .await?;
        // Parsed off the writer thread as `claim_work`'s are, and not before the webhook is
        // answered: by the inbox, when it reads the work.
        let work = raw
            .into_iter()
            .map(|raw| ClaimedWork::new(raw.conversation_id, move || raw.parse()))
            .collect();
        Ok((outcomes, work))
    }
}

/// `InboxClaim` in the writer's terms (microseconds).
struct Claim {
    owner: std::sync::Arc<str>,
    until: i64,
    now: i64,
    limit: usize,
    events: i64,
}

impl Claim {
    /// Leases the conversations that `outcomes` stored messages in, in their order and up to
    /// `limit`, where no worker holds them, and loads each one's work: the claim and load
    /// that `claim_work` would make of them, in the ingest's own job and commit.
    fn stored(&self, conn: &Conn<'_>, outcomes: &[IngestOutcome]) -> StoreResult<Vec<RawWork>> {
        let mut seen = std::collections::HashSet::new();
        let mut raw = Vec::new();
        for outcome in outcomes {
            if raw.len() >= self.limit {
                break;
            }
            let IngestOutcome::Stored {
                conversation_id, ..
            } = outcome
            else {
                continue;
            };
            if seen.insert(*conversation_id)
                && claim_one(conn, &self.owner, self.until, self.now, *conversation_id)?
            {
                raw.push(load_raw(conn, *conversation_id, self.events)?);
            }
        }
        Ok(raw)
    }
}

enum Prepared {
    Message(NewMessage),
    Status(i64, StatusUpdate, DateTime<Utc>),
    Identity(IdentityChange, DateTime<Utc>),
}

struct NewMessage {
    sender_id: i64,
    provider_message_id: String,
    contact_key: String,
    /// Set when the sender has a business-scoped user id: the contact is found (or joined)
    /// by phone and/or BSUID instead of by key alone.
    identities: Option<Identities>,
    username: Option<String>,
    profile_name: Option<String>,
    inbound_at: Option<i64>,
    received_at: i64,
    payload: String,
    media: Option<NewDownload>,
    /// An echo's record as a message the business sent (`OutboundMessage` JSON).
    echo: Option<String>,
}

fn ingest_message(conn: &Conn<'_>, m: &NewMessage) -> StoreResult<IngestOutcome> {
    // Checked first so a duplicate touches neither the contact nor the conversation. This
    // connection is the only writer, so nothing can slip in between.
    let seen: bool = conn
        .prepare_cached(
            "select exists (select 1 from conversation_events
                            where sender_id = ?1 and provider_message_id = ?2)",
        )?
        .query_row(params![m.sender_id, m.provider_message_id], |r| r.get(0))?;
    if seen {
        return Ok(IngestOutcome::Duplicate);
    }

    let now = m.received_at;
    let contact_id = match &m.identities {
        Some(identities) => {
            let linked = identity::link(
                conn,
                identities,
                None,
                m.profile_name.as_deref(),
                m.username.as_deref(),
                now,
                true,
            )?;
            match linked {
                Some((id, _)) => id,
                None => upsert_contact(conn, &m.contact_key, m.profile_name.as_deref(), now)?,
            }
        }
        None => upsert_contact(conn, &m.contact_key, m.profile_name.as_deref(), now)?,
    };
    // Found, then updated or inserted (no `returning` on an upsert: SQLite builds a
    // temporary b-tree for its row each time it runs). This thread is the only writer.
    let known: Option<i64> = conn
        .prepare_cached("select id from conversations where sender_id = ?1 and contact_id = ?2")?
        .query_row(params![m.sender_id, contact_id], |r| r.get(0))
        .optional()?;
    let conversation_id = match known {
        Some(id) => {
            conn.prepare_cached(
                "update conversations set
                     last_inbound_at = coalesce(max(coalesce(last_inbound_at, ?2), ?2),
                                                last_inbound_at),
                     has_work = 1,
                     work_since = coalesce(work_since, ?3)
                 where id = ?1",
            )?
            .execute(params![id, m.inbound_at, now])?;
            id
        }
        None => conn
            .prepare_cached(
                "insert into conversations
                     (sender_id, contact_id, last_inbound_at, has_work, work_since, created_at)
                 values (?1, ?2, ?3, 1, ?4, ?4)",
            )?
            .insert(params![m.sender_id, contact_id, m.inbound_at, now])?,
    };

    // `insert` gives the new row's id; `returning id` would build a temporary b-tree for
    // its one row each time it runs (about ten allocations and a pager).
    let event_id: i64 = conn
        .prepare_cached(
            "insert into conversation_events
                 (conversation_id, sender_id, provider_message_id, kind, payload, received_at)
             values (?1, ?2, ?3, 'message', ?4, ?5)",
        )?
        .insert(params![
            conversation_id,
            m.sender_id,
            m.provider_message_id,
            m.payload,
            now
        ])?;
    if let Some(media) = &m.media {
        enqueue_download(
            conn,
            m.sender_id,
            conversation_id,
            event_id,
            &m.provider_message_id,
            media,
            now,
        )?;
    }
    if let Some(echo) = &m.echo {
        let skip = serde_json::to_string(&WindowFallback::Skip)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        conn.prepare_cached(
            "insert into outbound_messages
                 (sender_id, conversation_id, payload, fallback, origin, status,
                  provider_message_id, next_attempt_at, created_at, updated_at)
             values (?1, ?2, ?3, ?4, 'echo', 'sent', ?5, ?6, ?6, ?6)",
        )?
        .execute(params![
            m.sender_id,
            conversation_id,
            echo,
            skip,
            m.provider_message_id,
            now
        ])?;
    }
    Ok(IngestOutcome::Stored {
        event_id,
        conversation_id,
    })
}
