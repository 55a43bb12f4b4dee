//! `ask`: the question, what answer it expects, and the checks of both.

use super::*;

pub(super) fn ask(
    b: &mut Builder<'_>,
    value: &YamlNode,
    index: usize,
    problems: &mut Problems,
) -> Option<AskSpec> {
    let m = yaml::as_map(value, "`ask`", problems)?;
    blanks::check_keys(m, &["retry_text"], b.ctx, problems);
    let prompt = if content::has_content(m) {
        Some(send_spec(value, ASK_KEYS, "an `ask`", b.ctx, problems)?)
    } else {
        let mut allowed = ASK_KEYS.to_vec();
        allowed.push("if_window_closed");
        yaml::check_keys(m, &allowed, "an `ask`", problems);
        None
    };
    let str_of = |key: &str, problems: &mut Problems| {
        m.get_node(key)
            .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
            .map(str::to_string)
    };
    let save_as = match str_of("save_as", problems) {
        Some(name) => {
            let name = name.strip_prefix("vars.").unwrap_or(&name).to_string();
            check_save_as(&name, m.get_node("save_as")?, problems);
            Some(name)
        }
        None => {
            problems.error(
                yaml::pos(value),
                "`ask` needs `save_as:`: the variable that keeps the answer",
                Some("for example `save_as: email`, then use it as {{ vars.email }}".into()),
            );
            None
        }
    };
    let expect_name = str_of("expect", problems).unwrap_or_else(|| "text".into());
    // Every other key is checked even when these two failed: one run of `parley check`
    // names every mistake of the step.
    let expect = expect_of(m, value, &expect_name, problems);
    let retries = m
        .get_node("retries")
        .and_then(|n| yaml::as_int(n, "`retries`", problems))
        .unwrap_or(2);
    if !(0..=10).contains(&retries) {
        problems.error(
            yaml::pos(m.get_node("retries")?),
            "`retries` must be between 0 and 10",
            None,
        );
    }
    let waits = answer_waits(b, m, index, "10m", problems);
    let (save_as, expect) = (save_as?, expect?);
    let prompt = address_prompt(&expect, prompt, m, value, problems)?;
    Some(AskSpec {
        prompt,
        save_as,
        expect,
        retries: retries.clamp(0, 10) as u32,
        retry_text: str_of("retry_text", problems),
        timeout: waits.timeout,
        on_timeout: waits.on_timeout,
        on_invalid: waits.on_invalid,
        sets_language: false,
    })
}

/// How a step waiting for an answer (`ask`, `form`) stops waiting.
pub(in crate::flows::compile) struct AnswerWaits {
    pub timeout: Option<std::time::Duration>,
    pub on_timeout: Option<crate::flows::model::Target>,
    pub on_invalid: Option<crate::flows::model::Target>,
}

/// `timeout`, `on_timeout` (which needs a timeout, like `timeout: {example}`) and
/// `on_invalid` of `m`, the step at `index`.
pub(in crate::flows::compile) fn answer_waits(
    b: &mut Builder<'_>,
    m: &marked_yaml::types::MarkedMappingNode,
    index: usize,
    example: &str,
    problems: &mut Problems,
) -> AnswerWaits {
    let timeout = m
        .get_node("timeout")
        .and_then(|n| yaml::as_duration(n, "`timeout`", problems));
    let on_timeout = m.get_node("on_timeout").map(|n| {
        if timeout.is_none() {
            problems.error(
                yaml::pos(n),
                format!("`on_timeout` needs a `timeout:` too, like `timeout: {example}`"),
                None,
            );
        }
        b.branch(n, index, Slot::OnTimeout, problems)
    });
    let on_invalid = m
        .get_node("on_invalid")
        .map(|n| b.branch(n, index, Slot::OnInvalid, problems));
    AnswerWaits {
        timeout,
        on_timeout,
        on_invalid,
    }
}

