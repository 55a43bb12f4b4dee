//! What the engine did for one event, step by step, for the sandbox and flow tests: the
//! triggers it considered (with why), what it decided, the steps it ran, variables before
//! and after, the window, the replies with their fallbacks, timers and errors.
//!
//! Built only when asked for (`FlowEngine::handle_traced`); with tracing off the engine
//! does exactly what it did before and allocates nothing for it.

use super::library::Library;
use crate::domain::EventKind;
use crate::domain::{
    ConversationState, InboundContent, OutboundContent, Run, Wait, WindowFallback, WindowState,
};
use crate::flows::triggers::explain::Explanation;
use crate::flows::{Flow, Origin};
use serde::Serialize;
use serde_json::{Map, Value};

mod bound;
pub use bound::{ENTRY_MAX, TEXT_MAX};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Trace {
    /// What came in: `text "hi"`, `button_reply main_menu`, `timer ask_timeout`.
    pub event: String,
    /// Every trigger in precedence order with why it matched or not (messages only).
    pub triggers: Option<Explanation>,
    /// What the engine decided to do with the event, in words.
    pub decisions: Vec<String>,
    pub window: Option<WindowState>,
    /// The run before the event: `flow welcome, step 2 (line 17), waiting for an answer`.
    pub run_before: Option<String>,
    pub run_after: Option<String>,
    pub vars_before: Map<String, Value>,
    /// The run's variables after the event; when the run ended during it, its last ones.
    pub vars_after: Map<String, Value>,
    pub steps: Vec<TraceStep>,
    pub sends: Vec<TraceSend>,
    pub timers: Vec<String>,
    pub errors: Vec<String>,
    pub tags_added: Vec<String>,
    pub tags_removed: Vec<String>,
    /// Each language-model exchange of an `agent` step: the prompt as sent, the passages
    /// retrieved, the answer, its tool calls accepted or refused and why, tokens, cost and
    /// latency.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<TraceExchange>,
    /// The run's variables at its latest step, kept when the run ends.
    #[serde(skip)]
    pub(super) last_vars: Option<Map<String, Value>>,
}

/// A step that ran, named as its author finds it in the file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStep {
    pub flow: String,
    pub file: String,
    /// The step's number in the file's `steps:` list (1-based); for a step written inside
    /// another (its `then`, a case…), the number of that step.
    pub step: usize,
    /// Written inside step `step` rather than in the `steps:` list itself.
    pub nested: bool,
    pub line: usize,
    pub id: Option<String>,
    /// `send`, `ask`, `if`…
    pub op: &'static str,
}

