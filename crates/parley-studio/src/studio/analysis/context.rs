//! Where the cursor is in a flow file, read from the lines themselves: the text being
//! typed is often not valid YAML yet (`goto: ` with nothing after it, a half-written
//! key), so the place is worked out from indentation, as a person reads it, not from a
//! parse. The keys from the top of the file down to the group being written make the
//! path the schema's `key_docs` takes.

use super::Pos;

/// The word being typed: where it starts and what is typed of it so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub from: Pos,
    pub text: String,
}

/// What the cursor is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spot {
    /// A key of the group of settings at `path` (the keys above it; list items unnamed).
    Key { path: Vec<String>, word: Word },
    /// The value of `key`, written in the group at `path`.
    Value {
        path: Vec<String>,
        key: String,
        word: Word,
    },
    /// A `{{ … }}` blank, or a dotted name in an expression: `path` is what is typed of it
    /// (`vars.na`), `word` its last part.
    Blank { path: String, word: Word },
    /// A blank's filter, after `|`.
    Filter { word: Word },
    /// Free text (a block of text, a comment): nothing to offer.
    Text,
}

/// One line of YAML as far as keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The column (0-based, in characters) where the key or value starts, after any `- `.
    pub column: usize,
    /// Whether the line starts a list item (`- `).
    pub item: bool,
    /// The key, when the line is `key: …` or `- key: …`.
    pub key: Option<&'a str>,
    /// What follows the key's colon (trimmed), or the whole value of a `- value` line.
    pub rest: &'a str,
}

/// Reads a line; `None` for blank lines and comments.
pub fn line(text: &str) -> Option<Line<'_>> {
    let mut column = text.chars().take_while(|c| *c == ' ').count();
    let mut rest = &text[column..];
    let mut item = false;
    while let Some(after) = rest
        .strip_prefix("- ")
        .or_else(|| (rest == "-").then_some(""))
    {
        item = true;
        let spaces = after.chars().take_while(|c| *c == ' ').count();
        column += 1 + (rest.len() - after.len() - 1) + spaces;
        rest = &after[spaces..];
    }
    if rest.is_empty() && !item || rest.starts_with('#') {
        return None;
    }
    let key = key_of(rest);
    let rest = match key {
        Some(k) => without_comment(&rest[k.len() + 1..]).trim(),
        None => without_comment(rest).trim_end(),
    };
    Some(Line {
        column,
        item,
        key: key.map(|k| k.trim_matches(|c| c == '"' || c == '\'')),
        rest,
    })
}

/// `text` without a comment at its end (`# …` after a space, outside quotes).
fn without_comment(text: &str) -> &str {
    let mut quote = None;
    let mut before = ' ';
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if before.is_whitespace() => return &text[..i],
            _ => {}
        }
        before = c;
    }
    text
}

/// `key` of `key: value` or `key:` (a plain or quoted name, then a colon and a space or
/// the end of the line).
fn key_of(s: &str) -> Option<&str> {
    let end = if let Some(q @ ('"' | '\'')) = s.chars().next() {
        s[1..].find(q)? + 2
    } else {
        s.find(':')?
    };
    let key = &s[..end];
    let after = s[end..].strip_prefix(':')?;
    let plain = key.starts_with(['"', '\''])
        || key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '));
    (plain && !key.trim().is_empty() && (after.is_empty() || after.starts_with([' ', '\t'])))
        .then_some(key)
}

/// The keys above `row` (0-based) that hold a line written at `column`, outermost first;
/// `None` when the line is inside a block of text (`text: |`).
pub fn path_above(lines: &[&str], row: usize, column: usize) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut threshold = column;
    for text in lines[..row].iter().rev() {
        let Some(l) = line(text) else { continue };
        if l.column >= threshold {
            continue;
        }
        let Some(key) = l.key else {
            // `- value` above, less indented: a list of values, not a group.
            if l.item && l.column < threshold {
                threshold = l.column;
            }
            continue;
        };
        if path.is_empty() && threshold == column && is_block_text(l.rest) {
            return None;
        }
        path.push(key.to_string());
        threshold = l.column;
        if threshold == 0 {
            break;
        }
    }
    path.reverse();
    Some(path)
}

