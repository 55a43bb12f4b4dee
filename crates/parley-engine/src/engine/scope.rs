//! The values flows see: `contact.*`, `vars.*`, `message.*` in `{{ … }}` templates and as
//! maps in Rhai scripts.

use crate::domain::Contact;
use crate::domain::{CallEvent, InboundContent};
use serde_json::{json, Map, Value};

/// The contact as flows see it: name, phone, tags and every attribute, at the top level
/// and under `fields`.
pub fn contact_view(contact: &Contact) -> Value {
    let mut obj = Map::new();
    for (k, v) in &contact.attributes {
        obj.insert(k.clone(), v.clone());
    }
    obj.insert("name".into(), json!(contact.name));
    let phone = contact
        .contact_ref()
        .and_then(|c| c.phone().map(|p| p.as_e164().to_string()));
    obj.insert("phone".into(), json!(phone));
    // Users who hide their number are known by these (2026); `phone` is null for them.
    obj.insert("user_id".into(), json!(contact.user_id));
    obj.insert("username".into(), json!(contact.username));
    obj.insert("tags".into(), json!(contact.tags));
    // `contact.fields.x`: the custom fields an import sets, which are the attributes.
    obj.insert("fields".into(), Value::Object(contact.attributes.clone()));
    Value::Object(obj)
}

pub fn message_view(content: Option<&InboundContent>) -> Value {
    let Some(content) = content else {
        return json!({});
    };
    let mut obj = json!({ "text": content.text(), "type": content.kind_name() });
    match content {
        InboundContent::ButtonReply { id, title } | InboundContent::ListReply { id, title, .. } => {
            obj["id"] = json!(id);
            obj["title"] = json!(title);
        }
        InboundContent::QuickReply { payload, text } => {
            obj["id"] = json!(payload);
            obj["title"] = json!(text);
        }
        InboundContent::Location {
            latitude,
            longitude,
            name,
            address,
            ..
        } => {
            obj["latitude"] = json!(latitude);
            obj["longitude"] = json!(longitude);
            obj["name"] = json!(name);
            obj["address"] = json!(address);
        }
        InboundContent::FormReply { token, response } => {
            obj["form"] = Value::Object(response.clone());
            obj["token"] = json!(token);
        }
        InboundContent::AddressReply {
            values,
            saved_address_id,
        } => {
            obj["address"] = json!(values);
            obj["saved_address_id"] = json!(saved_address_id);
        }
        InboundContent::Media {
            url,
            media_id,
            mime_type,
            caption,
            filename,
            ..
        } => {
            obj["url"] = json!(url);
            obj["media_id"] = json!(media_id);
            obj["mime_type"] = json!(mime_type);
            obj["caption"] = json!(caption);
            obj["filename"] = json!(filename);
        }
        InboundContent::Reaction { message_id, emoji } => {
            // `emoji` is null when the customer removed their reaction.
            obj["emoji"] = json!(emoji);
            obj["reacted_to"] = json!(message_id);
        }
        InboundContent::Order {
            catalog_id, items, ..
        } => {
            obj["order"] = json!({ "catalog_id": catalog_id, "items": items });
        }
        InboundContent::Contacts { contacts } => {
            obj["contacts"] = json!(contacts);
        }
        InboundContent::Call(call) => {
            obj["call"] = call_view(call);
        }
        _ => {}
    }
    obj
}

/// A call as flows see it, in `message.call` and, in a flow a call started, `vars.call`.
pub fn call_view(call: &CallEvent) -> Value {
    json!({
        "id": call.call_id,
        "event": call.event.as_str(),
        "direction": call.direction,
        "status": call.status,
        "duration_seconds": call.duration_seconds,
        "start_time": call.start_time.map(|t| t.to_rfc3339()),
        "end_time": call.end_time.map(|t| t.to_rfc3339()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallDirection, CallPhase, MediaKind};
    use crate::flows::template::MESSAGE_KEYS;

    /// `parley check` refuses `{{ message.x }}` for an `x` outside `MESSAGE_KEYS`: every
    /// key a message of any kind has must be in it.
    #[test]
    fn every_key_a_message_has_is_one_check_knows() {
        let none = || None::<String>;
        let kinds = vec![
            InboundContent::Text { body: "hi".into() },
            InboundContent::ButtonReply {
                id: "a".into(),
                title: "A".into(),
            },
            InboundContent::ListReply {
                id: "a".into(),
                title: "A".into(),
                description: None,
            },
            InboundContent::QuickReply {
                payload: "a".into(),
                text: "A".into(),
            },
            InboundContent::Location {
                latitude: 1.0,
                longitude: 2.0,
                name: none(),
                address: none(),
                url: none(),
            },
            InboundContent::FormReply {
                token: none(),
                response: Map::new(),
            },
            InboundContent::AddressReply {
                values: Default::default(),
                saved_address_id: none(),
            },
            InboundContent::Media {
                media: MediaKind::Image,
                media_id: none(),
                url: none(),
                mime_type: none(),
                sha256: none(),
                caption: none(),
                filename: none(),
                voice: false,
            },
            InboundContent::Reaction {
                message_id: "m".into(),
                emoji: none(),
            },
            InboundContent::Order {
                catalog_id: none(),
                text: none(),
                items: Vec::new(),
            },
            InboundContent::Contacts {
                contacts: Vec::new(),
            },
            InboundContent::Call(CallEvent {
                call_id: "c".into(),
                event: CallPhase::Connect,
                direction: CallDirection::UserInitiated,
                status: None,
                duration_seconds: None,
                start_time: None,
                end_time: None,
            }),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for content in &kinds {
            let view = message_view(Some(content));
            for key in view.as_object().unwrap().keys() {
                assert!(
                    MESSAGE_KEYS.contains(&key.as_str()),
                    "message.{key} is not in MESSAGE_KEYS"
                );
                seen.insert(key.clone());
            }
        }
        // And none of MESSAGE_KEYS is a key no message has.
        for key in MESSAGE_KEYS {
            assert!(seen.contains(*key), "no message has `{key}`");
        }
    }
}
