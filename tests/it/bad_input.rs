//! Issue 13, item 8: bad API input is refused with 422 naming the field (400 `bad_request`
//! in the seed 003 family), and nothing is stored: spreadsheet floats and numbers outside
//! their country's plan as phone numbers, numbers written as strings (and strings as
//! numbers), empty template variables.

use crate::api::{customer_writes, post, spawn_api, CUSTOMER};
use serde_json::{json, Value};

async fn nothing_sent(app: &crate::helpers::TestApp) {
    for c in app.store.conversations_page(None, None, 50).await.unwrap() {
        assert!(
            app.store
                .conversation_outbound(c.conversation.id, None, 10)
                .await
                .unwrap()
                .is_empty(),
            "nothing queued for {}",
            c.conversation.id
        );
    }
}

fn refused(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], "VALIDATION_ERROR", "{body}");
    assert_eq!(body["field"], field, "{body}");
}

#[tokio::test]
async fn a_spreadsheet_float_phone_is_refused_not_sent_to_another_person() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 5).await;
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send-freeform",
        json!({ "sender_id": 1, "recipient_phone": "16315551181.0", "message": "hi" }),
    )
    .await;
    refused(status, &body, "recipient_phone");
    assert!(
        body["error"].as_str().unwrap().contains("decimal"),
        "{body}"
    );
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send",
        json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+163155511810",
                "variables": {"1": "a", "2": "b", "3": "c"} }),
    )
    .await;
    refused(status, &body, "recipient_phone");
    assert!(
        body["error"].as_str().unwrap().contains("numbering plan"),
        "{body}"
    );
    assert!(app
        .store
        .find_conversation(1, "+163155511810")
        .await
        .unwrap()
        .is_none());
    // Seed 003's own format for a bad phone.
    let (status, body) = post(
        &app,
        "/api/v1/messages/send-message",
        json!({ "contact_phone": "1234567890", "message_type": "text", "message": "hi" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({ "error": "bad_request", "message": "Invalid phone number format" })
    );
    nothing_sent(&app).await;
}

#[tokio::test]
async fn numbers_written_as_strings_are_refused_naming_the_field() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 5).await;
    let phone = format!("+{CUSTOMER}");
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send-freeform",
        json!({ "sender_id": "1", "recipient_phone": phone, "message": "hi" }),
    )
    .await;
    refused(status, &body, "sender_id");
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send",
        json!({ "sender_id": 1, "template_id": "47", "recipient_phone": phone,
                "variables": {"1": "a", "2": "b", "3": "c"} }),
    )
    .await;
    refused(status, &body, "template_id");
    // A string field given a number.
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send-freeform",
        json!({ "sender_id": 1, "recipient_phone": 16315551181u64, "message": "hi" }),
    )
    .await;
    refused(status, &body, "recipient_phone");
    // Coordinates as strings, in a conversation's messages.
    let id = app.store.conversations_page(None, None, 1).await.unwrap()[0]
        .conversation
        .id;
    let (status, body) = post(
        &app,
        &format!("/api/conversations/{id}/messages"),
        json!({ "type": "location", "location": { "latitude": "52.52", "longitude": 13.4 } }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string().contains("latitude"),
        "names the field: {body}"
    );
    nothing_sent(&app).await;
}

#[tokio::test]
async fn free_form_text_with_a_control_character_is_refused() {
    let app = spawn_api().await;
    customer_writes(&app, CUSTOMER, 5).await;
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send-freeform",
        json!({ "sender_id": 1, "recipient_phone": CUSTOMER, "message": "a\u{0}b" }),
    )
    .await;
    refused(status, &body, "message");
    nothing_sent(&app).await;
}