fn is_block_text(rest: &str) -> bool {
    rest.starts_with('|') || rest.starts_with('>')
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// The word ending at the cursor (`before` is the line up to it), and where it starts.
fn word_before(before: &[char], line: usize, dots: bool) -> Word {
    let len = before
        .iter()
        .rev()
        .take_while(|&&c| name_char(c) || (dots && c == '.'))
        .count();
    Word {
        from: Pos {
            line,
            column: before.len() - len + 1,
        },
        text: before[before.len() - len..].iter().collect(),
    }
}

/// What the cursor at `at` is in.
pub fn spot(text: &str, at: Pos) -> Spot {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let row = at.line.saturating_sub(1);
    let Some(current) = lines.get(row) else {
        return Spot::Text;
    };
    let before: Vec<char> = current.chars().take(at.column.saturating_sub(1)).collect();
    let before_text: String = before.iter().collect();
    if let Some(open) = before_text.rfind("{{") {
        if !before_text[open..].contains("}}") {
            let inside = &before_text[open + 2..];
            if inside.contains('|') {
                return Spot::Filter {
                    word: word_before(&before, at.line, false),
                };
            }
            return blank(&before, at.line);
        }
    }
    // Only spaces (or nothing) before the cursor: a key being started.
    let l = line(&before_text).unwrap_or(Line {
        column: before.len(),
        item: false,
        key: None,
        rest: "",
    });
    if before_text.trim_start().starts_with('#') {
        return Spot::Text;
    }
    let Some(mut path) = path_above(&lines, row, l.column) else {
        return Spot::Text;
    };
    match l.key {
        None if before_text.contains(['{', '[', '"', '\'']) => Spot::Text,
        None if l.item && !l.rest.is_empty() && !l.rest.chars().all(name_char) => Spot::Text,
        None => Spot::Key {
            path,
            word: word_before(&before, at.line, false),
        },
        Some(key) => {
            // An inline group: `orders: { goto_flow: |`.
            let value = l.rest;
            if let Some(open) = value.rfind('{').filter(|&i| !value[i..].contains('}')) {
                path.push(key.to_string());
                let part = value[open + 1..]
                    .rsplit(',')
                    .next()
                    .unwrap_or("")
                    .trim_start();
                return match key_of(part) {
                    Some(inner) => value_spot(path, inner.trim(), &before, at.line),
                    None if part.chars().all(name_char) => Spot::Key {
                        path,
                        word: word_before(&before, at.line, false),
                    },
                    None => Spot::Text,
                };
            }
            if is_block_text(value) {
                return Spot::Text;
            }
            value_spot(path, key, &before, at.line)
        }
    }
}

/// The value of `key`: a dotted name being written in an expression (`if: vars.`) is a
/// blank's path; anything else is the key's value.
fn value_spot(path: Vec<String>, key: &str, before: &[char], line: usize) -> Spot {
    let dotted = word_before(before, line, true);
    if dotted.text.contains('.') {
        return blank(before, line);
    }
    Spot::Value {
        path,
        key: key.to_string(),
        word: word_before(before, line, false),
    }
}

fn blank(before: &[char], line: usize) -> Spot {
    let dotted = word_before(before, line, true);
    Spot::Blank {
        path: dotted.text,
        word: word_before(before, line, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLOW: &str = "id: demo\ntriggers:\n  - keyword: hi\nsteps:\n  - send: Hello\n  - ask:\n      text: \"Name?\"\n      save_as: name\n      ex\n  - id: last\n    goto: \n  - send: \"Hi {{ vars.na\"\n  - switch:\n      cases:\n        a: { goto_flow: we\n  - send: \"{{ contact.name | up\"\n  - send:\n      text: |\n        some text\n";

    fn at(line: usize, column: usize) -> Spot {
        spot(FLOW, Pos { line, column })
    }

    fn word(line: usize, column: usize, text: &str) -> Word {
        Word {
            from: Pos { line, column },
            text: text.into(),
        }
    }

    #[test]
    fn a_key_being_started_is_placed_under_the_keys_above_it() {
        assert_eq!(
            at(9, 9),
            Spot::Key {
                path: vec!["steps".into(), "ask".into()],
                word: word(9, 7, "ex")
            }
        );
        assert_eq!(
            at(1, 1),
            Spot::Key {
                path: vec![],
                word: word(1, 1, "")
            }
        );
    }

    #[test]
    fn a_value_after_its_key() {
        assert_eq!(
            at(11, 11),
            Spot::Value {
                path: vec!["steps".into()],
                key: "goto".into(),
                word: word(11, 11, "")
            }
        );
        assert_eq!(
            at(15, 27),
            Spot::Value {
                path: vec!["steps".into(), "switch".into(), "cases".into(), "a".into()],
                key: "goto_flow".into(),
                word: word(15, 25, "we")
            }
        );
    }

    #[test]
    fn blanks_and_their_filters() {
        assert_eq!(
            at(12, 25),
            Spot::Blank {
                path: "vars.na".into(),
                word: word(12, 23, "na")
            }
        );
        assert_eq!(
            at(16, 32),
            Spot::Filter {
                word: word(16, 30, "up")
            }
        );
    }

    #[test]
    fn a_block_of_text_offers_nothing() {
        assert_eq!(at(19, 12), Spot::Text);
    }
}
