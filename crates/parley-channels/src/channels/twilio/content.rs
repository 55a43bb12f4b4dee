//! Buttons and lists as real WhatsApp interactive messages on Twilio, through its Content
//! API: a `twilio/quick-reply` or `twilio/list-picker` content template is created once
//! (`POST {content_api_base}/v1/Content`) and sent by its `ContentSid` with the message's
//! text in `ContentVariables`.
//!
//! The template holds what stays the same from one send to the next (the options, the
//! list's button) and takes the text as the variable `{{1}}`, so a flow step with a
//! customer's name in its text still needs one template. Its SID is kept by a hash of the
//! template in a `ContentCache` (the database in a running daemon, so restarts and other
//! processes reuse it). Session-only templates need no WhatsApp approval.
//!
//! Where a message cannot be a template it goes as numbered text (`wire::message_form`):
//! a text with its header and footer over the 1,024 characters of a template body, an id
//! longer than Twilio's 200 characters, or a template Twilio refuses to create (HTTP 4xx).

use crate::domain::limits::{BODY_MAX, TWILIO_LIST_ITEM_ID_MAX};
use crate::domain::OutboundContent;
use async_trait::async_trait;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Where created Content SIDs are kept, by account and template hash.
#[async_trait]
pub trait ContentCache: Send + Sync + 'static {
    async fn get(&self, account_sid: &str, hash: &str) -> Result<Option<String>, String>;
    /// Keeps the first SID stored for a hash (another process may have created one too;
    /// both work).
    async fn put(&self, account_sid: &str, hash: &str, content_sid: &str) -> Result<(), String>;
}

/// A cache that lives as long as the process (tools and tests without a database).
#[derive(Default)]
pub struct MemoryContentCache(Mutex<HashMap<(String, String), String>>);

#[async_trait]
impl ContentCache for MemoryContentCache {
    async fn get(&self, account_sid: &str, hash: &str) -> Result<Option<String>, String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(map
            .get(&(account_sid.to_string(), hash.to_string()))
            .cloned())
    }

    async fn put(&self, account_sid: &str, hash: &str, content_sid: &str) -> Result<(), String> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry((account_sid.to_string(), hash.to_string()))
            .or_insert_with(|| content_sid.to_string());
        Ok(())
    }
}

/// A content template to create (or find by `hash`) and the variables of this send.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Interactive {
    /// Hex SHA-256 of `types`: the same options give the same template.
    pub hash: String,
    /// The body of `POST /v1/Content`.
    pub create: Value,
    /// `ContentVariables` of the send: `{"1": text}`.
    pub variables: Value,
}

/// The content template for buttons or a list; `None` when the message is not one or
/// cannot be one (it then goes as numbered text).
pub(super) fn interactive(content: &OutboundContent) -> Option<Interactive> {
    let (text, types) = match content {
        OutboundContent::Buttons {
            body,
            header,
            footer,
            buttons,
        } => {
            if buttons
                .iter()
                .any(|b| b.id.chars().count() > TWILIO_LIST_ITEM_ID_MAX)
            {
                return None;
            }
            let actions: Vec<Value> = buttons
                .iter()
                .map(|b| json!({ "title": b.title, "id": b.id }))
                .collect();
            (
                text(header, body, footer),
                json!({ "twilio/quick-reply": { "body": "{{1}}", "actions": actions } }),
            )
        }
        OutboundContent::List {
            body,
            header,
            footer,
            button,
            sections,
        } => {
            // A list picker has no sections: rows follow each other, titles dropped.
            let rows = sections.iter().flat_map(|s| s.rows.iter());
            if rows
                .clone()
                .any(|r| r.id.chars().count() > TWILIO_LIST_ITEM_ID_MAX)
            {
                return None;
            }
            let items: Vec<Value> = rows
                .map(|r| {
                    let mut item = json!({ "item": r.title, "id": r.id });
                    if let Some(d) = r.description.as_ref().filter(|d| !d.is_empty()) {
                        item["description"] = json!(d);
                    }
                    item
                })
                .collect();
            (
                text(header, body, footer),
                json!({ "twilio/list-picker": { "body": "{{1}}", "button": button, "items": items } }),
            )
        }
        _ => return None,
    };
    if text.chars().count() > BODY_MAX {
        return None;
    }
    let hash = hex::encode(Sha256::digest(types.to_string().as_bytes()));
    let create = json!({
        "friendly_name": format!("parley_{}", &hash[..16]),
        "language": "en",
        "variables": { "1": "text" },
        "types": types,
    });
    Some(Interactive {
        hash,
        create,
        variables: json!({ "1": text }),
    })
}

