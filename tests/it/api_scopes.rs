//! Keys with scopes (issue 60): table-driven over every route of the API (as the OpenAPI
//! document lists them, each with its `x-parley-scope`) and the studio's calls, a key of
//! each scope reaches the routes of its scope (not 403) and every other route answers it
//! 403 naming the scope needed and the key's scopes; a key limited to senders; an expired
//! key; two entries of one name while a key is rotated; `parley keygen --scope` printing
//! an entry that reads as config.

use crate::helpers::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const SCOPES: [&str; 8] = [
    "send",
    "read",
    "contacts",
    "broadcasts",
    "insights",
    "flows",
    "admin",
    "inbox",
];

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn key_of(scope: &str) -> String {
    format!("scope-test-key-{scope}")
}

/// One key per scope, `all` without scopes; `designer` (scope flows) edits the studio.
fn keys_yaml() -> String {
    let mut yaml = String::from("api_keys:\n");
    for scope in SCOPES {
        yaml.push_str(&format!(
            "  - {{ name: {scope}, key_sha256: \"{}\", scopes: [{scope}] }}\n",
            sha(&key_of(scope))
        ));
    }
    yaml.push_str(&format!(
        "  - {{ name: all, key_sha256: \"{}\" }}\nrate_limit: {{ per_second: 10000, burst: 10000 }}\nstudio: {{ expose: true, editors: [flows, all] }}\n",
        sha(&key_of("all"))
    ));
    yaml
}

/// `method path` with `key`, a `{}` JSON body for methods that take one; the status and
/// the body's text.
async fn call(app: &TestApp, key: &str, method: &str, path: &str) -> (u16, String) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.addr))
        .header("host", "parley.example.com")
        .bearer_auth(key);
    if method != "GET" {
        req = req.json(&json!({}));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// A concrete path for a template: ids 1, names `x`.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| match part {
            "{sha256}" => "0".repeat(64),
            p if p.starts_with('{') && p.ends_with("_id}") => "1".to_string(),
            p if p.starts_with('{') => "x".to_string(),
            p => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The studio's calls (its router, not the API's): all need `flows`.
const STUDIO: &[(&str, &str)] = &[
    ("GET", "/studio/api/files"),
    ("GET", "/studio/api/file"),
    ("POST", "/studio/api/save"),
    ("GET", "/studio/api/history"),
    ("POST", "/studio/api/restore"),
    ("POST", "/studio/api/check"),
    ("POST", "/studio/api/complete"),
    ("POST", "/studio/api/hover"),
    ("POST", "/studio/api/try"),
    ("POST", "/studio/api/tests"),
    ("GET", "/studio/api/insights/{flow}"),
];

