//! `triggers:`: what starts a flow.

use super::super::model::{KeywordMode, Trigger, TriggerKind};
use super::super::normalize::normalize;
use super::super::problem::{did_you_mean, Problems};
use super::super::yaml::{self, YamlNode};

pub const KINDS: &[&str] = &[
    "keyword",
    "regex",
    "button",
    "list",
    "quick_reply",
    "type",
    "new_contact",
    "referral",
    "fallback",
    "window_closing",
    "welcome",
    "call",
];
pub const MESSAGE_TYPES: &[&str] = &[
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "button_reply",
    "list_reply",
    "quick_reply",
    "reaction",
    "unsupported",
    "order",
    "contacts",
    "request_welcome",
    "call",
    "call:connect",
    "call:terminate",
    "form_reply",
    "address",
];
/// What `call:` may name: `true` (every event of a customer's call) or its events.
pub const CALL_EVENTS: &[&str] = &["connect", "terminate"];

pub fn compile(node: &YamlNode, problems: &mut Problems) -> Vec<Trigger> {
    let YamlNode::Sequence(seq) = node else {
        problems.error(
            yaml::pos(node),
            "`triggers` must be a list",
            Some("write each trigger on its own line starting with `- `, like `- keyword: [hi, hello]`".into()),
        );
        return Vec::new();
    };
    seq.iter().filter_map(|t| one(t, problems)).collect()
}

fn one(node: &YamlNode, problems: &mut Problems) -> Option<Trigger> {
    let map = yaml::as_map(node, "a trigger", problems)?;
    let kind_key = map.keys().find(|k| KINDS.contains(&k.as_str()));
    let Some(kind_key) = kind_key else {
        let first = map.keys().next();
        let hint = first
            .and_then(|k| did_you_mean(k.as_str(), KINDS))
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("a trigger is one of: {}", KINDS.join(", ")));
        problems.error(
            yaml::pos(node),
            "this trigger does not say what starts the flow",
            Some(hint),
        );
        return None;
    };
    let kind = kind_key.as_str();
    let allowed: &[&str] = match kind {
        "keyword" => &["keyword", "match", "interrupt"],
        _ => &[kind, "interrupt"],
    };
    let mut allowed_all: Vec<&str> = allowed.to_vec();
    allowed_all.retain(|k| !k.is_empty());
    yaml::check_keys(map, &allowed_all, &format!("a `{kind}` trigger"), problems);
    let value = map.get_node(kind)?;
    let at = yaml::scalar_pos(kind_key);
    let interrupt = map
        .get_node("interrupt")
        .and_then(|n| yaml::as_bool(n, "`interrupt`", problems))
        .unwrap_or(false);
    let kind = trigger_kind(kind, value, map, problems)?;
    Some(Trigger {
        kind,
        interrupt,
        at,
    })
}

/// What `kind: value` starts the flow on (`map`: the whole trigger, for `match:`); `None`
/// when it is switched off (`fallback: false`) or a problem was reported.
fn trigger_kind(
    kind: &str,
    value: &YamlNode,
    map: &marked_yaml::types::MarkedMappingNode,
    problems: &mut Problems,
) -> Option<TriggerKind> {
    Some(match kind {
        "keyword" => keyword(value, map, problems)?,
        "regex" => regular_expression(value, problems)?,
        "button" | "list" => TriggerKind::Button {
            ids: words(kind, value, problems),
        },
        "quick_reply" => TriggerKind::QuickReply {
            payloads: words(kind, value, problems),
        },
        "type" => message_types(value, problems),
        "new_contact" => {
            if !yaml::as_bool(value, "`new_contact`", problems)? {
                return None;
            }
            TriggerKind::NewContact
        }
        "referral" => {
            let source_ids = match value {
                YamlNode::Scalar(s) if matches!(s.as_str(), "true" | "yes") => Vec::new(),
                _ => words(kind, value, problems),
            };
            TriggerKind::Referral { source_ids }
        }
        "window_closing" => TriggerKind::WindowClosing {
            before: yaml::as_duration(value, "`window_closing`", problems)?,
        },
        "fallback" => {
            if !yaml::as_bool(value, "`fallback`", problems)? {
                return None;
            }
            TriggerKind::Fallback
        }
        // The customer opened the chat for the first time (Meta's `request_welcome`).
        "welcome" => {
            if !yaml::as_bool(value, "`welcome`", problems)? {
                return None;
            }
            TriggerKind::MessageType {
                kinds: vec!["request_welcome".into()],
            }
        }
        "call" => call(value, problems)?,
        _ => return None,
    })
}

