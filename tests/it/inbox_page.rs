//! The inbox (`/inbox` and `/api/inbox/…`, issue 57): a key with `scopes: [inbox]` reaches
//! only the inbox's calls, and through them only the conversations handed to a person,
//! oldest waiting first; a person's reply goes out through the outbox to the Meta double;
//! a closed window refuses free text and takes a template; a release gives the
//! conversation back to the bot. Then the page itself in headless Chromium
//! (`tests/browser/inbox.mjs`): the key prompt, the list, a reply seen in the history, a
//! closed window offering the templates, a release. Its screenshots go to
//! `docs/screenshots/inbox*.png` with `PARLEY_UPDATE_SCREENSHOTS=1`.

use crate::helpers::*;
use crate::sandbox_page::{browser_or_skip, screenshots_dir};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A key that may call everything, and one that may only use the inbox.
const FULL_KEY: &str = "inbox-test-full-key";
const INBOX_KEY: &str = "inbox-test-ana-key";

const HANDOFF_FLOW: &str = "id: human_handoff\ntriggers:\n  - keyword: [agent]\n    interrupt: true\nsteps:\n  - handoff:\n      timeout: 48h\n      message: \"A person will answer.\"\n";

fn keys_yaml() -> String {
    let hash = |k: &str| hex::encode(Sha256::digest(k.as_bytes()));
    format!(
        "api_keys:\n  - {{ name: crm, key_sha256: \"{}\" }}\n  - {{ name: ana, key_sha256: \"{}\", scopes: [inbox] }}\nrate_limit: {{ per_second: 1000, burst: 1000 }}\n",
        hash(FULL_KEY),
        hash(INBOX_KEY)
    )
}

async fn spawn_inbox(manual_clock: bool) -> TestApp {
    spawn_with(Options {
        manual_clock,
        extra_yaml: keys_yaml(),
        flows: vec![("echo.yaml", ECHO_FLOW), ("handoff.yaml", HANDOFF_FLOW)],
        ..Options::default()
    })
    .await
}

/// The app's clock now (the manual one when the app has it).
fn app_now(app: &TestApp) -> i64 {
    use parley::domain::Clock;
    app.clock
        .as_ref()
        .map(|c| c.now().timestamp())
        .unwrap_or_else(now_unix)
}

/// `name` (from `from`) writes `text` to the Meta sender, `ago` seconds before the app's
/// clock.
async fn writes(app: &TestApp, from: &str, name: &str, text: &str, ago: i64) {
    let wamid = format!("wamid.in.{}", uuid::Uuid::new_v4().simple());
    let body = serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": name }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": (app_now(app) - ago).to_string(), "type": "text", "text": { "body": text } }]
        }}]}]
    }))
    .unwrap();
    assert_eq!(app.post_meta(&body).await.status(), 200);
}

async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.addr));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

