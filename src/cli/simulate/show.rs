//! How the terminal shows what the bot did: its replies (numbered choices, media, forms,
//! templates with their variables, what was not delivered), a turn's explanation, the
//! model calls, failed steps and handoffs of the events handled since the last look.

use crate::cli::driver::{Driver, Turn};
use crate::config::TemplateConfig;
use crate::domain::OutboundContent;
use crate::sandbox::traces::HandoffChange;
use crate::sandbox::view::SentMessage;
use chrono::{DateTime, Utc};
use std::io::Write;

/// A button or list row the customer can tap by typing its number.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub id: String,
    pub title: String,
    pub list: bool,
}

/// Prints what the events handled since the last call did beyond replying — the
/// customer's messages, the timers an `/advance` fired, a `/release` — whether or not
/// `--explain` is on: a step that failed (the flow's author must see it) and a handoff to
/// a person beginning or ending (or the bot's silence would be a mystery).
#[derive(Default)]
pub(super) struct EventLog {
    /// The last event printed.
    seen: Option<crate::store::Id>,
}

impl EventLog {
    pub(super) async fn print_new(
        &mut self,
        out: &mut impl Write,
        driver: &Driver,
        from: &str,
    ) -> anyhow::Result<()> {
        let Some(contact) = driver.contact(from).await? else {
            return Ok(());
        };
        let traces = driver
            .state
            .sandbox
            .traces
            .of_conversation(contact.conversation_id);
        let seen = self.seen;
        for t in traces
            .iter()
            .filter(|t| seen.is_none_or(|s| t.event_id > s))
        {
            for x in &t.trace.exchanges {
                writeln!(out, "  {}", exchange_line(x))?;
            }
            for e in &t.trace.errors {
                writeln!(out, "  ! a step failed: {e}")?;
            }
            match &t.handoff {
                Some(HandoffChange::Began { until, .. }) => {
                    let until = until
                        .map(|u| format!(" until {}", clock_time(u, driver.now())))
                        .unwrap_or_default();
                    writeln!(out, "(handed off to a person{until}: the bot stays silent; /release gives the conversation back)")?;
                }
                Some(HandoffChange::Released { .. }) => {
                    writeln!(out, "(released: the bot answers again)")?
                }
                Some(HandoffChange::TimedOut) => {
                    writeln!(out, "(the handoff's time ran out: the bot answers again)")?
                }
                None => {}
            }
            self.seen = Some(self.seen.map_or(t.event_id, |s| s.max(t.event_id)));
        }
        Ok(())
    }
}

/// One model call in a line: `· model `assistant`: 310 + 12 tokens, $0.000410, 850 ms;
/// tools: save accepted, tag refused`.
pub fn exchange_line(x: &crate::engine::trace::TraceExchange) -> String {
    let mut line = format!(
        "· model `{}`: {} + {} tokens, ${:.6}, {} ms",
        x.model, x.input_tokens, x.output_tokens, x.cost, x.latency_ms
    );
    if x.replayed {
        line.push_str(" (replayed from the record)");
    }
    if !x.tool_calls.is_empty() {
        let tools: Vec<String> = x
            .tool_calls
            .iter()
            .map(|c| {
                let name = c.split(' ').next().unwrap_or(c);
                let verdict = if c.ends_with(": accepted") {
                    "accepted"
                } else {
                    "refused"
                };
                format!("{name} {verdict}")
            })
            .collect();
        line.push_str(&format!("; tools: {}", tools.join(", ")));
    }
    if x.outcome.starts_with("refused") || x.outcome.contains("fail") {
        line.push_str(&format!("; {}", x.outcome));
    }
    line
}

