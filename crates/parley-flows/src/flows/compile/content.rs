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

pub(super) fn buttons(node: &YamlNode, problems: &mut Problems) -> Option<Vec<(String, String)>> {
    let items = yaml::as_list(node);
    let mut out = Vec::new();
    let mut titles = HashSet::new();
    let mut ids = HashSet::new();
    for item in &items {
        let (id, title) = match item {
            YamlNode::Scalar(s) => (s.as_str().to_string(), s.as_str().to_string()),
            other => {
                let m = yaml::as_map(other, "a button", problems)?;
                yaml::check_keys(m, &["id", "title"], "a button", problems);
                let title = m
                    .get_node("title")
                    .and_then(|n| yaml::as_str(n, "`title`", problems));
                let Some(title) = title else {
                    problems.error(yaml::pos(other), "each button needs a `title`", None);
                    continue;
                };
                let id = m
                    .get_node("id")
                    .and_then(|n| yaml::as_str(n, "`id`", problems))
                    .unwrap_or(title);
                (id.to_string(), title.to_string())
            }
        };
        let at = yaml::pos(item);
        check_len(&title, BUTTON_TITLE_MAX, "a button title", at, problems);
        check_len(&id, BUTTON_ID_MAX, "a button id", at, problems);
        if title.trim().is_empty() {
            problems.error(at, "a button title cannot be empty", None);
        }
        if !titles.insert(title.to_lowercase()) {
            problems.error(
                at,
                format!("two buttons are titled `{title}`"),
                Some("WhatsApp needs different titles".into()),
            );
        }
        if !ids.insert(id.clone()) {
            problems.error(at, format!("two buttons have the id `{id}`"), None);
        }
        out.push((id, title));
    }
    if out.is_empty() || items.len() > REPLY_BUTTONS_MAX {
        problems.error(
            yaml::pos(node),
            format!(
                "a message has 1 to {REPLY_BUTTONS_MAX} reply buttons, this one has {}",
                items.len()
            ),
            Some(format!(
                "for more choices use a `list` (up to {LIST_ROWS_MAX} rows)"
            )),
        );
        return None;
    }
    Some(out)
}

type Sections = Vec<super::super::model::ListSectionSpec>;

fn list(node: &YamlNode, problems: &mut Problems) -> Option<(String, Sections)> {
    let m = yaml::as_map(node, "`list`", problems)?;
    yaml::check_keys(m, &["button", "sections", "rows"], "a list", problems);
    let button = m
        .get_node("button")
        .and_then(|n| yaml::as_str(n, "`button`", problems))
        .map(str::to_string);
    let Some(button) = button else {
        problems.error(
            yaml::pos(node),
            "a list needs `button`: the label of the button that opens it",
            None,
        );
        return None;
    };
    check_len(
        &button,
        BUTTON_TITLE_MAX,
        "the list button label",
        yaml::pos(node),
        problems,
    );
    let mut sections = Vec::new();
    let section_nodes: Vec<(Option<String>, &YamlNode)> =
        match (m.get_node("sections"), m.get_node("rows")) {
            (Some(s), None) => yaml::as_list(s)
                .into_iter()
                .filter_map(|sec| {
                    let sm = yaml::as_map(sec, "a list section", problems)?;
                    yaml::check_keys(sm, &["title", "rows"], "a list section", problems);
                    let title = sm
                        .get_node("title")
                        .and_then(|n| yaml::as_str(n, "`title`", problems))
                        .map(str::to_string);
                    Some((title, sm.get_node("rows")?))
                })
                .collect(),
            (None, Some(r)) => vec![(None, r)],
            _ => {
                problems.error(
                    yaml::pos(node),
                    "a list needs `rows` (or `sections`, each with `rows`)",
                    None,
                );
                return None;
            }
        };
    let mut ids = HashSet::new();
    let mut total = 0;
    for (title, rows_node) in section_nodes {
        if let Some(t) = &title {
            check_len(
                t,
                ROW_TITLE_MAX,
                "a section title",
                yaml::pos(rows_node),
                problems,
            );
        }
        let mut rows = Vec::new();
        for row in yaml::as_list(rows_node) {
            total += 1;
            let (id, rtitle, desc) = match row {
                YamlNode::Scalar(s) => (s.as_str().to_string(), s.as_str().to_string(), None),
                other => {
                    let rm = yaml::as_map(other, "a list row", problems)?;
                    yaml::check_keys(rm, &["id", "title", "description"], "a list row", problems);
                    let rtitle = rm
                        .get_node("title")
                        .and_then(|n| yaml::as_str(n, "`title`", problems));
                    let Some(rtitle) = rtitle else {
                        problems.error(yaml::pos(other), "each list row needs a `title`", None);
                        continue;
                    };
                    let id = rm
                        .get_node("id")
                        .and_then(|n| yaml::as_str(n, "`id`", problems))
                        .unwrap_or(rtitle);
                    let desc = rm
                        .get_node("description")
                        .and_then(|n| yaml::as_str(n, "`description`", problems));
                    (id.to_string(), rtitle.to_string(), desc.map(str::to_string))
                }
            };
            let at = yaml::pos(row);
            check_len(&rtitle, ROW_TITLE_MAX, "a list row title", at, problems);
            if let Some(d) = &desc {
                check_len(
                    d,
                    ROW_DESCRIPTION_MAX,
                    "a list row description",
                    at,
                    problems,
                );
            }
            if !ids.insert(id.clone()) {
                problems.error(at, format!("two list rows have the id `{id}`"), None);
            }
            rows.push((id, rtitle, desc));
        }
        sections.push((title, rows));
    }
    if total == 0 || total > LIST_ROWS_MAX {
        problems.error(
            yaml::pos(node),
            format!("a list has 1 to {LIST_ROWS_MAX} rows in all, this one has {total}"),
            None,
        );
        return None;
    }
    Some((button, sections))
}

