//! One step of a test file, from its YAML: what each kind of step takes, and in plain
//! words what is wrong when a step would check nothing or YAML reads it otherwise than
//! meant (a setting beside its check instead of under it).

use super::places::{self, as_written, written, Seg};
use super::{
    unknown_field, ExpectReply, Located, Step, Wanted, BAD_PATTERN, REPLY_SETTINGS, STEP_KINDS,
};
use serde_yaml::Value;
use std::collections::BTreeMap;

/// A step, from its value as `serde_yaml` reads it and as the marked parser does (`node`,
/// for the places of its parts and the text of its numbers).
pub(super) fn step(raw: &Value, node: Option<&marked_yaml::Node>) -> Result<Step, Located> {
    let Value::Mapping(map) = raw else {
        return Err("a step is one line like `- customer: hi` or `- expect_reply: …`".into());
    };
    if map.len() != 1 {
        return Err(misplaced(map, node).unwrap_or_else(|| {
            "write one action or check per step (each on its own `- ` line)".into()
        }));
    }
    let (key, value) = map.iter().next().expect("one entry");
    let key = key.as_str().unwrap_or("");
    if !STEP_KINDS.contains(&key) {
        return Err(Located::at(vec![Seg::Name(key.into())], not_a_step(key)));
    }
    let value_node = node
        .and_then(|n| n.as_mapping())
        .and_then(|m| m.get_node(key));
    step_of_kind(key, value, value_node).map_err(|e| {
        let mut path = vec![Seg::Value(key.into())];
        path.extend(e.path);
        Located::at(path, e.message)
    })
}

/// What may go under a step: the settings of `expect_reply`, or any names (the variables
/// `expect_vars` checks, say).
enum Settings {
    Only(&'static [&'static str]),
    Any,
}

fn settings_of(kind: &str) -> Option<Settings> {
    match kind {
        "expect_reply" | "expect_template" => Some(Settings::Only(REPLY_SETTINGS)),
        "expect_vars" | "expect_contact" | "customer_sends" | "customer_submits_form" => {
            Some(Settings::Any)
        }
        _ => None,
    }
}

/// The most common slip in a step: a setting of the check written beside it instead of
/// under it, so YAML reads it as a second entry of the step:
///
/// ```yaml
///   - expect_reply:
///     text_contains: Hello      # belongs two spaces further right
/// ```
fn misplaced(map: &serde_yaml::Mapping, node: Option<&marked_yaml::Node>) -> Option<Located> {
    let mut kinds = map
        .keys()
        .filter_map(Value::as_str)
        .filter(|k| STEP_KINDS.contains(k));
    let (Some(kind), None) = (kinds.next(), kinds.next()) else {
        return None;
    };
    let settings = settings_of(kind)?;
    if !matches!(map.get(kind), Some(Value::Null | Value::Mapping(_))) {
        return None;
    }
    let name = map
        .keys()
        .filter_map(Value::as_str)
        .filter(|k| *k != kind)
        .find(|k| match &settings {
            Settings::Only(names) => names.contains(k),
            Settings::Any => true,
        })?;
    // Where the check's settings start, or would start when it has none yet.
    let first_inside = node
        .and_then(|n| n.as_mapping())
        .and_then(|m| m.get_node(kind))
        .and_then(|n| n.as_mapping())
        .and_then(|m| m.keys().next());
    let kind_at = node.and_then(|n| places::name_place(n, kind));
    let (column, like) = match first_inside {
        Some(first) => (
            first.span().start().map(|m| m.column()),
            format!("with `{}:`", first.as_str()),
        ),
        None => (
            kind_at.map(|p| p.column + 2),
            format!("under `{kind}`'s contents"),
        ),
    };
    let name_at = node.and_then(|n| places::name_place(n, name));
    let how = match (column, name_at) {
        (Some(column), Some(at)) if column > at.column => {
            format!(
                "indent it {}",
                crate::flows::more_spaces(column - at.column)
            )
        }
        _ => "indent it".to_string(),
    };
    Some(Located::at(
        vec![Seg::Name(name.into())],
        format!("`{name}:` belongs under `{kind}:`; {how} so it lines up {like}"),
    ))
}

