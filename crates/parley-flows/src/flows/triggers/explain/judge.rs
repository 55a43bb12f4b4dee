//! One trigger's verdict on one message: the rank it matched with (or would have), what it
//! compared and why, in the words `explain` shows. One function per kind of trigger.

use super::super::matcher::{MatchInput, Rank};
use crate::domain::InboundContent;
use crate::flows::model::{KeywordMode, Trigger, TriggerKind};
use crate::flows::normalize::normalize;

/// (rank it matched with, or would have; what it compared; matched; why).
type Judgement = (Option<Rank>, String, bool, String);

/// How trigger `t` judges the message (`text`: its normalised text).
pub(super) fn judge(t: &Trigger, input: &MatchInput<'_>, text: &str) -> Judgement {
    match &t.kind {
        TriggerKind::Keyword { words, mode } => keyword(words, *mode, text),
        TriggerKind::Regex { pattern, regex } => {
            regular_expression(pattern, regex, input.content.text().unwrap_or(""))
        }
        TriggerKind::Button { ids: list } | TriggerKind::QuickReply { payloads: list } => {
            tap(list, input.content)
        }
        TriggerKind::MessageType { kinds } => message_type(kinds, input.content),
        TriggerKind::Referral { source_ids } => referral(source_ids, input),
        TriggerKind::NewContact if !input.content.is_conversational() => (
            Some(Rank::NewContact),
            input.content.kind_name().into(),
            false,
            format!(
                "a {} is not a message to the bot: only a trigger naming it counts",
                input.content.kind_name()
            ),
        ),
        TriggerKind::NewContact => {
            if input.new_contact {
                (
                    Some(Rank::NewContact),
                    "first message".into(),
                    true,
                    "this is the contact's first message".into(),
                )
            } else {
                (
                    Some(Rank::NewContact),
                    "not the first message".into(),
                    false,
                    "the contact has written before".into(),
                )
            }
        }
        TriggerKind::Fallback if !input.content.is_conversational() => (
            Some(Rank::Fallback),
            input.content.kind_name().into(),
            false,
            format!(
                "a fallback answers what a customer says, not a {}",
                input.content.kind_name()
            ),
        ),
        TriggerKind::Fallback => (
            Some(Rank::Fallback),
            String::new(),
            true,
            "a fallback matches any message".into(),
        ),
        TriggerKind::WindowClosing { before } => (
            None,
            String::new(),
            false,
            format!(
                "started by the clock {} before the window closes, never by a message",
                humantime::format_duration(*before)
            ),
        ),
    }
}

/// A keyword trigger against the normalised `text`: the best rank any of its words reaches.
fn keyword(words: &[String], mode: KeywordMode, text: &str) -> Judgement {
    let nominal = match mode {
        KeywordMode::Whole => Rank::Whole,
        KeywordMode::FirstWord => Rank::FirstWord,
        KeywordMode::Contains => Rank::Contains,
    };
    if text.is_empty() {
        return (
            Some(nominal),
            String::new(),
            false,
            "the message has no text to compare with".into(),
        );
    }
    let first = text.split(' ').next().unwrap_or("");
    let padded = format!(" {text} ");
    let mut best: Option<(Rank, String)> = None;
    for w in words {
        let key = normalize(w);
        let hit = match mode {
            KeywordMode::Whole => (key == text).then_some(Rank::Whole),
            KeywordMode::FirstWord if key == text => Some(Rank::Whole),
            KeywordMode::FirstWord => (key == first).then_some(Rank::FirstWord),
            KeywordMode::Contains => {
                (!key.is_empty() && padded.contains(&format!(" {key} "))).then_some(Rank::Contains)
            }
        };
        if let Some(r) = hit {
            if best.as_ref().is_none_or(|(b, _)| r < *b) {
                best = Some((r, key));
            }
        }
    }
    let list = words
        .iter()
        .map(|w| format!("`{}`", normalize(w)))
        .collect::<Vec<_>>()
        .join(", ");
    let list = if words.len() == 1 {
        format!("keyword {list}")
    } else {
        format!("keywords {list}")
    };
    match best {
        Some((Rank::Whole, key)) => (
            Some(Rank::Whole),
            text.into(),
            true,
            format!("keyword `{key}` = the whole message"),
        ),
        Some((Rank::FirstWord, key)) => (
            Some(Rank::FirstWord),
            text.into(),
            true,
            format!("keyword `{key}` = first word `{first}`"),
        ),
        Some((r, key)) => (
            Some(r),
            text.into(),
            true,
            format!("keyword `{key}` appears in the message"),
        ),
        None => {
            let why = match mode {
                KeywordMode::Whole => {
                    format!("{list} ≠ the whole message `{text}`")
                }
                KeywordMode::FirstWord => {
                    format!("{list} ≠ first word `{first}` (nor the whole message)")
                }
                KeywordMode::Contains => {
                    format!("{list} not found as a word in `{text}`")
                }
            };
            (Some(nominal), text.into(), false, why)
        }
    }
}