/// The texts of a trigger's value: one or a list.
fn words(kind: &str, value: &YamlNode, problems: &mut Problems) -> Vec<String> {
    yaml::as_list(value)
        .into_iter()
        .filter_map(|n| yaml::as_str(n, &format!("each `{kind}` value"), problems))
        .map(str::to_string)
        .collect()
}

/// `keyword:` with its words and how a message matches them (`match:`).
fn keyword(
    value: &YamlNode,
    map: &marked_yaml::types::MarkedMappingNode,
    problems: &mut Problems,
) -> Option<TriggerKind> {
    let list = words("keyword", value, problems);
    for (w, n) in list.iter().zip(yaml::as_list(value)) {
        if normalize(w).is_empty() {
            problems.error(
                yaml::pos(n),
                format!("the keyword `{w}` has no letters or digits, so no message can match it"),
                None,
            );
        }
    }
    let mode = match map.get_node("match") {
        None => KeywordMode::FirstWord,
        Some(n) => {
            match yaml::as_str(n, "`match`", problems)? {
                "whole" | "exact" => KeywordMode::Whole,
                "first_word" => KeywordMode::FirstWord,
                "contains" => KeywordMode::Contains,
                other => {
                    problems.error(
                    yaml::pos(n),
                    format!("`match: {other}` is not a way to match keywords"),
                    Some("use `whole` (the whole message), `first_word` (the default) or `contains`".into()),
                );
                    return None;
                }
            }
        }
    };
    Some(TriggerKind::Keyword { words: list, mode })
}

/// `regex:`, compiled once, case-insensitive and bounded in size.
fn regular_expression(value: &YamlNode, problems: &mut Problems) -> Option<TriggerKind> {
    let pattern = yaml::as_str(value, "`regex`", problems)?.to_string();
    match regex::RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .size_limit(1 << 20)
        .build()
    {
        Ok(regex) => Some(TriggerKind::Regex { pattern, regex }),
        Err(e) => {
            let detail = e.to_string();
            let last = detail
                .lines()
                .last()
                .unwrap_or("")
                .trim()
                .trim_start_matches("error: ")
                .to_string();
            problems.error(
                yaml::pos(value),
                format!("the regular expression `{pattern}` is not valid: {last}"),
                Some(
                    "check brackets and backslashes; in YAML put the pattern in single quotes"
                        .into(),
                ),
            );
            None
        }
    }
}

/// `type:`, the kinds of message that start the flow, each checked against `MESSAGE_TYPES`.
fn message_types(value: &YamlNode, problems: &mut Problems) -> TriggerKind {
    let kinds = words("type", value, problems);
    for (k, n) in kinds.iter().zip(yaml::as_list(value)) {
        if !MESSAGE_TYPES.contains(&k.as_str()) {
            let hint = did_you_mean(k, MESSAGE_TYPES)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("message types: {}", MESSAGE_TYPES.join(", ")));
            problems.error(
                yaml::pos(n),
                format!("`{k}` is not a message type"),
                Some(hint),
            );
        }
    }
    TriggerKind::MessageType { kinds }
}

/// `call:`, a call the customer made: every event (`true`), or `connect` / `terminate`.
fn call(value: &YamlNode, problems: &mut Problems) -> Option<TriggerKind> {
    let kinds = match value {
        YamlNode::Scalar(s) if matches!(s.as_str(), "true" | "yes") => {
            vec!["call".to_string()]
        }
        YamlNode::Scalar(s) if matches!(s.as_str(), "false" | "no") => return None,
        _ => {
            let mut kinds = Vec::new();
            for (e, n) in words("call", value, problems)
                .iter()
                .zip(yaml::as_list(value))
            {
                if CALL_EVENTS.contains(&e.as_str()) {
                    kinds.push(format!("call:{e}"));
                } else {
                    problems.error(
                        yaml::pos(n),
                        format!("`{e}` is not a call event"),
                        Some("write `call: true` for every call event, or `call: connect` / `call: terminate`".into()),
                    );
                }
            }
            kinds
        }
    };
    Some(TriggerKind::MessageType { kinds })
}
