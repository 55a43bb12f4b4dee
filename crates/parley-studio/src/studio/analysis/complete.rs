//! What may be typed at the cursor: the keys the group of settings takes (with the
//! reference's words, from the schema), step kinds, step ids where a step is jumped to,
//! flow ids after `goto_flow`, the config's templates, the values a setting takes, and in
//! a `{{ blank }}` its roots, the variables saved before that line and the filters.

use super::checker::KnownFlow;
use super::context::{spot, Spot};
use super::names::{keys_beside, saved_before, step_ids};
use super::{Completion, CompletionKind, Completions, Pos};
use crate::config::Config;
use crate::flows::keys;
use crate::studio::schema;

/// The keys whose value is a step id of the same flow (`goto: ask_name`).
pub const JUMPS: &[&str] = &[
    "goto",
    "then",
    "else",
    "on_timeout",
    "on_invalid",
    "on_error",
    "default",
];

/// Whether the value of `key` at `path` names a step of this flow.
pub fn names_a_step(path: &[String], key: &str) -> bool {
    JUMPS.contains(&key) || path.last().is_some_and(|p| p == "cases")
}

/// What a blank's root holds, for its completion.
const ROOT_DOCS: &[(&str, &str)] = &[
    (
        "contact",
        "The customer: `name`, `phone`, `tags` and any detail saved with `set`.",
    ),
    (
        "vars",
        "Values saved during this conversation (`ask`, `set`, `http`, a regex trigger).",
    ),
    (
        "message",
        "What the customer just wrote (`message.text`, `message.type`…).",
    ),
    (
        "now",
        "The time the step runs, in UTC, like `2026-11-23T10:30:00+00:00`.",
    ),
];

const CONTACT_KEYS: &[(&str, &str)] = &[
    ("name", "the customer's WhatsApp name"),
    (
        "phone",
        "their number, like `+16315551181` (empty for a customer who hides it)",
    ),
    ("username", "their WhatsApp username, when known"),
    ("user_id", "their business-scoped user id, when known"),
    ("tags", "the contact's tags"),
    (
        "fields",
        "the details an import saved (`contact.fields.city`)",
    ),
];

const FILTER_DOCS: &[(&str, &str)] = &[
    (
        "default",
        "`| default: friend`: the text to use when the value is empty",
    ),
    ("upper", "the value in capitals"),
    ("lower", "the value in small letters"),
    ("trim", "the value without spaces at either end"),
    ("capitalize", "the value with a capital first letter"),
];

fn item(
    label: &str,
    kind: CompletionKind,
    detail: Option<String>,
    doc: Option<String>,
) -> Completion {
    Completion {
        label: label.to_string(),
        kind,
        detail,
        documentation: doc,
        insert: label.to_string(),
    }
}

/// A key's reference text as Markdown: what it means, what it takes, an example.
pub fn key_markdown(doc: &schema::KeyDoc) -> String {
    let mut out = format!("**`{}`** — {}\n\n{}", doc.key, doc.takes, doc.description);
    if !doc.example.is_empty() {
        out.push_str(&format!("\n\n```yaml\n{}\n```", doc.example));
    }
    out
}

/// The completions at `at` in `text`.
pub fn complete(config: &Config, flows: &[KnownFlow], text: &str, at: Pos) -> Completions {
    let (items, from) = match spot(text, at) {
        Spot::Key { path, word } => {
            // A key already written in the group is not offered again.
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            let step = schema::place_at(&path) == Some(schema::Place::Step);
            (
                keys_at(schema::key_docs(&path), step, text, word.from),
                word.from,
            )
        }
        Spot::Value { path, key, word } => (values(config, flows, text, &path, &key), word.from),
        Spot::Blank { path, word } => (blank(text, at, &path), word.from),
        Spot::Filter { word } => (
            FILTER_DOCS
                .iter()
                .map(|(f, d)| item(f, CompletionKind::Filter, None, Some(d.to_string())))
                .collect(),
            word.from,
        ),
        Spot::Text => (Vec::new(), at),
    };
    Completions { items, from }
}

/// The completions in a flow test file (`*.test.yaml`): the keys its schema allows where
/// the cursor is; its values are the author's own.
pub fn complete_test(text: &str, at: Pos) -> Completions {
    match spot(text, at) {
        Spot::Key { path, word } => {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            Completions {
                items: keys_at(schema::test_key_docs(&path), false, text, word.from),
                from: word.from,
            }
        }
        _ => Completions {
            items: Vec::new(),
            from: at,
        },
    }
}

