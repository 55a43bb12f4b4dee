//! Where a test's model request differs from the one recorded: the first place, named
//! the way an author reads it, with both values shortened.

use super::*;

/// Where two JSON values first differ.
#[derive(Debug, PartialEq)]
pub struct Difference {
    /// Like `request.messages[2].text`.
    pub path: String,
    pub recorded: String,
    pub now: String,
}

/// The first place (depth first, keys in order) where `recorded` and `now` differ.
pub fn first_difference(path: &str, recorded: &Value, now: &Value) -> Option<Difference> {
    match (recorded, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = format!("{path}.{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(&p, x, y),
                    (x, y) => Some(Difference {
                        path: p,
                        recorded: x.map_or("(absent)".into(), show),
                        now: y.map_or("(absent)".into(), show),
                    }),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) => {
            let common = a
                .iter()
                .zip(b)
                .enumerate()
                .find_map(|(i, (x, y))| first_difference(&format!("{path}[{i}]"), x, y));
            common.or_else(|| {
                (a.len() != b.len()).then(|| {
                    let i = a.len().min(b.len());
                    Difference {
                        path: format!("{path}[{i}]"),
                        recorded: a.get(i).map_or("(absent)".into(), show),
                        now: b.get(i).map_or("(absent)".into(), show),
                    }
                })
            })
        }
        (x, y) if same(x, y) => None,
        (Value::String(x), Value::String(y)) => {
            let (recorded, now) = show_change(x, y);
            Some(Difference {
                path: path.to_string(),
                recorded,
                now,
            })
        }
        (x, y) => Some(Difference {
            path: path.to_string(),
            recorded: show(x),
            now: show(y),
        }),
    }
}

/// Two texts that differ, each shown around their first difference: up to 40 characters
/// before it and the rest of `SHOWN_CHARS` after, with `…` where text is left out and the
/// position of the difference when it is not near the start (a changed word deep in a long
/// system prompt would otherwise show as two identical beginnings).
pub(super) fn show_change(recorded: &str, now: &str) -> (String, String) {
    const BEFORE: usize = 40;
    let at = recorded
        .chars()
        .zip(now.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let start = at.saturating_sub(BEFORE);
    let window = |s: &str| {
        let total = s.chars().count();
        let shown: String = s.chars().skip(start).take(SHOWN_CHARS).collect();
        let head = if start > 0 { "…" } else { "" };
        let tail = if start + SHOWN_CHARS < total {
            "…"
        } else {
            ""
        };
        format!("{head}«{shown}»{tail}")
    };
    let (mut a, mut b) = (window(recorded), window(now));
    if start > 0 {
        let from = format!(" (from character {})", at + 1);
        a.push_str(&from);
        b.push_str(&from);
    }
    (a, b)
}

/// Equal, counting 2 and 2.0 alike (a YAML round trip may write one for the other).
pub(super) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

pub(super) fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) => format!("«{s}»"),
        other => other.to_string(),
    };
    if s.chars().count() > SHOWN_CHARS {
        let cut: String = s.chars().take(SHOWN_CHARS).collect();
        format!("{cut}…")
    } else {
        s
    }
}
