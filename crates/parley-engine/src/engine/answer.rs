//! Checks an answer to an `ask` against what it expects and turns it into the value saved.

use crate::domain::{InboundContent, PhoneNumber};
use crate::flows::{normalize, Expect};
use serde_json::{json, Value};

/// `Ok(value)` to save, or `Err(default re-prompt text)`.
pub fn check(
    expect: &Expect,
    content: &InboundContent,
    offered: &[(String, String)],
) -> Result<Value, &'static str> {
    let text = content.text().map(str::trim).unwrap_or("");
    match expect {
        Expect::Address => match content {
            InboundContent::AddressReply {
                values,
                saved_address_id,
            } => {
                let mut v = json!(values);
                if let Some(id) = saved_address_id {
                    v["saved_address_id"] = json!(id);
                }
                Ok(v)
            }
            _ => Err("Please fill in the address form: tap its button."),
        },
        Expect::Text => match content {
            InboundContent::Text { body } if !body.trim().is_empty() => Ok(json!(body.trim())),
            _ if !text.is_empty() => Ok(json!(text)),
            _ => Err("Please answer with a text message."),
        },
        Expect::Number => {
            crate::domain::typed::number(text).ok_or("Please answer with a number, like 3 or 12.5.")
        }
        Expect::Email => crate::domain::typed::email(text).map(Value::String).ok_or(
            "That does not look like an email address. Please write it like name@example.com.",
        ),
        // The rule the API applies to numbers typed by people (`parse_strict`): a number
        // saved here is one the API and the flows can send to.
        Expect::Phone => PhoneNumber::parse_strict(text)
            .map(|p| json!(p.as_e164()))
            .map_err(|_| "Please send a phone number with its country code, like +44 7911 123456."),
        Expect::Choice(choices) => {
            let folded = normalize(text);
            if let Some(c) = choices.iter().find(|c| normalize(c) == folded) {
                return Ok(json!(c));
            }
            match folded.parse::<usize>() {
                Ok(n) if (1..=choices.len()).contains(&n) => Ok(json!(choices[n - 1])),
                _ => Err("Please answer with one of the options."),
            }
        }
        Expect::Button => match content {
            // A tap on buttons or a list sent before the latest ones (still on the
            // customer's screen) answers nothing: only what was just offered counts.
            // With nothing recorded as offered (a state from before offers were kept),
            // any tap is taken.
            InboundContent::ButtonReply { id, .. } | InboundContent::ListReply { id, .. }
                if offered.is_empty() || offered.iter().any(|(o, _)| o == id) =>
            {
                Ok(json!(id))
            }
            InboundContent::ButtonReply { .. } | InboundContent::ListReply { .. } => {
                Err("Please tap one of the buttons.")
            }
            InboundContent::QuickReply { payload, .. } => Ok(json!(payload)),
            _ => {
                let folded = normalize(text);
                if let Some((id, _)) = offered
                    .iter()
                    .find(|(id, title)| normalize(title) == folded || normalize(id) == folded)
                {
                    return Ok(json!(id));
                }
                match folded.parse::<usize>() {
                    Ok(n) if (1..=offered.len()).contains(&n) => Ok(json!(offered[n - 1].0)),
                    _ => Err("Please tap one of the buttons."),
                }
            }
        },
        Expect::Regex(re) => {
            if !text.is_empty() && re.is_match(text) {
                Ok(json!(text))
            } else {
                Err("Sorry, that is not in the expected format. Please try again.")
            }
        }
        Expect::Media(kind) => match content {
            InboundContent::Media {
                media,
                media_id,
                url,
                mime_type,
                caption,
                filename,
                ..
            } if kind.is_none_or(|k| k == *media) => Ok(json!({
                "type": media.as_str(), "media_id": media_id, "url": url,
                "mime_type": mime_type, "caption": caption, "filename": filename,
            })),
            _ => Err(match kind {
                Some(crate::domain::MediaKind::Image) => "Please send a photo.",
                Some(crate::domain::MediaKind::Document) => "Please send a document.",
                Some(crate::domain::MediaKind::Audio) => "Please send a voice note or audio file.",
                Some(crate::domain::MediaKind::Video) => "Please send a video.",
                _ => "Please send a photo, video, audio or document.",
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> InboundContent {
        InboundContent::Text { body: s.into() }
    }

    #[test]
    fn numbers_emails_phones() {
        assert_eq!(check(&Expect::Number, &text("12,5"), &[]), Ok(json!(12.5)));
        assert_eq!(check(&Expect::Number, &text("1,000"), &[]), Ok(json!(1000)));
        assert_eq!(check(&Expect::Number, &text(" 42 "), &[]), Ok(json!(42)));
        assert!(check(&Expect::Number, &text("many"), &[]).is_err());
        assert_eq!(
            check(&Expect::Email, &text("Ana@Example.com"), &[]),
            Ok(json!("ana@example.com"))
        );
        assert!(check(&Expect::Email, &text("ana@example"), &[]).is_err());
        assert!(check(&Expect::Email, &text("a na@example.com"), &[]).is_err());
        assert_eq!(
            check(&Expect::Phone, &text("+44 7911 123456"), &[]),
            Ok(json!("+447911123456"))
        );
        // E.164-shaped but outside their countries' numbering plans: the API refuses them
        // (422), so the step does too.
        for outside in ["+1 234 567 890", "+44 7700 900123", "+34 000 000 001"] {
            assert!(
                check(&Expect::Phone, &text(outside), &[]).is_err(),
                "{outside}"
            );
        }
    }

    #[test]
    fn choices_and_buttons_accept_typed_answers() {
        let choices = Expect::Choice(vec!["Small".into(), "Large".into()]);
        assert_eq!(check(&choices, &text("large!"), &[]), Ok(json!("Large")));
        assert_eq!(check(&choices, &text("1"), &[]), Ok(json!("Small")));
        assert!(check(&choices, &text("medium"), &[]).is_err());
        let offered = vec![("orders".to_string(), "My orders".to_string())];
        assert_eq!(
            check(&Expect::Button, &text("my orders"), &offered),
            Ok(json!("orders"))
        );
        let tap = InboundContent::ButtonReply {
            id: "orders".into(),
            title: "My orders".into(),
        };
        assert_eq!(check(&Expect::Button, &tap, &offered), Ok(json!("orders")));
    }

    /// A tap on an older message's buttons or list (still on the customer's screen) is
    /// not an answer to the buttons just sent: it asks again instead of saving it.
    #[test]
    fn a_tap_on_buttons_not_just_offered_is_asked_again() {
        let offered = vec![
            ("red".to_string(), "Red".to_string()),
            ("blue".to_string(), "Blue".to_string()),
        ];
        let stale_list = InboundContent::ListReply {
            id: "l".into(),
            title: "Large".into(),
            description: None,
        };
        assert_eq!(
            check(&Expect::Button, &stale_list, &offered),
            Err("Please tap one of the buttons.")
        );
        let forged = InboundContent::ButtonReply {
            id: "totally_fake".into(),
            title: "Red".into(),
        };
        assert!(check(&Expect::Button, &forged, &offered).is_err());
        let list = InboundContent::ListReply {
            id: "blue".into(),
            title: "Blue".into(),
            description: None,
        };
        assert_eq!(check(&Expect::Button, &list, &offered), Ok(json!("blue")));
        // Nothing recorded as offered: any tap is taken, as before offers were kept.
        assert_eq!(check(&Expect::Button, &stale_list, &[]), Ok(json!("l")));
    }
}
