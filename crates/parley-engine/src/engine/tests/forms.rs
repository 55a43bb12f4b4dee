//! The `form` step: a WhatsApp Flow sent with a token, its submission tied back to the step
//! by that token, the answers typed into `vars`, and what happens to everything else.

use super::*;
use crate::domain::{FormAction, FormMessage, Wait};
use serde_json::{Map, Value};

const BOOKING: &str = r#"id: booking
triggers:
  - keyword: [book]
  - { keyword: [again], interrupt: true }
steps:
  - form:
      flow_id: "1197715005513101"
      text: "Book a visit, {{ contact.name }}"
      cta: Book now
      screen: APPOINTMENT
      data: { customer_name: "{{ contact.name }}" }
      save_as: booking
      fields:
        - { name: date, type: date, required: true }
        - { name: people, type: number, required: true }
      timeout: 1h
      on_timeout: nudge
      on_invalid: sorry
  - send: "See you on {{ vars.booking.date }}, {{ vars.booking.people }} of you"
  - end: {}
  - id: nudge
    send: "Still want to book?"
  - end: {}
  - id: sorry
    send: "That booking did not come through"
"#;

const OTHERS: &str = r#"id: others
triggers:
  - fallback: true
steps:
  - send: "I didn't understand"
"#;

const FOREIGN: &str = r#"id: campaign_form
triggers:
  - type: [form_reply]
steps:
  - send: "Thanks for the survey: {{ message.form.score }}"
"#;

fn the_form(out: &StepOutput) -> FormMessage {
    match out.replies.as_slice() {
        [reply] => match &reply.content {
            OutboundContent::Form(f) => f.as_ref().clone(),
            other => panic!("not a form: {other:?}"),
        },
        other => panic!("expected one reply: {other:?}"),
    }
}

fn submission(token: &str, fields: Value) -> InboundContent {
    let mut response: Map<String, Value> = fields.as_object().cloned().unwrap_or_default();
    response.remove("flow_token");
    InboundContent::FormReply {
        token: Some(token.to_string()),
        response,
    }
}

#[tokio::test]
async fn a_form_is_sent_with_a_token_and_its_submission_continues_the_flow() {
    let mut h = harness(&[BOOKING, OTHERS]);
    let out = h
        .send(InboundContent::Text {
            body: "book".into(),
        })
        .await;
    let form = the_form(&out);
    assert_eq!(form.body, "Book a visit, Ana");
    assert_eq!(form.token, "parley-form.1.1.0.2");
    assert_eq!(
        form.action,
        FormAction::Navigate {
            screen: "APPOINTMENT".into(),
            data: Some(json!({"customer_name": "Ana"}))
        }
    );
    assert!(matches!(
        h.state().run.unwrap().wait,
        Some(Wait::Form { step: 0, ref token }) if *token == form.token
    ));
    let out = h
        .send(submission(
            &form.token,
            json!({"date": "2026-12-01", "people": "3"}),
        ))
        .await;
    assert_eq!(bodies(&out), vec!["See you on 2026-12-01, 3 of you"]);
    assert!(h.state().run.is_none());
    assert!(h.timers.is_empty(), "the submission cancelled the timeout");
}

#[tokio::test]
async fn without_save_as_the_declared_fields_become_variables() {
    let flow = "id: f\ntriggers: [{keyword: [go]}]\nsteps:\n  - form: { flow_name: signup, text: Sign up, cta: Open, screen: A, fields: [{ name: email, type: email }] }\n  - ask: { text: \"Anything else, {{ vars.email }}?\", save_as: more }\n";
    let mut h = harness(&[flow]);
    let form = the_form(&h.send(InboundContent::Text { body: "go".into() }).await);
    let out = h
        .send(submission(
            &form.token,
            json!({"email": "Ana@Example.com", "x": 1}),
        ))
        .await;
    assert_eq!(bodies(&out), vec!["Anything else, ana@example.com?"]);
    let vars = h.state().run.unwrap().vars;
    assert_eq!(vars["email"], json!("ana@example.com"));
    assert!(!vars.contains_key("x"), "undeclared fields are dropped");
}

#[tokio::test]
async fn a_message_while_the_form_waits_is_not_its_answer_and_starts_nothing() {
    let mut h = harness(&[BOOKING, OTHERS]);
    let form = the_form(
        &h.send(InboundContent::Text {
            body: "book".into(),
        })
        .await,
    );
    assert_eq!(h.say("done!").await, Vec::<String>::new());
    assert!(matches!(
        h.state().run.unwrap().wait,
        Some(Wait::Form { .. })
    ));
    let out = h
        .send(submission(
            &form.token,
            json!({"date": "2026-12-01", "people": 2}),
        ))
        .await;
    assert_eq!(bodies(&out), vec!["See you on 2026-12-01, 2 of you"]);
}

