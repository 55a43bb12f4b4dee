//! Which scope of an API key each key-protected route needs: ONE table, `SCOPES`, for the
//! API's `ROUTES` (but the OpenAPI document, which needs no key) and the studio's
//! `/studio/api/…`. A key without `scopes` may call every route; a key with scopes, the
//! routes whose scope it has. A route missing here is refused to every key with scopes,
//! and a test fails (`every_route_has_exactly_one_scope`), so a new route cannot slip by.

use crate::config::{ApiKeyConfig, ApiScope};

use ApiScope::*;

/// `(method, route template, scope)`, grouped by scope.
pub const SCOPES: &[(&str, &str, ApiScope)] = &[
    ("POST", "/api/user/whatsapp/send-freeform", Send),
    ("POST", "/api/user/whatsapp/send", Send),
    ("POST", "/api/v1/messages/send-message", Send),
    (
        "POST",
        "/api/conversations/{conversation_id}/messages",
        Send,
    ),
    ("POST", "/api/conversations/{conversation_id}/release", Send),
    ("GET", "/api/user/whatsapp/session-status", Read),
    ("GET", "/api/user/whatsapp/senders", Read),
    ("GET", "/api/user/whatsapp/templates", Read),
    ("GET", "/api/conversations", Read),
    ("GET", "/api/conversations/{conversation_id}/messages", Read),
    (
        "GET",
        "/api/conversations/{conversation_id}/exchanges",
        Read,
    ),
    ("GET", "/api/media/{sha256}", Read),
    ("GET", "/api/messages/{message_id}/media", Read),
    ("GET", "/api/inbox/conversations", Inbox),
    ("GET", "/api/inbox/conversations/{conversation_id}", Inbox),
    (
        "POST",
        "/api/inbox/conversations/{conversation_id}/reply",
        Inbox,
    ),
    (
        "POST",
        "/api/inbox/conversations/{conversation_id}/release",
        Inbox,
    ),
    ("POST", "/api/contacts/import", Contacts),
    ("GET", "/api/contacts/export", Contacts),
    ("POST", "/api/broadcasts", Broadcasts),
    ("GET", "/api/broadcasts", Broadcasts),
    ("GET", "/api/broadcasts/{broadcast_id}", Broadcasts),
    ("POST", "/api/broadcasts/{broadcast_id}/pause", Broadcasts),
    ("POST", "/api/broadcasts/{broadcast_id}/resume", Broadcasts),
    ("POST", "/api/broadcasts/{broadcast_id}/cancel", Broadcasts),
    ("GET", "/api/costs", Insights),
    ("GET", "/api/models/usage", Insights),
    ("GET", "/api/insights/flows", Insights),
    ("GET", "/api/insights/flows/{flow}", Insights),
    ("GET", "/api/insights/experiments", Insights),
    ("GET", "/api/insights/scores", Insights),
    ("GET", "/api/insights/unanswered", Insights),
    ("GET", "/api/flows", Flows),
    ("GET", "/api/flows/saves", Flows),
    ("GET", "/api/flows/{flow}/rollout", Flows),
    ("PUT", "/api/flows/{flow}/rollout", Flows),
    ("GET", "/api/knowledge", Flows),
    ("POST", "/api/knowledge/refresh", Flows),
    ("GET", "/studio/api/files", Flows),
    ("GET", "/studio/api/file", Flows),
    ("POST", "/studio/api/save", Flows),
    ("GET", "/studio/api/history", Flows),
    ("POST", "/studio/api/restore", Flows),
    ("POST", "/studio/api/check", Flows),
    ("POST", "/studio/api/complete", Flows),
    ("POST", "/studio/api/hover", Flows),
    ("POST", "/studio/api/try", Flows),
    ("POST", "/studio/api/tests", Flows),
    ("GET", "/studio/api/insights/{flow}", Flows),
    ("POST", "/api/senders/{sender_id}/health", Admin),
    ("GET", "/api/events/deliveries", Admin),
    ("GET", "/api/events/{event_id}", Admin),
    ("POST", "/api/events/replay", Admin),
    ("GET", "/api/audit", Admin),
];

/// The scope `method` on the route `template` needs (`HEAD` is `GET`'s).
pub fn scope_of(method: &str, template: &str) -> Option<ApiScope> {
    let method = if method == "HEAD" { "GET" } else { method };
    SCOPES
        .iter()
        .find(|(m, p, _)| *m == method && *p == template)
        .map(|(_, _, scope)| *scope)
}

/// The route template a request's `path` matched (`/api/broadcasts/7` →
/// `/api/broadcasts/{broadcast_id}`): among the table's routes of `method`, else of any
/// method, the one whose literal segments match most. `None` for a path of no route.
pub fn template_of(method: &str, path: &str) -> Option<&'static str> {
    let method = if method == "HEAD" { "GET" } else { method };
    let segments: Vec<&str> = path.split('/').collect();
    let fit = |template: &str| -> Option<usize> {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            return None;
        }
        let mut literal = 0;
        for (part, seg) in parts.iter().zip(&segments) {
            if part.starts_with('{') && part.ends_with('}') {
                if seg.is_empty() {
                    return None;
                }
            } else if part == seg {
                literal += 1;
            } else {
                return None;
            }
        }
        Some(literal)
    };
    let best = |same_method: bool| {
        SCOPES
            .iter()
            .filter(|(m, _, _)| !same_method || *m == method)
            .filter_map(|(_, p, _)| fit(p).map(|n| (n, *p)))
            .max_by_key(|(n, _)| *n)
            .map(|(_, p)| p)
    };
    best(true).or_else(|| best(false))
}

