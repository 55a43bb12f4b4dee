//! The names a flow file defines, read from its lines so that they are known while the
//! file does not compile yet: its step ids (where each is written and the step's kind),
//! and the variables and contact details it saves before a given line.

use super::context::{line, Line};
use super::Pos;
use crate::flows::keys;

/// A step id written in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepId {
    pub id: String,
    /// Where the id itself is written.
    pub at: Pos,
    /// The step's kind, when the step's lines say it (`ask`).
    pub kind: Option<String>,
}

fn lines(text: &str) -> Vec<&str> {
    text.split('\n').map(|l| l.trim_end_matches('\r')).collect()
}

fn unquote(s: &str) -> &str {
    let s = s.split(" #").next().unwrap_or(s).trim();
    s.trim_matches(|c| c == '"' || c == '\'')
}

/// The keys written at `column` in the group that the line `row` starts (the line's own
/// key and the keys under it at the same column, before the group ends).
pub fn group_keys<'a>(all: &[Option<Line<'a>>], row: usize) -> Vec<(usize, Line<'a>)> {
    let Some(first) = all[row] else {
        return Vec::new();
    };
    let mut out = vec![(row, first)];
    for (i, l) in all.iter().enumerate().skip(row + 1) {
        let Some(l) = l else { continue };
        if l.column < first.column || (l.column == first.column && l.item) {
            break;
        }
        if l.column == first.column {
            out.push((i, *l));
        }
    }
    out
}

/// The keys already written in the group of settings that a key being typed at `at`
/// (its start) joins: those at its column, from where the group starts to where it ends.
pub fn keys_beside(text: &str, at: Pos) -> Vec<String> {
    let all = lines(text);
    let parsed: Vec<Option<Line>> = all.iter().map(|l| line(l)).collect();
    let row = at.line.saturating_sub(1);
    let column = at.column.saturating_sub(1);
    if row >= parsed.len() {
        return Vec::new();
    }
    let here = parsed[row].is_some_and(|l| l.item && l.column == column);
    let mut start = row;
    if !here {
        for r in (0..row).rev() {
            match parsed[r] {
                Some(l) if l.column < column => break,
                Some(l) if l.column == column => {
                    start = r;
                    if l.item {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    if start != row {
        // The cursor's own line is the key being typed (or retyped).
        out.extend(
            group_keys(&parsed, start)
                .iter()
                .filter(|(r, _)| *r != row)
                .filter_map(|(_, l)| l.key.map(str::to_string)),
        );
    }
    // Below the cursor, until the group ends.
    for l in parsed.iter().skip(row + 1).flatten() {
        if l.column < column || (l.column == column && l.item) {
            break;
        }
        if l.column == column {
            out.extend(l.key.map(str::to_string));
        }
    }
    out
}

/// The step ids of the file: every `id:` except the flow's own (the one at the top).
pub fn step_ids(text: &str) -> Vec<StepId> {
    let all: Vec<&str> = lines(text);
    let parsed: Vec<Option<Line>> = all.iter().map(|l| line(l)).collect();
    let mut out = Vec::new();
    for (row, l) in parsed.iter().enumerate() {
        let Some(l) = l else { continue };
        if l.key != Some("id") || l.column == 0 {
            continue;
        }
        // The group this `id:` belongs to starts at the list item holding it.
        let start = (0..=row)
            .rev()
            .find(|&r| parsed[r].is_some_and(|p| p.item && p.column == l.column))
            .unwrap_or(row);
        let group = group_keys(&parsed, start);
        let kind = group
            .iter()
            .filter_map(|(_, g)| g.key)
            .find(|k| keys::step_kind_names().any(|n| n == *k));
        let Some(kind) = kind else {
            continue; // a button's or a list row's id
        };
        let id = unquote(l.rest);
        if id.is_empty() {
            continue;
        }
        let column = all[row]
            .char_indices()
            .skip(l.column)
            .find(|(i, _)| all[row][*i..].starts_with(':'))
            .map(|(i, _)| all[row][..i].chars().count() + 1)
            .unwrap_or(l.column + 3);
        let skip = all[row]
            .chars()
            .skip(column)
            .take_while(|c| *c == ' ')
            .count();
        out.push(StepId {
            id: id.to_string(),
            at: Pos {
                line: row + 1,
                column: column + skip + 1,
            },
            kind: Some(kind.to_string()),
        });
    }
    out
}

/// The variables (`vars.x`) and contact details (`contact.x`) the file saves on the lines
/// before `row` (0-based): `save_as:`, the names under `set:`, an agent's `save` tool,
/// and `vars.x =` in scripts.
pub fn saved_before(text: &str, row: usize) -> (Vec<String>, Vec<String>) {
    let all = lines(text);
    let mut vars = Vec::new();
    let mut contact = Vec::new();
    let mut under: Option<(usize, &str)> = None; // the `set:` or `save:` being read
    for text in all.iter().take(row) {
        for (i, _) in text.match_indices("vars.") {
            let name: String = text[i + 5..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && text[i + 5 + name.len()..].trim_start().starts_with('=') {
                vars.push(name);
            }
        }
        let Some(l) = line(text) else { continue };
        if let Some((column, _)) = under {
            if l.column <= column {
                under = None;
            } else if let Some(key) = l.key {
                name_saved(key, &mut vars, &mut contact);
                continue;
            }
        }
        match l.key {
            Some("save_as") => vars.push(unquote(l.rest).to_string()),
            Some(k @ ("set" | "save")) if l.rest.is_empty() => under = Some((l.column, k)),
            Some("set") => {
                // `set: { contact.city: x, plan: y }`
                let inner = l.rest.trim_start_matches('{').trim_end_matches('}');
                for part in inner.split(',') {
                    if let Some((k, _)) = part.split_once(':') {
                        name_saved(unquote(k), &mut vars, &mut contact);
                    }
                }
            }
            _ => {}
        }
    }
    vars.retain(|v| !v.is_empty());
    for list in [&mut vars, &mut contact] {
        list.sort();
        list.dedup();
    }
    (vars, contact)
}

fn name_saved(key: &str, vars: &mut Vec<String>, contact: &mut Vec<String>) {
    let key = unquote(key);
    if let Some(c) = key.strip_prefix("contact.") {
        if c != "name" {
            contact.push(c.to_string());
        }
    } else {
        vars.push(key.strip_prefix("vars.").unwrap_or(key).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = "id: demo\nsteps:\n  - send:\n      text: Hi\n      buttons:\n        - id: yes\n          title: Yes\n  - id: ask_name\n    ask: Name?\n    save_as: name\n  - set:\n      contact.city: Lima\n      plan: gold\n  - script: \"vars.total = 3\"\n  - id: \"done\"\n    end: {}\n";

    #[test]
    fn step_ids_skip_the_flow_id_and_buttons() {
        let ids = step_ids(FLOW);
        let names: Vec<(&str, usize, usize)> = ids
            .iter()
            .map(|s| (s.id.as_str(), s.at.line, s.at.column))
            .collect();
        assert_eq!(names, vec![("ask_name", 8, 9), ("done", 15, 9)]);
        assert_eq!(ids[0].kind.as_deref(), Some("ask"));
    }

    #[test]
    fn variables_saved_before_a_line() {
        let (vars, contact) = saved_before(FLOW, 16);
        assert_eq!(vars, vec!["name", "plan", "total"]);
        assert_eq!(contact, vec!["city"]);
        let (vars, _) = saved_before(FLOW, 9);
        assert!(vars.is_empty(), "{vars:?}");
    }
}
