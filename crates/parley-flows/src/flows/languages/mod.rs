//! Languages in flows (issue 58): a flow's `languages:` (the first is the base, the
//! fallback of every text), its translations (the file's `translations:` block and the
//! `<flow file>.<language>.po` files beside it), keyed by the base text as gettext does, so
//! a translation follows its text wherever the author moves it.

pub mod authoring;
pub mod checks;
pub mod files;
pub mod import;
pub mod io;
pub mod names;
pub mod po;
#[cfg(test)]
mod tests;
pub mod texts;

pub use names::{native_name, valid_code};
pub use texts::{texts, TextRef};

use super::problem::Pos;
use std::collections::HashMap;

/// The most languages one flow may declare.
pub const MAX_LANGUAGES: usize = 20;
/// The most translations per language (inline or in a `.po` file).
pub const MAX_ENTRIES: usize = 20_000;
/// The longest text or translation, in characters (WhatsApp's longest text is 4,096).
pub const MAX_TEXT_CHARS: usize = 4_096;
/// The largest `.po` file read.
pub const MAX_PO_BYTES: u64 = 4 * 1024 * 1024;

/// A flow's translations: for each language, the base text → its translation.
#[derive(Debug, Clone, Default)]
pub struct Translations {
    pub by_language: HashMap<String, HashMap<String, String>>,
    /// Where each translation was written: (language, base text) → (file, position).
    pub places: HashMap<(String, String), (String, Pos)>,
}

impl Translations {
    /// `base` in `language`, or `base` itself when it has no translation there.
    pub fn text<'a>(&'a self, language: &str, base: &'a str) -> &'a str {
        self.by_language
            .get(language)
            .and_then(|m| m.get(base))
            .map(String::as_str)
            .unwrap_or(base)
    }

    /// Whether `base` has a translation in `language`.
    pub fn has(&self, language: &str, base: &str) -> bool {
        self.by_language
            .get(language)
            .is_some_and(|m| m.contains_key(base))
    }

    pub fn is_empty(&self) -> bool {
        self.by_language.values().all(HashMap::is_empty)
    }

    /// Adds (or replaces) a translation written in `file` at `at`.
    pub fn insert(&mut self, language: &str, base: &str, text: &str, file: &str, at: Pos) {
        self.by_language
            .entry(language.to_string())
            .or_default()
            .insert(base.to_string(), text.to_string());
        self.places.insert(
            (language.to_string(), base.to_string()),
            (file.to_string(), at),
        );
    }
}

/// `Español (es)`: a language as messages name it.
pub fn display(code: &str) -> String {
    match native_name(code) {
        Some(name) => format!("{name} ({code})"),
        None => code.to_string(),
    }
}

/// How many of a flow's texts one language translates (`parley check` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub flow: String,
    pub language: String,
    pub translated: usize,
    pub total: usize,
}

impl Coverage {
    /// `es 12/14 (86 %)`.
    pub fn short(&self) -> String {
        let percent = (self.translated * 100 + self.total / 2)
            .checked_div(self.total)
            .unwrap_or(100);
        format!(
            "{} {}/{} ({percent} %)",
            self.language, self.translated, self.total
        )
    }
}

/// `translations: welcome  es 12/14 (86 %)  hi 14/14 (100 %)`, one line per flow.
pub fn coverage_lines(coverage: &[Coverage]) -> Vec<String> {
    let mut lines: Vec<(String, Vec<String>)> = Vec::new();
    for c in coverage {
        match lines.last_mut() {
            Some((flow, parts)) if *flow == c.flow => parts.push(c.short()),
            _ => lines.push((c.flow.clone(), vec![c.short()])),
        }
    }
    lines
        .into_iter()
        .map(|(flow, parts)| format!("translations: {flow}  {}", parts.join("  ")))
        .collect()
}
