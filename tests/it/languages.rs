//! Languages end to end through the app (issue 58): each customer answered in their own
//! language, a missing translation falling back to the base (and reported by the loader),
//! the `language` step's answer kept for the next conversation, the language guessed from
//! the first message, and templates sent in the contact's language.

use crate::helpers::*;
use parley::domain::contact_file::ContactImport;
use parley::domain::PhoneNumber;
use serde_json::{json, Value};
use std::time::Duration;

const GREET: &str = r#"id: greet
languages: [en, es, hi]
triggers: [{ keyword: [start] }]
translations:
  es:
    "Hello! What can I do for you?": "¡Hola! ¿En qué puedo ayudarte?"
    "My order": "Mi pedido"
  hi:
    "Hello! What can I do for you?": "नमस्ते! मैं आपकी क्या मदद कर सकता हूँ?"
    "My order": "मेरा ऑर्डर"
steps:
  - send: { text: "Hello! What can I do for you?", buttons: [{ id: order, title: "My order" }] }
  - send: "See you soon"
"#;

/// Gives the contact of `phone` the language `code`, as an import does.
async fn speaks(app: &TestApp, phone: &str, code: &str) {
    let mut fields = serde_json::Map::new();
    fields.insert("language".into(), json!(code));
    let row = ContactImport {
        row: 1,
        phone: Some(PhoneNumber::parse(phone).unwrap()),
        user_id: None,
        name: None,
        tags: vec![],
        opted_in: None,
        fields,
    };
    app.store
        .import_contacts(&[row], chrono::Utc::now())
        .await
        .unwrap();
}

/// The Meta sends to `to` once there are `n`.
async fn sends_to(app: &TestApp, to: &str, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(10),
        &format!("{n} sends to {to}"),
        || async {
            let s: Vec<Value> = app
                .meta_sends()
                .await
                .into_iter()
                .filter(|s| s["to"] == to)
                .collect();
            (s.len() >= n).then_some(s)
        },
    )
    .await
}

/// The text of a send: a text message's body, or an interactive message's.
fn said(send: &Value) -> &str {
    send["text"]["body"]
        .as_str()
        .or_else(|| send["interactive"]["body"]["text"].as_str())
        .unwrap_or_default()
}

fn texts(sends: &[Value]) -> Vec<String> {
    sends.iter().map(|s| said(s).to_string()).collect()
}

fn first_button(send: &Value) -> &str {
    send["interactive"]["action"]["buttons"][0]["reply"]["title"]
        .as_str()
        .unwrap_or_default()
}

