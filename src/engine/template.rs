//! `{{ path }}` text templating with defaults and simple filters:
//! `{{ contact.name | default: "there" }}`, `{{ message.text | upper }}`.
//! Unknown paths render as empty text, never as an error in front of a customer.

use serde_json::Value;

pub fn render(template: &str, scope: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        out.push_str(&evaluate(after[..end].trim(), scope));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders every string inside a JSON value (the `http` step's body).
pub fn render_json(template: &Value, scope: &Value) -> Value {
    match template {
        Value::String(s) => Value::String(render(s, scope)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_json(v, scope)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_json(v, scope)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn evaluate(expr: &str, scope: &Value) -> String {
    let mut parts = expr.split('|');
    let path = parts.next().unwrap_or("").trim();
    let mut value = lookup(path, scope).map(to_text).unwrap_or_default();
    for filter in parts {
        let filter = filter.trim();
        let (name, arg) = match filter.split_once(':') {
            Some((n, a)) => (n.trim(), Some(unquote(a.trim()))),
            None => (filter, None),
        };
        value = match name {
            "default" if value.trim().is_empty() => arg.unwrap_or_default().to_string(),
            "upper" => value.to_uppercase(),
            "lower" => value.to_lowercase(),
            "trim" => value.trim().to_string(),
            "capitalize" => {
                let mut chars = value.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => value,
                }
            }
            _ => value,
        };
    }
    value
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

fn lookup<'a>(path: &str, scope: &'a Value) -> Option<&'a Value> {
    let mut current = scope;
    for key in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(key.trim())?,
            Value::Array(items) => items.get(key.trim().parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn to_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_paths_defaults_and_filters() {
        let scope = json!({"contact": {"name": "Ana", "city": null}, "vars": {"n": 3}});
        assert_eq!(render("pong {{ contact.name }}", &scope), "pong Ana");
        assert_eq!(
            render("{{contact.city | default: \"Madrid\"}}", &scope),
            "Madrid"
        );
        assert_eq!(render("{{ contact.name | upper }}!", &scope), "ANA!");
        assert_eq!(render("n={{ vars.n }}", &scope), "n=3");
        assert_eq!(render("{{ nothing.here }}|", &scope), "|");
        assert_eq!(render("unclosed {{ x", &scope), "unclosed {{ x");
    }
}
