//! The flow's triggers and steps as an editor's outline, read from the lines (so that a
//! file that does not compile yet still has one): each step named by its `id` or its
//! number, with its kind and first words, the steps written inside it as its children.

use super::context::{line, Line};
use super::names::group_keys;
use super::{Pos, Symbol, SymbolKind};
use crate::flows::keys;

/// How much of a step's value the outline shows.
const SHOWN: usize = 40;

/// The outline of `text`.
pub fn outline(text: &str) -> Vec<Symbol> {
    let raw: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let lines: Vec<Option<Line>> = raw.iter().map(|l| line(l)).collect();
    let mut out = Vec::new();
    for (row, l) in lines.iter().enumerate() {
        let Some(l) = l else { continue };
        if l.column != 0 {
            continue;
        }
        let end = block_end(&lines, row, 0);
        match l.key {
            Some("triggers") => out.extend(triggers(&raw, &lines, row + 1, end)),
            Some("steps") => out.extend(steps(&raw, &lines, row + 1, end, "step ")),
            _ => {}
        }
    }
    out
}

/// The row after the last line of the group starting at `row`: the lines deeper than
/// `column`, and for a list item the keys beside its first one too.
fn block_end(lines: &[Option<Line>], row: usize, column: usize) -> usize {
    let item = lines[row].is_some_and(|l| l.item);
    for (i, l) in lines.iter().enumerate().skip(row + 1) {
        let Some(l) = l else { continue };
        if l.column < column || (l.column == column && (l.item || !item)) {
            return last_line_end(lines, row, i);
        }
    }
    last_line_end(lines, row, lines.len())
}

/// `end` moved up over blank lines and comments, so a step ends at its last written line.
fn last_line_end(lines: &[Option<Line>], row: usize, mut end: usize) -> usize {
    while end > row + 1 && lines[end - 1].is_none() {
        end -= 1;
    }
    end
}

fn shorten(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() > SHOWN {
        format!("{}…", s.chars().take(SHOWN).collect::<String>())
    } else {
        s.to_string()
    }
}

fn span(raw: &[&str], row: usize, column: usize, end: usize) -> (Pos, Pos) {
    let last = end.max(row + 1) - 1;
    (
        Pos {
            line: row + 1,
            column: column + 1,
        },
        Pos {
            line: last + 1,
            column: raw[last].chars().count() + 1,
        },
    )
}

fn triggers(raw: &[&str], lines: &[Option<Line>], from: usize, to: usize) -> Vec<Symbol> {
    let mut out = Vec::new();
    let mut row = from;
    while row < to {
        match lines[row] {
            Some(l) if l.item => {
                let end = block_end(lines, row, l.column).min(to);
                let (start, stop) = span(raw, row, l.column, end);
                let name = match l.key {
                    Some(k) => shorten(&format!("{k}: {}", l.rest)),
                    None => shorten(l.rest),
                };
                out.push(Symbol {
                    name,
                    kind: SymbolKind::Trigger,
                    detail: l.key.map(str::to_string),
                    start,
                    end: stop,
                    children: Vec::new(),
                });
                row = end;
            }
            _ => row += 1,
        }
    }
    out
}

/// The steps written as list items between `from` and `to` (the first list found there,
/// and every list at its column), numbered after `prefix`.
fn steps(
    raw: &[&str],
    lines: &[Option<Line>],
    from: usize,
    to: usize,
    prefix: &str,
) -> Vec<Symbol> {
    let mut out = Vec::new();
    let mut row = from;
    while row < to {
        let Some(l) = lines[row] else {
            row += 1;
            continue;
        };
        if !l.item {
            row += 1;
            continue;
        }
        let end = block_end(lines, row, l.column).min(to);
        let group = group_keys(lines, row);
        let kind = group.iter().find(|(_, g)| {
            g.key
                .is_some_and(|k| keys::step_kind_names().any(|n| n == k))
        });
        let Some((kind_row, kind)) = kind else {
            row = end; // not a step: a button, a list row
            continue;
        };
        let number = format!("{prefix}{}", out.len() + 1);
        let id = group
            .iter()
            .find(|(_, g)| g.key == Some("id"))
            .map(|(_, g)| g.rest.trim_matches(|c| c == '"' || c == '\'').to_string());
        let (start, stop) = span(raw, row, l.column, end);
        let name = id.clone().unwrap_or_else(|| number.clone());
        let key = kind.key.unwrap_or_default();
        let detail = if kind.rest.is_empty() {
            key.to_string()
        } else {
            shorten(&format!("{key}: {}", kind.rest))
        };
        // Steps written inside this one (then, else, cases, on_timeout…).
        let children = steps(
            raw,
            lines,
            (*kind_row).max(row) + 1,
            end,
            &format!("{number}."),
        );
        out.push(Symbol {
            name,
            kind: SymbolKind::Step,
            detail: Some(detail),
            start,
            end: stop,
            children,
        });
        row = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_with_their_nested_steps_and_triggers() {
        let text = "id: demo\ntriggers:\n  - keyword: [hi, hello]\n  - button: menu   # a \"Menu\" button\nsteps:\n  - send:\n      text: Hi\n      buttons:\n        - id: a\n          title: A\n  - id: check\n    if: vars.x > 1\n    then:\n      - send: big\n      - goto: check\n\n  - end: {}\n";
        let symbols = outline(text);
        let names: Vec<(&str, SymbolKind, usize, usize)> = symbols
            .iter()
            .map(|s| (s.name.as_str(), s.kind, s.start.line, s.end.line))
            .collect();
        assert_eq!(
            names,
            vec![
                ("keyword: [hi, hello]", SymbolKind::Trigger, 3, 3),
                ("button: menu", SymbolKind::Trigger, 4, 4),
                ("step 1", SymbolKind::Step, 6, 10),
                ("check", SymbolKind::Step, 11, 15),
                ("step 3", SymbolKind::Step, 17, 17),
            ]
        );
        assert_eq!(symbols[2].children, vec![]);
        let inner: Vec<&str> = symbols[3]
            .children
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(inner, vec!["step 2.1", "step 2.2"]);
        assert_eq!(symbols[3].detail.as_deref(), Some("if: vars.x > 1"));
        assert_eq!(
            symbols[3].children[1].detail.as_deref(),
            Some("goto: check")
        );
    }
}
