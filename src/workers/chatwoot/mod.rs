//! The Chatwoot bridge (issue 57): mirrors conversations into a Chatwoot inbox (as an
//! events-out endpoint, `crate::workers::events_out::Deliverer`) and sends what its agents
//! write through Parley (`crate::http`'s Chatwoot webhook).
//!
//! Mirroring reads the `events_out` log, so Chatwoot down means queued, not lost: the
//! delivery worker retries each event in order per conversation. Each Parley conversation
//! gets a Chatwoot contact (identifier: the phone number), a contact inbox (source id
//! `parley-contact-{id}`) and a conversation (`additional_attributes.parley_conversation_id`),
//! found again before anything is created twice. Each message is posted with `source_id`
//! `parley-evt-{event id}`, noted before the call: a retry whose earlier answer was lost
//! looks for that source id before posting again, and the webhook knows its own messages by
//! it. Replies sent for Chatwoot's agents are in Chatwoot already and are not mirrored back.

pub mod client;
mod text;

use crate::config::{ChatwootConfig, ChatwootMirror};
use crate::domain::{Clock, OutEvent, OutEventKind};
use crate::store::files::{MediaBytes, MediaFiles};
use crate::store::{ChatwootLink, DownloadStatus, DynStore, Mirrored};
use crate::workers::events_out::{Deliverer, Outcome};
use async_trait::async_trait;
use client::{Attachment, CallError, CallResult, Client, NewMessage};
use serde_json::Value;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

/// The endpoint name the bridge's deliveries are kept under.
pub const NAME: &str = "chatwoot";

/// The prefix of the `source_id` of every message the bridge posts.
pub const SOURCE_PREFIX: &str = "parley-";

/// How long after a media message arrived its mirroring waits for the file's download;
/// later it is mirrored without the file (its text line says what it was).
const MEDIA_WAIT: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// The bridge, when `chatwoot:` is configured (for `events_out::endpoints::deliverers`).
pub fn bridge(
    config: &crate::config::Config,
    store: &DynStore,
    clock: &Arc<dyn Clock>,
) -> Option<Arc<dyn Deliverer>> {
    let cfg = config.chatwoot.clone()?;
    // The start has refused a media store that cannot be reached (`app`); this cannot fail
    // after it, and without files the messages are mirrored as their text lines.
    let media = MediaFiles::configured(&config.media)
        .unwrap_or_else(|_| MediaFiles::new(&config.media.dir));
    Some(Arc::new(Bridge::new(
        cfg,
        store.clone(),
        media,
        clock.clone(),
    )))
}

/// Mirrors events into Chatwoot.
pub struct Bridge {
    cfg: ChatwootConfig,
    store: DynStore,
    media: MediaFiles,
    clock: Arc<dyn Clock>,
    client: Client,
}

#[async_trait]
impl Deliverer for Bridge {
    fn name(&self) -> &str {
        NAME
    }

    fn wants(&self, kind: OutEventKind, sender_id: Option<i64>) -> bool {
        matches!(
            kind,
            OutEventKind::MessageReceived
                | OutEventKind::MessageSent
                | OutEventKind::HandoffBegan
                | OutEventKind::HandoffEnded
        ) && self.cfg.mirrors_sender(sender_id)
    }

    async fn deliver(&self, event: &OutEvent, _attempt: u32) -> Outcome {
        match self.mirror(event).await {
            Ok(()) => Outcome::Delivered { status: None },
            Err(CallError::Retry { status, error }) => Outcome::Retry { status, error },
            Err(CallError::Park { status, error }) => Outcome::Park { status, error },
        }
    }
}

fn store_error(e: crate::store::StoreError) -> CallError {
    CallError::retry(format!("the database: {e}"))
}

impl Bridge {
    pub fn new(
        cfg: ChatwootConfig,
        store: DynStore,
        media: MediaFiles,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let client = Client::new(&cfg);
        Self {
            cfg,
            store,
            media,
            clock,
            client,
        }
    }