/// Quick replies and list pickers have only a body: a header and footer join it.
fn text(header: &Option<String>, body: &str, footer: &Option<String>) -> String {
    [header.as_deref(), Some(body), footer.as_deref()]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ListRow, ListSection, ReplyButton};

    fn buttons(body: &str) -> OutboundContent {
        OutboundContent::Buttons {
            body: body.into(),
            header: Some("Order #4821".into()),
            footer: None,
            buttons: vec![
                ReplyButton {
                    id: "yes".into(),
                    title: "Yes, thanks".into(),
                },
                ReplyButton {
                    id: "human".into(),
                    title: "Talk to a person".into(),
                },
            ],
        }
    }

    #[test]
    fn buttons_become_a_quick_reply_template_with_the_text_as_a_variable() {
        let i = interactive(&buttons("Did this help, Ana?")).unwrap();
        let create = serde_json::to_string_pretty(&i.create)
            .unwrap()
            .replace(&i.hash[..16], "HASH");
        insta::assert_snapshot!(create, @r#"
        {
          "friendly_name": "parley_HASH",
          "language": "en",
          "types": {
            "twilio/quick-reply": {
              "actions": [
                {
                  "id": "yes",
                  "title": "Yes, thanks"
                },
                {
                  "id": "human",
                  "title": "Talk to a person"
                }
              ],
              "body": "{{1}}"
            }
          },
          "variables": {
            "1": "text"
          }
        }
        "#);
        assert_eq!(
            i.variables,
            json!({ "1": "Order #4821\n\nDid this help, Ana?" })
        );
    }

    #[test]
    fn the_same_options_share_one_template_whatever_the_text() {
        let a = interactive(&buttons("Did this help, Ana?")).unwrap();
        let b = interactive(&buttons("Did this help, Bilal?")).unwrap();
        assert_eq!(a.hash, b.hash);
        assert_ne!(a.variables, b.variables);
    }

    #[test]
    fn a_list_becomes_a_list_picker_with_rows_across_sections() {
        let row = |id: &str, title: &str, d: Option<&str>| ListRow {
            id: id.into(),
            title: title.into(),
            description: d.map(Into::into),
        };
        let i = interactive(&OutboundContent::List {
            body: "Pick a slot".into(),
            header: None,
            footer: None,
            button: "Choose".into(),
            sections: vec![
                ListSection {
                    title: Some("Morning".into()),
                    rows: vec![row("m9", "09:00", Some("Dr. Lee"))],
                },
                ListSection {
                    title: None,
                    rows: vec![row("a2", "14:00", None)],
                },
            ],
        })
        .unwrap();
        assert_eq!(
            i.create["types"],
            json!({ "twilio/list-picker": { "body": "{{1}}", "button": "Choose", "items": [
                { "item": "09:00", "id": "m9", "description": "Dr. Lee" },
                { "item": "14:00", "id": "a2" }
            ] } })
        );
        assert_eq!(i.variables, json!({ "1": "Pick a slot" }));
    }

    #[test]
    fn what_a_template_cannot_carry_stays_numbered_text() {
        let mut long_id = buttons("Hi");
        if let OutboundContent::Buttons { buttons, .. } = &mut long_id {
            buttons[0].id = "x".repeat(TWILIO_LIST_ITEM_ID_MAX + 1);
        }
        assert_eq!(interactive(&long_id), None);
        assert_eq!(interactive(&buttons(&"a".repeat(BODY_MAX))), None);
        assert_eq!(
            interactive(&OutboundContent::Text {
                body: "hi".into(),
                preview_url: false
            }),
            None
        );
    }
}
