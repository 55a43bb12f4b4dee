//! The one enumerator of a compiled flow's customer-facing texts (syntax.md's list): what
//! the checks count, what `parley translations export` writes, what the engine looks up.

use super::super::model::{ContentSpec, Flow, Op, Origin, SendSpec};
use super::super::problem::Pos;

/// One text a customer may read, where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextRef {
    pub text: String,
    /// Its line and column in the flow file when found within its step's lines, else the
    /// step's position.
    pub at: Pos,
    /// The compiled step it belongs to.
    pub step: usize,
    /// What it is: `send text`, `button title`, `ask retry_text`, …
    pub what: &'static str,
}

/// Every customer-facing text of `flow` (whose file's text is `source`), in step order. A
/// text with nothing to translate (only `{{ … }}` blanks, digits, signs) is left out; the
/// `language` step's language names are not texts (each is written in its own language).
pub fn texts(flow: &Flow, source: &str) -> Vec<TextRef> {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for (i, step) in flow.steps.iter().enumerate() {
        if step.origin == Origin::Added {
            continue;
        }
        let mut found: Vec<(&'static str, &str)> = Vec::new();
        step_texts(&step.op, &mut found);
        let mut used: Vec<Pos> = Vec::new();
        for (what, text) in found {
            if !translatable(text) {
                continue;
            }
            // Written with escapes (`\"`), the text is not in the file as it reads: its
            // start before the first escaped character still places it.
            let head: &str = text
                .lines()
                .next()
                .unwrap_or("")
                .split(['"', '\\', '\''])
                .next()
                .unwrap_or("");
            let at = locate(&lines, step.at, step.last_line, text, &used)
                .or_else(|| {
                    (head.trim().chars().count() >= 4)
                        .then(|| locate(&lines, step.at, step.last_line, head, &used))
                        .flatten()
                })
                .unwrap_or(step.at);
            used.push(at);
            out.push(TextRef {
                text: text.to_string(),
                at,
                step: i,
                what,
            });
        }
    }
    out
}

/// The distinct texts of `refs`, in the order first written.
pub fn distinct(refs: &[TextRef]) -> Vec<&TextRef> {
    let mut seen = std::collections::HashSet::new();
    refs.iter()
        .filter(|r| seen.insert(r.text.as_str()))
        .collect()
}

fn translatable(text: &str) -> bool {
    let mut rest = text;
    let mut outside = String::new();
    while let Some(start) = rest.find("{{") {
        outside.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    outside.push_str(rest);
    outside.chars().any(char::is_alphabetic)
}

/// Where `text` (its first line) is written between `from`'s line and `last`, not at a
/// place an earlier text of the step took.
fn locate(lines: &[&str], from: Pos, last: usize, text: &str, used: &[Pos]) -> Option<Pos> {
    let first = text.lines().next().filter(|l| !l.trim().is_empty())?;
    let first = first.trim();
    let end = last.max(from.line).min(lines.len());
    for n in from.line.max(1)..=end {
        let line = lines[n - 1];
        let mut offset = 0;
        while let Some(k) = line[offset..].find(first) {
            let byte = offset + k;
            let at = Pos {
                line: n,
                column: line[..byte].chars().count() + 1,
            };
            if !used.contains(&at) {
                return Some(at);
            }
            offset = byte + first.len().max(1);
            if offset >= line.len() {
                break;
            }
        }
    }
    None
}

fn step_texts<'a>(op: &'a Op, out: &mut Vec<(&'static str, &'a str)>) {
    match op {
        Op::Send(spec) => content(spec, out),
        Op::Ask(ask) => {
            if let Some(prompt) = &ask.prompt {
                if ask.sets_language {
                    // The language names are written each in its own language.
                    out.extend(body_of(&prompt.content).map(|b| ("language question", b)));
                } else {
                    content(prompt, out);
                }
            }
            if let Some(r) = &ask.retry_text {
                out.push(("ask retry_text", r));
            }
        }
        Op::Form(form) => content(&form.message, out),
        Op::Agent(agent) => {
            let opt = |o: &'a Option<String>| o.as_deref();
            out.extend(opt(&agent.opening).map(|t| ("agent opening", t)));
            out.extend(opt(&agent.on_error.say).map(|t| ("agent on_error say", t)));
            out.extend(opt(&agent.on_budget.say).map(|t| ("agent on_budget say", t)));
            if let Some(h) = &agent.tools.handoff {
                out.extend(opt(&h.message).map(|t| ("agent handoff message", t)));
            }
            out.extend(
                agent
                    .tools
                    .send_buttons
                    .iter()
                    .map(|(_, t)| ("agent button title", t.as_str())),
            );
        }
        Op::Handoff {
            message: Some(m), ..
        } => content(m, out),
        _ => {}
    }
}

fn body_of(c: &ContentSpec) -> Option<&str> {
    match c {
        ContentSpec::Text { body }
        | ContentSpec::Buttons { body, .. }
        | ContentSpec::List { body, .. }
        | ContentSpec::UrlButton { body, .. }
        | ContentSpec::LocationRequest { body }
        | ContentSpec::AddressRequest { body, .. } => Some(body),
        ContentSpec::Form(f) => Some(&f.body),
        _ => None,
    }
}

fn content<'a>(spec: &'a SendSpec, out: &mut Vec<(&'static str, &'a str)>) {
    let mut push = |what: &'static str, t: Option<&'a str>| {
        if let Some(t) = t {
            out.push((what, t));
        }
    };
    match &spec.content {
        ContentSpec::Text { body } => push("text", Some(body)),
        ContentSpec::Media { caption, .. } => push("caption", caption.as_deref()),
        ContentSpec::Location { name, address, .. } => {
            push("location name", name.as_deref());
            push("location address", address.as_deref());
        }
        ContentSpec::Buttons {
            body,
            header,
            footer,
            buttons,
        } => {
            push("header", header.as_deref());
            push("text", Some(body));
            push("footer", footer.as_deref());
            for (_, title) in buttons {
                push("button title", Some(title));
            }
        }
        ContentSpec::List {
            body,
            header,
            footer,
            button,
            sections,
        } => {
            push("header", header.as_deref());
            push("text", Some(body));
            push("footer", footer.as_deref());
            push("list button", Some(button));
            for (title, rows) in sections {
                push("list section title", title.as_deref());
                for (_, row, description) in rows {
                    push("list row title", Some(row));
                    push("list row description", description.as_deref());
                }
            }
        }
        ContentSpec::UrlButton {
            body,
            header,
            footer,
            text,
            ..
        } => {
            push("header", header.as_deref());
            push("text", Some(body));
            push("footer", footer.as_deref());
            push("url button text", Some(text));
        }
        ContentSpec::LocationRequest { body } => push("location request", Some(body)),
        ContentSpec::Form(f) => {
            push("form header", f.header.as_deref());
            push("form text", Some(&f.body));
            push("form footer", f.footer.as_deref());
        }
        ContentSpec::AddressRequest {
            body,
            header,
            footer,
            ..
        } => {
            push("address request header", header.as_deref());
            push("address request", Some(body));
            push("address request footer", footer.as_deref());
        }
        ContentSpec::Template(_) | ContentSpec::Reaction { .. } => {}
    }
}
