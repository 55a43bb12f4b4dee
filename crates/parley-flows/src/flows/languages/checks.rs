//! The checks of a flow's translations, run at load: untranslated texts (a warning each
//! at the text, at most `MAX_MISSING_SHOWN` per language, then one summary), translations
//! no text uses any more, translations whose `{{ … }}` blanks differ from their text's;
//! and how much of each language is translated (`Coverage`).

use super::super::model::Flow;
use super::super::problem::{Problem, Severity};
use super::names::english_name;
use super::texts::{distinct, texts};
use super::Coverage;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// Untranslated texts shown per flow and language before the summary.
pub const MAX_MISSING_SHOWN: usize = 10;

fn english(code: &str) -> String {
    match english_name(code) {
        Some(n) => format!("{n} ({code})"),
        None => format!("`{code}`"),
    }
}

/// `"Hi! What can I…"`: a text quoted in a message, cut when long.
pub fn short(text: &str) -> String {
    let one_line = text.replace('\n', " ");
    let cut: String = one_line.chars().take(60).collect();
    if cut.chars().count() < one_line.chars().count() {
        format!("\"{cut}…\"")
    } else {
        format!("\"{cut}\"")
    }
}

/// The `.po` file beside `flow_file` for `language` (`flows/welcome.es.po`).
pub fn po_path(flow_file: &Path, language: &str) -> std::path::PathBuf {
    let stem = flow_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    flow_file.with_file_name(format!("{stem}.{language}.po"))
}

fn warning(file: &str, at: super::Pos, message: String, hint: Option<String>) -> Problem {
    Problem {
        file: file.to_string(),
        line: at.line,
        column: at.column,
        severity: Severity::Warning,
        message,
        hint,
    }
}

/// What the blanks of `text` read: each blank's value before its filters, spaces removed
/// (`{{vars.name}}` = `{{ vars.name }}`). Filters and their words may be translated:
/// `{{ contact.name | default: "amigo" }}` keeps the blank of `{{ contact.name | default:
/// "there" }}`.
fn blanks(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let inside = &rest[start + 2..start + end];
        let inside: String = inside
            .split('|')
            .next()
            .unwrap_or(inside)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        out.insert(inside);
        rest = &rest[start + end + 2..];
    }
    out
}

/// Checks `flow` (whose file's text is `source`), appending warnings to `problems`;
/// returns its coverage per language other than the base (none for a one-language flow).
pub fn check(flow: &Flow, source: &str, problems: &mut Vec<Problem>) -> Vec<Coverage> {
    let Some((base, others)) = flow.languages.split_first() else {
        return Vec::new();
    };
    let refs = texts(flow, source);
    let unique = distinct(&refs);
    let known: HashSet<&str> = unique.iter().map(|r| r.text.as_str()).collect();
    let file_name = Path::new(&flow.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut coverage = Vec::new();
    for lang in others {
        let missing: Vec<_> = unique
            .iter()
            .filter(|r| !flow.translations.has(lang, &r.text))
            .collect();
        for r in missing.iter().take(MAX_MISSING_SHOWN) {
            problems.push(warning(
                &flow.file,
                r.at,
                format!(
                    "no {} translation of {}: customers whose language is {lang} read it in {}",
                    english(lang),
                    short(&r.text),
                    english_name(base).unwrap_or(base),
                ),
                Some(format!(
                    "add it to {file_name}.{lang}.po (`parley translations export`) or under `translations: {lang}:`"
                )),
            ));
        }
        if missing.len() > MAX_MISSING_SHOWN {
            problems.push(warning(
                &flow.file,
                flow.id_at,
                format!(
                    "…and {} more texts with no {} translation",
                    missing.len() - MAX_MISSING_SHOWN,
                    english(lang)
                ),
                Some("`parley translations export texts.csv` lists every text with its translations, for a translator".into()),
            ));
        }
        coverage.push(Coverage {
            // A candidate version is counted apart: `welcome (v2)`.
            flow: match &flow.candidate {
                Some(label) => format!("{} ({label})", flow.id),
                None => flow.id.clone(),
            },
            language: lang.clone(),
            translated: unique.len() - missing.len(),
            total: unique.len(),
        });
        extra_checks(flow, lang, &known, problems);
    }
    coverage
}

/// Translations no text uses, and translations whose blanks differ from their text's.
fn extra_checks(flow: &Flow, lang: &str, known: &HashSet<&str>, problems: &mut Vec<Problem>) {
    let Some(entries) = flow.translations.by_language.get(lang) else {
        return;
    };
    let mut sorted: Vec<(&String, &String)> = entries.iter().collect();
    sorted.sort();
    for (base, text) in sorted {
        let (file, at) = flow
            .translations
            .places
            .get(&(lang.to_string(), base.clone()))
            .cloned()
            .unwrap_or_else(|| (flow.file.clone(), flow.id_at));
        if !known.contains(base.as_str()) {
            problems.push(warning(
                &file,
                at,
                format!(
                    "no text of flow `{}` is {} (any more?): this {} translation is not used",
                    flow.id,
                    short(base),
                    english(lang)
                ),
                Some("did the text change? Translate the new text, or remove this one".into()),
            ));
            continue;
        }
        let (want, have) = (blanks(base), blanks(text));
        for missing in want.difference(&have) {
            problems.push(warning(
                &file,
                at,
                format!(
                    "the {} translation of {} leaves out the blank {{{{ {missing} }}}}",
                    english(lang),
                    short(base)
                ),
                Some("a translation keeps what its text's blanks read (their filters' words may be translated)".into()),
            ));
        }
        for extra in have.difference(&want) {
            problems.push(warning(
                &file,
                at,
                format!(
                    "the {} translation of {} has the blank {{{{ {extra} }}}}, which its text does not",
                    english(lang),
                    short(base)
                ),
                Some("a translation keeps what its text's blanks read (their filters' words may be translated)".into()),
            ));
        }
    }
}