/// What `- customer: hi` and the like say is wrong, without a place.
fn not_a_step(other: &str) -> String {
    let near = STEP_KINDS
        .iter()
        .map(|k| (crate::flows::triggers::explain::edit_distance(other, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    format!(
        "`{other}` is not a step{near}; steps are: {}",
        STEP_KINDS.join(", ")
    )
}

/// A step of a kind Parley has (`key`), from its value and the value's marked `node`; a
/// mistake's way starts at the value.
fn step_of_kind(
    key: &str,
    value: &Value,
    node: Option<&marked_yaml::Node>,
) -> Result<Step, Located> {
    let json = |v: &Value| serde_json::to_value(v).map_err(|e| e.to_string());
    let map_of = |v: &Value| -> Result<BTreeMap<String, serde_json::Value>, String> {
        serde_yaml::from_value(v.clone())
            .map_err(|_| format!("`{key}` takes settings like `{{ name: value }}`"))
    };
    Ok(match key {
        "customer" => Step::Customer(text(key, value, node)?),
        "customer_taps" => Step::CustomerTaps(text(key, value, node)?),
        "customer_sends" => Step::CustomerSends(json(value)?),
        "customer_submits_form" => Step::CustomerSubmitsForm(map_of(value)?),
        "expect_reply" => match value {
            Value::Null => return Err(
                "`expect_reply` needs the reply's text after it, like `expect_reply: \"Hello\"`, or checks on the lines under it, indented two more spaces, like `text_contains: Hello`".into()
            ),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                Step::ExpectReply(Box::new(ExpectReply {
                    text: Some(text(key, value, node)?),
                    ..Default::default()
                }))
            }
            other => Step::ExpectReply(Box::new(reply_checks(key, other, node)?)),
        },
        "expect_template" => {
            let mut e = match as_written(value, node) {
                Value::String(name) => ExpectReply {
                    template: Some(name),
                    ..Default::default()
                },
                other => reply_checks(key, &other, node)?,
            };
            e.template = e.template.or(e.template_name.take());
            if e.template.is_none() {
                return Err("expect_template needs the template's `name`".into());
            }
            Step::ExpectReply(Box::new(e))
        }
        "expect_no_reply" => {
            switch(key, value, node)?;
            Step::ExpectNoReply
        }
        "duplicate_last_webhook" => {
            switch(key, value, node)?;
            Step::DuplicateLastWebhook
        }
        "expect_vars" => Step::ExpectVars(wanted(
            key,
            "the variables to check, like `expect_vars: { company: Acme }`",
            value,
            node,
        )?),
        "expect_contact" => Step::ExpectContact(wanted(
            key,
            "the contact's details to check, like `expect_contact: { email: carmen@acme.com }`",
            value,
            node,
        )?),
        "expect_tags" | "expect_no_tags" => {
            let tags = tags(key, value, node)?;
            if key == "expect_tags" {
                Step::ExpectTags(tags)
            } else {
                Step::ExpectNoTags(tags)
            }
        }
        "advance" => {
            let t = text(key, value, node)?;
            Step::Advance(crate::config::duration::parse(&t).map_err(|e| match e {
                crate::config::duration::DurationError::TooLong => {
                    format!("`advance` of {} is {e}; advance in shorter steps", t.trim())
                }
                _ => format!(
                    "advance: `{t}` is not a duration ({e}); write it like 23h, 10m or 1h 30m"
                ),
            })?)
        }
        "run_schedule" => Step::RunSchedule(text(key, value, node)?),
        other => return Err(not_a_step(other).into()),
    })
}

/// How a step that takes a text is written, for the message when it has none.
fn example(key: &str) -> &'static str {
    match key {
        "customer" => "`customer: hi`",
        "customer_taps" => "`customer_taps: Get a quote`",
        "expect_reply" => "`expect_reply: \"Hello\"`",
        "advance" => "`advance: 23h`",
        "run_schedule" => "`run_schedule: abandoned_cart`",
        _ => "`customer: hi`",
    }
}

/// The text a step takes, exactly as the file wrote it: `customer: 2` answers a menu with
/// `2`, and `customer: +34600000001` sends the `+` too.
fn text(key: &str, value: &Value, node: Option<&marked_yaml::Node>) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        // Without the marked tree (a file with anchors) the written text is lost.
        Value::Number(_) | Value::Bool(_) => written(node).map(str::to_string).ok_or_else(|| {
            format!(
                "put the text after `{key}:` in quotes, like `{key}: \"12.50\"`, so Parley reads it exactly as written"
            )
        }),
        Value::Null => Err(format!(
            "`{key}` needs a text after it, like {}",
            example(key)
        )),
        _ => Err(format!("`{key}` takes a text, like {}", example(key))),
    }
}