#[tokio::test]
async fn a_stale_token_is_ignored_and_changes_nothing() {
    let mut h = harness(&[BOOKING, OTHERS]);
    let first = the_form(
        &h.send(InboundContent::Text {
            body: "book".into(),
        })
        .await,
    );
    // The customer starts over: a new run, a new form, a new token.
    let second = the_form(
        &h.send(InboundContent::Text {
            body: "again".into(),
        })
        .await,
    );
    assert_ne!(first.token, second.token);
    let before = h.state();
    let out = h
        .send(submission(
            &first.token,
            json!({"date": "2026-12-01", "people": 2}),
        ))
        .await;
    assert!(out.replies.is_empty(), "{:?}", bodies(&out));
    assert_eq!(h.state().run, before.run, "the new form still waits");
    let out = h
        .send(submission(
            &second.token,
            json!({"date": "2026-12-02", "people": 4}),
        ))
        .await;
    assert_eq!(bodies(&out), vec!["See you on 2026-12-02, 4 of you"]);
    // Submitted twice: the second is stale too.
    let out = h
        .send(submission(
            &second.token,
            json!({"date": "2026-12-02", "people": 4}),
        ))
        .await;
    assert!(out.replies.is_empty(), "{:?}", bodies(&out));
}

#[tokio::test]
async fn the_timeout_takes_its_branch_and_a_later_submission_is_stale() {
    let mut h = harness(&[BOOKING, OTHERS]);
    let form = the_form(
        &h.send(InboundContent::Text {
            body: "book".into(),
        })
        .await,
    );
    assert_eq!(
        h.advance(Duration::from_secs(59 * 60)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        h.advance(Duration::from_secs(2 * 60)).await,
        vec!["Still want to book?"]
    );
    assert!(h.state().run.is_none());
    let out = h
        .send(submission(
            &form.token,
            json!({"date": "2026-12-01", "people": 2}),
        ))
        .await;
    assert!(out.replies.is_empty(), "{:?}", bodies(&out));
}

#[tokio::test]
async fn a_submission_that_does_not_fit_takes_on_invalid() {
    let mut h = harness(&[BOOKING, OTHERS]);
    let form = the_form(
        &h.send(InboundContent::Text {
            body: "book".into(),
        })
        .await,
    );
    let out = h
        .send(submission(
            &form.token,
            json!({"date": "2026-12-01", "people": "lots"}),
        ))
        .await;
    assert_eq!(bodies(&out), vec!["That booking did not come through"]);
    assert!(h
        .state()
        .last_error
        .unwrap()
        .message
        .contains("`people` is not a number: lots"));
}

#[tokio::test]
async fn a_token_parley_did_not_make_goes_through_the_triggers() {
    let mut h = harness(&[BOOKING, FOREIGN]);
    let out = h
        .send(submission("survey-2026-11", json!({"score": "5"})))
        .await;
    assert_eq!(bodies(&out), vec!["Thanks for the survey: 5"]);
}

#[tokio::test]
async fn an_interrupting_trigger_still_replaces_a_waiting_form() {
    let mut h = harness(&[BOOKING, OTHERS]);
    let first = the_form(
        &h.send(InboundContent::Text {
            body: "book".into(),
        })
        .await,
    );
    let again = the_form(
        &h.send(InboundContent::Text {
            body: "again".into(),
        })
        .await,
    );
    assert_ne!(first.token, again.token);
}

const DELIVERY: &str = r#"id: delivery
triggers:
  - keyword: [deliver]
steps:
  - ask:
      text: "Where should we deliver your order?"
      expect: address
      save_as: address
      retries: 1
  - send: "Delivering to {{ vars.address.city }} {{ vars.address.in_pin_code }}"
"#;

#[tokio::test]
async fn an_address_question_goes_out_as_the_address_form_and_its_reply_is_saved() {
    let mut h = harness(&[DELIVERY]);
    let out = h
        .send(InboundContent::Text {
            body: "deliver".into(),
        })
        .await;
    assert_eq!(
        out.replies[0].content,
        OutboundContent::AddressRequest {
            body: "Where should we deliver your order?".into(),
            header: None,
            footer: None,
            country: "IN".into(),
        }
    );
    assert_eq!(
        h.say("Mumbai").await,
        vec!["Please fill in the address form: tap its button."]
    );
    let values = [("city", "Mumbai"), ("in_pin_code", "400063")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = h
        .send(InboundContent::AddressReply {
            values,
            saved_address_id: None,
        })
        .await;
    assert_eq!(bodies(&out), vec!["Delivering to Mumbai 400063"]);
}