/// The contact's stored `language` field.
async fn language_of(app: &TestApp, phone: &str) -> Option<String> {
    let key = format!("+{phone}");
    let conversation = app.store.find_conversation(1, &key).await.unwrap()?;
    let contact = app.store.contact(conversation.contact_id).await.unwrap()?;
    contact
        .attributes
        .get("language")?
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn each_customer_is_answered_in_their_language_and_a_missing_one_in_the_base() {
    let app = spawn_with(Options {
        flows: vec![("greet.yaml", GREET)],
        ..Default::default()
    })
    .await;
    speaks(&app, "+34600000001", "es").await;
    speaks(&app, "+919800000001", "hi").await;
    speaks(&app, "+33600000001", "fr").await;
    let customers = [
        ("34600000001", "¡Hola! ¿En qué puedo ayudarte?", "Mi pedido"),
        (
            "919800000001",
            "नमस्ते! मैं आपकी क्या मदद कर सकता हूँ?",
            "मेरा ऑर्डर",
        ),
        ("16315551181", "Hello! What can I do for you?", "My order"),
        // French is not one of the flow's languages: the base language.
        ("33600000001", "Hello! What can I do for you?", "My order"),
    ];
    for (i, (phone, _, _)) in customers.iter().enumerate() {
        let wamid = format!("wamid.lang.{i}");
        app.post_meta(&meta_text(phone, &wamid, "start", now_unix()))
            .await;
    }
    for (phone, text, button) in customers {
        let sent = sends_to(&app, phone, 2).await;
        assert_eq!(said(&sent[0]), text, "{phone}");
        assert_eq!(first_button(&sent[0]), button, "{phone}");
        // "See you soon" has no translation: every customer reads it in English.
        assert_eq!(said(&sent[1]), "See you soon", "{phone}");
    }
    app.shutdown().await;

    // The loader (what `parley check` runs) says which text has no translation.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greet.yaml"), GREET).unwrap();
    let report = parley::flows::load_dir(&parley::flows::LoadSettings {
        dir: dir.path(),
        scripts_dir: dir.path(),
        templates: &[],
        window: Duration::from_secs(86_400),
        overrides: None,
    });
    let text = report.render();
    assert_eq!(report.errors(), 0, "{text}");
    for lang in ["Spanish (es)", "Hindi (hi)"] {
        assert!(
            text.contains(&format!("no {lang} translation of \"See you soon\"")),
            "{text}"
        );
    }
}

const CHOOSE: &str = r#"id: choose
languages: [en, es]
triggers: [{ keyword: [start, empezar] }]
translations:
  es:
    "Which language do you prefer?": "¿Qué idioma prefieres?"
    "Welcome aboard": "Bienvenido a bordo"
steps:
  - language: "Which language do you prefer?"
  - send: "Welcome aboard"
"#;

#[tokio::test]
async fn a_language_chosen_with_the_language_step_is_kept_for_the_next_conversation() {
    let app = spawn_with(Options {
        flows: vec![("choose.yaml", CHOOSE)],
        ..Default::default()
    })
    .await;
    let phone = "34600000002";
    app.post_meta(&meta_text(phone, "wamid.c.1", "start", now_unix()))
        .await;
    let sent = sends_to(&app, phone, 1).await;
    assert_eq!(said(&sent[0]), "Which language do you prefer?");
    // The customer types the Spanish name of the language (a typed title is an answer).
    app.post_meta(&meta_text(phone, "wamid.c.2", "Español", now_unix()))
        .await;
    let sent = sends_to(&app, phone, 2).await;
    assert_eq!(said(&sent[1]), "Bienvenido a bordo");
    assert_eq!(language_of(&app, phone).await.as_deref(), Some("es"));
    // A later conversation starts in Spanish.
    app.post_meta(&meta_text(phone, "wamid.c.3", "empezar", now_unix()))
        .await;
    let sent = sends_to(&app, phone, 3).await;
    assert_eq!(said(&sent[2]), "¿Qué idioma prefieres?");
    app.shutdown().await;
}

const DETECT: &str = r#"id: detect
languages: [en, es]
detect_language: true
triggers: [{ keyword: [hola, hello], match: contains }]
translations:
  es: { "How can we help?": "¿Cómo podemos ayudarte?" }
steps:
  - send: "How can we help?"
"#;

#[tokio::test]
async fn the_language_is_guessed_from_the_first_message_and_kept() {
    let app = spawn_with(Options {
        flows: vec![("detect.yaml", DETECT)],
        ..Default::default()
    })
    .await;
    let (es, en) = ("34600000003", "16315551182");
    let spanish = "hola, quiero saber dónde está mi pedido, por favor";
    app.post_meta(&meta_text(es, "wamid.d.1", spanish, now_unix()))
        .await;
    let english = "hello, I would like to know where my order is, please";
    app.post_meta(&meta_text(en, "wamid.d.2", english, now_unix()))
        .await;
    assert_eq!(
        texts(&sends_to(&app, es, 1).await),
        vec!["¿Cómo podemos ayudarte?"]
    );
    assert_eq!(
        texts(&sends_to(&app, en, 1).await),
        vec!["How can we help?"]
    );
    assert_eq!(language_of(&app, es).await.as_deref(), Some("es"));
    assert_eq!(language_of(&app, en).await.as_deref(), Some("en"));
    app.shutdown().await;
}

const TEMPLATES: (&str, &str) = (
    "templates:\n",
    "templates:\n  - { id: 60, name: order_update, language: en, status: approved, category: utility, body: \"Order {{1}} moved.\" }\n  - { id: 61, name: order_update, language: es_MX, status: approved, category: utility, body: \"El pedido {{1}} avanzó.\" }\n  - { id: 62, name: order_update, language: hi, status: pending, category: utility, body: \"ऑर्डर {{1}}\" }\n",
);

const UPDATE: &str = r#"id: update
languages: [en, es, hi]
triggers: [{ keyword: [status] }]
steps:
  - send: { template: order_update, variables: { "1": "A-1" } }
"#;

#[tokio::test]
async fn a_template_is_sent_in_the_contacts_language_when_the_config_declares_it() {
    let app = spawn_with(Options {
        flows: vec![("update.yaml", UPDATE)],
        config_edits: vec![TEMPLATES],
        ..Default::default()
    })
    .await;
    speaks(&app, "+34600000004", "es").await;
    speaks(&app, "+919800000004", "hi").await;
    let customers = [
        // Spanish: the config's same-base variant, es_MX.
        ("34600000004", "es_MX"),
        // Hindi is declared but not approved: the flow's base language.
        ("919800000004", "en"),
        // No language: the base.
        ("16315551183", "en"),
    ];
    for (i, (phone, _)) in customers.iter().enumerate() {
        let wamid = format!("wamid.t.{i}");
        app.post_meta(&meta_text(phone, &wamid, "status", now_unix()))
            .await;
    }
    for (phone, code) in customers {
        let sent = sends_to(&app, phone, 1).await;
        assert_eq!(sent[0]["template"]["name"], "order_update", "{phone}");
        assert_eq!(sent[0]["template"]["language"]["code"], code, "{phone}");
    }
    app.shutdown().await;
}
