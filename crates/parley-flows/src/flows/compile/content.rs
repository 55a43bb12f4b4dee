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
mod media;
mod template;

pub(super) use interactive::buttons;
use interactive::*;
use media::{location, media_file};
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
    "language",
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
        return location_request(map, node, at, ctx, problems);
    }
    let header = text(map, "header", problems);
    let footer = text(map, "footer", problems);
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
        return media_file(map, key, *kind, problems);
    }
    if let Some(node) = map.get_node("location") {
        return location(node, ctx, problems);
    }
    if let Some(node) = map.get_node("template") {
        let language = map.get_node("language");
        return template(node, map.get_node("variables"), language, ctx, problems)
            .map(ContentSpec::Template);
    }
    text_message(map, at, header, footer, ctx, problems)
}

/// The text of setting `key`, if it is written (and is text).
fn text(map: &MarkedMappingNode, key: &str, problems: &mut Problems) -> Option<String> {
    map.get_node(key)
        .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
        .map(str::to_string)
}

/// `location_request: "Where shall we deliver?"`: a text and a button that shares the
/// customer's location.
fn location_request(
    map: &MarkedMappingNode,
    node: &YamlNode,
    at: Pos,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
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
    Some(ContentSpec::LocationRequest { body })
}

/// `text:`, alone or with one of `buttons`, a `list` or a `url_button` (which take a
/// `header` and a `footer`).
fn text_message(
    map: &MarkedMappingNode,
    at: Pos,
    header: Option<String>,
    footer: Option<String>,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
    let body = text(map, "text", problems)?;
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
        return url_button(node, body, header, footer, ctx, problems);
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

/// `url_button: { text: Track, url: https://… }`: one button that opens a web page.
fn url_button(
    node: &YamlNode,
    body: String,
    header: Option<String>,
    footer: Option<String>,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
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
    Some(ContentSpec::UrlButton {
        body,
        header,
        footer,
        text,
        url,
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
