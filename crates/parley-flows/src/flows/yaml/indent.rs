//! Plain words for YAML's indentation errors. The parser says "mapping values are not
//! allowed in this context" or "did not find expected key"; what the author needs to hear
//! is which line is out of step with the lines above it, and where those start.

/// A line whose indentation is off, and what to do about it.
#[derive(Debug, PartialEq, Eq)]
pub struct OutOfStep {
    /// 1-based, like the parser's positions; the column is where the line's text starts.
    pub line: usize,
    pub column: usize,
    /// What is wrong with the line, in a few words.
    pub what: &'static str,
    pub hint: String,
}

/// The line whose indentation does not match the lines above it, when the line the
/// parser stopped at (or the one before it, where it often went wrong) is one.
pub fn hint(text: &str, line: usize) -> Option<OutOfStep> {
    let lines: Vec<&str> = text.lines().collect();
    let at = line.checked_sub(1)?.min(lines.len().checked_sub(1)?);
    let mut candidates = vec![at];
    if let Some(before) = previous(&lines, at) {
        candidates.push(before);
    }
    candidates
        .into_iter()
        .filter(|&i| significant(lines[i]))
        .find_map(|i| {
            let (what, hint) = match (tab(&lines, i), dash_without_space(lines[i])) {
                (Some(h), _) => ("this line is indented with a tab", h),
                (None, Some(h)) => ("this list item has no space after its dash", h),
                (None, None) => (
                    "this line is not lined up with the lines above it",
                    out_of_step(&lines, i)?,
                ),
            };
            // Point at the tab, or where the line's text starts.
            let lead = lines[i].chars().take_while(|c| *c == ' ').count();
            Some(OutOfStep {
                line: i + 1,
                column: lead + 1,
                what,
                hint,
            })
        })
}