/// `docs` as completions, less the keys already written in the group at `from` (`step`:
/// the group is a step of a flow, whose actions are step kinds).
fn keys_at(docs: Vec<schema::KeyDoc>, step: bool, text: &str, from: Pos) -> Vec<Completion> {
    let written = keys_beside(text, from);
    docs.iter()
        .filter(|doc| !written.iter().any(|w| w == doc.key))
        .map(|doc| {
            let kind = if step && keys::step_kind_names().any(|k| k == doc.key) {
                CompletionKind::Step
            } else {
                CompletionKind::Key
            };
            Completion {
                label: doc.key.to_string(),
                kind,
                detail: Some(doc.takes.to_string()),
                documentation: Some(key_markdown(doc)),
                insert: format!("{}: ", doc.key),
            }
        })
        .collect()
}

fn values(
    config: &Config,
    flows: &[KnownFlow],
    text: &str,
    path: &[String],
    key: &str,
) -> Vec<Completion> {
    let words = |list: &[&str], kind| -> Vec<Completion> {
        list.iter().map(|w| item(w, kind, None, None)).collect()
    };
    match key {
        _ if names_a_step(path, key) => step_ids(text)
            .into_iter()
            .map(|s| {
                let detail = format!(
                    "{} (line {})",
                    s.kind.as_deref().unwrap_or("step"),
                    s.at.line
                );
                item(&s.id, CompletionKind::StepId, Some(detail), None)
            })
            .collect(),
        "goto_flow" => flows
            .iter()
            .map(|f| {
                item(
                    &f.id,
                    CompletionKind::Flow,
                    Some(f.path.display().to_string()),
                    f.description.clone(),
                )
            })
            .collect(),
        "template" => config
            .templates
            .iter()
            .map(|t| {
                let detail = format!("{} · {}", t.language, t.status.as_str());
                item(
                    &t.name,
                    CompletionKind::Template,
                    Some(detail),
                    Some(t.body.clone()),
                )
            })
            .collect(),
        "language" => {
            let mut langs: Vec<&str> = config
                .templates
                .iter()
                .map(|t| t.language.as_str())
                .collect();
            langs.sort_unstable();
            langs.dedup();
            words(&langs, CompletionKind::Language)
        }
        "expect" => words(keys::EXPECT, CompletionKind::Value),
        "type" => words(keys::MESSAGE_TYPES, CompletionKind::Value),
        "model" => config
            .models
            .iter()
            .map(|m| item(&m.name, CompletionKind::Value, None, None))
            .collect(),
        "file" if path.last().is_some_and(|p| p == "script") => script_files(config),
        _ => boolean_or_nothing(path, key),
    }
}

/// `true`/`false` for the keys that take one.
fn boolean_or_nothing(path: &[String], key: &str) -> Vec<Completion> {
    let path: Vec<&str> = path.iter().map(String::as_str).collect();
    match schema::key_doc(&path, key) {
        Some(doc) if doc.takes.contains("true") => ["true", "false"]
            .iter()
            .map(|w| item(w, CompletionKind::Value, None, None))
            .collect(),
        _ => Vec::new(),
    }
}

/// The Rhai files of the scripts folder (its top level and one level down), by the name
/// a `script: { file: … }` gives them.
fn script_files(config: &Config) -> Vec<Completion> {
    let dir = std::path::Path::new(&config.flows.scripts_dir);
    let mut out = Vec::new();
    let mut walk = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = walk.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten().take(1000) {
            let p = e.path();
            if p.is_dir() && depth < 1 {
                walk.push((p, depth + 1));
            } else if p.extension().is_some_and(|x| x == "rhai") {
                if let Ok(name) = p.strip_prefix(dir) {
                    let name = name.to_string_lossy().replace('\\', "/");
                    out.push(item(
                        &name,
                        CompletionKind::Value,
                        Some("script".into()),
                        None,
                    ));
                }
            }
        }
    }
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

/// A blank's path: its roots, then what each root holds.
fn blank(text: &str, at: Pos, path: &str) -> Vec<Completion> {
    let parts: Vec<&str> = path.split('.').collect();
    match parts.as_slice() {
        [_] => ROOT_DOCS
            .iter()
            .map(|(r, d)| item(r, CompletionKind::Variable, None, Some(d.to_string())))
            .collect(),
        ["vars", _] => {
            let (vars, _) = saved_before(text, at.line.saturating_sub(1));
            vars.iter()
                .map(|v| {
                    item(
                        v,
                        CompletionKind::Variable,
                        Some("saved before this line".into()),
                        None,
                    )
                })
                .collect()
        }
        ["contact", _] => {
            let (_, saved) = saved_before(text, at.line.saturating_sub(1));
            let mut out: Vec<Completion> = CONTACT_KEYS
                .iter()
                .map(|(k, d)| item(k, CompletionKind::Variable, None, Some(d.to_string())))
                .collect();
            out.extend(saved.iter().map(|k| {
                item(
                    k,
                    CompletionKind::Variable,
                    Some("saved with `set`".into()),
                    None,
                )
            }));
            out
        }
        ["message", _] => keys::MESSAGE_KEYS
            .iter()
            .map(|k| item(k, CompletionKind::Variable, None, None))
            .collect(),
        _ => Vec::new(),
    }
}
