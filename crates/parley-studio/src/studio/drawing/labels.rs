//! The words on the drawing: a node's kind and short text, a trigger's label, a duration
//! as authors write it. Pure functions of the compiled flow.

use crate::flows::{
    AgentSpec, ContentSpec, Expect, KeywordMode, Op, SendSpec, SetTarget, Trigger, TriggerKind,
    ValueSpec,
};
use std::time::Duration;

/// The most characters of text a label shows (an ellipsis says there is more).
pub const LABEL_CHARS: usize = 48;

/// `ask: What is your name?`: the kind and what the step says or does, in one short line.
/// `goto` and `end` steps show the kind alone.
pub fn node_label(op: &Op, goto_name: impl FnOnce(usize) -> String) -> String {
    let text = match op {
        Op::Send(s) => content(&s.content),
        Op::Ask(a) => a
            .prompt
            .as_ref()
            .map(|p| content(&p.content))
            .unwrap_or_default(),
        Op::Form(f) => content(&f.message.content),
        Op::If { condition, .. } => condition.source.clone(),
        Op::Switch { on, .. } => on.source.clone(),
        Op::Split(split) => split
            .arms
            .iter()
            .map(|a| format!("{} {}", a.name, a.weight))
            .collect::<Vec<_>>()
            .join(" / "),
        Op::Set { assignments } => assignments
            .iter()
            .map(|(target, value)| format!("{} = {}", target_name(target), value_text(value)))
            .collect::<Vec<_>>()
            .join(", "),
        Op::Script { code, .. } => code.source.clone(),
        Op::Http(h) => format!("{} {}", h.method, h.url),
        Op::Agent(a) => agent_text(a),
        Op::Handoff { message, .. } => message
            .as_ref()
            .map(|m| content(&m.content))
            .unwrap_or_default(),
        Op::Goto(t) => goto_name(*t),
        Op::GotoFlow(f) => f.clone(),
        Op::Delay(d) => duration(*d),
        Op::Tag(tags) | Op::Untag(tags) => tags.join(", "),
        Op::End => String::new(),
    };
    let text = short(&text);
    if text.is_empty() {
        op.name().to_string()
    } else {
        format!("{}: {text}", op.name())
    }
}

fn target_name(target: &SetTarget) -> String {
    match target {
        SetTarget::Var(v) => v.clone(),
        SetTarget::ContactAttribute(a) => format!("contact.{a}"),
        SetTarget::ContactName => "contact.name".into(),
    }
}

fn value_text(value: &ValueSpec) -> String {
    match value {
        ValueSpec::Text(t) => t.clone(),
        ValueSpec::Value(v) => v.to_string(),
        ValueSpec::Expr(e) => format!("= {}", e.source),
    }
}

fn agent_text(a: &AgentSpec) -> String {
    a.scope
        .clone()
        .unwrap_or_else(|| format!("{} ({})", a.instructions, a.model))
}

/// What a message says, in words: its text, or what it is.
pub fn content(c: &ContentSpec) -> String {
    match c {
        ContentSpec::Text { body }
        | ContentSpec::Buttons { body, .. }
        | ContentSpec::List { body, .. }
        | ContentSpec::UrlButton { body, .. }
        | ContentSpec::LocationRequest { body }
        | ContentSpec::AddressRequest { body, .. } => body.clone(),
        ContentSpec::Media {
            media,
            url,
            caption,
            ..
        } => format!(
            "{} {}",
            media.as_str(),
            caption.clone().unwrap_or_else(|| url.clone())
        ),
        ContentSpec::Location { name, .. } => {
            format!("location {}", name.clone().unwrap_or_default())
        }
        ContentSpec::Template(t) => format!("template {}", t.name),
        ContentSpec::Reaction { emoji, .. } => format!("reaction {emoji}"),
        ContentSpec::Form(f) => f.body.clone(),
    }
}

/// The titles a customer can tap or type in answer to `prompt` (buttons, list rows), or the
/// choices an `ask` takes.
pub fn answers(expect: &Expect, prompt: Option<&SendSpec>) -> Vec<String> {
    if let Expect::Choice(choices) = expect {
        return choices.clone();
    }
    match prompt.map(|p| &p.content) {
        Some(ContentSpec::Buttons { buttons, .. }) => {
            buttons.iter().map(|(_, title)| title.clone()).collect()
        }
        Some(ContentSpec::List { sections, .. }) => sections
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|(_, title, _)| title.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

/// `keyword: hi, hello`, `button: buy`, `new contact`, `(interrupts)` when it fires inside
/// another flow too.
pub fn trigger(t: &Trigger) -> String {
    let text = match &t.kind {
        TriggerKind::Keyword { words, mode } => {
            let how = match mode {
                KeywordMode::Whole => " (whole message)",
                KeywordMode::FirstWord => "",
                KeywordMode::Contains => " (anywhere)",
            };
            format!("keyword: {}{how}", words.join(", "))
        }
        TriggerKind::Regex { pattern, .. } => format!("regex: {pattern}"),
        TriggerKind::Button { ids } => format!("button: {}", ids.join(", ")),
        TriggerKind::QuickReply { payloads } => format!("quick reply: {}", payloads.join(", ")),
        TriggerKind::MessageType { kinds } => format!("message: {}", kinds.join(", ")),
        TriggerKind::NewContact => "new contact".into(),
        TriggerKind::Referral { source_ids } if source_ids.is_empty() => "ad referral".into(),
        TriggerKind::Referral { source_ids } => format!("ad referral: {}", source_ids.join(", ")),
        TriggerKind::Fallback => "fallback".into(),
        TriggerKind::WindowClosing { before } => {
            format!("window closing: {} before", duration(*before))
        }
    };
    let text = short(&text);
    if t.interrupt {
        format!("{text} (interrupts)")
    } else {
        text
    }
}

/// `25h`, `90m`, `45s`, `2d`: durations as authors write them.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        format!("{}d", s / 86_400)
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// One line of at most `LABEL_CHARS` characters: spaces and line breaks folded, an
/// ellipsis when cut.
pub fn short(text: &str) -> String {
    let folded: Vec<&str> = text.split_whitespace().collect();
    let folded = folded.join(" ");
    if folded.chars().count() <= LABEL_CHARS {
        return folded;
    }
    let mut cut: String = folded.chars().take(LABEL_CHARS - 1).collect();
    cut.push('…');
    cut
}