async fn inbox_list(app: &TestApp) -> Vec<Value> {
    let (status, body) = call(
        app,
        Some(INBOX_KEY),
        "GET",
        "/api/inbox/conversations",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["conversations"].as_array().unwrap().clone()
}

/// Waits until `n` conversations are in handoff; they are listed oldest waiting first.
async fn until_listed(app: &TestApp, n: usize) -> Vec<Value> {
    eventually(Duration::from_secs(10), "the handoffs", || async {
        let list = inbox_list(app).await;
        (list.len() == n).then_some(list)
    })
    .await
}

fn phone(c: &Value) -> &str {
    c["contact"]["phone"].as_str().unwrap_or("")
}

#[tokio::test]
async fn an_inbox_key_reaches_only_the_conversations_in_handoff_oldest_waiting_first() {
    let app = spawn_inbox(true).await;
    let clock = app.clock.clone().unwrap();
    writes(&app, "16315551181", "Maria", "agent", 0).await;
    until_listed(&app, 1).await;
    clock.advance(chrono::Duration::minutes(2));
    writes(&app, "16315551182", "Bob", "hi there", 0).await;
    app.wait_meta_sends(2, Duration::from_secs(5)).await;
    writes(&app, "16315551183", "Chen", "agent", 0).await;
    let list = until_listed(&app, 2).await;
    // Maria has waited longest: since her handoff began, nobody answered yet.
    assert_eq!(
        list.iter().map(phone).collect::<Vec<_>>(),
        ["+16315551181", "+16315551183"]
    );
    let maria = &list[0];
    assert_eq!(maria["contact"]["name"], "Maria");
    assert_eq!(maria["waiting"]["because"], "handoff_began");
    assert_eq!(maria["waiting"]["since"], maria["handoff"]["since"]);
    assert_eq!(maria["flow"], "human_handoff");
    assert_eq!(maria["sender"]["id"], 1);
    assert_eq!(maria["window"]["is_open"], true);
    assert!(maria["window"]["expires_at"].is_string());
    assert_eq!(maria["last_message"]["text"], "A person will answer.");

    // The inbox key is refused everywhere else, with a reason; the full key is not.
    for (method, path) in [
        ("GET", "/api/conversations"),
        ("GET", "/api/flows"),
        ("POST", "/api/user/whatsapp/send-freeform"),
    ] {
        let (status, body) = call(&app, Some(INBOX_KEY), method, path, Some(json!({}))).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
        assert_eq!(body["error_code"], "FORBIDDEN");
        let why = body["error"].as_str().unwrap();
        assert!(why.contains("`ana`") && why.contains("[inbox]"), "{why}");
    }
    let (status, all) = call(&app, Some(FULL_KEY), "GET", "/api/conversations", None).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["conversations"].as_array().unwrap().len(), 3);
    let (status, _) = call(
        &app,
        Some(FULL_KEY),
        "GET",
        "/api/inbox/conversations",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(&app, None, "GET", "/api/inbox/conversations", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = call(&app, Some("nope"), "GET", "/api/inbox/conversations", None).await;
    assert_eq!(status, 401);

    // Bob's conversation is not in a handoff: the inbox does not reach it.
    let bob = all["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["contact"]["phone"] == "+16315551182")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    for (method, path, body) in [
        ("GET", format!("/api/inbox/conversations/{bob}"), None),
        (
            "POST",
            format!("/api/inbox/conversations/{bob}/reply"),
            Some(json!({ "text": "hi" })),
        ),
        (
            "POST",
            format!("/api/inbox/conversations/{bob}/release"),
            Some(json!({})),
        ),
        ("GET", "/api/inbox/conversations/999999".to_string(), None),
    ] {
        let (status, answer) = call(&app, Some(INBOX_KEY), method, &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
    }

    // Maria is answered: she goes after Chen, who still waits.
    let id = maria["id"].as_i64().unwrap();
    let (status, sent) = call(
        &app,
        Some(INBOX_KEY),
        "POST",
        &format!("/api/inbox/conversations/{id}/reply"),
        Some(json!({ "text": "Hello Maria, this is Ana" })),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["by"], "inbox:ana");
    let list = inbox_list(&app).await;
    assert_eq!(
        list.iter().map(phone).collect::<Vec<_>>(),
        ["+16315551183", "+16315551181"]
    );
    assert_eq!(list[1]["waiting"]["because"], "answered");
    assert!(list[1]["waiting"]["since"].is_null());
    // She writes again: she waits since that message.
    clock.advance(chrono::Duration::minutes(1));
    writes(&app, "16315551181", "Maria", "thanks, one more thing", 0).await;
    let list = eventually(Duration::from_secs(5), "Maria waiting again", || async {
        let list = inbox_list(&app).await;
        (list[1]["waiting"]["because"] == "customer_message").then_some(list)
    })
    .await;
    assert_eq!(list[1]["last_message"]["text"], "thanks, one more thing");
    app.shutdown().await;
}

#[tokio::test]
async fn a_person_replies_a_closed_window_takes_a_template_and_a_release_gives_back_to_the_bot() {
    let app = spawn_inbox(true).await;
    let clock = app.clock.clone().unwrap();
    writes(&app, "16315551181", "Maria", "agent", 0).await;
    let id = until_listed(&app, 1).await[0]["id"].as_i64().unwrap();
    app.wait_meta_sends(1, Duration::from_secs(5)).await;
    let url = format!("/api/inbox/conversations/{id}");
    let (status, sent) = call(
        &app,
        Some(INBOX_KEY),
        "POST",
        &format!("{url}/reply"),
        Some(json!({ "text": "Hello Maria, this is Ana" })),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let sends = app.wait_meta_sends(2, Duration::from_secs(5)).await;
    assert_eq!(body_text(&sends[1]), "Hello Maria, this is Ana");
    assert_eq!(sends[1]["to"], "16315551181");
    let (status, shown) = call(&app, Some(INBOX_KEY), "GET", &url, None).await;
    assert_eq!(status, 200, "{shown}");
    let lines: Vec<(String, String)> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["by"].as_str().unwrap_or("system").to_string(),
                m["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(lines[0], ("customer".into(), "agent".into()));
    assert!(
        lines[1].0 == "system" && lines[1].1.contains("human_handoff"),
        "{lines:?}"
    );
    assert_eq!(lines[2], ("bot".into(), "A person will answer.".into()));
    assert_eq!(
        lines[3],
        ("person".into(), "Hello Maria, this is Ana".into())
    );
    // Who wrote it: the key's name.
    assert_eq!(shown["messages"][3]["author"], "ana");
    assert_eq!(shown["messages"][2]["author"], Value::Null);
    assert_eq!(shown["conversation"]["window"]["is_open"], true);
    let templates = shown["templates"].as_array().unwrap();
    assert_eq!(templates[0]["name"], "menu_reminder");
    assert_eq!(templates[0]["placeholders"], json!(["1"]));

    // A day later the window has closed: free text is refused, saying what to do instead.
    clock.advance(chrono::Duration::hours(25));
    let (_, shown) = call(&app, Some(INBOX_KEY), "GET", &url, None).await;
    assert_eq!(shown["conversation"]["window"]["is_open"], false);
    let (status, refused) = call(
        &app,
        Some(INBOX_KEY),
        "POST",
        &format!("{url}/reply"),
        Some(json!({ "text": "Still there?" })),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error_code"], "WINDOW_CLOSED");
    assert!(
        refused["error"].as_str().unwrap().contains("template"),
        "{refused}"
    );
    for (body, field) in [
        (json!({ "template_id": 45 }), "variables.1"),
        (
            json!({ "template_id": 45, "variables": { "1": "Sam", "2": "x" } }),
            "variables.2",
        ),
        (
            json!({ "template_id": 45, "variables": { "1": " " } }),
            "variables.1",
        ),
        (json!({ "text": "a", "template_id": 45 }), "text"),
        (json!({}), "text"),
    ] {
        let (status, answer) = call(
            &app,
            Some(INBOX_KEY),
            "POST",
            &format!("{url}/reply"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (422, Some(field)),
            "{body}: {answer}"
        );
    }
    let (status, answer) = call(
        &app,
        Some(INBOX_KEY),
        "POST",
        &format!("{url}/reply"),
        Some(json!({ "template_id": 9999 })),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    let (status, sent) = call(
        &app,
        Some(INBOX_KEY),
        "POST",
        &format!("{url}/reply"),
        Some(json!({ "template_id": 45, "variables": { "1": "Maria" } })),
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    let sends = app.wait_meta_sends(3, Duration::from_secs(5)).await;
    assert_eq!(sends.len(), 3, "the refused text never left");
    assert_eq!(sends[2]["type"], "template");
    assert_eq!(sends[2]["template"]["name"], "menu_reminder");
    let (_, shown) = call(&app, Some(INBOX_KEY), "GET", &url, None).await;
    let last = shown["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (last["by"].as_str(), last["text"].as_str()),
        (Some("person"), Some("Hi Maria, reply MENU to continue."))
    );

    // Released: the conversation leaves the inbox and the bot answers again.
    let (status, released) = call(
        &app,
        Some(INBOX_KEY),
        "POST",
        &format!("{url}/release"),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["status"], "release_queued");
    until_listed(&app, 0).await;
    let (status, _) = call(&app, Some(INBOX_KEY), "GET", &url, None).await;
    assert_eq!(status, 404);
    writes(&app, "16315551181", "Maria", "hi again", 0).await;
    let sends = app.wait_meta_sends(4, Duration::from_secs(5)).await;
    assert_eq!(body_text(&sends[3]), "echo: hi again");
    app.shutdown().await;
}

#[tokio::test]
async fn the_inbox_page_and_its_assets_come_from_the_binary_without_a_key() {
    let app = spawn_inbox(false).await;
    let page = app
        .http
        .get(format!("{}/inbox", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    for (name, kind, has) in [
        ("inbox.js", "text/javascript", "/api/inbox/conversations"),
        ("inbox.css", "text/css", "#history"),
    ] {
        assert!(html.contains(&format!("/inbox/assets/{name}")));
        let r = app
            .http
            .get(format!("{}/inbox/assets/{name}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(r.text().await.unwrap().contains(has), "{name}");
    }
    let missing = app
        .http
        .get(format!("{}/inbox/assets/nothing.js", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let said: Value = missing.json().await.unwrap();
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("the inbox has no file"),
        "{said}"
    );
    app.shutdown().await;
}

/// The screenshots the browser test takes (`docs/screenshots/<name>.png`).
const SHOTS: [&str; 2] = ["inbox", "inbox-closed-window"];

#[tokio::test]
async fn a_person_answers_customers_from_the_inbox_page() {
    if !browser_or_skip("skipping the browser inbox test") {
        return;
    }
    let app = spawn_inbox(false).await;
    // Lena wrote yesterday: her window has closed. Maria writes now.
    writes(&app, "4915112345678", "Lena Fischer", "agent", 26 * 3600).await;
    until_listed(&app, 1).await;
    writes(
        &app,
        "16315551181",
        "Maria Lopez",
        "Hi, I need help with my order",
        120,
    )
    .await;
    writes(&app, "16315551181", "Maria Lopez", "agent", 60).await;
    until_listed(&app, 2).await;
    let shots = screenshots_dir(true);
    std::fs::create_dir_all(&shots).unwrap();
    for name in SHOTS {
        let _ = std::fs::remove_file(shots.join(format!("{name}.png")));
    }
    let args = vec![
        app.addr.clone(),
        INBOX_KEY.to_string(),
        shots.display().to_string(),
        env!("CARGO_TARGET_TMPDIR").to_string(),
    ];
    crate::browser::run_node("inbox.mjs", args).await;
    // What the page sent reached Meta: Maria's text, Lena's template.
    let sends = app.meta_sends().await;
    assert!(
        sends.iter().any(|s| s["to"] == "16315551181"
            && body_text(s) == "Hello Maria, this is Ana. Let me check your order."),
        "{sends:#?}"
    );
    assert!(
        sends
            .iter()
            .any(|s| s["to"] == "4915112345678" && s["template"]["name"] == "menu_reminder"),
        "{sends:#?}"
    );
    // Maria was given back to the bot: it answers her again.
    until_listed(&app, 1).await;
    writes(&app, "16315551181", "Maria Lopez", "hi bot", 0).await;
    eventually(Duration::from_secs(5), "the bot's answer", || async {
        app.meta_sends()
            .await
            .iter()
            .any(|s| body_text(s) == "echo: hi bot")
            .then_some(())
    })
    .await;
    for name in SHOTS {
        let shot = shots.join(format!("{name}.png"));
        assert!(shot.exists(), "{} is missing", shot.display());
        eprintln!("screenshot: {}", shot.display());
    }
    app.shutdown().await;
}
