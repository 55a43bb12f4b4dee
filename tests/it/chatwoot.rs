//! The Chatwoot bridge (issue 57) end to end, against a Chatwoot double built from Chatwoot's
//! documented Application API (`chatwoot_double.rs`): a flow's conversation mirrored with its
//! media, a handoff opening and assigning the Chatwoot conversation, an agent's reply sent to
//! the customer once however often its webhook arrives, a closed window told to the agent (or
//! a template sent instead), resolving in Chatwoot ending the handoff, and Chatwoot down for
//! a while with nothing lost and everything mirrored in order once it is back.

#[path = "chatwoot_double.rs"]
mod double;

use crate::api::{api_yaml, CUSTOMER};
use crate::helpers::{body_text, eventually, meta_text, now_unix, spawn_with, Options, TestApp};
use double::{ChatwootDouble, TOKEN};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const WEBHOOK_TOKEN: &str = "cw-hook-0123456789abcdef";
const WELCOME: &str = "id: welcome\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send:\n      text: \"Hello!\"\n  - handoff:\n      timeout: 4h\n      message: \"A person will answer.\"\n";
const SAY: &str = "id: say\ntriggers:\n  - keyword: [say]\nsteps:\n  - send:\n      text: \"echo: {{ message.text }}\"\n";
const WAIT: Duration = Duration::from_secs(15);
/// A small JPEG-looking file.
const PHOTO: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00 the parcel as it arrived \xff\xd9";

/// Parley with the bridge to `cw` (and `extra` in its `chatwoot:` section), retries every
/// 150 ms (a schedule of 40: six seconds of Chatwoot down before anything is parked).
async fn spawn(cw: &ChatwootDouble, extra: &str) -> (TestApp, tempfile::TempDir) {
    let schedule = vec!["150ms"; 40].join(", ");
    let retry = format!("  retry: {{ schedule: [{schedule}], jitter: 0 }}\n");
    spawn_on(cw, extra, &retry, false).await
}

/// `spawn` with `retry` in `events:` (empty: the default schedule), on the manual clock or not.
async fn spawn_on(
    cw: &ChatwootDouble,
    extra: &str,
    retry: &str,
    manual_clock: bool,
) -> (TestApp, tempfile::TempDir) {
    let media = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{api}chatwoot:\n  url: \"{url}\"\n  account_id: 1\n  inbox_id: 7\n  api_access_token: {TOKEN}\n  webhook_token: {WEBHOOK_TOKEN}\n{extra}events:\n{retry}  poll_interval: 50ms\nmedia: {{ dir: \"{dir}\", poll_interval: 50ms }}\n",
        api = api_yaml(1000, 1000),
        url = cw.url,
        dir = media.path().display(),
    );
    let app = spawn_with(Options {
        extra_yaml: yaml,
        flows: vec![("welcome.yaml", WELCOME), ("say.yaml", SAY)],
        manual_clock,
        ..Options::default()
    })
    .await;
    (app, media)
}

async fn customer_says(app: &TestApp, wamid: &str, text: &str) {
    let r = app
        .post_meta(&meta_text(CUSTOMER, wamid, text, now_unix()))
        .await;
    assert_eq!(r.status(), 200);
}

/// The one Chatwoot conversation, once the bridge made it.
async fn the_conversation(cw: &ChatwootDouble) -> i64 {
    eventually(WAIT, "a Chatwoot conversation", || async {
        cw.conversations().first().and_then(|c| c["id"].as_i64())
    })
    .await
}

/// Waits until conversation `c` has `n` messages, and returns them.
async fn messages(cw: &ChatwootDouble, c: i64, n: usize) -> Vec<Value> {
    eventually(WAIT, &format!("{n} messages in Chatwoot"), || async {
        let m = cw.messages(c);
        (m.len() >= n).then_some(m)
    })
    .await
}

fn lines(messages: &[Value]) -> Vec<(String, bool, String)> {
    messages
        .iter()
        .map(|m| {
            let content = m["content"].as_str().unwrap_or_default();
            let short = if content.starts_with("Parley:") {
                "NOTE"
            } else {
                content
            };
            (
                m["message_type"].as_str().unwrap_or_default().to_string(),
                m["private"] == true,
                short.to_string(),
            )
        })
        .collect()
}

