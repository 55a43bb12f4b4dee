//! The `data` of each kind of event out (README "Events"), built in one place so that every
//! path writing an event of a kind writes the same fields. Ids are the ones a CRM joins on:
//! Parley's (`conversation_id`, `contact.id`, message ids) and the provider's
//! (`provider_message_id`). Nothing here carries a secret: no token, no provider media URL
//! (those need the account's credentials), no API key.

use super::{Contact, ContactPatch, Handoff, Id, InboundContent, InboundMessage};
use super::{NewOutEvent, OutEventKind, OutboundContent};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// Where an event happened: its conversation, sender and time.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    pub conversation_id: Option<Id>,
    pub sender_id: Option<i64>,
    pub at: DateTime<Utc>,
}

impl Place {
    /// `kind` with `data` here; `conversation_id` and `sender_id` are added to `data`.
    pub fn event(&self, kind: OutEventKind, mut data: Map<String, Value>) -> NewOutEvent {
        data.insert("conversation_id".into(), json!(self.conversation_id));
        data.insert("sender_id".into(), json!(self.sender_id));
        NewOutEvent {
            kind,
            at: self.at,
            conversation_id: self.conversation_id,
            sender_id: self.sender_id,
            data: Value::Object(data),
        }
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A contact as events show it: `{id, phone (E.164, or null), user_id, name}`.
pub fn contact(c: &Contact) -> Value {
    let r = c.contact_ref();
    json!({
        "id": c.id,
        "phone": r.as_ref().and_then(|r| r.phone()).map(|p| p.to_string()),
        "user_id": c.user_id.clone().or_else(|| r.as_ref().and_then(|r| r.user_id()).map(str::to_string)),
        "name": c.name,
    })
}

/// Inbound content as events show it: its `type`, the text a person reads (`text`: a
/// body, a caption, a button's title), and for media the kind, MIME type, file name and
/// the provider's media id (never its URL, which needs the account's token).
pub fn inbound_content(content: &InboundContent) -> Value {
    let mut v = json!({ "type": content.kind_name(), "text": content.text() });
    if let InboundContent::Media {
        media,
        media_id,
        mime_type,
        caption,
        filename,
        ..
    } = content
    {
        v["media"] = json!({
            "kind": media.as_str(),
            "mime_type": mime_type,
            "provider_media_id": media_id,
            "caption": caption,
            "filename": filename,
        });
    }
    v
}

/// Outbound content as events show it: its `type`, the text (`text`) or the template
/// (`template`: name, language, variables) and for media its link and caption.
pub fn outbound_content(content: &OutboundContent) -> Value {
    let full = serde_json::to_value(content).unwrap_or(Value::Null);
    let text = match content {
        OutboundContent::Text { body, .. }
        | OutboundContent::Buttons { body, .. }
        | OutboundContent::List { body, .. }
        | OutboundContent::UrlButton { body, .. }
        | OutboundContent::LocationRequest { body }
        | OutboundContent::AddressRequest { body, .. } => Some(body.clone()),
        OutboundContent::Media { caption, .. } => caption.clone(),
        _ => None,
    };
    let mut v = json!({ "type": content.kind_name(), "text": text });
    match content {
        OutboundContent::Template(_) => v["template"] = full,
        OutboundContent::Media { .. } | OutboundContent::Location { .. } => v["content"] = full,
        _ => {}
    }
    v
}

/// `message.received`: a customer's message, as the inbox takes it up.
pub fn message_received(
    place: &Place,
    who: &Contact,
    event_id: Id,
    message: &InboundMessage,
) -> NewOutEvent {
    place.event(
        OutEventKind::MessageReceived,
        object(json!({
            "message_id": event_id,
            "provider_message_id": message.provider_message_id,
            "contact": contact(who),
            "content": inbound_content(&message.content),
            "reply_to": message.context.as_ref().map(|c| c.message_id.clone()),
            "sent_at": message.timestamp,
        })),
    )
}

/// `flow.started`, `flow.finished` (with how: `finished`, `handed_off`, `moved`,
/// `timed_out`, `invalid`, `errored`) and `flow.dropped`: run `run` of flow `flow`.
pub fn flow(
    place: &Place,
    who: &Contact,
    kind: OutEventKind,
    flow: &str,
    run: u64,
    outcome: Option<&str>,
) -> NewOutEvent {
    let mut data = object(json!({ "flow": flow, "run": run, "contact": contact(who) }));
    if let Some(o) = outcome {
        data.insert("outcome".into(), json!(o));
    }
    place.event(kind, data)
}

/// `handoff.began`: the conversation is with a person since `since` (until `until`, when
/// the step set a timeout), handed over by flow `flow`.
pub fn handoff_began(place: &Place, who: &Contact, h: &Handoff, run: Option<u64>) -> NewOutEvent {
    place.event(
        OutEventKind::HandoffBegan,
        object(json!({
            "contact": contact(who),
            "since": h.since,
            "until": h.until,
            "flow": h.flow,
            "run": run,
        })),
    )
}

/// `handoff.ended`: the handoff since `h.since` ended, `by` whom (`api`, `sandbox`,
/// `timeout`, `flow`, or who asked for the release).
pub fn handoff_ended(place: &Place, who: &Contact, h: &Handoff, by: &str) -> NewOutEvent {
    place.event(
        OutEventKind::HandoffEnded,
        object(json!({
            "contact": contact(who),
            "since": h.since,
            "until": h.until,
            "flow": h.flow,
            "by": by,
        })),
    )
}

/// `contact.created`: Parley met a contact for the first time (`via`: `message`, `api`,
/// `import`, `marketing_preference`).
pub fn contact_created(place: &Place, who: &Contact, via: &str) -> NewOutEvent {
    place.event(
        OutEventKind::ContactCreated,
        object(json!({ "contact": contact(who), "via": via })),
    )
}

/// `contact.changed`: `who` as it is after the change, and what changed (`name`,
/// `attributes` set (null: removed), `tags_added`, `tags_removed`), `via` what (`flow`,
/// `api`, `import`).
pub fn contact_changed(
    place: &Place,
    who: &Contact,
    patch: &ContactPatch,
    via: &str,
) -> NewOutEvent {
    place.event(
        OutEventKind::ContactChanged,
        object(json!({
            "contact": contact(who),
            "changes": {
                "name": patch.name,
                "attributes": patch.set_attributes,
                "tags_added": patch.add_tags,
                "tags_removed": patch.remove_tags,
            },
            "via": via,
        })),
    )
}

/// `contact.opted_out`: the customer stopped messages (`via`: `keyword` (a flow's opt-out,
/// STOP), `marketing_preference` (WhatsApp's "stop promotions"), `import`).
pub fn contact_opted_out(place: &Place, who: &Contact, via: &str) -> NewOutEvent {
    place.event(
        OutEventKind::ContactOptedOut,
        object(json!({ "contact": contact(who), "via": via })),
    )
}

/// An outbound message as the stores read it back to tell of it.
#[derive(Debug, Clone)]
pub struct SentRow {
    pub outbound_id: Id,
    pub provider_message_id: Option<String>,
    /// `flow`, `api`, `fallback`, `broadcast`, …
    pub origin: String,
    pub flow: Option<String>,
    pub step: Option<String>,
    /// The stored payload (`OutboundMessage`), as JSON.
    pub payload: Value,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    /// The contact: id, key (`+1…` or `bsuid:…`), name, BSUID.
    pub contact: (Id, String, Option<String>, Option<String>),
}

/// A contact with only what events show of it (id, key, name, BSUID), as a store reads it.
pub fn bare_contact(id: Id, key: &str, name: Option<String>, user_id: Option<String>) -> Contact {
    Contact {
        id,
        key: key.to_string(),
        name,
        attributes: Map::new(),
        tags: Vec::new(),
        created_at: DateTime::<Utc>::UNIX_EPOCH,
        user_id,
        username: None,
    }
}

impl SentRow {
    fn contact(&self) -> Value {
        let (id, key, name, user_id) = &self.contact;
        contact(&bare_contact(*id, key, name.clone(), user_id.clone()))
    }

    fn content(&self) -> Value {
        self.payload
            .get("content")
            .and_then(|c| serde_json::from_value::<OutboundContent>(c.clone()).ok())
            .map_or(Value::Null, |c| outbound_content(&c))
    }
}

/// `message.sent`: the provider accepted a message Parley sent.
pub fn message_sent(place: &Place, row: &SentRow) -> NewOutEvent {
    place.event(
        OutEventKind::MessageSent,
        object(json!({
            "message_id": row.outbound_id,
            "provider_message_id": row.provider_message_id,
            "origin": row.origin,
            "flow": row.flow,
            "step": row.step,
            "contact": row.contact(),
            "content": row.content(),
        })),
    )
}

/// `message.status`: a message Parley sent is now `status` (`delivered`, `read`, `failed`;
/// `error` {code, title} with `failed`).
pub fn message_status(place: &Place, row: &SentRow, status: &str) -> NewOutEvent {
    let error = row
        .error_code
        .or(row.error_title.as_ref().map(|_| 0))
        .filter(|_| status == "failed")
        .map(|_| json!({ "code": row.error_code, "title": row.error_title }));
    place.event(
        OutEventKind::MessageStatus,
        object(json!({
            "message_id": row.outbound_id,
            "provider_message_id": row.provider_message_id,
            "status": status,
            "error": error,
            "origin": row.origin,
            "contact": row.contact(),
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactRef, PhoneNumber};

    fn ana() -> Contact {
        Contact {
            id: 7,
            key: "+14155550100".into(),
            name: Some("Ana".into()),
            attributes: Map::new(),
            tags: vec![],
            created_at: Utc::now(),
            user_id: None,
            username: None,
        }
    }

    #[test]
    fn a_received_message_carries_the_ids_a_crm_joins_on_and_no_media_url() {
        let place = Place {
            conversation_id: Some(3),
            sender_id: Some(1),
            at: Utc::now(),
        };
        let msg = InboundMessage {
            provider_message_id: "wamid.1".into(),
            from: ContactRef::Phone(PhoneNumber::parse("+14155550100").unwrap()),
            profile_name: None,
            username: None,
            timestamp: None,
            content: InboundContent::Media {
                media: crate::domain::MediaKind::Image,
                media_id: Some("m1".into()),
                url: Some("https://lookaside.example/secret?token=x".into()),
                mime_type: Some("image/jpeg".into()),
                sha256: None,
                caption: Some("my receipt".into()),
                filename: None,
                voice: false,
            },
            context: None,
            referral: None,
        };
        let e = message_received(&place, &ana(), 42, &msg);
        assert_eq!(e.kind, OutEventKind::MessageReceived);
        assert_eq!((e.conversation_id, e.sender_id), (Some(3), Some(1)));
        let d = &e.data;
        assert_eq!(d["conversation_id"], 3);
        assert_eq!(d["message_id"], 42);
        assert_eq!(d["provider_message_id"], "wamid.1");
        assert_eq!(d["contact"]["phone"], "+14155550100");
        assert_eq!(d["contact"]["name"], "Ana");
        assert_eq!(d["content"]["type"], "image");
        assert_eq!(d["content"]["text"], "my receipt");
        assert_eq!(d["content"]["media"]["mime_type"], "image/jpeg");
        assert!(!d.to_string().contains("token"), "{d}");
    }
}
