//! What the word under the cursor names: hover's text (a key's reference, the step, flow
//! or template a value names, a blank's root or filter) and go to definition's place (the
//! step jumped to, the flow file, the template in the config, the script file).

use super::checker::KnownFlow;
use super::complete::{key_markdown, names_a_step};
use super::context::{line, path_above};
use super::names::step_ids;
use super::{Location, Pos};
use crate::config::Config;
use crate::studio::schema;
use std::path::{Path, PathBuf};

/// What the cursor is on.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A key written in the group at `path`.
    Key { path: Vec<String>, key: String },
    /// The value `value` of `key` (in the group at `path`).
    Value {
        path: Vec<String>,
        key: String,
        value: String,
    },
    /// A word inside a `{{ blank }}`: a root or a filter.
    Blank { word: String, filter: bool },
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// The word around column `column` (1-based) of `chars`: its start (0-based) and text.
fn word_at(chars: &[char], column: usize) -> Option<(usize, String)> {
    let at = column.saturating_sub(1).min(chars.len());
    let start = at
        - chars[..at]
            .iter()
            .rev()
            .take_while(|&&c| word_char(c))
            .count();
    let end = at + chars[at..].iter().take_while(|&&c| word_char(c)).count();
    (end > start).then(|| (start, chars[start..end].iter().collect()))
}

fn target(text: &str, at: Pos) -> Option<Target> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let row = at.line.checked_sub(1)?;
    let current = *lines.get(row)?;
    let chars: Vec<char> = current.chars().collect();
    let (start, word) = word_at(&chars, at.column)?;
    let before: String = chars[..start].iter().collect();
    if let Some(open) = before.rfind("{{") {
        if !before[open..].contains("}}") {
            let filter = before[open..].contains('|');
            let word = word.split('.').next().unwrap_or(&word).to_string();
            return Some(Target::Blank { word, filter });
        }
    }
    let l = line(current)?;
    let path = path_above(&lines, row, l.column)?;
    let key = l.key?;
    if start == l.column
        || (start == l.column + 1 && current[..].chars().nth(l.column) == Some('"'))
    {
        return Some(Target::Key {
            path,
            key: key.to_string(),
        });
    }
    // An inline group `{ goto_flow: x }`: the key before the word.
    let inner = before
        .rsplit(['{', ','])
        .next()
        .and_then(|part| part.trim().strip_suffix(':'))
        .map(|k| k.trim().to_string());
    let (path, key) = match inner {
        Some(k) if before.contains('{') && !k.is_empty() => {
            let mut path = path;
            path.push(key.to_string());
            (path, k)
        }
        _ => (path, key.to_string()),
    };
    Some(Target::Value {
        path,
        key,
        value: word,
    })
}

/// Markdown about the key the cursor is on in a flow test file (`*.test.yaml`).
pub fn hover_test(text: &str, at: Pos) -> Option<String> {
    match target(text, at)? {
        Target::Key { path, key } => {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            schema::test_key_docs(&path)
                .into_iter()
                .find(|d| d.key == key)
                .map(|d| key_markdown(&d))
        }
        _ => None,
    }
}

/// Markdown about what the cursor is on.
pub fn hover(config: &Config, flows: &[KnownFlow], text: &str, at: Pos) -> Option<String> {
    match target(text, at)? {
        Target::Key { path, key } => {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            schema::key_doc(&path, &key).map(|d| key_markdown(&d))
        }
        Target::Value { path, key, value } if names_a_step(&path, &key) => {
            let step = step_ids(text).into_iter().find(|s| s.id == value)?;
            Some(format!(
                "Step `{}`: `{}`, line {}",
                step.id,
                step.kind.as_deref().unwrap_or("step"),
                step.at.line
            ))
        }
        Target::Value { key, value, .. } if key == "goto_flow" => {
            let flow = flows.iter().find(|f| f.id == value)?;
            let mut out = format!("Flow `{}` ({})", flow.id, flow.path.display());
            if let Some(d) = &flow.description {
                out.push_str(&format!("\n\n{d}"));
            }
            Some(out)
        }
        Target::Value { key, value, .. } if key == "template" => {
            let t = config.templates.iter().find(|t| t.name == value)?;
            Some(format!(
                "Template `{}` ({}, {})\n\n{}",
                t.name,
                t.language,
                t.status.as_str(),
                t.body
            ))
        }
        Target::Value { .. } => None,
        Target::Blank { word, filter: true } => {
            crate::flows::keys::Filter::parse(&word)?;
            Some(format!("Filter `{word}` (see the reference's \"Text with blanks\")"))
        }
        Target::Blank { word, filter: false } => match word.as_str() {
            "contact" => Some("`contact`: the customer (`name`, `phone`, `tags`, details saved with `set`)".into()),
            "vars" => Some("`vars`: values saved during this conversation (`ask`, `set`, `http`, a regex trigger)".into()),
            "message" => Some("`message`: what the customer just wrote (`message.text`, `message.type`…)".into()),
            "now" => Some("`now`: the time the step runs, in UTC".into()),
            _ => None,
        },
    }
}

/// Where what the cursor is on is defined.
pub fn definition(
    config: &Config,
    config_file: Option<&Path>,
    flows: &[KnownFlow],
    path: &Path,
    text: &str,
    at: Pos,
) -> Option<Location> {
    let Target::Value {
        path: keys,
        key,
        value,
    } = target(text, at)?
    else {
        return None;
    };
    if names_a_step(&keys, &key) {
        let step = step_ids(text).into_iter().find(|s| s.id == value)?;
        return Some(Location {
            path: path.to_path_buf(),
            line: step.at.line,
            column: step.at.column,
        });
    }
    match key.as_str() {
        "goto_flow" => flows.iter().find(|f| f.id == value).map(|f| Location {
            path: f.path.clone(),
            line: f.line,
            column: f.column,
        }),
        "template" => {
            config.templates.iter().find(|t| t.name == value)?;
            let file = config_file?;
            let text = crate::config::file_limits::read_limited(file).ok()?;
            let (row, column) = text.lines().enumerate().find_map(|(i, l)| {
                let c = l.find("name:")?;
                let rest = l[c + 5..].trim_start();
                let rest = rest.trim_start_matches(['"', '\'']);
                (rest.starts_with(&value)
                    && !rest[value.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
                .then(|| (i, l[..c].chars().count()))
            })?;
            Some(Location {
                path: file.to_path_buf(),
                line: row + 1,
                column: column + 1,
            })
        }
        "file" if keys.last().is_some_and(|k| k == "script") => {
            let file = PathBuf::from(&config.flows.scripts_dir).join(&value);
            file.is_file().then_some(Location {
                path: file,
                line: 1,
                column: 1,
            })
        }
        _ => None,
    }
}