#[tokio::test]
async fn empty_or_unsendable_template_variables_are_refused_naming_the_variable() {
    let app = spawn_api().await;
    for (vars, field) in [
        (json!({"1": "John", "2": "", "3": "2 PM"}), "variables.2"),
        (
            json!({"1": "John", "2": "Monday", "3": "  \n"}),
            "variables.3",
        ),
        (json!({"1": 7, "2": "Monday", "3": "2 PM"}), "variables.1"),
        // What WhatsApp refuses in a parameter (132018), and what cannot fit a template.
        (
            json!({"1": "John", "2": "Mon\nday", "3": "2 PM"}),
            "variables.2",
        ),
        (
            json!({"1": "John", "2": "Monday", "3": "2      PM"}),
            "variables.3",
        ),
        (
            json!({"1": "a\u{0}b", "2": "Monday", "3": "2 PM"}),
            "variables.1",
        ),
        (
            json!({"1": "x".repeat(1_025), "2": "Monday", "3": "2 PM"}),
            "variables.1",
        ),
    ] {
        let (status, body) = post(
            &app,
            "/api/user/whatsapp/send",
            json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+14155238886", "variables": vars }),
        )
        .await;
        refused(status, &body, field);
    }
    nothing_sent(&app).await;
    // The same request with every variable filled in is accepted.
    let (status, body) = post(
        &app,
        "/api/user/whatsapp/send",
        json!({ "sender_id": 1, "template_id": 47, "recipient_phone": "+14155238886",
                "variables": {"1": "John", "2": "Monday", "3": "2 PM"} }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Strict parsing never panics, accepts only what shape-only parsing accepts, and what it
/// accepts reads back to itself. `PARLEY_FUZZ_SECONDS` runs it longer.
#[test]
fn fuzz_strict_phone_parsing_never_panics_and_round_trips() {
    use parley::domain::PhoneNumber;
    use proptest::prelude::*;
    let inputs = prop_oneof![
        "[+]?[0-9 .()-]{0,20}",
        "[+]?[0-9]{6,16}(\\.0{1,3})?",
        "(whatsapp:)?[+][0-9]{1,3}[ ]?[0-9]{4,12}",
        ".{0,24}",
    ];
    crate::fuzz::fuzz("strict phone numbers", inputs, |input| {
        if let Ok(p) = PhoneNumber::parse_strict(&input) {
            prop_assert_eq!(PhoneNumber::parse(&input).ok(), Some(p.clone()));
            prop_assert_eq!(PhoneNumber::parse_strict(p.as_e164()).ok(), Some(p.clone()));
            prop_assert!(!input.trim_end().ends_with(".0"), "{input}");
        }
        Ok(())
    });
}

/// The flow-side sibling: a template whose variable renders empty (a blank with nothing in
/// it) is not sent to be refused by the provider; it fails with a sentence that says how
/// to fix the flow.
#[tokio::test]
async fn a_flow_template_with_an_empty_variable_fails_with_a_fix_instead_of_being_sent() {
    use crate::helpers::*;
    use std::time::Duration;
    let app = spawn_with(Options {
        flows: vec![(
            "tpl.yaml",
            "id: tpl\ntriggers: [{ keyword: [tpl] }]\nsteps:\n  - send: { template: menu_reminder, variables: { \"1\": \"{{ vars.nothing }}\" } }\n",
        )],
        ..Default::default()
    })
    .await;
    let body = meta_text("16315551181", "wamid.tpl.1", "tpl", now_unix());
    assert_eq!(app.post_meta(&body).await.status(), 200);
    let failed = eventually(
        Duration::from_secs(10),
        "the template's outcome",
        || async {
            let conv = app
                .store
                .find_conversation(1, "+16315551181")
                .await
                .ok()??;
            let msg = app
                .store
                .conversation_outbound(conv.id, None, 1)
                .await
                .ok()?
                .pop()?;
            (msg.status == parley::domain::DeliveryStatus::Failed).then_some(msg)
        },
    )
    .await;
    let why = failed.error_title.unwrap_or_default();
    assert!(
        why.contains("variable {{1}} is empty") && why.contains("default"),
        "{why}"
    );
    assert!(
        app.meta_sends().await.is_empty(),
        "nothing reached the provider"
    );
    app.shutdown().await;
}
