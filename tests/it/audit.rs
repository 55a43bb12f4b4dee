//! The audit log (issue 60): a scripted day of changes — sends, a contact import, a
//! broadcast created and paused, a refusal for scope through the API; a studio save from
//! the page; a contact import, a broadcast cancelled and a backup at the terminal — leaves
//! a complete log (who, how, what, on what, from where, the status), with no key, hash,
//! token or message text in it, and the webhook path writes nothing. Then
//! `GET /api/audit`: its filters, its cursor, its bounds and its JSON-lines export.

use crate::helpers::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const CRM_KEY: &str = "audit-test-crm-key-0123456789";
const SENDER_KEY: &str = "audit-test-sender-key-0123456789";
/// Texts that must never reach the log.
const CUSTOMER_TEXT: &str = "hi SECRET-CUSTOMER-TEXT";
const SENT_TEXT: &str = "SECRET-SENT-TEXT";
const CONTACT_NAME: &str = "SECRET-CONTACT-NAME";
const VARIABLE: &str = "SECRET-VARIABLE";

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn keys_yaml() -> String {
    format!(
        "api_keys:\n  - {{ name: crm, key_sha256: \"{}\" }}\n  - {{ name: sender-only, key_sha256: \"{}\", scopes: [send] }}\nrate_limit: {{ per_second: 1000, burst: 1000 }}\n",
        sha(CRM_KEY),
        sha(SENDER_KEY)
    )
}

async fn api(
    app: &TestApp,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.addr))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// The morning: changes through the API and the studio page, on a running Parley.
