//! The `language` step (issue 58): asks the customer which of the flow's languages they
//! want, and keeps the answer as the contact's language. It compiles to an `ask` whose
//! question offers the languages, each named in itself (reply buttons for up to three, a
//! list beyond), their codes as ids, saved as `language` and as the contact's language.

use super::*;
use crate::flows::languages::native_name;

pub const LANGUAGE_KEYS: &[&str] = &["text", "retry_text", "timeout", "on_timeout"];

/// WhatsApp's most rows in a list message.
const MAX_LIST_ROWS: usize = 10;

pub(super) fn language_step(
    b: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    let value = a.value;
    let at = yaml::pos(value);
    if b.languages.len() < 2 {
        problems.error(
            at,
            format!(
                "the `language` step asks which of the flow's languages the customer wants, but the flow declares {}",
                match b.languages.len() {
                    0 => "no `languages:`".to_string(),
                    _ => "only one language".to_string(),
                }
            ),
            Some("declare two or more at the top, like `languages: [en, es]` (the first is the language the steps are written in)".into()),
        );
        return None;
    }
    if b.languages.len() > MAX_LIST_ROWS {
        problems.error(
            at,
            format!(
                "the flow declares {} languages; the `language` step's list holds at most {MAX_LIST_ROWS}",
                b.languages.len()
            ),
            Some("ask with buttons of your own (`ask` with `expect: button`) and `set: contact.language: …`".into()),
        );
        return None;
    }
    let (text, retry_text, waits) = match value {
        YamlNode::Mapping(m) => {
            yaml::check_keys(m, LANGUAGE_KEYS, "a `language` step", problems);
            let str_of = |key: &str, problems: &mut Problems| {
                m.get_node(key)
                    .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
                    .map(str::to_string)
            };
            let text = str_of("text", problems);
            if text.is_none() {
                problems.error(
                    at,
                    "the `language` step needs `text:`: the question, like \"Which language do you prefer?\"",
                    None,
                );
            }
            let retry_text = str_of("retry_text", problems);
            let waits = super::ask::answer_waits(b, m, a.index, "1h", problems);
            (text?, retry_text, waits)
        }
        other => {
            let text = yaml::as_str(other, "`language`", problems)?.to_string();
            let waits = super::ask::AnswerWaits {
                timeout: None,
                on_timeout: None,
                on_invalid: None,
            };
            (text, None, waits)
        }
    };
    if text.trim().is_empty() {
        problems.error(
            at,
            "the `language` step's question is empty",
            Some("write the question, like `language: \"Which language do you prefer?\"`".into()),
        );
        return None;
    }
    let choices: Vec<(String, String)> = b
        .languages
        .iter()
        .map(|code| {
            let name = native_name(code).unwrap_or(code.as_str());
            (code.clone(), name.chars().take(20).collect())
        })
        .collect();
    let content = if choices.len() <= 3 {
        ContentSpec::Buttons {
            body: text,
            header: None,
            footer: None,
            buttons: choices,
        }
    } else {
        ContentSpec::List {
            body: text,
            header: None,
            footer: None,
            button: "🌐".into(),
            sections: vec![(
                None,
                choices
                    .into_iter()
                    .map(|(code, name)| (code, name, None))
                    .collect(),
            )],
        }
    };
    Some(Op::Ask(Box::new(AskSpec {
        prompt: Some(SendSpec {
            content,
            if_window_closed: Default::default(),
        }),
        save_as: crate::domain::language::CONTACT_FIELD.to_string(),
        expect: Expect::Button,
        retries: 2,
        retry_text,
        timeout: waits.timeout,
        on_timeout: waits.on_timeout,
        on_invalid: waits.on_invalid,
        sets_language: true,
    })))
}
