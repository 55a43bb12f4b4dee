//! `${ENV_VAR}` substitution inside every string of the parsed YAML, so a secret can never
//! change the file's structure.
//!
//! A reference that cannot be resolved is reported with its key's path and left in the
//! string as written, so the rest of the file is still deserialized and validated and one
//! run reports every problem of the file.

use serde_yaml::Value;

/// A `${…}` that could not be resolved: the key's path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem {
    pub path: String,
    pub message: String,
    /// The variable is not set (rather than the reference written wrong).
    pub unset: bool,
}

/// Replaces every resolvable `${NAME}`; returns the references that could not be.
pub fn substitute(value: &mut Value, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<EnvProblem> {
    let mut problems = Vec::new();
    walk(value, String::new(), lookup, &mut problems);
    problems
}

fn walk(
    value: &mut Value,
    path: String,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<EnvProblem>,
) {
    match value {
        Value::String(s) if s.contains("${") => {
            let (expanded, errors) = expand(s, lookup);
            if errors.is_empty() {
                *s = expanded;
            }
            problems.extend(errors.into_iter().map(|(message, unset)| EnvProblem {
                path: path.clone(),
                message,
                unset,
            }));
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, format!("{path}[{i}]"), lookup, problems);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                walk(v, child, lookup, problems);
            }
        }
        Value::Tagged(t) => walk(&mut t.value, path, lookup, problems),
        _ => {}
    }
}

/// Replaces `${NAME}` with the variable's value; `$${` stays a literal `${`. Returns the
/// expanded text and every reference that could not be expanded, with whether it is only
/// unset.
fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, Vec<(String, bool)>) {
    let mut out = String::with_capacity(s.len());
    let mut errors = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                errors.push(("unclosed `${`: write `${NAME}`".to_string(), false));
                out.push_str(tail);
                rest = "";
                break;
            };
            let name = &after[..end];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                errors.push((
                    format!("`${{{name}}}` is not a valid environment variable name"),
                    false,
                ));
            } else {
                match lookup(name) {
                    Some(value) => out.push_str(&value),
                    None => errors.push((format!("environment variable {name} is not set"), true)),
                }
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    (out, errors)
}