#[tokio::test]
async fn each_scope_reaches_its_routes_and_every_other_route_answers_403() {
    let app = spawn_with(Options {
        extra_yaml: keys_yaml(),
        ..Options::default()
    })
    .await;
    let (status, doc) = get_json(&app, "/api/openapi.json").await;
    assert_eq!(status, 200);
    let mut routes: Vec<(String, String, String)> = Vec::new();
    for r in parley::http::api::ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        if r.path == "/api/openapi.json" {
            assert!(op.get("x-parley-scope").is_none());
            continue;
        }
        let scope = op["x-parley-scope"]
            .as_str()
            .unwrap_or_else(|| panic!("{} {} has no x-parley-scope", r.method, r.path));
        assert!(SCOPES.contains(&scope), "{scope}");
        routes.push((r.method.into(), r.path.into(), scope.into()));
    }
    for (method, path) in STUDIO {
        routes.push((method.to_string(), path.to_string(), "flows".into()));
    }
    let mut reached = std::collections::BTreeMap::<&str, usize>::new();
    for (method, template, scope) in &routes {
        let path = concrete(template);
        for key_scope in SCOPES {
            let (status, body) = call(&app, &key_of(key_scope), method, &path).await;
            let refused = status == 403 && body.contains("may not");
            if key_scope == scope {
                assert!(
                    !refused,
                    "{key_scope} key, {method} {template}: {status} {body}"
                );
                *reached.entry(key_scope).or_default() += 1;
            } else {
                assert_eq!(status, 403, "{key_scope} key, {method} {template}: {body}");
                assert!(
                    body.contains(&format!("needs the scope `{scope}`"))
                        && body.contains(&format!("[{key_scope}]"))
                        && body
                            .contains(&format!("`{key_scope}` may not call {method} {template}")),
                    "{key_scope} key, {method} {template}: {body}"
                );
            }
        }
        let (status, body) = call(&app, &key_of("all"), method, &path).await;
        assert!(
            !(status == 403 && body.contains("may not")),
            "a key without scopes, {method} {template}: {body}"
        );
    }
    for scope in SCOPES {
        assert!(
            reached.get(scope).copied().unwrap_or(0) > 0,
            "{scope} reaches nothing"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_key_limited_to_senders_sends_and_reads_only_for_them() {
    let key = "sender-two-only-key";
    let app = spawn_with(Options {
        extra_yaml: format!(
            "api_keys:\n  - {{ name: twilio-crm, key_sha256: \"{}\", scopes: [send, read], senders: [2] }}\nrate_limit: {{ per_second: 1000, burst: 1000 }}\n",
            sha(key)
        ),
        ..Options::default()
    })
    .await;
    let status_of = |sender: i64| {
        let app = &app;
        async move {
            let r = app
                .http
                .get(format!(
                    "{}/api/user/whatsapp/session-status?sender_id={sender}&recipient_phone=%2B34600000001",
                    app.addr
                ))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = status_of(1).await;
    assert_eq!(status, 403, "{body}");
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("`twilio-crm` may not use sender 1: its `senders` are [2]"),
        "{why}"
    );
    let (status, body) = status_of(2).await;
    assert_eq!(status, 200, "{body}");

    let send = |sender: i64| {
        let app = &app;
        async move {
            let r = app
                .http
                .post(format!("{}/api/user/whatsapp/send", app.addr))
                .bearer_auth(key)
                .json(&json!({ "sender_id": sender, "template_id": 45, "recipient_phone": "+34600000001", "variables": { "1": "Ana" } }))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(1).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("may not use sender 1"));
    let (status, body) = send(2).await;
    assert_eq!(status, 200, "{body}");
    // The refused send changed nothing: one message queued, from sender 2.
    let rows = app
        .store
        .audit_entries(&parley::store::AuditFilter {
            action: Some("POST /api/user/whatsapp/send".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        1,
        "only the send that happened is a change: {rows:?}"
    );
    assert_eq!(rows[0].status, Some(200));
    app.shutdown().await;
}

#[tokio::test]
async fn an_expired_key_is_refused_with_why_and_rotation_keeps_both_keys_valid() {
    let (old, new, gone) = ("rotating-old-key", "rotating-new-key", "expired-key");
    let app = spawn_with(Options {
        extra_yaml: format!(
            "api_keys:\n  - {{ name: crm, key_sha256: \"{}\" }}\n  - {{ name: crm, key_sha256: \"{}\", expires: 2999-01-01 }}\n  - {{ name: old-partner, key_sha256: \"{}\", expires: 2020-01-01 }}\nrate_limit: {{ per_second: 1000, burst: 1000 }}\n",
            sha(old),
            sha(new),
            sha(gone)
        ),
        ..Options::default()
    })
    .await;
    for key in [old, new] {
        let (status, body) = call(&app, key, "GET", "/api/user/whatsapp/senders").await;
        assert_eq!(status, 200, "{body}");
    }
    let r = app
        .http
        .get(format!("{}/api/user/whatsapp/senders", app.addr))
        .bearer_auth(gone)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("`old-partner` expired at 2020-01-01 00:00:00 UTC")
            && why.contains("parley keygen"),
        "{why}"
    );
    // Both entries of `crm` are one caller in the log: its use of the day, once.
    let used = app
        .store
        .audit_entries(&parley::store::AuditFilter {
            action: Some("key.use".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actors: Vec<&str> = used.iter().map(|r| r.actor.as_str()).collect();
    assert_eq!(
        actors,
        vec!["crm", "crm"],
        "each entry's first use: {used:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn keygen_prints_an_entry_that_reads_as_config() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args([
            "keygen",
            "--name",
            "crm",
            "--scope",
            "send",
            "--scope",
            "read",
            "--sender",
            "1",
            "--expires",
            "2027-01-01",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let key = text
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("key:")
        .trim();
    let entry = &text[text.find("api_keys:").unwrap()..];
    let yaml = format!(
        "senders:\n  - {{ id: 1, name: S, channel: sandbox, phone_number: \"+15550000000\" }}\n{entry}"
    );
    let config = parley::config::Config::from_yaml(&yaml, "parley.yaml", &|_| None).unwrap();
    let k = &config.api_keys[0];
    assert_eq!(k.name, "crm");
    assert_eq!(k.key_sha256, sha(key));
    let scopes: Vec<&str> = k.scopes.iter().flatten().map(|s| s.as_str()).collect();
    assert_eq!(scopes, vec!["send", "read"]);
    assert_eq!(k.senders, Some(vec![1]));
    assert_eq!(k.expires.as_deref(), Some("2027-01-01"));

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["keygen", "--scope", "everything"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("`everything` is not a scope; the scopes are send, read"),
        "{err}"
    );
}
