//! The steps that change what the conversation remembers: `set` (variables and the
//! contact's fields), `tag` and `untag`.

use super::*;

pub(super) fn set_step(b: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    let m = yaml::as_map(a.value, "`set`", problems)?;
    let mut assignments = Vec::new();
    for (k, v) in m.iter() {
        let key = k.as_str();
        let target = if key == "contact.name" {
            SetTarget::ContactName
        } else if let Some(attr) = key.strip_prefix("contact.") {
            SetTarget::ContactAttribute(attr.to_string())
        } else {
            SetTarget::Var(key.strip_prefix("vars.").unwrap_or(key).to_string())
        };
        if key.is_empty()
            || key.contains(char::is_whitespace)
            || matches!(&target, SetTarget::ContactAttribute(a) if a.is_empty())
            || matches!(&target, SetTarget::Var(v) if v.is_empty())
        {
            problems.error(
                yaml::scalar_pos(k),
                format!("`{key}` is not a variable name"),
                Some("use one word, like `order_id` or `contact.city`".into()),
            );
        }
        let text = yaml::as_str(v, &format!("the value of `{key}`"), problems)?;
        let spec = match (text.strip_prefix('='), plain_value(v)) {
            (_, Some(value)) => ValueSpec::Value(value),
            (Some(code), None) => {
                let value = compile_expr(b, code.trim(), v, problems)?;
                condition_mistakes(&value, false, problems);
                ValueSpec::Expr(value)
            }
            (None, None) => {
                blanks::check(v, b.ctx, problems);
                ValueSpec::Text(text.to_string())
            }
        };
        assignments.push((target, spec));
    }
    Some(Op::Set { assignments })
}

pub(super) fn tag_step(_: &mut Builder<'_>, a: &Action<'_>, problems: &mut Problems) -> Option<Op> {
    Some(Op::Tag(tags(a.value, problems)))
}

pub(super) fn untag_step(
    _: &mut Builder<'_>,
    a: &Action<'_>,
    problems: &mut Problems,
) -> Option<Op> {
    Some(Op::Untag(tags(a.value, problems)))
}

/// The tags of a `tag` or `untag`: one or a list, none of them empty.
fn tags(value: &YamlNode, problems: &mut Problems) -> Vec<String> {
    let tags: Vec<String> = yaml::as_list(value)
        .into_iter()
        .filter_map(|n| yaml::as_str(n, "a tag", problems))
        .map(|s| s.trim().to_string())
        .collect();
    if tags.iter().any(String::is_empty) {
        problems.error(yaml::pos(value), "a tag cannot be empty", None);
    }
    tags
}