fn line(kind: &str, private: bool, text: &str) -> (String, bool, String) {
    (kind.to_string(), private, text.to_string())
}

async fn post_webhook(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/webhooks/chatwoot/{token}", app.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

fn agent_writes(id: i64, conversation: i64, text: &str) -> Value {
    json!({
        "event": "message_created", "id": id, "content": text, "message_type": "outgoing",
        "private": false, "content_type": "text", "source_id": null, "created_at": "2026-01-01T10:00:00Z",
        "sender": {"id": 3, "name": "Ana", "type": "user"},
        "conversation": {"id": conversation, "status": "open", "inbox_id": 7},
        "account": {"id": 1}, "inbox": {"id": 7}, "attachments": []
    })
}

/// A flow that hands over, mirrored: returns the app, the Chatwoot conversation and the
/// media folder.
async fn handed_over(cw: &ChatwootDouble, extra: &str) -> (TestApp, i64, tempfile::TempDir) {
    let (app, media) = spawn(cw, extra).await;
    customer_says(&app, "wamid.hi", "hi").await;
    app.wait_meta_sends(2, WAIT).await;
    let c = the_conversation(cw).await;
    messages(cw, c, 4).await;
    (app, c, media)
}

#[tokio::test]
async fn a_flow_conversation_is_mirrored_with_its_media_and_a_handoff_opens_it() {
    let cw = ChatwootDouble::start().await;
    let (app, c, _media) = handed_over(&cw, "  assign: { team_id: 2 }\n").await;
    assert_eq!(
        lines(&cw.messages(c)),
        [
            line("incoming", false, "hi"),
            line("outgoing", true, "NOTE"),
            line("outgoing", false, "Hello!"),
            line("outgoing", false, "A person will answer."),
        ]
    );
    let note = cw.messages(c)[1]["content"].as_str().unwrap().to_string();
    assert!(note.contains("flow `welcome` (run 1)"), "{note}");
    assert_eq!(cw.status(c), "open");
    {
        let s = cw.state.lock().unwrap();
        assert_eq!(s.contacts.len(), 1);
        assert_eq!(s.contacts[0]["identifier"], format!("+{CUSTOMER}"));
        assert_eq!(s.contacts[0]["name"], "Tester");
        assert_eq!(s.assignments, vec![(c, json!({"team_id": 2}))]);
        let parley_id =
            s.conversations[0]["additional_attributes"]["parley_conversation_id"].as_i64();
        assert!(parley_id.is_some(), "{:?}", s.conversations);
    }

    // A photo: downloaded by Parley, mirrored as an attachment with its caption.
    let sha = hex::encode(Sha256::digest(PHOTO));
    Mock::given(method("GET"))
        .and(path("/v26.0/1013859600285441"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "id": "1013859600285441", "mime_type": "image/jpeg",
            "sha256": sha, "file_size": PHOTO.len().to_string(),
            "url": format!("{}/whatsapp_business/attachments/1013859600285441", app.meta.uri()),
        })))
        .mount(&app.meta)
        .await;
    Mock::given(method("GET"))
        .and(path("/whatsapp_business/attachments/1013859600285441"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(PHOTO.to_vec()),
        )
        .mount(&app.meta)
        .await;
    let photo = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": crate::helpers::PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Tester" }, "wa_id": CUSTOMER }],
            "messages": [{ "from": CUSTOMER, "id": "wamid.photo", "timestamp": now_unix().to_string(), "type": "image",
                "image": { "caption": "The parcel", "mime_type": "image/jpeg", "sha256": sha, "id": "1013859600285441" } }]
        }}]}]
    });
    app.post_meta(&serde_json::to_vec(&photo).unwrap()).await;
    let all = messages(&cw, c, 5).await;
    assert_eq!(all[4]["message_type"], "incoming");
    assert_eq!(all[4]["content"], "[image] The parcel");
    let files = cw.state.lock().unwrap().files.clone();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].message_id, all[4]["id"].as_i64().unwrap());
    assert_eq!(files[0].bytes, PHOTO);
    assert_eq!(files[0].content_type, "image/jpeg");
    assert_eq!(files[0].filename, "image.jpeg");
}

