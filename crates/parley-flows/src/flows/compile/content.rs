//! Message content in `send`, `ask` and `handoff`, with WhatsApp's limits
//! (`domain::limits`) checked at load: text, caption and interactive body lengths; reply
//! buttons with unique titles; list rows; templates declared in the config, approved, with
//! exactly their placeholders.

use super::super::model::{ContentSpec, FallbackSpec, SendSpec, TemplateSpec};
use super::super::problem::{did_you_mean, Pos, Problems};
use super::super::yaml::{self, YamlNode};
use super::{blanks, LoadContext};
use crate::config::TemplateStatus;
use crate::domain::limits::{
    BODY_MAX, BUTTON_ID_MAX, BUTTON_TITLE_MAX, FOOTER_MAX, HEADER_MAX, LIST_ROWS_MAX,
    LOCATION_REQUEST_BODY_MAX, REPLY_BUTTONS_MAX, ROW_DESCRIPTION_MAX, ROW_TITLE_MAX, TEXT_MAX,
};
use crate::domain::MediaKind;
use marked_yaml::types::MarkedMappingNode;
use std::collections::{BTreeMap, HashSet};

mod interactive;
mod template;

pub(super) use interactive::buttons;
use interactive::*;
pub(super) use template::fallback;
pub use template::template;