/// The checks of an `expect_reply` or `expect_template` written as settings.
fn reply_checks(
    key: &str,
    value: &Value,
    node: Option<&marked_yaml::Node>,
) -> Result<ExpectReply, Located> {
    serde_yaml::from_value(as_written(value, node)).map_err(|e| {
        let message = e.to_string();
        let path = if let Some(field) = unknown_field(&message) {
            vec![Seg::Name(field.into())]
        } else if message.starts_with(BAD_PATTERN) {
            vec![Seg::Value("text_matches".into())]
        } else {
            Vec::new()
        };
        Located::at(path, format!("{key}: {message}"))
    })
}

/// `expect_no_reply: true`: the only values are true and false, and false does nothing.
fn switch(key: &str, value: &Value, node: Option<&marked_yaml::Node>) -> Result<(), String> {
    match value {
        Value::Bool(true) => Ok(()),
        Value::Bool(false) => Err(format!("`{key}: false` does nothing; remove the step")),
        Value::Null => Err(format!(
            "`{key}` needs `true` after it: write `{key}: true`"
        )),
        other => {
            let shown = written(node)
                .map(str::to_string)
                .unwrap_or_else(|| serde_yaml::to_string(other).unwrap_or_default());
            Err(format!(
                "`{key}` takes true or false, not `{}`: write `{key}: true`",
                shown.trim()
            ))
        }
    }
}

/// The values `expect_vars` or `expect_contact` check; at least one (`needs` says what).
fn wanted(
    key: &str,
    needs: &str,
    value: &Value,
    node: Option<&marked_yaml::Node>,
) -> Result<BTreeMap<String, Wanted>, Located> {
    let map = match value {
        Value::Mapping(map) if !map.is_empty() => map,
        Value::Null | Value::Mapping(_) => return Err(format!("`{key}` needs {needs}").into()),
        _ => return Err(format!("`{key}` takes settings, like {needs}").into()),
    };
    let nodes = node.and_then(|n| n.as_mapping());
    let mut wanted = BTreeMap::new();
    for (name, v) in map {
        let Some(name) = name.as_str() else {
            return Err(format!("`{key}` takes names and values, like {needs}").into());
        };
        let at = || vec![Seg::Value(name.into())];
        let value =
            serde_json::to_value(v).map_err(|e| Located::at(at(), format!("{name}: {e}")))?;
        let written = match v {
            Value::Number(_) => written(nodes.and_then(|m| m.get_node(name))).map(str::to_string),
            _ => None,
        };
        wanted.insert(name.to_string(), Wanted { value, written });
    }
    Ok(wanted)
}

/// The tags `expect_tags` or `expect_no_tags` name: one, or a list. A number is a tag's
/// name as written (`2024`).
fn tags(
    key: &str,
    value: &Value,
    node: Option<&marked_yaml::Node>,
) -> Result<Vec<String>, Located> {
    let needs = || format!("`{key}` needs a tag or a list of tags, like `{key}: [vip]`");
    let name = |v: &Value, node| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(_) => written(node).map(str::to_string),
        _ => None,
    };
    match value {
        Value::Null => Err(needs().into()),
        Value::Sequence(items) => {
            let nodes = node.and_then(|n| n.as_sequence());
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    name(item, nodes.and_then(|s| s.get(i))).ok_or_else(|| {
                        Located::at(vec![Seg::Item(i)], format!(
                            "item {} of `{key}` is not a tag: write each tag's name alone, like `{key}: [lead, vip]`",
                            i + 1
                        ))
                    })
                })
                .collect()
        }
        Value::Mapping(_) => Err(format!(
            "`{key}` takes tag names, not settings: write them alone, like `{key}: [lead, vip]`"
        )
        .into()),
        other => name(other, node)
            .map(|t| vec![t])
            .ok_or_else(|| needs().into()),
    }
}