#[tokio::test]
async fn an_agents_reply_reaches_the_customer_once_even_when_the_webhook_comes_twice() {
    let cw = ChatwootDouble::start().await;
    let (app, c, _media) = handed_over(&cw, "").await;
    let reply = agent_writes(9001, c, "Hi, Ana here. Your parcel leaves today.");
    let (code, first) = post_webhook(&app, WEBHOOK_TOKEN, reply.clone()).await;
    assert_eq!((code, &first["result"]), (200, &json!("queued")), "{first}");
    let (code, second) = post_webhook(&app, WEBHOOK_TOKEN, reply).await;
    assert_eq!(
        (code, &second["result"]),
        (200, &json!("duplicate")),
        "{second}"
    );
    let sends = app.wait_meta_sends(3, WAIT).await;
    assert_eq!(
        body_text(&sends[2]),
        "Hi, Ana here. Your parcel leaves today."
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.meta_sends().await.len(), 3, "sent once");
    // Already in Chatwoot (the agent wrote it there): not mirrored back.
    assert_eq!(cw.messages(c).len(), 4, "{:#?}", cw.messages(c));

    // The bridge's own messages, customers' messages and notes are not sent.
    let mut own = agent_writes(9002, c, "Hello!");
    own["source_id"] = json!("parley-evt-3");
    let mut note = agent_writes(9003, c, "internal");
    note["private"] = json!(true);
    let mut incoming = agent_writes(9004, c, "hi");
    incoming["message_type"] = json!("incoming");
    for body in [own, note, incoming] {
        let (code, answer) = post_webhook(&app, WEBHOOK_TOKEN, body).await;
        assert_eq!((code, &answer["result"]), (200, &json!("ignored")));
    }
    // A wrong token changes nothing; a conversation Parley does not mirror is not sent.
    let (code, answer) = post_webhook(&app, "not-the-token", agent_writes(9005, c, "x")).await;
    assert_eq!(code, 401, "{answer}");
    let (code, answer) = post_webhook(&app, WEBHOOK_TOKEN, agent_writes(9006, c + 100, "x")).await;
    assert_eq!((code, &answer["result"]), (200, &json!("not_mirrored")));
    let r = app
        .http
        .post(format!("{}/webhooks/chatwoot/{WEBHOOK_TOKEN}", app.addr))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.meta_sends().await.len(), 3);
}

#[tokio::test]
async fn resolving_in_chatwoot_ends_the_handoff_and_the_bot_answers_again() {
    let cw = ChatwootDouble::start().await;
    let (app, c, _media) = handed_over(&cw, "").await;
    // While with a person, the bot does not answer.
    customer_says(&app, "wamid.hi2", "hi").await;
    messages(&cw, c, 5).await;
    assert_eq!(app.meta_sends().await.len(), 2);

    let resolved = json!({"event": "conversation_status_changed", "id": c, "status": "resolved",
        "changed_attributes": [{"status": {"previous_value": "open", "current_value": "resolved"}}]});
    let (code, answer) = post_webhook(&app, WEBHOOK_TOKEN, resolved.clone()).await;
    assert_eq!(
        (code, &answer["result"]),
        (200, &json!("release_queued")),
        "{answer}"
    );
    let ended = eventually(WAIT, "handoff.ended", || async {
        let events = app.store.logged_events(0, 1000).await.unwrap();
        events
            .into_iter()
            .find(|e| e.kind.as_str() == "handoff.ended")
    })
    .await;
    assert_eq!(ended.data["by"], "chatwoot");
    let all = messages(&cw, c, 6).await;
    assert!(
        all[5]["content"]
            .as_str()
            .unwrap()
            .contains("resolved in Chatwoot"),
        "{all:#?}"
    );
    eventually(WAIT, "resolved in Chatwoot", || async {
        (cw.status(c) == "resolved").then_some(())
    })
    .await;
    // Chatwoot tells of it again (a retry): nothing happens twice.
    let (_, answer) = post_webhook(&app, WEBHOOK_TOKEN, resolved).await;
    assert_eq!(answer["result"], "not_in_handoff");

    customer_says(&app, "wamid.hi3", "hi").await;
    let sends = app.wait_meta_sends(4, WAIT).await;
    assert_eq!(body_text(&sends[2]), "Hello!");
}

