//! A flow file's `languages:`, `detect_language:` and `translations:`, checked: valid and
//! distinct codes, at most `MAX_LANGUAGES`, translations only for the declared languages
//! other than the base, every text a single value within the size limits.

use super::super::problem::{Pos, Problems};
use super::super::yaml::{self, YamlNode};
use super::{display, valid_code, Translations, MAX_ENTRIES, MAX_LANGUAGES, MAX_TEXT_CHARS};
use marked_yaml::types::MarkedMappingNode;

/// What the three settings say (empty and `false` when absent).
#[derive(Debug, Default)]
pub struct Declared {
    pub languages: Vec<String>,
    pub detect_language: bool,
    pub translations: Translations,
}

const CODE_HINT: &str =
    "write a language code: two or three small letters, optionally a region in capitals, like `en`, `es`, `hi` or `pt_BR`";

/// Reads the settings of the flow file `map` (named `file`).
pub fn declared(map: &MarkedMappingNode, file: &str, problems: &mut Problems) -> Declared {
    let languages = map
        .get_node("languages")
        .map(|n| languages(n, problems))
        .unwrap_or_default();
    let detect_language = match map.get_node("detect_language") {
        Some(n) => {
            let on = yaml::as_bool(n, "`detect_language`", problems).unwrap_or(false);
            if on && languages.len() < 2 {
                problems.error(
                    yaml::pos(n),
                    "`detect_language: true` guesses among the flow's languages, but it declares fewer than two",
                    Some("declare them first, like `languages: [en, es]` (the first is the language the steps are written in)".into()),
                );
            }
            on
        }
        None => false,
    };
    let translations = match map.get_node("translations") {
        Some(n) => inline(n, &languages, file, problems),
        None => Translations::default(),
    };
    Declared {
        languages,
        detect_language,
        translations,
    }
}

fn languages(node: &YamlNode, problems: &mut Problems) -> Vec<String> {
    let YamlNode::Sequence(seq) = node else {
        problems.error(
            yaml::pos(node),
            format!(
                "`languages` must be a list of language codes, found {}",
                yaml::kind(node)
            ),
            Some(
                "like `languages: [en, es]`; the first is the language the steps are written in"
                    .into(),
            ),
        );
        return Vec::new();
    };
    if seq.len() > MAX_LANGUAGES {
        problems.error(
            yaml::pos(node),
            format!(
                "the flow declares {} languages; at most {MAX_LANGUAGES}",
                seq.len()
            ),
            Some("split the flow, or keep the languages your customers use".into()),
        );
        return Vec::new();
    }
    if seq.is_empty() {
        problems.error(
            yaml::pos(node),
            "`languages` is empty",
            Some("list the flow's languages, like `languages: [en, es]`, or leave the setting out for one language".into()),
        );
    }
    let mut out: Vec<String> = Vec::new();
    for item in seq.iter() {
        let Some(code) = yaml::as_str(item, "a language", problems) else {
            continue;
        };
        if !valid_code(code) {
            problems.error(
                yaml::pos(item),
                format!("`{code}` is not a language code"),
                Some(CODE_HINT.into()),
            );
        } else if out.iter().any(|c| c == code) {
            problems.error(
                yaml::pos(item),
                format!("the language `{code}` is listed twice"),
                Some("list each language once".into()),
            );
        } else {
            out.push(code.to_string());
        }
    }
    out
}

/// The `translations:` block: language → base text → translation.
fn inline(
    node: &YamlNode,
    languages: &[String],
    file: &str,
    problems: &mut Problems,
) -> Translations {
    let mut out = Translations::default();
    let Some(m) = yaml::as_map(node, "`translations`", problems) else {
        return out;
    };
    if languages.is_empty() {
        problems.error(
            yaml::pos(node),
            "`translations` needs `languages:`: which languages the flow speaks",
            Some("add a line like `languages: [en, es]` (the first is the language the steps are written in)".into()),
        );
        return out;
    }
    for (lang, texts) in m.iter() {
        let code = lang.as_str();
        let at = yaml::scalar_pos(lang);
        if code == languages[0] {
            problems.error(
                at,
                format!("`{code}` is the flow's base language: its texts are the steps' own"),
                Some(
                    "translate into the other languages only; change a base text in its step"
                        .into(),
                ),
            );
            continue;
        }
        if !languages.iter().any(|l| l == code) {
            problems.error(
                at,
                format!("translations for `{code}`, which the flow does not declare"),
                Some(format!(
                    "add `{code}` to `languages:` ({}), or remove these translations",
                    languages.join(", ")
                )),
            );
            continue;
        }
        let Some(entries) = yaml::as_map(texts, &format!("the `{code}` translations"), problems)
        else {
            continue;
        };
        if entries.len() > MAX_ENTRIES {
            problems.error(
                at,
                format!(
                    "{} has {} translations; at most {MAX_ENTRIES}",
                    display(code),
                    entries.len()
                ),
                None,
            );
            continue;
        }
        for (base, text) in entries.iter() {
            let Some(t) = yaml::as_str(text, "a translation", problems) else {
                continue;
            };
            let base_at = yaml::scalar_pos(base);
            if !within(base.as_str(), base_at, problems) || !within(t, yaml::pos(text), problems) {
                continue;
            }
            out.insert(code, base.as_str(), t, file, base_at);
        }
    }
    out
}

fn within(text: &str, at: Pos, problems: &mut Problems) -> bool {
    let n = text.chars().count();
    if n > MAX_TEXT_CHARS {
        problems.error(
            at,
            format!("this text is {n} characters long; at most {MAX_TEXT_CHARS}"),
            Some("WhatsApp sends at most 4,096 characters in a message".into()),
        );
        return false;
    }
    true
}