/// `14:05 UTC`, with the date when it is not the day of `now`.
fn clock_time(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if at.date_naive() == now.date_naive() {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// Prints the bot's replies (and the explanation); returns the choices offered, if any.
pub(super) fn print_turn(
    out: &mut impl Write,
    turn: &Turn,
    templates: &[TemplateConfig],
    explain: bool,
    handed_off: bool,
) -> anyhow::Result<Option<Vec<Choice>>> {
    if explain {
        match &turn.trace {
            Some(t) => {
                if let Some(e) = &t.trace.triggers {
                    write!(out, "{}", e.render())?;
                }
                for d in &t.trace.decisions {
                    writeln!(out, "  · {d}")?;
                }
                for s in &t.trace.steps {
                    let which = if s.nested { "inside step" } else { "step" };
                    writeln!(
                        out,
                        "  · {}:{} {which} {}: {}",
                        s.file, s.line, s.step, s.op
                    )?;
                }
            }
            None if turn.injected.duplicate => writeln!(
                out,
                "  (the same message id again: deduplicated, nothing runs)"
            )?,
            None => writeln!(out, "  (no trace)")?,
        }
    }
    if turn.replies.is_empty() && handed_off {
        writeln!(
            out,
            "(no reply: a person has this conversation; /release gives it back to the bot)"
        )?;
    } else if turn.replies.is_empty() {
        writeln!(out, "(no reply)")?;
    }
    let mut offered = None;
    for m in &turn.replies {
        let (text, choices) = describe(m, templates);
        writeln!(out, "{text}")?;
        if !choices.is_empty() {
            offered = Some(choices);
        }
    }
    Ok(offered)
}

/// A reply as the terminal shows it, and the choices it offers.
pub fn describe(m: &SentMessage, templates: &[TemplateConfig]) -> (String, Vec<Choice>) {
    let mut choices = Vec::new();
    let mut text = match &m.content {
        OutboundContent::Text { body, .. } => format!("bot: {body}"),
        OutboundContent::ThreadControl(a) => format!("(thread control: {})", a.name()),
        OutboundContent::Media {
            media,
            link,
            caption,
            filename,
        } => {
            let extra = caption.as_deref().or(filename.as_deref()).unwrap_or("");
            format!("bot: [{}] {link}  {extra}", media.as_str())
                .trim_end()
                .to_string()
        }
        OutboundContent::Location {
            latitude,
            longitude,
            name,
            address,
        } => format!(
            "bot: [location] {latitude}, {longitude} {} {}",
            name.as_deref().unwrap_or(""),
            address.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_string(),
        OutboundContent::Buttons { body, buttons, .. } => {
            let mut s = format!("bot: {body}");
            for (i, b) in buttons.iter().enumerate() {
                s.push_str(&format!("\n  [{}] {}", i + 1, b.title));
                choices.push(Choice {
                    id: b.id.clone(),
                    title: b.title.clone(),
                    list: false,
                });
            }
            s
        }
        OutboundContent::List {
            body,
            button,
            sections,
            ..
        } => {
            let mut s = format!("bot: {body}\n  ({button})");
            for section in sections {
                if let Some(t) = &section.title {
                    s.push_str(&format!("\n  {t}"));
                }
                for r in &section.rows {
                    choices.push(Choice {
                        id: r.id.clone(),
                        title: r.title.clone(),
                        list: true,
                    });
                    let d = r
                        .description
                        .as_deref()
                        .map(|d| format!(" — {d}"))
                        .unwrap_or_default();
                    s.push_str(&format!("\n  [{}] {}{d}", choices.len(), r.title));
                }
            }
            s
        }
        OutboundContent::UrlButton {
            body,
            display_text,
            url,
            ..
        } => format!("bot: {body}\n  [link] {display_text} → {url}"),
        OutboundContent::Reaction { emoji, .. } if emoji.is_empty() => {
            "bot: [removed its reaction]".to_string()
        }
        OutboundContent::Reaction { emoji, .. } => format!("bot: [reacted {emoji}]"),
        OutboundContent::LocationRequest { body } => {
            format!("bot: {body}\n  [Send location]")
        }
        OutboundContent::Form(f) => {
            let mut s = format!("bot: {}\n  [form] {}", f.body, f.cta);
            for field in &f.fields {
                let required = if field.required { ", required" } else { "" };
                s.push_str(&format!(
                    "\n    {} ({}{required})",
                    field.label.as_deref().unwrap_or(&field.name),
                    serde_json::to_value(field.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                ));
            }
            s.push_str("\n  (fill it with /form name=value …)");
            s
        }
        OutboundContent::AddressRequest { body, country, .. } => format!(
            "bot: {body}\n  [address form, {country}] (answer with /address city=… in_pin_code=…)"
        ),
        OutboundContent::Template(t) => {
            let vars: Vec<String> = t
                .variables
                .iter()
                .map(|(k, v)| format!("{{{{{k}}}}} = {v}"))
                .collect();
            let body = templates
                .iter()
                .find(|c| c.name == t.name)
                .map(|c| {
                    let mut b = c.body.clone();
                    for (k, v) in &t.variables {
                        b = b.replace(&format!("{{{{{k}}}}}", k = k), v);
                    }
                    format!(": {b}")
                })
                .unwrap_or_default();
            format!(
                "bot: [template {} ({})] {}{body}",
                t.name,
                t.language,
                vars.join(", ")
            )
        }
    };
    match m.status {
        "failed" => text.push_str(&format!(
            "\n  ✗ not delivered: {} ({})",
            m.error_title.as_deref().unwrap_or("failed"),
            m.error_code.map(|c| c.to_string()).unwrap_or_default()
        )),
        "skipped" => text.push_str("\n  (skipped: the window had closed)"),
        _ => {}
    }
    if m.origin == "fallback" {
        text.push_str("\n  (sent instead of a free-form message: the window had closed)");
    }
    (text, choices)
}