/// `react: "👍"` (to the customer's message being handled), `react: ""` (removes the
/// reaction), or `react: { emoji: "👍", message_id: "{{ vars.order_message }}" }`.
fn reaction(
    node: &YamlNode,
    at: Pos,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<ContentSpec> {
    let (emoji_node, message_id) = match node {
        YamlNode::Scalar(_) => {
            blanks::check(node, ctx, problems);
            (node, None)
        }
        other => {
            let m = yaml::as_map(other, "`react`", problems)?;
            yaml::check_keys(m, &["emoji", "message_id"], "a reaction", problems);
            blanks::check_keys(m, &["emoji", "message_id"], ctx, problems);
            let Some(emoji) = m.get_node("emoji") else {
                problems.error(
                    yaml::pos(other),
                    "`react` needs an `emoji` (an empty one removes the reaction)",
                    None,
                );
                return None;
            };
            let id = m
                .get_node("message_id")
                .and_then(|n| yaml::as_str(n, "`message_id`", problems))
                .map(str::to_string);
            (emoji, id)
        }
    };
    let emoji = yaml::as_str(emoji_node, "the reaction's emoji", problems)?.to_string();
    let templated = emoji.contains("{{");
    if !templated {
        if let Some(why) = crate::domain::limits::reaction_problem(&emoji) {
            problems.error(
                yaml::pos(emoji_node),
                why,
                Some(
                    "write one emoji, like `react: \"👍\"`, or `react: \"\"` to remove a reaction"
                        .into(),
                ),
            );
        }
    }
    if message_id.as_deref().is_some_and(|id| id.trim().is_empty()) {
        problems.error(
            at,
            "`message_id` is empty; leave it out to react to the customer's message",
            None,
        );
    }
    twilio_note(
        yaml::pos(node),
        |ids| {
            format!("on the Twilio sender(s) {ids} this reaction fails: Twilio's API cannot send WhatsApp reactions")
        },
        ctx,
        problems,
    );
    Some(ContentSpec::Reaction { emoji, message_id })
}

/// A warning when the deployment has Twilio senders, on which this content cannot go out
/// as written (flows are not bound to one sender, so this is not an error).
fn twilio_note(
    at: Pos,
    what: impl FnOnce(&str) -> String,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) {
    let Some(d) = ctx.deployment else { return };
    if d.twilio_sender_ids.is_empty() {
        return;
    }
    let ids = d
        .twilio_sender_ids
        .iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    problems.warning(at, what(&ids), None);
}

/// `template: name` with `variables`, checked against the config's templates.
pub fn template(
    node: &YamlNode,
    variables: Option<&YamlNode>,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<TemplateSpec> {
    let name = yaml::as_str(node, "`template`", problems)?;
    let at = yaml::pos(node);
    let Some(t) = ctx.templates.iter().find(|t| t.name == name) else {
        let names: Vec<&str> = ctx.templates.iter().map(|t| t.name.as_str()).collect();
        let hint = match did_you_mean(name, &names) {
            Some(s) => format!(
                "did you mean `{s}`? Templates are declared under `templates:` in the config"
            ),
            None => "declare it under `templates:` in the config, with its body and status".into(),
        };
        problems.error(
            at,
            format!("the template `{name}` is not declared in the config"),
            Some(hint),
        );
        return None;
    };
    if t.status != TemplateStatus::Approved {
        problems.error(
            at,
            format!(
                "the template `{name}` is {}, and WhatsApp only sends approved templates",
                t.status.as_str()
            ),
            Some("wait for Meta's approval and set `status: approved` in the config".into()),
        );
    }
    if t.category.is_none() {
        problems.warning(
            at,
            format!(
                "the template `{name}` has no category in the config, so if it is a marketing template Parley has no plan for WhatsApp's per-user marketing limit (131049) or a customer who stopped marketing (131050)"
            ),
            Some("add `category: marketing` (held back and resent a day or more later, skipped for customers who stopped marketing), `utility` or `authentication` to the template in the config".into()),
        );
    }
    let mut values = BTreeMap::new();
    if let Some(v) = variables {
        let m = yaml::as_map(v, "`variables`", problems)?;
        for (k, val) in m.iter() {
            blanks::check(val, ctx, problems);
            if let Some(text) = yaml::as_str(val, &format!("variable `{}`", k.as_str()), problems) {
                values.insert(k.as_str().to_string(), text.to_string());
            }
        }
    }
    let wanted = t.placeholders();
    let missing: Vec<&String> = wanted.iter().filter(|p| !values.contains_key(*p)).collect();
    let extra: Vec<&String> = values.keys().filter(|k| !wanted.contains(k)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let list = |v: &[&String]| {
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut msg = format!(
            "the template `{name}` has placeholders [{}]",
            list(&wanted.iter().collect::<Vec<_>>())
        );
        if !missing.is_empty() {
            msg.push_str(&format!("; `variables` is missing {}", list(&missing)));
        }
        if !extra.is_empty() {
            msg.push_str(&format!(
                "; `variables` has {} that the template does not use",
                list(&extra)
            ));
        }
        problems.error(
            variables.map(yaml::pos).unwrap_or(at),
            msg,
            Some(format!("the template's body is: {}", t.body)),
        );
    }
    Some(TemplateSpec {
        name: t.name.clone(),
        language: t.language.clone(),
        variables: values,
        quick_reply_payloads: Vec::new(),
        content_sid: t.twilio_content_sid.clone(),
    })
}

/// `if_window_closed: skip | fail | { template: name, variables: {…} }`
pub(super) fn fallback(
    node: &YamlNode,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<FallbackSpec> {
    match node {
        YamlNode::Scalar(s) => match s.as_str() {
            "skip" => Some(FallbackSpec::Skip),
            "fail" => Some(FallbackSpec::Fail),
            other => {
                problems.error(
                    yaml::pos(node),
                    format!("`if_window_closed: {other}` is not a choice"),
                    Some("use `skip`, `fail`, or `{ template: name, variables: {…} }`".into()),
                );
                None
            }
        },
        other => {
            let m = yaml::as_map(other, "`if_window_closed`", problems)?;
            yaml::check_keys(
                m,
                &["template", "variables"],
                "`if_window_closed`",
                problems,
            );
            let Some(t) = m.get_node("template") else {
                problems.error(
                    yaml::pos(other),
                    "`if_window_closed` needs a `template`",
                    None,
                );
                return None;
            };
            template(t, m.get_node("variables"), ctx, problems).map(FallbackSpec::Template)
        }
    }
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
