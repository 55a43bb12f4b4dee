//! `{{ path }}` text templating with defaults and simple filters:
//! `{{ contact.name | default: "there" }}`, `{{ message.text | upper }}`.
//! Unknown paths render as empty text, never as an error in front of a customer.
//!
//! The language itself — `pieces`, `parse_blank`, `ROOTS`, `Filter` — lives in
//! `flows::template`, which `parley check` reads too, so the checker and the renderer cannot
//! disagree.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::borrow::Cow;

use crate::flows::template::{parse_blank, pieces, Filter, Piece};

/// What a template's blanks read: a JSON object whose keys are the roots, or a run's
/// `Roots`, borrowed where they are.
pub trait Scope {
    /// The value at `path` (`contact.name`, `vars.items.0`), if there is one; each key of
    /// the path is trimmed.
    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>>;
}

impl Scope for Value {
    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        walk(self, path).map(Cow::Borrowed)
    }
}

/// The roots a flow's templates read (`flows::template::ROOTS`), borrowed from the run:
/// rendering a message copies nothing but the values its blanks name (a scope built as one
/// JSON object copied the contact, the variables and the message for every text rendered).
pub struct Roots<'a> {
    pub contact: &'a Value,
    /// The run's variables; `None` outside a run (no variable is set).
    pub vars: Option<&'a Map<String, Value>>,
    pub message: &'a Value,
    pub now: DateTime<Utc>,
}

impl Scope for Roots<'_> {
    fn lookup(&self, path: &str) -> Option<Cow<'_, Value>> {
        let (root, rest) = first_key(path);
        let start = match root.trim() {
            "contact" => self.contact,
            "message" => self.message,
            "vars" => {
                let Some(rest) = rest else {
                    return Some(Cow::Owned(Value::Object(
                        self.vars.cloned().unwrap_or_default(),
                    )));
                };
                let (name, rest) = first_key(rest);
                let value = self.vars?.get(name.trim())?;
                return rest
                    .map_or(Some(value), |rest| walk(value, rest))
                    .map(Cow::Borrowed);
            }
            // A text: a path inside it finds nothing.
            "now" => {
                return rest
                    .is_none()
                    .then(|| Cow::Owned(Value::String(self.now.to_rfc3339())))
            }
            _ => return None,
        };
        rest.map_or(Some(start), |rest| walk(start, rest))
            .map(Cow::Borrowed)
    }
}

/// A path's first key and the rest after its dot, if any.
fn first_key(path: &str) -> (&str, Option<&str>) {
    match path.split_once('.') {
        Some((key, rest)) => (key, Some(rest)),
        None => (path, None),
    }
}

pub fn render<S: Scope + ?Sized>(template: &str, scope: &S) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) | Piece::Unclosed { rest: t, .. } => out.push_str(t),
            Piece::Blank { expr, .. } => out.push_str(&evaluate(expr.trim(), scope)),
        }
    }
    out
}

/// Renders an `http` step's URL. A blank in the URL's path, query or fragment (after the
/// host) is percent-encoded: the value stays one value, so a customer's `../../admin?all=1`
/// cannot walk to another path or add parameters on the author's service (with the
/// author's headers). A blank before that (the whole URL or its base, from a variable) is
/// put in as it is.
pub fn render_url<S: Scope + ?Sized>(template: &str, scope: &S) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) | Piece::Unclosed { rest: t, .. } => out.push_str(t),
            Piece::Blank { expr, .. } => {
                let value = evaluate(expr.trim(), scope);
                if past_the_host(&out) {
                    crate::net::percent_encode_into(&mut out, &value, b"");
                } else {
                    out.push_str(&value);
                }
            }
        }
    }
    out
}

/// Whether text written so far ends past a URL's host.
fn past_the_host(prefix: &str) -> bool {
    prefix
        .find("://")
        .is_some_and(|i| prefix[i + 3..].contains(['/', '?', '#']))
}

/// Renders every string inside a JSON value (the `http` step's body).
pub fn render_json<S: Scope + ?Sized>(template: &Value, scope: &S) -> Value {
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

fn evaluate<S: Scope + ?Sized>(expr: &str, scope: &S) -> String {
    let (path, filters) = parse_blank(expr);
    let mut value = scope.lookup(path).map(|v| to_text(&v)).unwrap_or_default();
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

/// The value at `path` inside `scope`.
fn walk<'a>(scope: &'a Value, path: &str) -> Option<&'a Value> {
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

    /// A customer's text in a URL's path or query stays one value; a base URL from a
    /// variable is put in as it is.
    #[test]
    fn blanks_past_the_host_are_percent_encoded() {
        let scope = json!({ "vars": { "q": "../../admin/users?all=1#", "base": "https://api.example.com/v1", "n": "4821" } });
        assert_eq!(
            render_url("https://api.example.com/orders/{{ vars.q }}", &scope),
            "https://api.example.com/orders/..%2F..%2Fadmin%2Fusers%3Fall%3D1%23"
        );
        assert_eq!(
            render_url(
                "https://api.example.com/search?q={{ vars.q }}&n={{ vars.n }}",
                &scope
            ),
            "https://api.example.com/search?q=..%2F..%2Fadmin%2Fusers%3Fall%3D1%23&n=4821"
        );
        assert_eq!(
            render_url("{{ vars.base }}/orders/{{ vars.n }}", &scope),
            "https://api.example.com/v1/orders/4821"
        );
        assert_eq!(
            render_url("https://{{ vars.n }}.example.com/x", &scope),
            "https://4821.example.com/x"
        );
        let scope = json!({ "vars": { "q": "José %2e" } });
        assert_eq!(
            render_url("https://a.example/{{ vars.q }}", &scope),
            "https://a.example/Jos%C3%A9%20%252e"
        );
    }

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

    /// Each root flows may name is found, and a path reads the same from the borrowed
    /// roots as from one JSON object holding them.
    #[test]
    fn the_borrowed_roots_read_as_the_scope_object_does() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let contact = json!({"name": "Ana", "fields": {"city": "Lima"}, "tags": ["vip"]});
        let vars = json!({"order": {"items": [{"sku": "A1"}]}, "n": 3, "empty": null});
        let message = json!({"text": "hola", "type": "text"});
        let roots = Roots {
            contact: &contact,
            vars: vars.as_object(),
            message: &message,
            now,
        };
        for root in ROOTS {
            assert!(roots.lookup(root).is_some(), "root {root} not found");
        }
        let object =
            json!({"contact": contact, "vars": vars, "message": message, "now": now.to_rfc3339()});
        for path in [
            "contact",
            "contact.name",
            " contact . fields.city ",
            "contact.tags.0",
            "contact.tags.1",
            "vars",
            "vars.order.items.0.sku",
            "vars. n",
            "vars.empty",
            "vars.missing",
            "vars.n.deeper",
            "message.text",
            "message",
            "now",
            "now.year",
            "nothing",
            "nothing.here",
            "",
            "contact.",
        ] {
            assert_eq!(
                roots.lookup(path).map(Cow::into_owned),
                object.lookup(path).map(Cow::into_owned),
                "path {path:?}"
            );
        }
        assert_eq!(
            render(
                "{{ vars.order.items.0.sku | lower }} {{contact.name}} {{ now }}",
                &roots
            ),
            "a1 Ana 2026-11-26T10:00:00+00:00"
        );
    }
}