impl TraceStep {
    /// `step 2 (line 17)`, or `line 28 (inside step 3)`.
    pub fn place(&self) -> String {
        if self.nested {
            format!("line {} (inside step {})", self.line, self.step)
        } else {
            format!("step {} (line {})", self.step, self.line)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSend {
    /// `text`, `buttons`, `template`…
    pub kind: &'static str,
    /// The message in one line: its text, or the template and its variables.
    pub summary: String,
    /// What happens if the window is closed when it leaves: `fail`, `skip` or
    /// `template <name>`.
    pub if_window_closed: String,
}

/// One model call of an `agent` step, as the sandbox shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TraceExchange {
    pub model: String,
    /// The system prompt as sent (scope, instructions, rules, passages).
    pub system: String,
    /// The conversation as sent: `customer: …`, `assistant: …`, `tool save: …`.
    pub messages: Vec<String>,
    /// The passages retrieved for this turn: `file (line n): text`.
    pub passages: Vec<String>,
    /// The answer's text (empty when it only called tools).
    pub answer: String,
    /// `save {"order_number":"A-12345"}: accepted` / `…: refused: why`.
    pub tool_calls: Vec<String>,
    /// `sent`, `refused: why`, or the error.
    pub outcome: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// US dollars.
    pub cost: f64,
    pub latency_ms: u64,
    /// The answer came from the record of an earlier try of this event (no new call).
    pub replayed: bool,
}

impl Trace {
    pub(super) fn begin(
        &mut self,
        input: &super::StepInput<'_>,
        state: &ConversationState,
        library: &Library,
    ) {
        self.event = match &input.event.kind {
            EventKind::Message(m) => {
                let content = &m.content;
                let detail = match content {
                    InboundContent::ButtonReply { id, title }
                    | InboundContent::ListReply { id, title, .. } => {
                        format!("id `{id}` «{title}»")
                    }
                    InboundContent::QuickReply { payload, text } => {
                        format!("payload `{payload}` «{text}»")
                    }
                    other => other.text().map(|t| format!("«{t}»")).unwrap_or_default(),
                };
                format!("{} {detail}", content.kind_name())
                    .trim_end()
                    .to_string()
            }
            EventKind::Timer(t) => format!("timer {}", t.timer.kind()),
        };
        self.window = Some(input.window.clone());
        self.run_before = describe_run(state, library);
        if let Some(run) = &state.run {
            self.vars_before = run.vars.clone();
        }
    }

    pub(super) fn finish(
        &mut self,
        state: &ConversationState,
        out: &super::StepOutput,
        library: &Library,
    ) {
        self.run_after = describe_run(state, library);
        self.vars_after = match &state.run {
            Some(run) => run.vars.clone(),
            None => self
                .last_vars
                .take()
                .unwrap_or_else(|| self.vars_before.clone()),
        };
        if let Some(p) = &out.contact_patch {
            self.tags_added = p.add_tags.clone();
            self.tags_removed = p.remove_tags.clone();
        }
    }

    /// Masks email addresses and long numbers everywhere the customer's words or values
    /// derived from them can show: what came in, the decisions, the variables, the
    /// replies, the errors (`guardrails.mask_personal_data`).
    /// `text` is the customer's message, whose folded form the trigger explanation shows.
    pub(super) fn mask_personal_data(&mut self, text: Option<&str>) {
        use crate::engine::guard::{mask_json, mask_personal_data};
        self.event = mask_personal_data(&self.event);
        if let Some(explained) = &mut self.triggers {
            // Folded, an address no longer reads as one: the masked message is folded again.
            let folded = crate::flows::normalize(&mask_personal_data(text.unwrap_or("")));
            let was = std::mem::replace(&mut explained.normalized, folded.clone());
            let mask = |s: &mut String| {
                if !was.is_empty() {
                    *s = s.replace(&was, &folded);
                }
                *s = mask_personal_data(s);
            };
            for v in &mut explained.verdicts {
                mask(&mut v.compared);
                mask(&mut v.why);
            }
            if let Some(n) = &mut explained.nearest {
                mask(&mut n.why);
            }
            mask(&mut explained.outcome);
        }
        for line in self.decisions.iter_mut().chain(self.errors.iter_mut()) {
            *line = mask_personal_data(line);
        }
        for value in self
            .vars_before
            .values_mut()
            .chain(self.vars_after.values_mut())
        {
            mask_json(value);
        }
        for send in &mut self.sends {
            send.summary = mask_personal_data(&send.summary);
        }
    }

    /// Notes a step that runs; the jumps the compiler added between lists are not shown.
    pub(super) fn step(&mut self, flow: &Flow, index: usize) {
        let Some(step) = flow.steps.get(index) else {
            return;
        };
        let (number, nested) = match step.origin {
            Origin::Top(n) => (n, false),
            Origin::Inside(n) => (n, true),
            Origin::Added => return,
        };
        self.steps.push(TraceStep {
            flow: flow.id.clone(),
            file: flow.file.clone(),
            step: number,
            nested,
            line: step.at.line,
            id: step.id.clone(),
            op: step.op.name(),
        });
    }

    pub(super) fn send(&mut self, content: &OutboundContent, fallback: &WindowFallback) {
        self.sends.push(TraceSend {
            kind: content.kind_name(),
            summary: summary(content),
            if_window_closed: match fallback {
                WindowFallback::Fail => "fail".into(),
                WindowFallback::Skip => "skip".into(),
                WindowFallback::Template(t) => format!("template {}", t.name),
            },
        });
    }
}

/// One line describing a message, as the sandbox and `simulate` show it.
pub fn summary(content: &OutboundContent) -> String {
    match content {
        OutboundContent::Text { body, .. } => body.clone(),
        OutboundContent::ThreadControl(action) => format!("[thread control: {}]", action.name()),
        OutboundContent::Media {
            media,
            link,
            caption,
            filename,
        } => {
            let extra = caption.as_deref().or(filename.as_deref()).unwrap_or("");
            format!("[{}] {link} {extra}", media.as_str())
                .trim_end()
                .to_string()
        }
        OutboundContent::Location {
            latitude,
            longitude,
            name,
            ..
        } => format!(
            "[location] {latitude},{longitude} {}",
            name.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_string(),
        OutboundContent::Buttons { body, buttons, .. } => {
            let titles: Vec<&str> = buttons.iter().map(|b| b.title.as_str()).collect();
            format!("{body} [{}]", titles.join(" | "))
        }
        OutboundContent::List { body, sections, .. } => {
            let rows: Vec<&str> = sections
                .iter()
                .flat_map(|s| s.rows.iter().map(|r| r.title.as_str()))
                .collect();
            format!("{body} [{}]", rows.join(" | "))
        }
        OutboundContent::UrlButton {
            body,
            display_text,
            url,
            ..
        } => format!("{body} [{display_text}: {url}]"),
        OutboundContent::Reaction { emoji, .. } if emoji.is_empty() => {
            "[reaction removed]".to_string()
        }
        OutboundContent::Reaction { emoji, .. } => format!("[reaction] {emoji}"),
        OutboundContent::LocationRequest { body } => format!("{body} [Send location]"),
        OutboundContent::Form(f) => format!("{} [form: {}]", f.body, f.cta),
        OutboundContent::AddressRequest { body, country, .. } => {
            format!("{body} [address form, {country}]")
        }
        OutboundContent::Template(t) => {
            let vars: Vec<String> = t
                .variables
                .iter()
                .map(|(k, v)| format!("{{{{{k}}}}}={v}"))
                .collect();
            format!("template {} ({}) {}", t.name, t.language, vars.join(" "))
                .trim_end()
                .to_string()
        }
    }
}

/// `flow welcome, step 2 (line 17), waiting for an answer`.
pub(super) fn describe_run(state: &ConversationState, library: &Library) -> Option<String> {
    if let Some(h) = &state.handoff {
        return Some(format!(
            "handed off to a person (flow {}){}",
            h.flow,
            h.until
                .map(|u| format!(" until {}", u.to_rfc3339()))
                .unwrap_or_default()
        ));
    }
    let run = state.run.as_ref()?;
    let flow = library.flow_version(&run.flow, run.version);
    Some(describe(run, flow.as_deref()))
}

/// A run in words, naming its step as the file does: `flow welcome, step 2 (line 17),
/// waiting for an answer`. `flow` is the version the run is on, if still loaded.
pub fn describe(run: &Run, flow: Option<&Flow>) -> String {
    let Some(flow) = flow else {
        return format!("flow {} (no longer loaded)", run.flow);
    };
    let place = flow.place(run.step);
    let wait = match &run.wait {
        Some(Wait::Answer { step, attempts }) => {
            let to = if *step == run.step {
                String::new()
            } else {
                format!(" to {}", flow.place(*step))
            };
            let retries = match attempts {
                0 => String::new(),
                1 => " (1 retry so far)".to_string(),
                n => format!(" ({n} retries so far)"),
            };
            format!(", waiting for an answer{to}{retries}")
        }
        Some(Wait::Delay { step }) if *step == run.step => ", waiting for a delay".to_string(),
        Some(Wait::Delay { step }) => format!(", waiting for the delay of {}", flow.place(*step)),
        Some(Wait::Agent { turns, .. }) => {
            format!(", the assistant holds the conversation ({turns} turns so far)")
        }
        Some(Wait::Form { step, .. }) if *step == run.step => {
            ", waiting for the form to be submitted".to_string()
        }
        Some(Wait::Form { step, .. }) => {
            format!(
                ", waiting for the form of {} to be submitted",
                flow.place(*step)
            )
        }
        None => String::new(),
    };
    format!("flow {}, {place}{wait}", run.flow)
}

#[cfg(test)]
mod tests;
