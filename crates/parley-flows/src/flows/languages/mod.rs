//! Languages in flows (issue 58): a flow's `languages:` (the first is the base, the
//! fallback of every text), its translations (the file's `translations:` block and the
//! `<flow file>.<language>.po` files beside it), keyed by the base text as gettext does, so
//! a translation follows its text wherever the author moves it.

use std::collections::HashMap;

/// A flow's translations: for each language, the base text → its translation.
#[derive(Debug, Clone, Default)]
pub struct Translations {
    pub by_language: HashMap<String, HashMap<String, String>>,
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
}
