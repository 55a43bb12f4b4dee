//! The places of a flow file that hold named keys, the keys each may hold (read from the
//! compiler's tables where it has one, `flows::keys`) and the kind of value each key takes.

use super::docs::{self, Entry};
use super::KeyDoc;
use crate::flows::keys;

/// A group of settings in a flow file: the top of the file, a trigger, a step, an `ask`'s
/// settings, a button…
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// The top of a flow file.
    Flow,
    /// One of `triggers:`.
    Trigger,
    /// `schedule:`.
    Schedule,
    /// `schedule:`'s `audience:`.
    Audience,
    /// One step: its action, its `id`, and an `if`'s `then` and `else`.
    Step,
    /// What a `send` (or a handoff's `message`) sends, as settings.
    Send,
    /// An `ask`: its question (any `send` content) and what answer it expects.
    Ask,
    /// A `form` (a WhatsApp Flow).
    Form,
    /// One of a `form`'s `fields`.
    FormField,
    /// A `switch`.
    Switch,
    /// A `script` written as settings.
    Script,
    /// An `http` call.
    Http,
    /// A `handoff` written as settings.
    Handoff,
    /// An `agent`.
    Agent,
    /// An agent's `budget`.
    AgentBudget,
    /// An agent's `on_error` or `on_budget`.
    AgentExit,
    /// An agent's `tools`.
    AgentTools,
    /// One variable of an agent's `save` tool.
    AgentSave,
    /// An agent's `handoff` tool written as settings.
    AgentHandoff,
    /// An agent's `guardrails`.
    Guardrails,
    /// A reply button written as settings.
    Button,
    /// A `list` of rows.
    List,
    /// One of a list's `sections`.
    ListSection,
    /// One of a list's `rows` written as settings.
    ListRow,
    /// A `url_button`.
    UrlButton,
    /// A `location` sent.
    Location,
    /// A `react` written as settings.
    Reaction,
    /// `if_window_closed` with a template.
    WindowFallback,
}

/// Every place, for the tests and the schema's definitions.
pub(super) const ALL: &[Place] = &[
    Place::Flow,
    Place::Trigger,
    Place::Schedule,
    Place::Audience,
    Place::Step,
    Place::Send,
    Place::Ask,
    Place::Form,
    Place::FormField,
    Place::Switch,
    Place::Script,
    Place::Http,
    Place::Handoff,
    Place::Agent,
    Place::AgentBudget,
    Place::AgentExit,
    Place::AgentTools,
    Place::AgentSave,
    Place::AgentHandoff,
    Place::Guardrails,
    Place::Button,
    Place::List,
    Place::ListSection,
    Place::ListRow,
    Place::UrlButton,
    Place::Location,
    Place::Reaction,
    Place::WindowFallback,
];

/// The kind of value a key takes, as the schema checks it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Shape {
    /// A single value read as text (YAML's numbers and yes/no are text to the compiler).
    Text,
    /// A whole number.
    Int,
    /// A whole number from the first to the second.
    IntIn(i64, i64),
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A duration like `30s`, `10m`, `2h`, `1d`.
    Duration,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `true`, or nothing written (`handoff:` alone).
    Yes,
    /// Nothing written (`tools:` alone).
    Null,
    /// Anything (the compiler does not look inside, or looks at each kind itself).
    Any,
    /// Settings with any names, each a single value (`set:`, `variables:`, `headers:`).
    Values,
    /// The settings of a place.
    Group(Place),
    /// A list of this.
    ListOf(&'static Shape),
    /// This alone, or a list of it (`keyword: hi` or `keyword: [hi, hello]`).
    OneOrList(&'static Shape),
    /// Either of two.
    Either(&'static Shape, &'static Shape),
    /// Settings with any names, each of this (`cases:`, an agent's `save:`).
    Named(&'static Shape),
    /// Where to go: a step id, a step, or a list of steps.
    Jump,
}

impl Shape {
    /// The kind of value, in words, for completion's detail.
    pub(super) fn words(&self) -> &'static str {
        match self {
            Shape::Text => "text",
            Shape::Int => "a whole number",
            Shape::IntIn(..) => "a whole number in a range",
            Shape::Yes => "true, or nothing",
            Shape::Null => "nothing",
            Shape::Number => "a number",
            Shape::Bool => "true or false",
            Shape::Duration => "a duration like 30s, 10m, 2h or 1d",
            Shape::Choice(_) => "one of a few words",
            Shape::Any => "a value",
            Shape::Values => "names and values",
            Shape::Group(_) => "settings",
            Shape::ListOf(_) => "a list",
            Shape::OneOrList(_) => "one, or a list",
            Shape::Either(a, _) => a.words(),
            Shape::Named(_) => "names, each with settings",
            Shape::Jump => "a step id, a step, or a list of steps",
        }
    }

    /// Where a key of this shape leads, for following a path into it.
    fn next(&self) -> Option<Next> {
        match self {
            Shape::Group(p) => Some(Next::Place(*p)),
            Shape::ListOf(s) | Shape::OneOrList(s) => s.next(),
            Shape::Named(s) => match s.next()? {
                Next::Place(p) => Some(Next::Named(p)),
                Next::Named(_) => None,
            },
            Shape::Either(a, b) => a.next().or_else(|| b.next()),
            Shape::Jump => Some(Next::Place(Place::Step)),
            _ => None,
        }
    }
}

/// Where a key's value leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    /// To a group of settings.
    Place(Place),
    /// To names of the author's own (a `switch`'s cases, an agent's variables), each
    /// holding this group.
    Named(Place),
}