/// A regex trigger against the message's `raw` text, with the named groups it would save.
fn regular_expression(pattern: &str, regex: &regex::Regex, raw: &str) -> Judgement {
    if raw.is_empty() {
        return (
            Some(Rank::Regex),
            String::new(),
            false,
            "the message has no text to compare with".into(),
        );
    }
    match regex.captures(raw) {
        Some(caps) => {
            let groups: Vec<String> = regex
                .capture_names()
                .flatten()
                .filter_map(|n| caps.name(n).map(|m| format!("{n} = {}", m.as_str())))
                .collect();
            let saved = if groups.is_empty() {
                String::new()
            } else {
                format!(" (saves {})", groups.join(", "))
            };
            (
                Some(Rank::Regex),
                raw.into(),
                true,
                format!("regex `{pattern}` matched `{}`{saved}", &caps[0]),
            )
        }
        None => (
            Some(Rank::Regex),
            raw.into(),
            false,
            format!("regex `{pattern}` did not match"),
        ),
    }
}

/// A button, list or quick-reply trigger against the id the customer tapped.
fn tap(list: &[String], content: &InboundContent) -> Judgement {
    match tapped_id(content) {
        None => (
            Some(Rank::Id),
            String::new(),
            false,
            "the message is not a button, list or quick-reply tap".into(),
        ),
        Some(id) if list.iter().any(|i| i == id) => (
            Some(Rank::Id),
            id.into(),
            true,
            format!("tapped id `{id}` is one of this trigger's ids"),
        ),
        Some(id) => (
            Some(Rank::Id),
            id.into(),
            false,
            format!("tapped id `{id}` ≠ {}", quoted(list)),
        ),
    }
}

/// A `type` trigger against the kind of message.
fn message_type(kinds: &[String], content: &InboundContent) -> Judgement {
    let kind = content.kind_name();
    let names = content.type_names();
    let hit = kinds.iter().any(|k| names.contains(&Some(k.as_str())));
    let why = if hit {
        format!("the message is of type `{kind}`")
    } else {
        format!("the message is of type `{kind}`, not {}", quoted(kinds))
    };
    (Some(Rank::Type), kind.into(), hit, why)
}

/// A `referral` trigger against the ad the message came from, if any.
fn referral(source_ids: &[String], input: &MatchInput<'_>) -> Judgement {
    match input.referral {
        None => (
            Some(Rank::Referral),
            String::new(),
            false,
            "the message did not come from a click-to-WhatsApp ad".into(),
        ),
        Some(r) => {
            let source = r.source_id.clone().unwrap_or_default();
            if source_ids.is_empty() || source_ids.contains(&source) {
                (
                    Some(Rank::Referral),
                    source,
                    true,
                    "the message came from a click-to-WhatsApp ad".into(),
                )
            } else {
                let why = format!("ad `{source}` ≠ {}", quoted(source_ids));
                (Some(Rank::Referral), source, false, why)
            }
        }
    }
}

pub(super) fn tapped_id(content: &InboundContent) -> Option<&str> {
    match content {
        InboundContent::ButtonReply { id, .. } | InboundContent::ListReply { id, .. } => {
            Some(id.as_str())
        }
        InboundContent::QuickReply { payload, .. } => Some(payload.as_str()),
        _ => None,
    }
}

fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
