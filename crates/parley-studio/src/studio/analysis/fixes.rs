//! A problem placed in the text: where the word it points at ends (so an editor can
//! underline the word, not a single character), and the quick fix for a problem whose hint
//! says "did you mean `x`?": the misspelt word replaced by `x`.

use super::{Diagnostic, Fix, Pos};
use crate::flows::Problem;

/// Characters of a name, a step id or a key.
fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// The problem with the end of what it points at and its fixes.
pub fn diagnose(problem: Problem, text: &str) -> Diagnostic {
    let line = text
        .lines()
        .nth(problem.line.saturating_sub(1))
        .unwrap_or("");
    let chars: Vec<char> = line.chars().collect();
    let start = problem.column.saturating_sub(1).min(chars.len());
    let end = Pos {
        line: problem.line,
        column: extent(&chars, start) + 1,
    };
    let fixes = suggestion(problem.hint.as_deref())
        .and_then(|better| fix(&problem, &chars, start, better))
        .into_iter()
        .collect();
    Diagnostic {
        problem,
        end,
        fixes,
    }
}

/// Where the thing starting at `start` ends: a word, a quoted text, a `{{ blank }}`, or
/// else the rest of the line (at least one character when there is one).
fn extent(chars: &[char], start: usize) -> usize {
    let rest = &chars[start..];
    let find = |from: usize, what: &[char]| {
        (from..rest.len().saturating_sub(what.len() - 1))
            .find(|&i| rest[i..].starts_with(what))
            .map(|i| start + i + what.len())
    };
    match rest.first() {
        None => start,
        Some(&c) if word_char(c) => start + rest.iter().take_while(|&&c| word_char(c)).count(),
        Some(&q @ ('"' | '\'')) => find(1, &[q]).unwrap_or(chars.len()),
        Some('{') if rest.get(1) == Some(&'{') => find(2, &['}', '}']).unwrap_or(chars.len()),
        Some(_) => {
            let trimmed =
                chars.len() - chars.iter().rev().take_while(|c| c.is_whitespace()).count();
            trimmed.max(start + 1)
        }
    }
}

/// The `x` of a hint's "did you mean `x`?".
fn suggestion(hint: Option<&str>) -> Option<&str> {
    let (_, after) = hint?.split_once("did you mean `")?;
    let (better, _) = after.split_once('`')?;
    (!better.is_empty()).then_some(better)
}

/// The words a message quotes: `` `sned` is not a step `` → `sned`; the last word of a
/// quoted phrase too (`` `expect: nubmer` `` → `nubmer`).
fn quoted(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (i, part) in message.split('`').enumerate() {
        if i % 2 == 1 && !part.is_empty() {
            out.push(part);
            if let Some(last) = part.rsplit(|c: char| !word_char(c)).find(|w| !w.is_empty()) {
                out.push(last);
            }
        }
    }
    out
}

/// Where `word` stands alone on the line at or after `from` (in characters).
fn find_word(chars: &[char], word: &str, from: usize) -> Option<usize> {
    let w: Vec<char> = word.chars().collect();
    if w.is_empty() {
        return None;
    }
    (from..=chars.len().saturating_sub(w.len())).find(|&i| {
        chars[i..].starts_with(&w)
            && (i == 0 || !word_char(chars[i - 1]))
            && chars.get(i + w.len()).is_none_or(|&c| !word_char(c))
    })
}

/// The fix replacing the misspelt word by `better`: the word at the problem's place when
/// the message quotes it, else the first word the message quotes found from there on.
fn fix(problem: &Problem, chars: &[char], start: usize, better: &str) -> Option<Fix> {
    let words = quoted(&problem.message);
    let here: String = chars[start..]
        .iter()
        .take_while(|&&c| word_char(c))
        .collect();
    let (at, wrong) = if !here.is_empty() && words.contains(&here.as_str()) {
        (start, here)
    } else if !here.is_empty() && words.is_empty() {
        // "this trigger does not say what starts the flow": the word at the place.
        (start, here)
    } else {
        words
            .iter()
            .filter(|w| w.chars().all(word_char))
            .find_map(|w| find_word(chars, w, start).map(|i| (i, w.to_string())))?
    };
    // `message.kye` → "did you mean `message.key`?": the part before the dot is written.
    let replacement = match better.rsplit_once('.') {
        Some((_, last)) if !wrong.contains('.') => last,
        _ => better,
    };
    if replacement == wrong {
        return None;
    }
    Some(Fix {
        title: format!("Change to `{replacement}`"),
        start: Pos {
            line: problem.line,
            column: at + 1,
        },
        end: Pos {
            line: problem.line,
            column: at + wrong.chars().count() + 1,
        },
        replacement: replacement.to_string(),
    })
}
