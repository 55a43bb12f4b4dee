//! `{{ path }}` text templating with defaults and simple filters:
//! `{{ contact.name | default: "there" }}`, `{{ message.text | upper }}`.
//! Unknown paths render as empty text, never as an error in front of a customer.
//!
//! The language itself — `pieces`, `parse_blank`, `ROOTS`, `Filter` — lives in
//! `flows::template`, which `parley check` reads too, so the checker and the renderer cannot
//! disagree.

use serde_json::Value;

use crate::flows::template::{parse_blank, pieces, Filter, Piece};

pub fn render(template: &str, scope: &Value) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) | Piece::Unclosed { rest: t, .. } => out.push_str(t),
            Piece::Blank { expr, .. } => out.push_str(&evaluate(expr.trim(), scope)),
        }
    }
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
    let (path, filters) = parse_blank(expr);
    let mut value = lookup(path, scope).map(to_text).unwrap_or_default();
    for (name, arg) in filters {
        value = match Filter::parse(name) {
            Some(Filter::Default) if value.trim().is_empty() => arg.unwrap_or_default().to_string(),
            Some(Filter::Default) | None => value,
            Some(Filter::Upper) => value.to_uppercase(),
            Some(Filter::Lower) => value.to_lowercase(),
            Some(Filter::Trim) => value.trim().to_string(),
            Some(Filter::Capitalize) => {
                let mut chars = value.chars();
                match chars.next() {
                    Some(first) => first.to_uppercase().chain(chars).collect(),
                    None => value,
                }
            }
        };
    }
    value
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
    use crate::flows::template::ROOTS;
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

    #[test]
    fn every_root_is_in_the_scope_flows_see() {
        let scope = crate::engine::scope::template_scope(
            &json!({}),
            &serde_json::Map::new(),
            &json!({}),
            chrono::Utc::now(),
        );
        let mut keys: Vec<&str> = scope
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        let mut roots = ROOTS.to_vec();
        roots.sort_unstable();
        assert_eq!(keys, roots);
    }
}
