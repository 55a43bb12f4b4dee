//! What each place of a flow file may hold: its keys (read from the compiler's tables
//! where it has one, `flows::keys`), each key's entry in the reference (`docs.rs`), and
//! where each key's value leads.

use super::docs::{self, Entry};
use super::kinds::{Next, Place};
use super::KeyDoc;
use crate::flows::keys;

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
            Place::Retrieval => list(crate::flows::retrieval::RETRIEVAL_KEYS),
            Place::Score => list(crate::flows::scoring::SCORE_KEYS),
            Place::ScoreBudget => list(crate::flows::scoring::SCORE_BUDGET_KEYS),
            Place::Language => keys::step_settings("language"),
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
                    choices: e.shape.choices(),
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
            Place::WebSource => "A web page or a sitemap the agent answers from",
            Place::Retrieval => {
                "How the agent's passages are found (BM25, with embeddings) and when a question counts as one its knowledge could not answer"
            }
            Place::Score => "A share of the agent's finished conversations judged by its rubric",
            Place::ScoreBudget => "What the judge may spend on this step in a day",
            Place::Button => "A reply button",
            Place::List => "A list of rows behind a button",
            Place::ListSection => "A section of a list",
            Place::ListRow => "A row of a list",
            Place::UrlButton => "A button that opens a web page",
            Place::Location => "A location",
            Place::Reaction => "A reaction to a message",
            Place::WindowFallback => "A template sent instead when the 24-hour window is closed",
            Place::Language => "The question of which language the customer wants",
            Place::SplitArm => "One arm of a split: its weight and where it goes",
        }
    }
}