impl Place {
    /// The keys the compiler accepts here, from its own tables; `None` where it checks
    /// the keys with a list written inline (the reference's list is the schema's then).
    pub(super) fn loader_keys(self) -> Option<Vec<&'static str>> {
        let list = |l: &[&'static str]| Some(l.to_vec());
        match self {
            Place::Flow => list(keys::FLOW_KEYS),
            Place::Trigger => {
                let mut k = keys::TRIGGER_KINDS.to_vec();
                k.extend(["match", "interrupt"]);
                Some(k)
            }
            Place::Step => {
                let mut k = vec!["id"];
                k.extend(keys::step_kind_names());
                k.extend(["then", "else"]);
                Some(k)
            }
            Place::Send => list(keys::CONTENT_KEYS),
            Place::Ask => keys::step_settings("ask"),
            Place::Form => keys::step_settings("form"),
            Place::FormField => list(keys::FIELD_KEYS),
            Place::Switch => keys::step_settings("switch"),
            Place::Script => keys::step_settings("script"),
            Place::Http => keys::step_settings("http"),
            Place::Handoff => keys::step_settings("handoff"),
            Place::Agent => keys::step_settings("agent"),
            Place::AgentBudget => list(keys::BUDGET_KEYS),
            Place::AgentExit => list(keys::EXIT_KEYS),
            Place::AgentTools => list(keys::TOOL_KEYS),
            Place::AgentSave => list(keys::SAVE_KEYS),
            Place::AgentHandoff => list(keys::AGENT_HANDOFF_KEYS),
            Place::Guardrails => list(keys::GUARDRAIL_KEYS),
            _ => None,
        }
    }

    /// The keys written here, in the reference's order (the compiler's order where it
    /// has a table).
    pub(super) fn keys(self) -> Vec<&'static str> {
        match self.loader_keys() {
            Some(k) => k,
            None => docs::ENTRIES
                .iter()
                .filter(|e| e.place == self)
                .map(|e| e.key)
                .collect(),
        }
    }

    /// The reference's entry for `key` here. An `ask`'s question is `send` content, so its
    /// content keys read as `send`'s.
    pub(super) fn entry(self, key: &str) -> Option<&'static Entry> {
        let find = |place: Place| {
            docs::ENTRIES
                .iter()
                .find(|e| e.place == place && e.key == key)
        };
        find(self).or_else(|| match self {
            Place::Ask => find(Place::Send),
            _ => None,
        })
    }

    /// Where a key written here leads (`None`: its value has no named keys).
    pub(super) fn next(self, key: &str) -> Option<Next> {
        if !self.keys().contains(&key) {
            return None;
        }
        self.entry(key)?.shape.next()
    }

    /// The keys written here with their descriptions, in order.
    pub fn key_docs(self) -> Vec<KeyDoc> {
        self.keys()
            .into_iter()
            .filter_map(|k| {
                let e = self.entry(k)?;
                Some(KeyDoc {
                    key: e.key,
                    description: e.doc,
                    example: e.example,
                    takes: e.shape.words(),
                })
            })
            .collect()
    }

    /// What the place is, for the schema's titles.
    pub(super) fn title(self) -> &'static str {
        match self {
            Place::Flow => "A flow file",
            Place::Trigger => "A trigger: what starts the flow",
            Place::Schedule => "When a scheduled flow runs, and for whom",
            Place::Audience => "Who a scheduled flow reaches",
            Place::Step => "A step: one action, with an optional `id`",
            Place::Send => "A message",
            Place::Ask => "A question, and the answer it waits for",
            Place::Form => "A WhatsApp Flow (form) and the wait for its submission",
            Place::FormField => "A field the form returns",
            Place::Switch => "A choice of path by a value",
            Place::Script => "A Rhai script",
            Place::Http => "A call to a web service",
            Place::Handoff => "The conversation handed to a person",
            Place::Agent => "A language model answering within what you declare",
            Place::AgentBudget => "What an agent may spend per conversation",
            Place::AgentExit => "What an agent does on an error or at its budget",
            Place::AgentTools => "The only actions the agent's model may take",
            Place::AgentSave => "A variable the agent may save",
            Place::AgentHandoff => "The agent's handoff tool",
            Place::Guardrails => "Checks on every answer of the agent",
            Place::Button => "A reply button",
            Place::List => "A list of rows behind a button",
            Place::ListSection => "A section of a list",
            Place::ListRow => "A row of a list",
            Place::UrlButton => "A button that opens a web page",
            Place::Location => "A location",
            Place::Reaction => "A reaction to a message",
            Place::WindowFallback => "A template sent instead when the 24-hour window is closed",
        }
    }
}