#[tokio::test]
async fn an_agent_writing_after_the_window_closed_is_told_and_nothing_is_sent() {
    let cw = ChatwootDouble::start().await;
    let (app, _media) = spawn(&cw, "").await;
    let long_ago = now_unix() - 26 * 3600;
    app.post_meta(&meta_text(CUSTOMER, "wamid.old", "hello there", long_ago))
        .await;
    let c = the_conversation(&cw).await;
    messages(&cw, c, 1).await;
    let (code, answer) = post_webhook(
        &app,
        WEBHOOK_TOKEN,
        agent_writes(77, c, "Sorry for the wait"),
    )
    .await;
    assert_eq!(
        (code, &answer["result"]),
        (200, &json!("not_sent")),
        "{answer}"
    );
    let all = messages(&cw, c, 2).await;
    assert_eq!(all[1]["private"], true);
    let note = all[1]["content"].as_str().unwrap();
    assert!(
        note.contains("NOT sent") && note.contains("24-hour window closed"),
        "{note}"
    );
    assert!(note.contains("chatwoot.closed_window_template"), "{note}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.meta_sends().await.is_empty());
}

#[tokio::test]
async fn an_agent_writing_after_the_window_closed_sends_the_configured_template() {
    let cw = ChatwootDouble::start().await;
    let (app, _media) = spawn(
        &cw,
        "  closed_window_template: { name: menu_reminder, language: en }\n",
    )
    .await;
    let long_ago = now_unix() - 26 * 3600;
    app.post_meta(&meta_text(CUSTOMER, "wamid.old", "hello there", long_ago))
        .await;
    let c = the_conversation(&cw).await;
    messages(&cw, c, 1).await;
    let (_, answer) = post_webhook(
        &app,
        WEBHOOK_TOKEN,
        agent_writes(78, c, "Sorry for the wait"),
    )
    .await;
    assert_eq!(answer["result"], "queued", "{answer}");
    let sends = app.wait_meta_sends(1, WAIT).await;
    assert_eq!(sends[0]["type"], "template", "{}", sends[0]);
    assert_eq!(sends[0]["template"]["name"], "menu_reminder");
    let all = messages(&cw, c, 2).await;
    let note = all.iter().find(|m| m["private"] == true).expect("a note");
    assert!(note["content"]
        .as_str()
        .unwrap()
        .contains("template `menu_reminder` was sent instead"));
}

#[tokio::test]
async fn chatwoot_down_for_a_while_loses_nothing_and_mirrors_in_order() {
    let cw = ChatwootDouble::start().await;
    let (app, _media) = spawn(&cw, "").await;
    cw.set_down(true);
    for n in 1..=4 {
        customer_says(&app, &format!("wamid.say{n}"), &format!("say {n}")).await;
        // The reply's `message.sent` is logged when Meta's acceptance is recorded, after
        // the double saw it: waited for, so the log's order is the conversation's.
        eventually(WAIT, "the reply logged", || async {
            let events = app.store.logged_events(0, 1000).await.unwrap();
            let sent = events.iter().filter(|e| e.kind.as_str() == "message.sent");
            (sent.count() >= n).then_some(())
        })
        .await;
    }
    // Replies to customers went on while Chatwoot was down; a second of retries passes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(cw.conversations().is_empty());
    {
        // Back, but the first two messages created lose their answers: looked up, not
        // posted again.
        let mut s = cw.state.lock().unwrap();
        s.lose_answers = 2;
        s.down = false;
    }
    let c = the_conversation(&cw).await;
    let all = messages(&cw, c, 8).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut expected = Vec::new();
    for n in 1..=4 {
        expected.push(line("incoming", false, &format!("say {n}")));
        expected.push(line("outgoing", false, &format!("echo: say {n}")));
    }
    assert_eq!(lines(&cw.messages(c)), expected, "{all:#?}");
    assert_eq!(cw.conversations().len(), 1);
    assert_eq!(cw.state.lock().unwrap().contacts.len(), 1);
}

#[tokio::test]
async fn chatwoot_down_for_ten_minutes_on_the_default_schedule_loses_nothing() {
    let cw = ChatwootDouble::start().await;
    cw.set_down(true);
    let (app, _media) = spawn_on(&cw, "", "", true).await;
    let clock = app.clock.clone().expect("the manual clock");
    for n in 1..=3 {
        let ts = parley::domain::Clock::now(&clock).timestamp();
        let text = format!("say {n}");
        app.post_meta(&meta_text(CUSTOMER, &format!("wamid.m{n}"), &text, ts))
            .await;
        eventually(WAIT, "the reply logged", || async {
            let events = app.store.logged_events(0, 1000).await.unwrap();
            let sent = events.iter().filter(|e| e.kind.as_str() == "message.sent");
            (sent.count() >= n).then_some(())
        })
        .await;
    }
    // Ten minutes, minute by minute: the retries after 5 s and 5 min find Chatwoot down.
    for _ in 0..10 {
        clock.advance(chrono::TimeDelta::minutes(1));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(cw.conversations().is_empty());
    cw.set_down(false);
    // The schedule's next retry, 30 minutes (±20 % jitter) after the last, brings everything
    // in order: the clock moves five minutes at a time until it has come (at most an hour).
    for _ in 0..12 {
        if !cw.conversations().is_empty() {
            break;
        }
        clock.advance(chrono::TimeDelta::minutes(5));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let c = the_conversation(&cw).await;
    messages(&cw, c, 6).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut expected = Vec::new();
    for n in 1..=3 {
        expected.push(line("incoming", false, &format!("say {n}")));
        expected.push(line("outgoing", false, &format!("echo: say {n}")));
    }
    assert_eq!(lines(&cw.messages(c)), expected);
}

#[tokio::test]
async fn an_agents_attachment_is_sent_as_media_after_the_media_check() {
    let cw = ChatwootDouble::start().await;
    let (app, c, _media) = handed_over(&cw, "").await;
    let files = wiremock::MockServer::start().await;
    Mock::given(method("HEAD"))
        .and(path("/rails/active_storage/label.jpg"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .insert_header("content-length", "2048"),
        )
        .mount(&files)
        .await;
    let url = format!("{}/rails/active_storage/label.jpg", files.uri());
    let mut with_file = agent_writes(9101, c, "Your label");
    with_file["attachments"] = json!([{"id": 1, "file_type": "image", "data_url": url}]);
    let (_, answer) = post_webhook(&app, WEBHOOK_TOKEN, with_file).await;
    assert_eq!(answer["result"], "queued", "{answer}");
    let sends = app.wait_meta_sends(3, WAIT).await;
    assert_eq!(sends[2]["type"], "image", "{}", sends[2]);
    assert_eq!(sends[2]["image"]["link"], json!(url));
    assert_eq!(sends[2]["image"]["caption"], "Your label");

    // A file that is not there is not sent; the agent is told why.
    let mut missing = agent_writes(9102, c, "");
    missing["attachments"] =
        json!([{"file_type": "file", "data_url": format!("{}/gone.pdf", files.uri())}]);
    let (_, answer) = post_webhook(&app, WEBHOOK_TOKEN, missing).await;
    assert_eq!(answer["result"], "not_sent", "{answer}");
    let note = eventually(WAIT, "a note", || async {
        cw.messages(c).into_iter().find(|m| {
            m["content"]
                .as_str()
                .is_some_and(|t| t.contains("attachment was refused"))
        })
    })
    .await;
    assert_eq!(note["private"], true);
    assert!(
        note["content"].as_str().unwrap().contains("not found"),
        "{note}"
    );
    assert_eq!(app.meta_sends().await.len(), 3);
}
