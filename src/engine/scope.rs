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
