//! Languages in the interpreter (issue 58): the contact's language for a flow (the contact
//! field, a guess from the first message, the flow's base language) and the texts in it.
//!
//! The language is chosen when a run starts (`Interpreter::choose_language`: the trace line,
//! and the guess when the flow asks for one, stored as the contact's `language` field so it
//! is kept); each text then reads the contact's field again (`Tongue::of`), a few string
//! comparisons, so a `set: contact.language: es` or a `language` step takes effect at once.

use super::context::{Contact, Output, StepCtx};
use super::vars::assign;
use super::Interpreter;
use crate::domain::language::CONTACT_FIELD;
use crate::domain::{ConversationState, ReplyButton};
use crate::flows::languages::{native_name, Translations};
use crate::flows::{Flow, SetTarget, TemplateSpec};
use serde_json::{json, Value};

/// The most characters of a message a guess reads.
pub const GUESS_CHARS_MAX: usize = 1_000;

/// Why a flow speaks a language to this contact.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The contact's `language` field is (or shares its base with) one of the flow's.
    ContactField,
    /// Guessed from the customer's message, with this confidence.
    Guessed(f64),
    /// The base language: the contact has no language.
    NoLanguage,
    /// The base language: the contact's language (this one) is not one of the flow's.
    NotOffered(String),
}

/// A flow's language for this contact: the code, one of `flow.languages`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub code: String,
    pub reason: Reason,
}

impl Chosen {
    /// The trace line: `language es (Español): the contact's language field`.
    pub fn line(&self, flow: &Flow) -> String {
        let why = match &self.reason {
            Reason::ContactField => "the contact's language field".to_string(),
            Reason::Guessed(c) => format!(
                "guessed from the customer's message (confidence {c:.2}), kept as the contact's language"
            ),
            Reason::NoLanguage => "the flow's base language (the contact has no language)".into(),
            Reason::NotOffered(l) => format!(
                "the flow's base language (the contact's language {l} is not one of {})",
                flow.languages.join(", ")
            ),
        };
        format!("language {}: {why}", named(&self.code))
    }
}

/// `es (Español)`, or the code alone for a language without a known name.
pub fn named(code: &str) -> String {
    match native_name(code) {
        Some(n) => format!("{code} ({n})"),
        None => code.to_string(),
    }
}

/// `language_code` (`es`, `es_MX`, `es-mx`) split into its base, small letters, and region.
fn base_of(code: &str) -> &str {
    code.split(['_', '-']).next().unwrap_or(code)
}

/// Which of `languages` a contact whose language is `wanted` gets: the same code (letter
/// case and `-`/`_` aside), else the first with the same base (`es_MX` ↔ `es`).
pub fn matching<'l>(languages: &'l [String], wanted: &str) -> Option<&'l str> {
    let same = |a: &str, b: &str| {
        a.len() == b.len()
            && a.chars()
                .zip(b.chars())
                .all(|(x, y)| x.eq_ignore_ascii_case(&y) || (x == '-' && y == '_'))
    };
    let wanted = wanted.trim();
    languages
        .iter()
        .find(|l| same(wanted, l))
        .or_else(|| {
            let base = base_of(wanted);
            languages
                .iter()
                .find(|l| base_of(l).eq_ignore_ascii_case(base))
        })
        .map(String::as_str)
}

