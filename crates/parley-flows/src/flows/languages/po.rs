//! A small reader and writer of gettext PO files, as translators' tools (Poedit, Weblate,
//! Crowdin) write them: `msgctxt`, `msgid`, `msgstr`, comments (`#:` references, `#,`
//! flags; a `#, fuzzy` entry is a guess, not a translation, and is left out), strings over
//! several lines and C escapes. Plural forms are refused (flows have none). Bounded:
//! `MAX_ENTRIES` entries, `MAX_TEXT_CHARS` characters a string (the file's size is the
//! reader's to bound, `MAX_PO_BYTES`).

use super::{MAX_ENTRIES, MAX_TEXT_CHARS};
use std::fmt;

/// One translation of a PO file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoEntry {
    /// `#:` references (`flows/welcome.yaml:12:11`).
    pub references: Vec<String>,
    pub context: Option<String>,
    pub id: String,
    pub text: String,
    /// `#, fuzzy`: a guess awaiting review.
    pub fuzzy: bool,
    /// The line of its `msgid`.
    pub line: usize,
}

/// A PO file: its header's `Language:` and its entries (the header entry left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoFile {
    pub language: Option<String>,
    pub entries: Vec<PoEntry>,
}

impl PoFile {
    /// The entries that are translations: not fuzzy, with a non-empty `msgstr`.
    pub fn translations(&self) -> impl Iterator<Item = &PoEntry> {
        self.entries
            .iter()
            .filter(|e| !e.fuzzy && !e.text.is_empty())
    }
}

/// What is wrong with a PO file, and where (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Context,
    Id,
    Text,
}

#[derive(Default)]
struct Pending {
    references: Vec<String>,
    fuzzy: bool,
    context: Option<String>,
    id: Option<String>,
    text: Option<String>,
    line: usize,
}

fn err(line: usize, column: usize, message: impl Into<String>) -> PoError {
    PoError {
        line,
        column,
        message: message.into(),
    }
}

/// Reads a PO file's text.
pub fn parse(text: &str) -> Result<PoFile, PoError> {
    let mut file = PoFile::default();
    let mut cur = Pending::default();
    let mut field = Field::None;
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        let line = raw.trim_end_matches('\r');
        let indent = line.len() - line.trim_start().len();
        let body = line.trim_start();
        let col = indent + 1;
        if body.is_empty() {
            continue;
        }
        if let Some(comment) = body.strip_prefix('#') {
            // A comment starts a new entry when the previous one is complete.
            if cur.text.is_some() {
                finish(&mut file, std::mem::take(&mut cur), n)?;
            }
            field = Field::None;
            if let Some(flags) = comment.strip_prefix(',') {
                cur.fuzzy |= flags.split(',').any(|f| f.trim() == "fuzzy");
            } else if let Some(refs) = comment.strip_prefix(':') {
                cur.references
                    .extend(refs.split_whitespace().map(str::to_string));
            }
            continue;
        }
        let (keyword, rest) = match body.find(|c: char| c.is_whitespace() || c == '"') {
            Some(k) => (&body[..k], &body[k..]),
            None => (body, ""),
        };
        let value_col = col + keyword.len() + (rest.len() - rest.trim_start().len());
        match keyword {
            "" => {
                let s = string(rest.trim_start(), n, value_col)?;
                let target = match field {
                    Field::Context => cur.context.as_mut(),
                    Field::Id => cur.id.as_mut(),
                    Field::Text => cur.text.as_mut(),
                    Field::None => None,
                };
                let Some(target) = target else {
                    return Err(err(n, col, "a string outside any msgid or msgstr"));
                };
                target.push_str(&s);
                bounded(target, n, col)?;
            }
            "msgctxt" | "msgid" => {
                if cur.text.is_some() {
                    finish(&mut file, std::mem::take(&mut cur), n)?;
                }
                let s = string(rest.trim_start(), n, value_col)?;
                if keyword == "msgctxt" {
                    if cur.context.is_some() || cur.id.is_some() {
                        return Err(err(n, col, "a second msgctxt in one entry"));
                    }
                    cur.context = Some(s);
                    field = Field::Context;
                } else {
                    if cur.id.is_some() {
                        return Err(err(n, col, "a msgid without its msgstr before it"));
                    }
                    cur.id = Some(s);
                    cur.line = n;
                    field = Field::Id;
                }
            }
            "msgstr" => {
                if cur.id.is_none() || cur.text.is_some() {
                    return Err(err(n, col, "a msgstr without its msgid before it"));
                }
                cur.text = Some(string(rest.trim_start(), n, value_col)?);
                field = Field::Text;
            }
            k if k.starts_with("msgid_plural") || k.starts_with("msgstr[") => {
                return Err(err(
                    n,
                    col,
                    "plural forms (msgid_plural, msgstr[n]) are not used by flows; translate each text as one msgstr",
                ));
            }
            other => {
                return Err(err(
                    n,
                    col,
                    format!("`{other}` is not a PO keyword (msgctxt, msgid, msgstr, a \"string\" or a # comment)"),
                ));
            }
        }
    }
    if cur.id.is_some() || cur.context.is_some() {
        finish(&mut file, cur, last_line + 1)?;
    }
    Ok(file)
}

