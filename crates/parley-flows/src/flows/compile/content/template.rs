//! `template:` and a step's `fallback:` for a closed window, checked against the
//! configured templates.

use super::*;

/// `template: name` with `variables` and an optional `language` (a code, or a list giving
/// the fallback order in a flow with `languages:`), checked against the config's templates.
pub fn template(
    node: &YamlNode,
    variables: Option<&YamlNode>,
    language: Option<&YamlNode>,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<TemplateSpec> {
    let name = yaml::as_str(node, "`template`", problems)?;
    let at = yaml::pos(node);
    let codes = match language {
        Some(l) => languages_of(l, problems)?,
        None => Vec::new(),
    };
    let declared: Vec<&crate::config::TemplateConfig> =
        ctx.templates.iter().filter(|t| t.name == name).collect();
    let chosen = codes
        .iter()
        .find_map(|l| declared.iter().find(|t| t.language == *l))
        .or(declared.first());
    if let (Some(l), false) = (language, codes.is_empty() || declared.is_empty()) {
        if !codes
            .iter()
            .any(|w| declared.iter().any(|t| t.language == *w))
        {
            let have: Vec<&str> = declared.iter().map(|t| t.language.as_str()).collect();
            problems.error(
                yaml::pos(l),
                format!(
                    "the template `{name}` is not declared in {} in the config (it is declared in {})",
                    codes.join(", "),
                    have.join(", ")
                ),
                Some("name a language the config declares the template in, or declare it under `templates:` in that language".into()),
            );
        }
    }
    let Some(t) = chosen.copied() else {
        let names: Vec<&str> = ctx.templates.iter().map(|t| t.name.as_str()).collect();
        let hint = match did_you_mean(name, &names) {
            Some(s) => format!(
                "did you mean `{s}`? Templates are declared under `templates:` in the config"
            ),
            None => "declare it under `templates:` in the config, with its body and status".into(),
        };
        problems.error(
            at,
            format!("the template `{name}` is not declared in the config"),
            Some(hint),
        );
        return None;
    };
    if t.status != TemplateStatus::Approved {
        problems.error(
            at,
            format!(
                "the template `{name}` is {}, and WhatsApp only sends approved templates",
                t.status.as_str()
            ),
            Some("wait for Meta's approval and set `status: approved` in the config".into()),
        );
    }
    if t.category.is_none() {
        problems.warning(
            at,
            format!(
                "the template `{name}` has no category in the config, so if it is a marketing template Parley has no plan for WhatsApp's per-user marketing limit (131049) or a customer who stopped marketing (131050)"
            ),
            Some("add `category: marketing` (held back and resent a day or more later, skipped for customers who stopped marketing), `utility` or `authentication` to the template in the config".into()),
        );
    }
    let mut values = BTreeMap::new();
    if let Some(v) = variables {
        let m = yaml::as_map(v, "`variables`", problems)?;
        for (k, val) in m.iter() {
            blanks::check(val, ctx, problems);
            if let Some(text) = yaml::as_str(val, &format!("variable `{}`", k.as_str()), problems) {
                values.insert(k.as_str().to_string(), text.to_string());
            }
        }
    }
    let wanted = t.placeholders();
    let missing: Vec<&String> = wanted.iter().filter(|p| !values.contains_key(*p)).collect();
    let extra: Vec<&String> = values.keys().filter(|k| !wanted.contains(k)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        let list = |v: &[&String]| {
            v.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut msg = format!(
            "the template `{name}` has placeholders [{}]",
            list(&wanted.iter().collect::<Vec<_>>())
        );
        if !missing.is_empty() {
            msg.push_str(&format!("; `variables` is missing {}", list(&missing)));
        }
        if !extra.is_empty() {
            msg.push_str(&format!(
                "; `variables` has {} that the template does not use",
                list(&extra)
            ));
        }
        problems.error(
            variables.map(yaml::pos).unwrap_or(at),
            msg,
            Some(format!("the template's body is: {}", t.body)),
        );
    }
    Some(TemplateSpec {
        name: t.name.clone(),
        language: t.language.clone(),
        languages: codes,
        variables: values,
        quick_reply_payloads: Vec::new(),
        content_sid: t.twilio_content_sid.clone(),
    })
}

/// `if_window_closed: skip | fail | { template: name, variables: {…} }`
pub(in crate::flows::compile) fn fallback(
    node: &YamlNode,
    ctx: &LoadContext<'_>,
    problems: &mut Problems,
) -> Option<FallbackSpec> {
    match node {
        YamlNode::Scalar(s) => match s.as_str() {
            "skip" => Some(FallbackSpec::Skip),
            "fail" => Some(FallbackSpec::Fail),
            other => {
                problems.error(
                    yaml::pos(node),
                    format!("`if_window_closed: {other}` is not a choice"),
                    Some("use `skip`, `fail`, or `{ template: name, variables: {…} }`".into()),
                );
                None
            }
        },
        other => {
            let m = yaml::as_map(other, "`if_window_closed`", problems)?;
            yaml::check_keys(
                m,
                &["template", "variables", "language"],
                "`if_window_closed`",
                problems,
            );
            let Some(t) = m.get_node("template") else {
                problems.error(
                    yaml::pos(other),
                    "`if_window_closed` needs a `template`",
                    None,
                );
                return None;
            };
            let language = m.get_node("language");
            template(t, m.get_node("variables"), language, ctx, problems)
                .map(FallbackSpec::Template)
        }
    }
}

/// `language: es` or `language: [es_MX, es, en]`: language codes, at most
/// `languages::MAX_LANGUAGES`, each valid.
fn languages_of(node: &YamlNode, problems: &mut Problems) -> Option<Vec<String>> {
    use crate::flows::languages::{valid_code, MAX_LANGUAGES};
    let items: Vec<&YamlNode> = match node {
        YamlNode::Sequence(seq) => seq.iter().collect(),
        other => vec![other],
    };
    if items.is_empty() || items.len() > MAX_LANGUAGES {
        problems.error(
            yaml::pos(node),
            format!("a template's `language` lists 1 to {MAX_LANGUAGES} languages"),
            Some(
                "write `language: es`, or `language: [es_MX, es, en]` for a fallback order".into(),
            ),
        );
        return None;
    }
    let mut codes = Vec::new();
    for item in items {
        let code = yaml::as_str(item, "a template's `language`", problems)?;
        if !valid_code(code) {
            problems.error(
                yaml::pos(item),
                format!("`{code}` is not a language code"),
                Some("write two or three small letters, optionally `_` and a region in capitals: `en`, `es`, `pt_BR`".into()),
            );
            return None;
        }
        codes.push(code.to_string());
    }
    Some(codes)
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