    /// Mirrors one event; `Ok` also when there is nothing to do for it.
    pub async fn mirror(&self, event: &OutEvent) -> CallResult<()> {
        let Some(conversation) = event.conversation_id else {
            return Ok(());
        };
        let everything = self.cfg.mirror == ChatwootMirror::All;
        let data = &event.data;
        match event.kind {
            OutEventKind::MessageReceived => {
                let Some(link) = self.link(conversation, data, everything).await? else {
                    return Ok(());
                };
                let file = self.inbound_file(event).await?;
                let content = text::content(&data["content"]);
                self.post_once(event, &link, content, "incoming", false, file)
                    .await
            }
            OutEventKind::MessageSent => {
                let outbound = data["message_id"].as_i64().unwrap_or_default();
                if self
                    .store
                    .sent_for_chatwoot(outbound)
                    .await
                    .map_err(store_error)?
                {
                    return Ok(());
                }
                let Some(link) = self.link(conversation, data, everything).await? else {
                    return Ok(());
                };
                let content = text::content(&data["content"]);
                self.post_once(event, &link, content, "outgoing", false, None)
                    .await
            }
            OutEventKind::HandoffBegan => {
                let link = self.link(conversation, data, true).await?.ok_or_else(|| {
                    CallError::retry("the Chatwoot conversation could not be made")
                })?;
                let cw = link.chatwoot_conversation_id;
                self.client.set_status(cw, "open").await?;
                let a = &self.cfg.assign;
                self.client.assign(cw, a.assignee_id, a.team_id).await?;
                let note = text::handoff_note(data);
                self.post_once(event, &link, note, "outgoing", true, None)
                    .await
            }
            OutEventKind::HandoffEnded => {
                let Some(link) = self.link(conversation, data, false).await? else {
                    return Ok(());
                };
                let note = text::handoff_ended_note(data);
                self.post_once(event, &link, note, "outgoing", true, None)
                    .await?;
                self.client
                    .set_status(link.chatwoot_conversation_id, "resolved")
                    .await
            }
            _ => Ok(()),
        }
    }

    /// The Chatwoot side of `conversation`, made when `create` and missing (found again
    /// first, in case an earlier attempt made it and its answer was lost).
    async fn link(
        &self,
        conversation: i64,
        data: &Value,
        create: bool,
    ) -> CallResult<Option<ChatwootLink>> {
        if let Some(link) = self
            .store
            .chatwoot_link(conversation)
            .await
            .map_err(store_error)?
        {
            return Ok(Some(link));
        }
        if !create {
            return Ok(None);
        }
        let contact = &data["contact"];
        let phone = contact["phone"].as_str().filter(|p| !p.is_empty());
        let identifier = phone
            .map(str::to_string)
            .or_else(|| contact["user_id"].as_str().map(|u| format!("bsuid:{u}")))
            .unwrap_or_else(|| format!("parley-contact-{}", contact["id"]));
        let contact_id = match self.client.find_contact(&identifier).await? {
            Some(id) => id,
            None => {
                let name = contact["name"].as_str();
                self.client.create_contact(&identifier, name, phone).await?
            }
        };
        let source_id = format!("{SOURCE_PREFIX}contact-{}", contact["id"]);
        self.client.add_to_inbox(contact_id, &source_id).await?;
        let cw = match self
            .client
            .find_conversation(contact_id, conversation)
            .await?
        {
            Some(id) => id,
            None => {
                self.client
                    .create_conversation(contact_id, &source_id, conversation, "pending")
                    .await?
            }
        };
        let link = ChatwootLink {
            conversation_id: conversation,
            contact_id,
            source_id,
            chatwoot_conversation_id: cw,
        };
        self.store
            .save_chatwoot_link(&link, self.clock.now())
            .await
            .map_err(store_error)?;
        Ok(Some(link))
    }

