//! From config text to a `Config`, reporting every problem of the file in one run: YAML
//! syntax (with its place and, for the usual mistake, how to fix it), then `${ENV}`
//! references, the keys that do not deserialize and the checks of `Config::validate`,
//! together, each with its key's path.
//!
//! One bad key must not hide the others: when the whole file does not deserialize, each
//! top-level key (and each entry of a list such as `senders:`) is deserialized on its own
//! to find every bad one, and the file without them is validated for the rest.

use super::env;
use super::{Config, ConfigError};
use serde_yaml::{Mapping, Value};

/// Parses config text; `lookup` resolves `${NAME}` references.
pub(super) fn from_yaml(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    from_yaml_keeping(text, file, lookup, &|_| false)
}

/// As `from_yaml`; an unset variable in a key for which `keep_unset(path)` holds is no
/// problem: the key keeps the reference as written (`${META_ACCESS_TOKEN}`).
pub(super) fn from_yaml_keeping(
    text: &str,
    file: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    keep_unset: &dyn Fn(&str) -> bool,
) -> Result<Config, ConfigError> {
    // serde_yaml builds its tree recursively: refuse a too-deep file before it does.
    super::file_limits::check_nesting(text).map_err(|r| ConfigError::Refused {
        file: file.to_string(),
        line: r.line,
        column: r.column,
        message: r.message,
        hint: r.hint,
    })?;
    let mut value: Value = if text.trim().is_empty() {
        Value::Mapping(Default::default())
    } else {
        serde_yaml::from_str(text).map_err(|e| syntax_error(&e, text, file))?
    };
    if value.is_null() {
        value = Value::Mapping(Default::default());
    }
    let env_problems = env::substitute(&mut value, lookup);
    let (config, keys) = deserialize_each(value);
    let mut problems: Vec<String> = env_problems
        .iter()
        .filter(|p| !(p.unset && keep_unset(&p.path)))
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect();
    // A key whose `${…}` is unresolved still holds the reference's text: what deserialize
    // or validate say about it would only repeat the env problem.
    let covered = |message: &str| env_problems.iter().any(|p| is_under(message, &p.path));
    problems.extend(keys.problems.iter().filter(|m| !covered(m)).cloned());
    if let Some(config) = &config {
        problems.extend(
            config
                .validate()
                .into_iter()
                .map(|m| keys.original_index(m))
                .filter(|m| !covered(m) && !keys.failed.iter().any(|f| is_under(m, f))),
        );
    }
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid {
            file: file.to_string(),
            problems,
        }),
    }
}

/// Whether a problem (`path: message`) is about the key at `path` or one inside it.
fn is_under(problem: &str, path: &str) -> bool {
    !path.is_empty()
        && problem
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with([':', '.', '[']))
}

/// What deserializing key by key found.
#[derive(Default)]
struct KeyProblems {
    /// `path: message` of each key that does not deserialize.
    problems: Vec<String>,
    /// The paths of those keys (`listen`, `senders[2]`).
    failed: Vec<String>,
    /// Per list whose bad entries were left out: the original index of each kept entry.
    kept: Vec<(String, Vec<usize>)>,
}

impl KeyProblems {
    /// A problem about the file without its bad list entries, with the entries' indices
    /// as they are in the file (`senders[1]` was `senders[2]` when `senders[1]` was left out).
    fn original_index(&self, problem: String) -> String {
        for (key, kept) in &self.kept {
            let Some(rest) = problem
                .strip_prefix(key.as_str())
                .and_then(|r| r.strip_prefix('['))
            else {
                continue;
            };
            let Some(end) = rest.find(']') else { continue };
            if let Some(&orig) = rest[..end].parse::<usize>().ok().and_then(|i| kept.get(i)) {
                return format!("{key}[{orig}]{}", &rest[end + 1..]);
            }
        }
        problem
    }
}