/// The contact's `language` field as flows see it, if it is a non-empty text.
fn field(contact: &Value) -> Option<&str> {
    contact
        .get(CONTACT_FIELD)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The language of `flow` for the contact, from the contact's field (no guess).
pub fn resolve(flow: &Flow, contact: &Value) -> Option<Chosen> {
    let base = flow.languages.first()?;
    Some(match field(contact) {
        None => Chosen {
            code: base.clone(),
            reason: Reason::NoLanguage,
        },
        Some(wanted) => match matching(&flow.languages, wanted) {
            Some(code) => Chosen {
                code: code.to_string(),
                reason: Reason::ContactField,
            },
            None => Chosen {
                code: base.clone(),
                reason: Reason::NotOffered(wanted.to_string()),
            },
        },
    })
}

/// whatlang's language for a code's base (ISO 639-1 or whatlang's own 639-3 code).
fn whatlang_of(code: &str) -> Option<whatlang::Lang> {
    use whatlang::Lang::*;
    let base = base_of(code).to_ascii_lowercase();
    let lang = match base.as_str() {
        "en" => Eng,
        "es" => Spa,
        "pt" => Por,
        "it" => Ita,
        "fr" => Fra,
        "de" => Deu,
        "ru" => Rus,
        "zh" => Cmn,
        "bn" => Ben,
        "uk" => Ukr,
        "ka" => Kat,
        "ar" => Ara,
        "hi" => Hin,
        "ja" => Jpn,
        "he" => Heb,
        "yi" => Yid,
        "pl" => Pol,
        "am" => Amh,
        "jv" => Jav,
        "ko" => Kor,
        "nb" | "no" => Nob,
        "da" => Dan,
        "sv" => Swe,
        "fi" => Fin,
        "tr" => Tur,
        "nl" => Nld,
        "hu" => Hun,
        "cs" => Ces,
        "el" => Ell,
        "bg" => Bul,
        "be" => Bel,
        "mr" => Mar,
        "kn" => Kan,
        "ro" => Ron,
        "sl" => Slv,
        "hr" => Hrv,
        "sr" => Srp,
        "mk" => Mkd,
        "lt" => Lit,
        "lv" => Lav,
        "et" => Est,
        "ta" => Tam,
        "vi" => Vie,
        "ur" => Urd,
        "th" => Tha,
        "gu" => Guj,
        "uz" => Uzb,
        "pa" => Pan,
        "az" => Aze,
        "id" => Ind,
        "te" => Tel,
        "fa" => Pes,
        "ml" => Mal,
        "or" => Ori,
        "my" => Mya,
        "ne" => Nep,
        "si" => Sin,
        "km" => Khm,
        "tk" => Tuk,
        "ak" => Aka,
        "zu" => Zul,
        "sn" => Sna,
        "af" => Afr,
        "la" => Lat,
        "sk" => Slk,
        "ca" => Cat,
        "tl" | "fil" => Tgl,
        "hy" => Hye,
        "eo" => Epo,
        other => return whatlang::Lang::from_code(other),
    };
    Some(lang)
}

/// Guesses which of `languages` `text` is in (its first `GUESS_CHARS_MAX` characters):
/// the language and the confidence, only when whatlang finds the guess reliable.
pub fn guess(languages: &[String], text: &str) -> Option<(String, f64)> {
    let allow: Vec<whatlang::Lang> = languages.iter().filter_map(|l| whatlang_of(l)).collect();
    if allow.len() < 2 {
        return None;
    }
    let end = text
        .char_indices()
        .nth(GUESS_CHARS_MAX)
        .map(|(i, _)| i)
        .unwrap_or(text.len());
    let info = whatlang::Detector::with_allowlist(allow).detect(&text[..end])?;
    if !info.is_reliable() {
        return None;
    }
    let code = languages
        .iter()
        .find(|l| whatlang_of(l) == Some(info.lang()))?;
    Some((code.clone(), info.confidence()))
}

/// The texts of one flow in one language: a translation when the contact's language is not
/// the flow's base and one is written, the base text otherwise.
#[derive(Clone, Copy)]
pub struct Tongue<'f> {
    translations: Option<(&'f Translations, &'f str)>,
}

impl<'f> Tongue<'f> {
    /// Texts as written (a flow without `languages:`, or the base language).
    pub const BASE: Tongue<'static> = Tongue { translations: None };

    /// The contact's language for `flow`, as the contact is now.
    pub fn of(flow: &'f Flow, contact: &Value) -> Self {
        let Some(base) = flow.languages.first() else {
            return Tongue::BASE;
        };
        match field(contact).and_then(|w| matching(&flow.languages, w)) {
            Some(code) if code != base => Tongue {
                translations: Some((&flow.translations, code)),
            },
            _ => Tongue::BASE,
        }
    }

    /// `base` in this language.
    pub fn text<'a>(&self, base: &'a str) -> &'a str
    where
        'f: 'a,
    {
        match self.translations {
            Some((t, code)) => t.text(code, base),
            None => base,
        }
    }
}