async fn morning(app: &TestApp) -> i64 {
    let now = now_unix();
    let r = app
        .post_meta(&meta_text(
            "34600000001",
            "wamid.audit.1",
            CUSTOMER_TEXT,
            now,
        ))
        .await;
    assert_eq!(r.status(), 200);
    app.wait_meta_sends(1, Duration::from_secs(10)).await;
    let send = json!({ "sender_id": 1, "recipient_phone": "+34600000001", "message": SENT_TEXT });
    let (status, body) = api(
        app,
        CRM_KEY,
        "POST",
        "/api/user/whatsapp/send-freeform",
        Some(send),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let csv = format!("phone,name,tier\n+34600000002,{CONTACT_NAME},gold\n");
    let r = app
        .http
        .post(format!("{}/api/contacts/import", app.addr))
        .bearer_auth(CRM_KEY)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let broadcast = json!({
        "template_id": 45, "sender_id": 1, "recipients": ["+34600000003"],
        "variables": { "1": VARIABLE }, "start_at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339(),
    });
    let (status, body) = api(
        app,
        CRM_KEY,
        "POST",
        "/api/broadcasts",
        Some(broadcast.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let created = parse(&body);
    let id = created["broadcast"]["id"]
        .as_i64()
        .or_else(|| created["id"].as_i64())
        .unwrap_or_else(|| panic!("no id in {created:#}"));
    let (status, body) = api(
        app,
        CRM_KEY,
        "POST",
        &format!("/api/broadcasts/{id}/pause"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A key that may only send tries to start a broadcast: refused, and recorded.
    let (status, body) = api(app, SENDER_KEY, "POST", "/api/broadcasts", Some(broadcast)).await;
    assert_eq!(status, 403, "{body}");

    // Reads change nothing: not recorded (but the key's first use of the day).
    let (status, _) = api(app, CRM_KEY, "GET", "/api/conversations", None).await;
    assert_eq!(status, 200);

    // The studio page, on this machine: a flow saved.
    let text = ECHO_FLOW.replace("echo:", "echo again:");
    let (status, body) = post_json(
        app,
        "/studio/api/save",
        json!({ "path": "flows/echo.yaml", "text": text, "base_version": sha(ECHO_FLOW) }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    id
}

/// The afternoon: the same day at the terminal, with Parley stopped (SQLite is one
/// process's).
fn afternoon(config: &std::path::Path, dir: &std::path::Path, broadcast: i64) {
    let csv = dir.join("more.csv");
    std::fs::write(&csv, format!("phone,name\n+34600000004,{CONTACT_NAME}\n")).unwrap();
    let backup = dir.join("copy.db");
    let config = config.to_str().unwrap();
    for args in [
        vec![
            "contacts",
            "import",
            "--config",
            config,
            csv.to_str().unwrap(),
        ],
        vec![
            "broadcasts",
            "cancel",
            "--config",
            config,
            &broadcast.to_string(),
        ],
        vec!["backup", "--config", config, backup.to_str().unwrap()],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
            .args(&args)
            .env("USER", "ana")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "parley {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn a_scripted_day_leaves_a_complete_log_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("day.db").display());
    let options = || Options {
        database_url: Some(url.clone()),
        extra_yaml: keys_yaml(),
        ..Options::default()
    };
    let app = spawn_with(options()).await;
    let broadcast = morning(&app).await;
    let config = dir.path().join("parley.yaml");
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(
        &config,
        config_yaml(
            dir.path(),
            &url,
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            &keys_yaml(),
        ),
    )
    .unwrap();
    app.shutdown().await;
    afternoon(&config, dir.path(), broadcast);
    let app = spawn_with(options()).await;

    let r = app
        .http
        .get(format!("{}/api/audit?format=jsonl", app.addr))
        .bearer_auth(CRM_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let export = r.text().await.unwrap();
    let rows: Vec<Value> = export.lines().map(parse).collect();
    let find = |actor: &str, via: &str, action: &str| {
        rows.iter()
            .find(|r| r["actor"] == actor && r["via"] == via && r["action"] == action)
            .unwrap_or_else(|| panic!("no {actor} {via} {action} in\n{export}"))
            .clone()
    };
    let used = find("crm", "api", "key.use");
    assert_eq!(used["source"], "127.0.0.1", "{used:#}");
    let sent = find("crm", "api", "POST /api/user/whatsapp/send-freeform");
    assert_eq!(sent["status"], 200);
    assert_eq!(sent["detail"]["scope"], "send");
    assert_eq!(sent["source"], "127.0.0.1");
    let imported = find("crm", "api", "POST /api/contacts/import");
    assert_eq!(imported["detail"]["result"]["created"], 1, "{imported:#}");
    let created = find("crm", "api", "POST /api/broadcasts");
    assert_eq!(created["detail"]["result"]["id"], broadcast, "{created:#}");
    assert_eq!(created["detail"]["result"]["recipients"], 1);
    let paused = find("crm", "api", "POST /api/broadcasts/{broadcast_id}/pause");
    assert_eq!(
        paused["target"],
        format!("/api/broadcasts/{broadcast}/pause")
    );
    let refused = find("sender-only", "api", "POST /api/broadcasts");
    assert_eq!(refused["status"], 403);
    assert_eq!(refused["detail"]["refused"], "scope");
    assert_eq!(refused["detail"]["scope_needed"], "broadcasts");
    let saved = find("local", "page", "studio.save");
    assert_eq!(saved["target"], "flows/echo.yaml");
    let imported = find("cli:ana", "cli", "contacts.import");
    assert_eq!(imported["target"], "more.csv");
    assert_eq!(imported["detail"]["created"], 1);
    let cancelled = find("cli:ana", "cli", "broadcasts.cancel");
    assert_eq!(cancelled["target"], broadcast.to_string());
    find("cli:ana", "cli", "backup");
    assert!(
        !rows.iter().any(|r| r["action"] == "GET /api/conversations"),
        "a read is no change"
    );
    assert!(
        rows.iter()
            .all(|r| ["api", "cli", "page"].contains(&r["via"].as_str().unwrap())),
        "the webhook path writes nothing: {export}"
    );
    for secret in [
        CRM_KEY.to_string(),
        SENDER_KEY.to_string(),
        sha(CRM_KEY),
        sha(SENDER_KEY),
        "test-token".to_string(),
        APP_SECRET.to_string(),
        TWILIO_TOKEN.to_string(),
        "SECRET".to_string(),
        "echo again".to_string(),
    ] {
        assert!(
            !export.contains(&secret),
            "`{secret}` is in the log:\n{export}"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_log_reads_with_filters_a_cursor_and_bounds() {
    let app = spawn_with(Options {
        extra_yaml: keys_yaml(),
        ..Options::default()
    })
    .await;
    use parley::store::{AuditVia, NewAuditEntry};
    for (at, actor, action) in [
        (1_000, "crm", "contacts.import"),
        (2_000, "ops", "POST /api/broadcasts"),
        (3_000, "crm", "POST /api/user/whatsapp/send"),
        (4_000, "crm", "broadcasts.cancel"),
        (5_000, "ops", "contacts.import"),
    ] {
        let entry = NewAuditEntry::new(at, actor, AuditVia::Cli, action);
        app.store.append_audit(&entry).await.unwrap();
    }
    let read = |query: &str| {
        let app = &app;
        let query = query.to_string();
        async move {
            let (status, body) =
                api(app, CRM_KEY, "GET", &format!("/api/audit?{query}"), None).await;
            (status, parse(&body))
        }
    };
    let ats = |body: &Value| -> Vec<i64> {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] != "key.use")
            .map(|e| {
                let at = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap();
                at.timestamp_millis()
            })
            .collect()
    };
    let (status, body) = read("actor=ops").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(ats(&body), vec![5_000, 2_000]);
    let (_, body) = read("action=contacts.import").await;
    assert_eq!(ats(&body), vec![5_000, 1_000]);
    let (_, body) = read("action=POST&actor=crm").await;
    assert_eq!(ats(&body), vec![3_000]);
    let (_, body) = read("since=1970-01-01T00:00:02Z&until=1970-01-01T00:00:04Z").await;
    assert_eq!(ats(&body), vec![3_000, 2_000]);

    // Two at a time, with the cursor: every row once, newest first.
    let mut seen = Vec::new();
    let mut query = "until=1970-01-01T00:01:00Z&limit=2".to_string();
    loop {
        let (status, body) = read(&query).await;
        assert_eq!(status, 200, "{body:#}");
        seen.extend(ats(&body));
        match body["next_before"].as_i64() {
            Some(before) => query = format!("until=1970-01-01T00:01:00Z&limit=2&before={before}"),
            None => break,
        }
        assert!(seen.len() <= 5, "the cursor loops: {seen:?}");
    }
    assert_eq!(seen, vec![5_000, 4_000, 3_000, 2_000, 1_000]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("since=yesterday", "since"),
        (
            "since=1970-01-01T00:00:05Z&until=1970-01-01T00:00:01Z",
            "until",
        ),
        ("format=xml", "format"),
    ] {
        let (status, body) = read(query).await;
        assert_eq!(status, 422, "{query}: {body:#}");
        assert_eq!(body["field"], field, "{query}: {body:#}");
    }
    let long = "a".repeat(201);
    let (status, _) = read(&format!("actor={long}")).await;
    assert_eq!(status, 422);
    // Only `admin` (or a key without scopes) reads the log.
    let (status, body) = api(&app, SENDER_KEY, "GET", "/api/audit", None).await;
    assert_eq!(status, 403);
    assert!(body.contains("needs the scope `admin`"), "{body}");
    app.shutdown().await;
}