fn significant(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn previous(lines: &[&str], i: usize) -> Option<usize> {
    (0..i).rev().find(|&j| significant(lines[j]))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_item(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t == "-" || t.starts_with("- ")
}

/// `send:` for `send: Hello`, `- send:` for a list item; the start of the line otherwise.
fn label(line: &str) -> String {
    let t = line.trim();
    let (dash, rest) = match t.strip_prefix("- ") {
        Some(r) => ("- ", r.trim_start()),
        None => ("", t),
    };
    let word: String = match rest.find(':') {
        Some(k) if !rest[..k].contains(' ') => rest[..=k].to_string(),
        _ => rest.chars().take(20).collect(),
    };
    format!("{dash}{word}")
}

/// Whether the line opens a group under it (`send:` with nothing after it, or `|`).
fn opens(line: &str) -> bool {
    let t = line.split(" #").next().unwrap_or("").trim_end();
    t.ends_with(':') || t.ends_with('|') || t.ends_with('>') || t.ends_with("- ")
}

/// Where the line's setting name starts: after `- ` for a list item.
fn key_column(line: &str) -> usize {
    let ind = indent(line);
    if is_item(line) {
        let after = line[ind + 1..].trim_start_matches(' ');
        line.len() - after.len()
    } else {
        ind
    }
}

/// `-send: Bye`: YAML reads `-send` as one word, not as a list item.
fn dash_without_space(line: &str) -> Option<String> {
    let t = line.trim_start_matches(' ');
    let rest = t.strip_prefix('-')?;
    let next = rest.chars().next()?;
    if !(next.is_alphabetic() || next == '{' || next == '"') {
        return None;
    }
    Some(format!(
        "put a space after the dash: `- {}` (without it, `{}` is read as one word, not as a \
         list item)",
        rest.trim_end(),
        label(t)
    ))
}

fn tab(lines: &[&str], i: usize) -> Option<String> {
    let lead: String = lines[i].chars().take_while(|c| c.is_whitespace()).collect();
    lead.contains('\t').then(|| {
        format!(
            "line {} is indented with a tab; YAML needs spaces: replace the tab with spaces so the line starts in the same column as the settings it belongs with",
            i + 1
        )
    })
}

/// A column (0-based) where something starts, and what starts there (`send:`, `- send:`).
type Column = (usize, String);

/// The columns (0-based) where settings and list items of the lines above `i` start, for
/// the groups line `i` could belong to: the line just above and each less indented one.
fn open_columns(lines: &[&str], i: usize) -> (Vec<Column>, Vec<Column>) {
    let mut keys = Vec::new();
    let mut items = Vec::new();
    let mut min = usize::MAX;
    for j in (0..i).rev().filter(|&j| significant(lines[j])) {
        let ind = indent(lines[j]);
        if ind >= min {
            continue;
        }
        min = ind;
        let name = label(lines[j]);
        if is_item(lines[j]) {
            items.push((ind, name.clone()));
            if lines[j].trim() != "-" {
                keys.push((
                    key_column(lines[j]),
                    name.trim_start_matches("- ").to_string(),
                ));
            }
        } else {
            keys.push((ind, name));
        }
        if ind == 0 {
            break;
        }
    }
    (keys, items)
}

/// A hint when line `i` starts in a column where nothing above it starts.
fn out_of_step(lines: &[&str], i: usize) -> Option<String> {
    let before = previous(lines, i)?;
    let col = indent(lines[i]);
    let item = is_item(lines[i]);
    let (keys, items) = open_columns(lines, i);
    let before_key = key_column(lines[before]);
    if opens(lines[before]) {
        // Under a line that opens a group, anything further right starts that group; a
        // list may also start in the column of the setting it belongs to.
        if col > indent(lines[before]) || (item && col == before_key) {
            return None;
        }
    } else if col > before_key {
        let name = label(lines[before]);
        let name = name.trim_start_matches("- ");
        return Some(format!(
            "line {} starts further right than `{name}` on the line above, as if it belonged under it, but `{name}` already has its value right after it: line it up with `{name}` (column {}) if it belongs beside it",
            i + 1,
            before_key + 1
        ));
    }
    let same_kind = if item { &items } else { &keys };
    if same_kind.iter().any(|(c, _)| *c == col) {
        return None;
    }
    let mut near: Vec<&(usize, String)> = same_kind.iter().collect();
    near.sort_by_key(|(c, _)| c.abs_diff(col));
    near.truncate(2);
    if near.is_empty() {
        return None;
    }
    near.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
    let places: Vec<String> = near
        .iter()
        .map(|(c, name)| format!("`{name}` at column {}", c + 1))
        .collect();
    let what = if item {
        "a list item (`- `)"
    } else {
        "a setting"
    };
    let above = if item {
        "the list items above it start"
    } else {
        "the settings above it start"
    };
    Some(format!(
        "line {} starts {what} at column {}, but {above} elsewhere ({}): things that belong together start in the same column, and what belongs under a setting starts two spaces to its right",
        i + 1,
        col + 1,
        places.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::hint;

    #[test]
    fn names_the_line_out_of_step_with_those_above() {
        let text = "id: a\nsteps:\n  - send:\n      text: Hello\n     buttons: [a, b]\n";
        let off = hint(text, 5).unwrap();
        assert_eq!((off.line, off.column), (5, 6));
        assert_eq!(
            off.hint,
            "line 5 starts a setting at column 6, but the settings above it start elsewhere (`text:` at column 7, `send:` at column 5): things that belong together start in the same column, and what belongs under a setting starts two spaces to its right"
        );
    }

    #[test]
    fn looks_at_the_line_before_when_the_parser_stopped_later() {
        let text = "id: a\nsteps:\n  - send: hi\n   - send: two\n  - send: three\n";
        let off = hint(text, 5).unwrap();
        assert_eq!((off.line, off.column), (4, 4));
        assert!(off
            .hint
            .starts_with("line 4 starts a list item (`- `) at column 4"));
    }

    #[test]
    fn says_when_the_line_above_already_has_its_value() {
        let text = "id: a\nsteps:\n  - send: Hello\n      text: x\n";
        assert_eq!(
            hint(text, 4).unwrap().hint,
            "line 4 starts further right than `send:` on the line above, as if it belonged under it, but `send:` already has its value right after it: line it up with `send:` (column 5) if it belongs beside it"
        );
    }

    #[test]
    fn says_when_a_tab_indents_a_line() {
        assert!(hint("id: a\nsteps:\n\t- send: hi\n", 3)
            .unwrap()
            .hint
            .starts_with("line 3 is indented with a tab"));
    }

    #[test]
    fn says_when_a_dash_has_no_space_after_it() {
        let text = "id: a\nsteps:\n  - send: \"Hello\"\n  -send: \"Bye\"\n";
        let off = hint(text, 4).unwrap();
        assert_eq!(
            (off.line, off.what),
            (4, "this list item has no space after its dash")
        );
        assert_eq!(
            off.hint,
            "put a space after the dash: `- send: \"Bye\"` (without it, `-send:` is read as one word, not as a list item)"
        );
    }

    #[test]
    fn stays_quiet_when_the_indentation_is_consistent() {
        let text = "id: a\nsteps:\n  - send: \"unclosed\n  - send: b\n";
        assert_eq!(hint(text, 3), None);
        assert_eq!(hint(text, 4), None);
    }
}