/// What an `ask` named `name` in `expect:` checks its answer against; `None` after
/// reporting why it cannot.
pub(super) fn expect_of(
    m: &marked_yaml::types::MarkedMappingNode,
    value: &YamlNode,
    name: &str,
    problems: &mut Problems,
) -> Option<Expect> {
    Some(match name {
        "text" => Expect::Text,
        "number" => Expect::Number,
        "email" => Expect::Email,
        "phone" => Expect::Phone,
        "button" => Expect::Button,
        "choice" => {
            let Some(node) = m.get_node("choices") else {
                problems.error(
                    yaml::pos(value),
                    "`expect: choice` needs `choices: [...]`: the answers to accept",
                    None,
                );
                return None;
            };
            let choices: Vec<String> = yaml::as_list(node)
                .into_iter()
                .filter_map(|n| yaml::as_str(n, "a choice", problems))
                .map(str::to_string)
                .collect();
            Expect::Choice(choices)
        }
        "regex" => {
            let Some(node) = m.get_node("pattern") else {
                problems.error(yaml::pos(value), "`expect: regex` needs `pattern:`", None);
                return None;
            };
            let pattern = yaml::as_str(node, "`pattern`", problems)?;
            match regex::Regex::new(pattern) {
                Ok(r) => Expect::Regex(r),
                Err(e) => {
                    let last = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ")
                        .to_string();
                    problems.error(
                        yaml::pos(node),
                        format!(
                            "the pattern `{pattern}` is not a valid regular expression: {last}"
                        ),
                        None,
                    );
                    return None;
                }
            }
        }
        "media" => {
            let media = m
                .get_node("media")
                .and_then(|n| yaml::as_str(n, "`media`", problems))
                .map(str::to_string);
            let kind = match media {
                None => None,
                Some(k) => match MediaKind::parse(&k) {
                    Some(k) => Some(k),
                    None => {
                        problems.error(
                            yaml::pos(m.get_node("media")?),
                            format!("`{k}` is not a media kind"),
                            Some("use image, video, audio, document or sticker".into()),
                        );
                        return None;
                    }
                },
            };
            Expect::Media(kind)
        }
        "address" => Expect::Address,
        other => {
            let hint = did_you_mean(other, EXPECT)
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("choose one of: {}", EXPECT.join(", ")));
            problems.error(
                yaml::pos(m.get_node("expect")?),
                format!("`expect: {other}` is not something Parley can check"),
                Some(hint),
            );
            return None;
        }
    })
}

/// With `expect: address` the question goes out as WhatsApp's address form: its text
/// (header, footer) and `country` (`IN`, or `SG`).
pub(super) fn address_prompt(
    expect: &Expect,
    prompt: Option<SendSpec>,
    m: &marked_yaml::types::MarkedMappingNode,
    value: &YamlNode,
    problems: &mut Problems,
) -> Option<Option<SendSpec>> {
    let country_node = m.get_node("country");
    if !matches!(expect, Expect::Address) {
        if let Some(n) = country_node {
            problems.error(
                yaml::pos(n),
                "`country` is only for `expect: address`",
                None,
            );
        }
        return Some(prompt);
    }
    let country = match country_node {
        None => "IN".to_string(),
        Some(n) => yaml::as_str(n, "`country`", problems)?.to_uppercase(),
    };
    if !matches!(country.as_str(), "IN" | "SG") {
        problems.error(
            yaml::pos(country_node?),
            format!("WhatsApp's address form is not offered for `{country}`"),
            Some("use `IN` (India) or `SG` (Singapore)".into()),
        );
        return None;
    }
    let Some(SendSpec {
        content: ContentSpec::Text { body },
        if_window_closed,
    }) = prompt
    else {
        problems.error(
            yaml::pos(value),
            "`expect: address` needs `text:`: the message above the address form's button (no buttons, list or media)",
            None,
        );
        return None;
    };
    let s = |key: &str, problems: &mut Problems| {
        m.get_node(key)
            .and_then(|n| yaml::as_str(n, &format!("`{key}`"), problems))
            .map(str::to_string)
    };
    Some(Some(SendSpec {
        content: ContentSpec::AddressRequest {
            body,
            header: s("header", problems),
            footer: s("footer", problems),
            country,
        },
        if_window_closed,
    }))
}