pub const CONTENT_KEYS: &[&str] = &[
    "text",
    "buttons",
    "list",
    "url_button",
    "header",
    "footer",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "caption",
    "filename",
    "location",
    "template",
    "variables",
    "if_window_closed",
    "react",
    "location_request",
];

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `send: "Hello"` or `send: { text: …, buttons: … }`. `extra` are keys the caller handles.
pub fn send_spec(
    node: &YamlNode,
    extra: &[&str],
    what: &str,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<SendSpec> {
    if let YamlNode::Scalar(s) = node {
        blanks::check(node, ctx, problems);
        let body = s.as_str().to_string();
        check_len(&body, TEXT_MAX, "the text", yaml::pos(node), problems);
        check_not_blank(&body, what, yaml::pos(node), problems);
        return Some(SendSpec {
            content: ContentSpec::Text { body },
            if_window_closed: FallbackSpec::Undeclared,
        });
    }
    let map = yaml::as_map(node, what, problems)?;
    let mut allowed: Vec<&str> = CONTENT_KEYS.to_vec();
    allowed.extend_from_slice(extra);
    yaml::check_keys(map, &allowed, what, problems);
    let content = content(map, yaml::pos(node), what, ctx, problems)?;
    if let ContentSpec::Text { body } = &content {
        let at = map.get_node("text").map_or(yaml::pos(node), yaml::pos);
        check_not_blank(body, what, at, problems);
    }
    let if_window_closed = match map.get_node("if_window_closed") {
        None => FallbackSpec::Undeclared,
        Some(n) => fallback(n, ctx, problems)?,
    };
    if matches!(content, ContentSpec::Template(_))
        && !matches!(if_window_closed, FallbackSpec::Undeclared)
    {
        problems.warning(
            yaml::pos(map.get_node("if_window_closed")?),
            "a template can be sent whether the window is open or not, so `if_window_closed` is never used here",
            None,
        );
    }
    Some(SendSpec {
        content,
        if_window_closed,
    })
}

/// A text with nothing in it: WhatsApp refuses it, so it is an error here rather than a
/// failed send later.
pub fn check_not_blank(body: &str, what: &str, at: Pos, problems: &mut Problems) {
    if body.trim().is_empty() {
        problems.error(
            at,
            format!("{what} is empty: WhatsApp refuses a message with no text"),
            Some("write the text between the quotes, or leave the message out".into()),
        );
    }
}

/// A handoff's `timeout:`: a duration over zero (zero would hand the customer back at once).
pub fn handoff_timeout(node: &YamlNode, problems: &mut Problems) -> Option<std::time::Duration> {
    let d = yaml::as_duration(node, "`timeout`", problems)?;
    if d.is_zero() {
        problems.error(
            yaml::pos(node),
            "a handoff `timeout` of 0 gives the conversation back to the bot at once",
            Some("give the time a person has to answer, like `timeout: 4h`, or leave it out to wait until released".into()),
        );
        return None;
    }
    Some(d)
}

/// Whether a mapping carries message content (for `ask` and `handoff` questions).
pub fn has_content(map: &MarkedMappingNode) -> bool {
    [
        "text",
        "buttons",
        "list",
        "url_button",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "location_request",
        "template",
    ]
    .iter()
    .any(|k| map.get_node(k).is_some())
}

fn content(
    map: &MarkedMappingNode,
    at: Pos,
    what: &str,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
    blanks::check_keys(
        map,
        &[
            "text", "header", "footer", "caption", "filename", "image", "video", "audio",
            "document", "sticker",
        ],
        ctx,
        problems,
    );
    let s = |key: &str, problems: &mut Problems| -> Option<String> {
        map.get_node(key)
            .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
            .map(str::to_string)
    };
    let media: Vec<(&str, MediaKind)> = [
        ("image", MediaKind::Image),
        ("video", MediaKind::Video),
        ("audio", MediaKind::Audio),
        ("document", MediaKind::Document),
        ("sticker", MediaKind::Sticker),
    ]
    .into_iter()
    .filter(|(k, _)| map.get_node(k).is_some())
    .collect();
    let kinds = ["text", "location", "template", "react", "location_request"]
        .iter()
        .filter(|k| map.get_node(k).is_some())
        .count()
        + media.len();
    if kinds == 0 {
        problems.error(
            at,
            format!("{what} has nothing to send"),
            Some("add `text:`, a media (`image:`, `video:`, `audio:`, `document:`), `location:`, `location_request:`, `react:` or `template:`".into()),
        );
        return None;
    }
    if kinds > 1 {
        problems.error(
            at,
            format!("{what} has more than one kind of message"),
            Some("one message is either text (optionally with buttons or a list), one media, a location, a location request, a reaction or a template; use several steps to send several".into()),
        );
        return None;
    }
    if let Some(node) = map.get_node("react") {
        return reaction(node, at, ctx, problems);
    }
    if let Some(node) = map.get_node("location_request") {
        blanks::check(node, ctx, problems);
        let body = yaml::as_str(node, "`location_request`", problems)?.to_string();
        let body_at = yaml::pos(node);
        if body.trim().is_empty() {
            problems.error(
                body_at,
                "a location request needs a text that asks for the location",
                Some("like `location_request: \"Where shall we deliver?\"`".into()),
            );
        }
        check_len(
            &body,
            LOCATION_REQUEST_BODY_MAX,
            "the text of a location request",
            body_at,
            problems,
        );
        if map.get_node("header").is_some() || map.get_node("footer").is_some() {
            problems.error(
                at,
                "a location request has no `header` or `footer` on WhatsApp",
                None,
            );
        }
        twilio_note(
            body_at,
            |ids| {
                format!("on the Twilio sender(s) {ids} this location request goes out as its text alone: Twilio has no location request message (the customer shares a location with the attach button)")
            },
            ctx,
            problems,
        );
        return Some(ContentSpec::LocationRequest { body });
    }
    let header = s("header", problems);
    let footer = s("footer", problems);
    for (key, value, max) in [
        ("header", &header, HEADER_MAX),
        ("footer", &footer, FOOTER_MAX),
    ] {
        if let Some(v) = value {
            check_len(
                v,
                max,
                &format!("the {key}"),
                yaml::pos(map.get_node(key)?),
                problems,
            );
        }
    }
    if let Some((key, kind)) = media.first() {
        let node = map.get_node(key)?;
        let url = yaml::as_str(node, &format!("`{key}`"), problems)?.to_string();
        check_url(&url, yaml::pos(node), problems);
        let caption = s("caption", problems);
        if let Some(c) = &caption {
            if matches!(kind, MediaKind::Audio | MediaKind::Sticker) {
                problems.error(
                    yaml::pos(map.get_node("caption")?),
                    format!("WhatsApp does not show captions on {key} messages"),
                    None,
                );
            }
            check_len(
                c,
                BODY_MAX,
                "the caption",
                yaml::pos(map.get_node("caption")?),
                problems,
            );
        }
        let filename = s("filename", problems);
        if filename.is_some() && *kind != MediaKind::Document {
            problems.error(
                yaml::pos(map.get_node("filename")?),
                "only documents have a `filename`",
                None,
            );
        }
        return Some(ContentSpec::Media {
            media: *kind,
            url,
            caption,
            filename,
        });
    }
    if let Some(node) = map.get_node("location") {
        let loc = yaml::as_map(node, "`location`", problems)?;
        blanks::check_keys(loc, &["name", "address"], ctx, problems);
        yaml::check_keys(
            loc,
            &["latitude", "longitude", "name", "address"],
            "a location",
            problems,
        );
        let coord = |key: &str, limit: f64, problems: &mut Problems| -> Option<f64> {
            let n = loc.get_node(key);
            let Some(n) = n else {
                problems.error(
                    yaml::pos(node),
                    format!("the location needs a `{key}`"),
                    None,
                );
                return None;
            };
            let v = yaml::as_f64(n, &format!("`{key}`"), problems)?;
            if v.abs() > limit {
                problems.error(
                    yaml::pos(n),
                    format!("`{key}` must be between -{limit} and {limit}"),
                    None,
                );
            }
            Some(v)
        };
        let latitude = coord("latitude", 90.0, problems);
        let longitude = coord("longitude", 180.0, problems);
        let get = |key: &str, problems: &mut Problems| {
            loc.get_node(key)
                .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
                .map(str::to_string)
        };
        return Some(ContentSpec::Location {
            latitude: latitude?,
            longitude: longitude?,
            name: get("name", problems),
            address: get("address", problems),
        });
    }
    if let Some(node) = map.get_node("template") {
        return template(node, map.get_node("variables"), ctx, problems).map(ContentSpec::Template);
    }
    let body = s("text", problems)?;
    let body_at = yaml::pos(map.get_node("text")?);
    let interactive = ["buttons", "list", "url_button"]
        .iter()
        .filter(|k| map.get_node(k).is_some())
        .count();
    if interactive > 1 {
        problems.error(
            at,
            "a message has either `buttons`, a `list` or a `url_button`, not several",
            None,
        );
        return None;
    }
    if interactive == 0 {
        check_len(&body, TEXT_MAX, "the text", body_at, problems);
        if header.is_some() || footer.is_some() {
            problems.error(
                at,
                "`header` and `footer` go with `buttons`, `list` or `url_button`",
                None,
            );
        }
        return Some(ContentSpec::Text { body });
    }
    check_len(
        &body,
        BODY_MAX,
        "the text of a message with buttons or a list",
        body_at,
        problems,
    );
    if let Some(node) = map.get_node("buttons") {
        let buttons = buttons(node, problems)?;
        return Some(ContentSpec::Buttons {
            body,
            header,
            footer,
            buttons,
        });
    }
    if let Some(node) = map.get_node("url_button") {
        let m = yaml::as_map(node, "`url_button`", problems)?;
        blanks::check_keys(m, &["url"], ctx, problems);
        yaml::check_keys(m, &["text", "url"], "a url_button", problems);
        let text = m
            .get_node("text")
            .and_then(|n| yaml::as_str(n, "`text`", problems))
            .map(str::to_string);
        let url = m
            .get_node("url")
            .and_then(|n| yaml::as_str(n, "`url`", problems))
            .map(str::to_string);
        let (Some(text), Some(url)) = (text, url) else {
            problems.error(
                yaml::pos(node),
                "`url_button` needs `text` (the label) and `url`",
                None,
            );
            return None;
        };
        check_len(
            &text,
            BUTTON_TITLE_MAX,
            "the button label",
            yaml::pos(node),
            problems,
        );
        check_url(&url, yaml::pos(m.get_node("url")?), problems);
        return Some(ContentSpec::UrlButton {
            body,
            header,
            footer,
            text,
            url,
        });
    }
    let node = map.get_node("list")?;
    let (button, sections) = list(node, problems)?;
    Some(ContentSpec::List {
        body,
        header,
        footer,
        button,
        sections,
    })
}

pub(super) fn check_len(text: &str, max: usize, what: &str, at: Pos, problems: &mut Problems) {
    let n = chars(text);
    if n > max {
        let hint = if max >= BODY_MAX {
            "shorten it, or split it into several messages"
        } else {
            "shorten it"
        };
        problems.error(
            at,
            format!("{what} is {n} characters long; WhatsApp allows at most {max}"),
            Some(hint.into()),
        );
    }
}

fn check_url(url: &str, at: Pos, problems: &mut Problems) {
    let templated = url.trim_start().starts_with("{{");
    if !(templated || url.starts_with("https://") || url.starts_with("http://")) {
        problems.error(
            at,
            format!("`{url}` is not a web address"),
            Some("it must start with https:// or http://".into()),
        );
    }
}