/// The language a template is sent in, among the config's `declared` languages of it: the
/// contact's (`chosen`) if declared, else its same-base variant, else the first of the
/// step's list that is declared, else the flow's base language; `None` keeps the step's.
pub fn template_language(
    spec: &TemplateSpec,
    flow_languages: &[String],
    chosen: Option<&str>,
    declared: &[String],
) -> Option<String> {
    let base = flow_languages.first()?;
    let is_declared = |l: &str| declared.iter().any(|d| d == l);
    if let Some(c) = chosen {
        if is_declared(c) {
            return Some(c.to_string());
        }
        if let Some(m) = matching(declared, c) {
            return Some(m.to_string());
        }
    }
    if let Some(l) = spec.languages.iter().find(|l| is_declared(l)) {
        return Some(l.clone());
    }
    Some(
        matching(declared, base)
            .map(str::to_string)
            .unwrap_or_else(|| base.clone()),
    )
}

impl Interpreter<'_> {
    /// A run of `flow` starts: the contact's language for it, guessed from the customer's
    /// message when the flow asks for it and nothing says it (the guess is kept as the
    /// contact's `language`), and the trace line saying why.
    pub(super) fn choose_language(&mut self, flow: &Flow) {
        choose(
            &self.ctx,
            &mut self.state,
            &mut self.contact,
            &mut self.output,
            flow,
        );
    }

    /// `text` of `flow` in the contact's language, blanks filled.
    pub(super) fn render_in(&self, flow: &Flow, text: &str) -> String {
        self.render(Tongue::of(flow, &self.contact.view).text(text))
    }

    /// A `language` step's answer (a code of the flow's languages) becomes the contact's
    /// `language` field, which this run's next texts and later runs read.
    pub(super) fn keep_language(&mut self, value: &Value) {
        let Some(code) = value.as_str().map(str::to_string) else {
            return;
        };
        let target = SetTarget::ContactAttribute(CONTACT_FIELD.to_string());
        assign(&mut self.state, &mut self.contact, &target, json!(code));
        self.output.decide(|| {
            format!(
                "language {}: the customer's choice, kept as the contact's language",
                named(&code)
            )
        });
    }

    /// The titles of an `agent` step's `send_buttons`, in the contact's language.
    pub(super) fn translate_buttons(&self, flow: &Flow, buttons: &mut [ReplyButton]) {
        let tongue = Tongue::of(flow, &self.contact.view);
        for b in buttons {
            b.title = tongue.text(&b.title).to_string();
        }
    }

    /// The line telling an `agent` step's model the customer's language, for a flow with
    /// `languages:`.
    pub(super) fn language_instruction(&self, flow: &Flow) -> Option<String> {
        let chosen = resolve(flow, &self.contact.view)?;
        let name = whatlang_of(&chosen.code)
            .map(|l| l.eng_name().to_string())
            .unwrap_or_else(|| chosen.code.clone());
        Some(format!(
            "The customer's language is {name} ({}); answer in it.",
            chosen.code
        ))
    }
}

fn choose(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    contact: &mut Contact,
    output: &mut Output,
    flow: &Flow,
) {
    let Some(mut chosen) = resolve(flow, &contact.view) else {
        return;
    };
    if chosen.reason == Reason::NoLanguage && flow.detect_language {
        if let Some((code, confidence)) =
            customer_text(ctx, state).and_then(|text| guess(&flow.languages, text))
        {
            let target = SetTarget::ContactAttribute(CONTACT_FIELD.to_string());
            assign(state, contact, &target, json!(code));
            chosen = Chosen {
                code,
                reason: Reason::Guessed(confidence),
            };
        }
    }
    output.decide(|| chosen.line(flow));
}

/// The customer's text that started the run in this event, if it did.
fn customer_text<'c>(ctx: &'c StepCtx<'_>, state: &ConversationState) -> Option<&'c str> {
    ctx.inbound_id.as_ref()?;
    let started_now = state.run.as_ref().is_some_and(|r| r.started_at == ctx.now);
    if !started_now || ctx.message.get("type").and_then(Value::as_str) != Some("text") {
        return None;
    }
    ctx.message.get("text").and_then(Value::as_str)
}

#[cfg(test)]
#[path = "language_tests.rs"]
mod tests;
