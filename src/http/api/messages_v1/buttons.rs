//! The interactive buttons of `POST /api/v1/messages/send-message` (seed 003): up to 3
//! reply buttons (ids of at most 256 characters, unique titles of at most 20) or one
//! website button (label of at most 20, http(s) URL), never both. Every violation is a 422 whose text names the field.

use crate::domain::ReplyButton;
use crate::http::api::body::{chars, Fields};
use serde_json::Value;

const MAX_BUTTONS: usize = crate::domain::limits::REPLY_BUTTONS_MAX;
const MAX_TITLE: usize = crate::domain::limits::BUTTON_TITLE_MAX;
const MAX_ID: usize = crate::domain::limits::BUTTON_ID_MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Buttons {
    Reply(Vec<ReplyButton>),
    Url { display_text: String, url: String },
}

fn text<'a>(v: &'a Value, field: &str) -> Result<&'a str, String> {
    match v {
        Value::String(s) if s.chars().any(char::is_control) => Err(format!(
            "{field} has a line break, a tab or another control character; write it on one line"
        )),
        Value::String(s) if !s.trim().is_empty() => Ok(s),
        Value::String(_) => Err(format!("{field} must not be empty")),
        Value::Null => Err(format!("{field} is required")),
        _ => Err(format!("{field} must be a string")),
    }
}

/// Reads `buttons` (already known to be an object) into one of the two kinds.
pub fn parse(b: &Fields) -> Result<Buttons, String> {
    let kind = b
        .opt_str("type")
        .map_err(|e| format!("buttons.{}", e.message))?;
    let has_reply = b.has("reply_buttons");
    let has_url = b.has("url_button");
    if has_reply && has_url {
        return Err("buttons carry either reply_buttons or a url_button, not both".to_string());
    }
    match kind {
        Some("reply") => {
            if has_url {
                return Err("buttons.url_button is only for type 'cta_url'".into());
            }
            let list = b
                .opt_array("reply_buttons")
                .map_err(|e| format!("buttons.{}", e.message))?
                .ok_or("buttons.reply_buttons is required when type is 'reply'")?;
            if list.is_empty() || list.len() > MAX_BUTTONS {
                return Err(format!(
                    "buttons.reply_buttons must have 1 to {MAX_BUTTONS} buttons, got {}",
                    list.len()
                ));
            }
            let mut buttons: Vec<ReplyButton> = Vec::with_capacity(list.len());
            for (i, item) in list.iter().enumerate() {
                let at = format!("buttons.reply_buttons[{i}]");
                let Value::Object(obj) = item else {
                    return Err(format!("{at} must be an object with id and title"));
                };
                let id = text(obj.get("id").unwrap_or(&Value::Null), &format!("{at}.id"))?;
                let title = text(
                    obj.get("title").unwrap_or(&Value::Null),
                    &format!("{at}.title"),
                )?;
                if chars(id) > MAX_ID {
                    return Err(format!("{at}.id must be at most {MAX_ID} characters"));
                }
                if chars(title) > MAX_TITLE {
                    return Err(format!(
                        "{at}.title must be at most {MAX_TITLE} characters, got {}",
                        chars(title)
                    ));
                }
                if buttons.iter().any(|b| b.title == title) {
                    return Err(format!(
                        "{at}.title `{title}` is used twice; titles must be unique"
                    ));
                }
                if buttons.iter().any(|b| b.id == id) {
                    return Err(format!("{at}.id `{id}` is used twice; ids must be unique"));
                }
                buttons.push(ReplyButton {
                    id: id.to_string(),
                    title: title.to_string(),
                });
            }
            Ok(Buttons::Reply(buttons))
        }
        Some("cta_url") => {
            if has_reply {
                return Err("buttons.reply_buttons is only for type 'reply'".into());
            }
            let u = b
                .opt_object("url_button")
                .map_err(|e| format!("buttons.{}", e.message))?
                .ok_or("buttons.url_button is required when type is 'cta_url'")?;
            let label = text(
                u.0.get("display_text").unwrap_or(&Value::Null),
                "buttons.url_button.display_text",
            )?;
            if chars(label) > MAX_TITLE {
                return Err(format!(
                    "buttons.url_button.display_text must be at most {MAX_TITLE} characters, got {}",
                    chars(label)
                ));
            }
            let url = text(
                u.0.get("url").unwrap_or(&Value::Null),
                "buttons.url_button.url",
            )?;
            let ok = reqwest::Url::parse(url.trim())
                .ok()
                .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
            if !ok {
                return Err("buttons.url_button.url must start with http:// or https://".into());
            }
            Ok(Buttons::Url {
                display_text: label.to_string(),
                url: url.trim().to_string(),
            })
        }
        Some(other) => Err(format!(
            "buttons.type must be 'reply' or 'cta_url', got '{other}'"
        )),
        None => Err("buttons.type is required ('reply' or 'cta_url')".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(v: Value) -> Result<Buttons, String> {
        let Value::Object(m) = v else { panic!() };
        parse(&Fields::object(m))
    }

    #[test]
    fn reply_buttons_follow_the_rules() {
        let ok = parse_json(json!({"type": "reply", "reply_buttons": [
            {"id": "yes", "title": "Yes, thanks"}, {"id": "no", "title": "No, I need help"}]}));
        assert!(matches!(ok, Ok(Buttons::Reply(b)) if b.len() == 2));
        for (body, says) in [
            (json!({"type": "reply", "reply_buttons": []}), "1 to 3"),
            (
                json!({"type": "reply", "reply_buttons": [{"id":"a","title":"A"},{"id":"b","title":"B"},{"id":"c","title":"C"},{"id":"d","title":"D"}]}),
                "1 to 3",
            ),
            (
                json!({"type": "reply", "reply_buttons": [{"id":"a","title":"Same"},{"id":"b","title":"Same"}]}),
                "unique",
            ),
            (
                json!({"type": "reply", "reply_buttons": [{"id":"a","title":"This title is far too long"}]}),
                "at most 20",
            ),
            (
                json!({"type": "reply", "reply_buttons": [{"id": "x".repeat(257),"title":"A"}]}),
                "at most 256",
            ),
            (
                json!({"type": "reply", "reply_buttons": [{"id":"a","title":"A"}], "url_button": {"display_text":"x","url":"https://a.b"}}),
                "not both",
            ),
            (
                json!({"type": "cta_url", "url_button": {"display_text":"Go","url":"ftp://a.b"}}),
                "http",
            ),
            (json!({"type": "cta_url"}), "required"),
            (json!({"type": "list"}), "'reply' or 'cta_url'"),
        ] {
            let err = parse_json(body.clone()).unwrap_err();
            assert!(err.contains(says), "{body}: {err}");
        }
    }
}