fn bounded(s: &str, line: usize, column: usize) -> Result<(), PoError> {
    let n = s.chars().count();
    if n > MAX_TEXT_CHARS {
        return Err(err(
            line,
            column,
            format!("a string of {n} characters; at most {MAX_TEXT_CHARS}"),
        ));
    }
    Ok(())
}

fn finish(file: &mut PoFile, cur: Pending, next_line: usize) -> Result<(), PoError> {
    let Some(id) = cur.id else {
        return Err(err(next_line, 1, "a msgctxt without its msgid"));
    };
    let Some(text) = cur.text else {
        return Err(err(cur.line, 1, "this msgid has no msgstr"));
    };
    bounded(&id, cur.line, 1)?;
    bounded(&text, cur.line, 1)?;
    if id.is_empty() && cur.context.is_none() {
        // The header: `Language: es` among its lines.
        file.language = text
            .lines()
            .find_map(|l| l.strip_prefix("Language:"))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty());
        return Ok(());
    }
    if file.entries.len() >= MAX_ENTRIES {
        return Err(err(
            cur.line,
            1,
            format!("more than {MAX_ENTRIES} entries; split the translations"),
        ));
    }
    file.entries.push(PoEntry {
        references: cur.references,
        context: cur.context,
        id,
        text,
        fuzzy: cur.fuzzy,
        line: cur.line,
    });
    Ok(())
}

/// A quoted string with C escapes, and nothing after it but spaces.
fn string(s: &str, line: usize, column: usize) -> Result<String, PoError> {
    let mut chars = s.char_indices();
    if !matches!(chars.next(), Some((_, '"'))) {
        return Err(err(line, column, "expected a string in double quotes"));
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                let after = &s[i + 1..];
                if !after.trim().is_empty() {
                    return Err(err(
                        line,
                        column + s[..i + 1].chars().count(),
                        "text after the closing quote; a quote inside a string is written \\\"",
                    ));
                }
                return Ok(out);
            }
            '\\' => {
                let Some((_, e)) = chars.next() else { break };
                out.push(match e {
                    'n' => '\n',
                    't' => '\t',
                    'r' => '\r',
                    '"' => '"',
                    '\\' => '\\',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'v' => '\u{b}',
                    other => {
                        return Err(err(
                            line,
                            column + s[..i].chars().count(),
                            format!("unknown escape `\\{other}` (use \\n, \\t, \\\" or \\\\)"),
                        ))
                    }
                });
            }
            c => out.push(c),
        }
    }
    Err(err(
        line,
        column,
        "this string has no closing quote (\"); a string ends on its own line",
    ))
}

/// `s` as a PO string: quoted, escaped; over several lines (gettext style) when it holds
/// line breaks.
pub fn quote(s: &str) -> String {
    let escape = |p: &str| {
        let mut o = String::with_capacity(p.len() + 2);
        o.push('"');
        for c in p.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\t' => o.push_str("\\t"),
                '\r' => o.push_str("\\r"),
                c => o.push(c),
            }
        }
        o.push('"');
        o
    };
    if !s.contains('\n') || s.trim_end_matches('\n').is_empty() {
        return escape(s);
    }
    let mut out = String::from("\"\"");
    for part in s.split_inclusive('\n') {
        out.push('\n');
        out.push_str(&escape(part));
    }
    out
}

/// Writes a PO file for `language` (its header) with `entries` in order.
pub fn write(language: &str, entries: &[PoEntry]) -> String {
    let mut out = format!(
        "msgid \"\"\nmsgstr \"\"\n\"Language: {language}\\n\"\n\"MIME-Version: 1.0\\n\"\n\"Content-Type: text/plain; charset=UTF-8\\n\"\n\"Content-Transfer-Encoding: 8bit\\n\"\n"
    );
    for e in entries {
        out.push('\n');
        if !e.references.is_empty() {
            out.push_str(&format!("#: {}\n", e.references.join(" ")));
        }
        if e.fuzzy {
            out.push_str("#, fuzzy\n");
        }
        if let Some(c) = &e.context {
            out.push_str(&format!("msgctxt {}\n", quote(c)));
        }
        out.push_str(&format!(
            "msgid {}\nmsgstr {}\n",
            quote(&e.id),
            quote(&e.text)
        ));
    }
    out
}