/// The config, and every key that does not deserialize. The config is that of the file
/// without its bad keys (documented defaults in their place), for `validate`; `None` when
/// even that fails.
fn deserialize_each(value: Value) -> (Option<Config>, KeyProblems) {
    let whole = match deserialize(value.clone()) {
        Ok(config) => return (Some(config), KeyProblems::default()),
        Err(problem) => problem,
    };
    let Value::Mapping(map) = value else {
        return (
            None,
            KeyProblems {
                problems: vec![whole.1],
                ..Default::default()
            },
        );
    };
    let mut found = KeyProblems::default();
    let mut clean = Mapping::new();
    for (k, v) in map {
        let key = match &k {
            Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        let (path, message) = match deserialize(single(k.clone(), v.clone())) {
            Ok(_) => {
                clean.insert(k, v);
                continue;
            }
            Err(problem) => problem,
        };
        let entry = format!("{key}[");
        let Value::Sequence(items) = v else {
            found.failed.push(path);
            found.problems.push(message);
            continue;
        };
        if !path.starts_with(&entry) {
            found.failed.push(path);
            found.problems.push(message);
            continue;
        }
        // A list with bad entries: find each of them, keep the others.
        let total = items.len();
        let mut kept_items = Vec::new();
        let mut kept = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            match deserialize(single(k.clone(), Value::Sequence(vec![item.clone()]))) {
                Ok(_) => {
                    kept.push(i);
                    kept_items.push(item);
                }
                Err((_, message)) => {
                    found.failed.push(format!("{key}[{i}]"));
                    found.problems.push(reindex(&message, &key, i));
                }
            }
        }
        if kept.len() < total {
            found.kept.push((key, kept));
        }
        clean.insert(k, Value::Sequence(kept_items));
    }
    if found.problems.is_empty() {
        // Each key is fine alone but not together: say what serde said of the whole.
        found.problems.push(whole.1);
        return (None, found);
    }
    (deserialize(Value::Mapping(clean)).ok(), found)
}

fn single(key: Value, value: Value) -> Value {
    let mut m = Mapping::new();
    m.insert(key, value);
    Value::Mapping(m)
}

/// `key[0]…` (a list entry deserialized alone) as `key[i]…`.
fn reindex(text: &str, key: &str, i: usize) -> String {
    match text.strip_prefix(&format!("{key}[0]")) {
        Some(rest) => format!("{key}[{i}]{rest}"),
        None => text.to_string(),
    }
}

/// The config, or the failing key's path and `path: message`.
fn deserialize(value: Value) -> Result<Config, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let inner = strip_location(&inner);
        if path == "." {
            (String::new(), inner.to_string())
        } else {
            (path.clone(), format!("{path}: {inner}"))
        }
    })
}

/// A YAML syntax error at its place, with a hint for `${…}` inside `{ … }`.
fn syntax_error(e: &serde_yaml::Error, text: &str, file: &str) -> ConfigError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    let lines: Vec<&str> = text.lines().collect();
    // The parser may notice the mistake on the line after the one that holds it.
    let hint = [line, line.saturating_sub(1)]
        .into_iter()
        .filter(|&n| n >= 1)
        .find_map(|n| lines.get(n - 1).and_then(|l| env_in_flow_mapping_hint(l)));
    ConfigError::Syntax {
        file: file.to_string(),
        line,
        column,
        message: format!("this is not valid YAML: {}", strip_location(&e.to_string())),
        hint,
    }
}

/// `twilio: { account_sid: ${TWILIO_ACCOUNT_SID} }` is not YAML: inside `{ … }` a bare
/// value cannot hold `{` or `}`. The fix, for the first such key on the line whose
/// reference is not quoted already.
fn env_in_flow_mapping_hint(line: &str) -> Option<String> {
    let open = line
        .char_indices()
        .find(|&(i, c)| c == '{' && !line[..i].ends_with('$'))?
        .0;
    let inside = &line[open + 1..];
    let reference = inside
        .match_indices("${")
        .map(|(at, _)| at)
        .find(|&at| !inside[..at].ends_with(['"', '\'']))?;
    let before = inside[..reference].trim_end();
    let value = &inside[reference..];
    let value = &value[..value.find('}').map_or(value.len(), |end| end + 1)];
    let key = before
        .strip_suffix(':')
        .and_then(|k| k.rsplit([',', '{', ' ']).next())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let quoted = match key {
        Some(key) => format!("{key}: \"{value}\""),
        None => format!("\"{value}\""),
    };
    Some(format!(
        "quote it: {quoted}, or write the mapping on several lines (inside `{{ … }}` a bare `${{…}}` is not valid YAML)"
    ))
}

/// serde_yaml appends " at line X column Y" to messages; the path already says where.
fn strip_location(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}
