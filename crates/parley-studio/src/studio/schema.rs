//! The flows' JSON Schema and the reference text of every key, for editors.
//!
//! Flow files are not read through serde: the compiler walks their YAML and checks each
//! group of settings against its own tables of keys (`flows::keys`). The schema is built
//! from those tables, with a description and an example of each key taken from the
//! README's flow reference (`schema/docs.rs`), so a key added to the compiler appears here,
//! and a test fails until it is described (the few groups the compiler checks against a
//! list written in place — a button, a list row, a location, a schedule… — are held equal
//! to its source by `tests/it/schema.rs`). Only the shape of a flow is checked here (which
//! keys go where, what kind of value each takes); what needs the rest of the project
//! (step ids, templates, models, blanks) is `parley check`'s.
//!
//! The same tree answers completion and hover ([`key_docs`], [`key_doc`]): given the keys
//! from the top of a flow file down to the group being written, the keys allowed there.
//! The config's schema ([`config_schema`]) is derived from the config's own serde types;
//! a flow test file's ([`flow_test_schema`]) is described in `schema/test_file.rs`.

mod docs;
mod json;
mod kinds;
mod places;
mod test_file;

pub use kinds::Place;
use std::sync::OnceLock;
pub use test_file::{reply_settings, test_key_docs, MODEL_STEPS, STEP_KINDS as TEST_STEP_KINDS};

/// A key that may be written at some place of a flow file, as an editor shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct KeyDoc {
    /// The key's name, like `save_as`.
    pub key: &'static str,
    /// What it means, in a sentence or two (Markdown).
    pub description: &'static str,
    /// How it is written, as YAML, like `save_as: email`.
    pub example: &'static str,
    /// What kind of value it takes, in words: "text", "a duration like 30s", "settings"…
    pub takes: &'static str,
    /// The words it takes when its value is one of a few (`expect:`'s `text`, `number`…);
    /// empty otherwise.
    pub choices: &'static [&'static str],
}

/// The JSON Schema (draft-07) of a flow file, built once.
pub fn flow_schema() -> serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(json::flow).clone()
}

/// The JSON Schema (draft-07) of a flow test file (`flows/tests/*.test.yaml`), built once.
pub fn flow_test_schema() -> serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(test_file::schema).clone()
}

/// The JSON Schema (draft-07) of the config file (`parley.yaml`), derived from the config's
/// serde types, built once.
pub fn config_schema() -> serde_json::Value {
    static SCHEMA: OnceLock<serde_json::Value> = OnceLock::new();
    SCHEMA.get_or_init(json::config).clone()
}

/// The schema files Parley publishes, by file name: `flow.schema.json`,
/// `flow-test.schema.json` and `config.schema.json` (what `parley schema DIR` writes,
/// `parley init` puts in a new project and `GET /schemas/<name>` serves).
pub fn schema_files() -> [(&'static str, serde_json::Value); 3] {
    [
        ("flow.schema.json", flow_schema()),
        ("flow-test.schema.json", flow_test_schema()),
        ("config.schema.json", config_schema()),
    ]
}

/// The place of a flow file reached by following `path`, the keys from the top of the
/// file down (list items are not named: the keys of a step under `steps:` are at
/// `["steps"]`, an `ask`'s settings at `["steps", "ask"]`, the steps under `then:` at
/// `["steps", "then"]`). Numbers and `-` in the path (list positions) are skipped. `None`
/// when the path leads nowhere a flow has named keys (under `set:`, say).
pub fn place_at(path: &[&str]) -> Option<Place> {
    let mut at = kinds::Next::Place(Place::Flow);
    for segment in path {
        if segment.is_empty() || *segment == "-" || segment.parse::<usize>().is_ok() {
            continue;
        }
        at = match at {
            kinds::Next::Place(place) => place.next(segment)?,
            // The author's own name (a case, a variable): its value is the group.
            kinds::Next::Named(place) => kinds::Next::Place(place),
        };
    }
    match at {
        kinds::Next::Place(place) => Some(place),
        kinds::Next::Named(_) => None,
    }
}

/// The keys that may be written in the group of settings at `path` (see [`place_at`]),
/// each with its description and example, in the reference's order. Empty when the path
/// leads nowhere with named keys.
pub fn key_docs(path: &[&str]) -> Vec<KeyDoc> {
    place_at(path).map(Place::key_docs).unwrap_or_default()
}

/// The description of `key` written in the group at `path` (hover), if it is one there.
pub fn key_doc(path: &[&str], key: &str) -> Option<KeyDoc> {
    key_docs(path).into_iter().find(|d| d.key == key)
}

#[cfg(test)]
mod tests;