    /// Posts the event's message once, whatever happened to earlier attempts.
    async fn post_once(
        &self,
        event: &OutEvent,
        link: &ChatwootLink,
        content: String,
        message_type: &'static str,
        private: bool,
        file: Option<Attachment>,
    ) -> CallResult<()> {
        let cw = link.chatwoot_conversation_id;
        let source_id = format!("{SOURCE_PREFIX}evt-{}", event.id);
        match self
            .store
            .chatwoot_mirrored(event.id)
            .await
            .map_err(store_error)?
        {
            Mirrored::As(_) => return Ok(()),
            Mirrored::InDoubt => {
                if let Some(id) = self.client.find_message(cw, &source_id).await? {
                    return self.mirrored_as(event, id).await;
                }
            }
            Mirrored::No => {}
        }
        self.store
            .chatwoot_mirroring(event.id, self.clock.now())
            .await
            .map_err(store_error)?;
        let message = NewMessage {
            content,
            message_type,
            private,
            source_id,
        };
        let id = self
            .client
            .post_message(cw, &message, file.as_ref())
            .await?;
        self.mirrored_as(event, id).await
    }

    async fn mirrored_as(&self, event: &OutEvent, id: i64) -> CallResult<()> {
        self.store
            .chatwoot_mirrored_as(event.id, id, self.clock.now())
            .await
            .map_err(store_error)
    }

    /// The stored file of a received media message, to attach; `None` when it has none,
    /// failed, is too large, or is still downloading `MEDIA_WAIT` after the message arrived
    /// (then the message is mirrored as its text line alone).
    async fn inbound_file(&self, event: &OutEvent) -> CallResult<Option<Attachment>> {
        let data = &event.data;
        let media = &data["content"]["media"];
        if !media.is_object() {
            return Ok(None);
        }
        let Some(message_id) = data["message_id"].as_i64() else {
            return Ok(None);
        };
        let Some(record) = self
            .store
            .event_media(message_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let sha256 = match (&record.status, &record.sha256) {
            (DownloadStatus::Stored, Some(sha)) => sha.clone(),
            (DownloadStatus::Queued, _) if self.clock.now() - event.at < MEDIA_WAIT => {
                return Err(CallError::retry("the media file is still being downloaded"));
            }
            _ => return Ok(None),
        };
        if record.size_bytes.unwrap_or(0) as u64 > self.cfg.max_attachment_bytes {
            return Ok(None);
        }
        let Some((bytes, _)) = self
            .media
            .open(&sha256)
            .await
            .map_err(|e| CallError::retry(format!("the media store: {e}")))?
        else {
            return Ok(None);
        };
        let Some(bytes) = read_bounded(bytes, self.cfg.max_attachment_bytes).await? else {
            return Ok(None);
        };
        let content_type = record
            .content_type
            .clone()
            .or_else(|| media["mime_type"].as_str().map(str::to_string))
            .unwrap_or_else(|| "application/octet-stream".into());
        let filename = media["filename"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}.{}", record.kind.as_str(), extension(&content_type)));
        Ok(Some(Attachment {
            filename,
            content_type,
            bytes,
        }))
    }
}

/// The file's bytes, `None` when it is over `max`.
async fn read_bounded(bytes: MediaBytes, max: u64) -> CallResult<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let read = match bytes {
        MediaBytes::File(f) => f.take(max + 1).read_to_end(&mut out).await.map(drop),
        MediaBytes::Remote(mut r) => loop {
            match r.chunk().await {
                Ok(Some(c)) if (out.len() + c.len()) as u64 <= max => out.extend_from_slice(&c),
                Ok(Some(_)) => return Ok(None),
                Ok(None) => break Ok(()),
                Err(e) => break Err(std::io::Error::other(e)),
            }
        },
    };
    read.map_err(|e| CallError::retry(format!("the media store: {e}")))?;
    Ok(((out.len() as u64) <= max).then_some(out))
}

fn extension(content_type: &str) -> &str {
    content_type
        .split('/')
        .nth(1)
        .and_then(|s| s.split([';', '+']).next())
        .filter(|s| s.len() <= 10 && s.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("bin")
}