/// Why `key` may not call `method template` (`None`: it may).
pub fn refusal(key: &ApiKeyConfig, method: &str, template: &str) -> Option<String> {
    let needed = scope_of(method, template);
    if key.scopes.is_none() || needed.is_some_and(|s| key.has_scope(s)) {
        return None;
    }
    let has: Vec<&str> = key.scopes.iter().flatten().map(|s| s.as_str()).collect();
    let has = has.join(", ");
    let name = &key.name;
    Some(match needed {
        Some(scope) => format!(
            "the API key `{name}` may not call {method} {template}: that needs the scope `{}`, and the key's scopes are [{has}]; add `{}` to its `scopes` in the config, or use a key that has it",
            scope.as_str(),
            scope.as_str()
        ),
        None => format!(
            "the API key `{name}` may not call {method} {template}: the route has no scope, so only a key without `scopes` may call it (the key's scopes are [{has}])"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_exactly_one_scope() {
        for r in super::super::ROUTES {
            let listed = SCOPES
                .iter()
                .filter(|(m, p, _)| *m == r.method && *p == r.path)
                .count();
            let expected = usize::from(!super::super::is_public(r));
            assert_eq!(
                listed, expected,
                "{} {} must be in api::scopes::SCOPES once (public routes not at all)",
                r.method, r.path
            );
        }
        for (i, (m, p, _)) in SCOPES.iter().enumerate() {
            let api = super::super::ROUTES
                .iter()
                .any(|r| r.method == *m && r.path == *p);
            assert!(
                api || p.starts_with("/studio/api/"),
                "{m} {p} is in SCOPES but is no route"
            );
            assert!(
                !SCOPES[..i].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} is in SCOPES twice"
            );
        }
    }

    #[test]
    fn every_studio_route_has_a_scope() {
        // The studio's router is written out in its `mod.rs`; every `/studio/api/` route of
        // it must be in the table (with its method).
        let source = include_str!("../studio/mod.rs");
        let mut found = 0;
        for line in source.lines().map(str::trim) {
            let Some(rest) = line.strip_prefix(".route(\"/studio/api/") else {
                continue;
            };
            let (tail, handler) = rest.split_once('"').unwrap();
            let path = format!("/studio/api/{tail}");
            let method = if handler.contains("post(") {
                "POST"
            } else {
                "GET"
            };
            assert!(
                scope_of(method, &path).is_some(),
                "{method} {path}: no scope"
            );
            found += 1;
        }
        let studio = SCOPES
            .iter()
            .filter(|(_, p, _)| p.starts_with("/studio/"))
            .count();
        assert_eq!(found, studio, "the studio's routes and the table's agree");
    }

    #[test]
    fn a_path_finds_its_template_literal_segments_first() {
        let t = |m, p| template_of(m, p);
        assert_eq!(
            t("GET", "/api/events/deliveries"),
            Some("/api/events/deliveries")
        );
        assert_eq!(
            t("GET", "/api/events/evt_12"),
            Some("/api/events/{event_id}")
        );
        assert_eq!(
            t("POST", "/api/broadcasts/7/pause"),
            Some("/api/broadcasts/{broadcast_id}/pause")
        );
        assert_eq!(t("GET", "/api/flows/saves"), Some("/api/flows/saves"));
        assert_eq!(
            t("PUT", "/api/flows/welcome/rollout"),
            Some("/api/flows/{flow}/rollout")
        );
        assert_eq!(
            t("DELETE", "/api/broadcasts"),
            Some("/api/broadcasts"),
            "any method's"
        );
        assert_eq!(t("GET", "/api/broadcasts//pause"), None);
        assert_eq!(t("GET", "/api/nothing"), None);
        for (m, p, _) in SCOPES {
            let concrete = p.replace(['{', '}'], "");
            let concrete = if p.contains('{') {
                concrete
            } else {
                p.to_string()
            };
            assert!(template_of(m, &concrete).is_some(), "{m} {p}");
        }
    }

    #[test]
    fn a_refusal_names_the_scope_needed_and_the_keys_scopes() {
        let key = ApiKeyConfig {
            name: "crm".into(),
            key_sha256: "0".repeat(64),
            scopes: Some(vec![Send, Read]),
            senders: None,
            expires: None,
        };
        assert_eq!(refusal(&key, "POST", "/api/user/whatsapp/send"), None);
        assert_eq!(refusal(&key, "HEAD", "/api/conversations"), None);
        let why = refusal(&key, "POST", "/api/broadcasts").unwrap();
        assert!(
            why.contains("needs the scope `broadcasts`") && why.contains("[send, read]"),
            "{why}"
        );
        let unknown = refusal(&key, "POST", "/api/nothing").unwrap();
        assert!(unknown.contains("has no scope"), "{unknown}");
        let all = ApiKeyConfig {
            scopes: None,
            ..key
        };
        assert_eq!(refusal(&all, "POST", "/api/nothing"), None);
    }
}
