//! The names the flow compiler accepts, in one place for the tools that help people write
//! flows (the published JSON Schema, completion and hover in the studio and the language
//! server). These are the compiler's own tables, re-exported, not copies: a key added to
//! the compiler shows up in the schema, and the schema's tests fail until it is described.

pub use super::compile::agent::{AGENT_KEYS, BUDGET_KEYS, EXIT_KEYS};
pub use super::compile::agent_tools::{
    HANDOFF_KEYS as AGENT_HANDOFF_KEYS, SAVE_EXPECT, SAVE_KEYS, TOOL_KEYS,
};
pub use super::compile::content::CONTENT_KEYS;
pub use super::compile::guardrails::GUARDRAIL_KEYS;
pub use super::compile::steps::form::{FIELD_KEYS, FORM_KEYS};
pub use super::compile::steps::{
    Settings, StepKind, ASK_KEYS, EXPECT, HANDOFF_KEYS, HTTP_KEYS, SCRIPT_KEYS, STEP_KINDS,
    SWITCH_KEYS,
};
pub use super::compile::FLOW_KEYS;
pub use super::template::{Filter, MESSAGE_KEYS, ROOTS};
pub use super::triggers::compile::{CALL_EVENTS, KINDS as TRIGGER_KINDS, MESSAGE_TYPES};

/// The step kinds' names, in the order the reference lists them.
pub fn step_kind_names() -> impl Iterator<Item = &'static str> {
    STEP_KINDS.iter().map(|k| k.name)
}

/// The keys a step kind's group of settings may hold (`None`: the kind takes a single
/// value, like `goto: id`, or any names, like `set:`).
pub fn step_settings(kind: &str) -> Option<Vec<&'static str>> {
    let kind = STEP_KINDS.iter().find(|k| k.name == kind)?;
    match kind.settings {
        Settings::Only(lists) => Some(lists.iter().flat_map(|l| l.iter().copied()).collect()),
        Settings::None | Settings::Any => None,
    }
}
