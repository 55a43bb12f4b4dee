use super::*;
use crate::domain::{ErrorClass, TemplateCategory, TemplateChange, TemplateUpdate};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/meta/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn parse_fixture(name: &str) -> Vec<Routed> {
    parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only_message(items: &[Routed]) -> &InboundMessage {
    match items {
        [Routed {
            item: WebhookItem::Message(m),
            ..
        }] => m,
        other => panic!("expected one message, got {other:#?}"),
    }
}

fn only_status(items: &[Routed]) -> &StatusUpdate {
    match items {
        [Routed {
            item: WebhookItem::Status(s),
            ..
        }] => s,
        other => panic!("expected one status, got {other:#?}"),
    }
}

/// One snapshot test per webhook fixture; the snapshot is the whole parsed `Vec<Routed>`.
macro_rules! snapshot_fixtures {
    ($($test:ident => $file:literal),* $(,)?) => {$(
        #[test]
        fn $test() {
            insta::assert_yaml_snapshot!(parse_fixture($file));
        }
    )*};
}

snapshot_fixtures! {
    parses_text => "text.json",
    parses_text_replying_with_context => "text_reply_context.json",
    parses_interactive_button_reply => "interactive_button_reply.json",
    parses_interactive_list_reply => "interactive_list_reply.json",
    parses_template_quick_reply_button => "template_quick_reply_button.json",
    parses_image => "image.json",
    parses_document => "document.json",
    parses_voice_note => "audio.json",
    parses_video => "video.json",
    parses_location => "location.json",
    parses_reaction => "reaction.json",
    parses_unsupported_with_errors => "unsupported.json",
    parses_click_to_whatsapp_referral => "referral_ctwa.json",
    parses_batch_of_two_messages => "batch_two_messages.json",
    parses_business_scoped_user => "bsuid_username_user.json",
    parses_business_scoped_user_only_in_contacts => "bsuid_only_contacts_user_id.json",
    parses_business_scoped_user_with_phone => "bsuid_with_phone.json",
    parses_system_user_changed_number => "system_user_changed_number.json",
    parses_system_customer_changed_number_legacy => "system_customer_changed_number_legacy.json",
    parses_system_user_changed_user_id_alone_as_nothing => "system_user_changed_user_id.json",
    parses_user_id_update => "user_id_update.json",
    parses_system_user_changed_user_id_with_its_previous_id => "system_user_changed_user_id_with_previous.json",
    parses_status_delivered_to_business_scoped_user => "status_delivered_to_bsuid.json",
    parses_status_sent => "status_sent.json",
    parses_status_delivered => "status_delivered.json",
    parses_status_read => "status_read.json",
    parses_status_failed_131047 => "status_failed_131047.json",
    parses_status_failed_131026 => "status_failed_131026.json",
    parses_status_failed_131049 => "status_failed_131049.json",
    parses_status_failed_131050 => "status_failed_131050.json",
    parses_template_status_paused => "template_status_paused.json",
    parses_template_status_approved => "template_status_approved.json",
    parses_template_category_impending => "template_category_impending.json",
    parses_template_category_completed => "template_category_completed.json",
    parses_user_preferences_stop => "user_preferences_stop.json",
    parses_order => "order.json",
    parses_shared_contacts => "contacts.json",
    parses_request_welcome => "request_welcome.json",
    parses_removed_reaction => "reaction_removed.json",
    parses_business_app_echo => "smb_message_echoes.json",
    parses_history_backfill => "history.json",
    parses_call_connect => "calls_connect.json",
    parses_call_terminate => "calls_terminate.json",
    parses_business_initiated_call => "calls_business_initiated.json",
    parses_call_from_a_business_scoped_user => "calls_terminate_bsuid.json",
    parses_submitted_form => "interactive_nfm_reply_flow.json",
    parses_submitted_address => "interactive_nfm_reply_address.json",
}

#[test]
fn template_changes_are_routed_by_business_account_and_read_both_category_shapes() {
    let paused = parse_fixture("template_status_paused.json");
    assert_eq!(
        paused[0].route,
        RouteKey::MetaBusinessAccount("102290129340398".into())
    );
    assert!(matches!(
        &paused[0].item,
        WebhookItem::Template(TemplateUpdate { name, change: TemplateChange::Status { status, .. }, .. })
            if name == "spring_sale" && status == "paused"
    ));
    let impending = parse_fixture("template_category_impending.json");
    assert!(matches!(
        &impending[0].item,
        WebhookItem::Template(TemplateUpdate {
            change: TemplateChange::CategoryImpending {
                category: TemplateCategory::Marketing,
                on: Some(_)
            },
            ..
        })
    ));
    let completed = parse_fixture("template_category_completed.json");
    assert!(matches!(
        &completed[0].item,
        WebhookItem::Template(TemplateUpdate {
            change: TemplateChange::Category {
                category: TemplateCategory::Marketing,
                previous: Some(TemplateCategory::Utility)
            },
            ..
        })
    ));
}

#[test]
fn template_changes_without_a_name_or_category_are_skipped_not_fatal() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
        {"field":"message_template_status_update","value":{"event":"PAUSED"}},
        {"field":"template_category_update","value":{"message_template_name":"x","new_category":"SPAM"}},
        {"field":"user_preferences","value":{"metadata":{"phone_number_id":"1"},"user_preferences":[
            {"wa_id":"16315551181","category":"marketing_messages","value":"maybe"}]}}]}]}"#;
    assert_eq!(parse(body).unwrap(), Vec::new());
}

#[test]
fn a_removed_reaction_has_no_emoji_and_is_not_conversational() {
    let m = parse_fixture("reaction_removed.json");
    let content = &only_message(&m).content;
    assert!(matches!(
        content,
        InboundContent::Reaction { emoji: None, .. }
    ));
    assert!(!content.is_conversational());
    assert!(content.opens_window());
}

#[test]
fn an_echo_is_for_the_customer_it_went_to_and_leaves_the_window() {
    let m = parse_fixture("smb_message_echoes.json");
    let echo = only_message(&m);
    assert_eq!(echo.from.key(), "+16315551181");
    let InboundContent::Echo { content } = &echo.content else {
        panic!("an echo: {echo:?}");
    };
    assert!(matches!(**content, InboundContent::Text { .. }));
    assert!(!echo.content.opens_window());
}

#[test]
fn history_names_who_wrote_and_never_opens_the_window() {
    let items = parse_fixture("history.json");
    let from: Vec<bool> = items
        .iter()
        .map(|r| match &r.item {
            WebhookItem::Message(InboundMessage {
                content: c @ InboundContent::History { from_customer, .. },
                from,
                ..
            }) => {
                assert_eq!(from.key(), "+16315551181");
                assert!(!c.opens_window());
                *from_customer
            }
            other => panic!("history: {other:?}"),
        })
        .collect();
    assert_eq!(from, vec![true, false]);
    assert_eq!(parse_fixture("history_declined.json"), vec![]);
}

#[test]
fn a_call_s_connect_and_terminate_are_two_events_and_only_the_customer_s_open_the_window() {
    let connect = parse_fixture("calls_connect.json");
    let terminate = parse_fixture("calls_terminate.json");
    let (a, b) = (only_message(&connect), only_message(&terminate));
    assert_ne!(a.provider_message_id, b.provider_message_id);
    assert!(a.content.opens_window() && b.content.opens_window());
    assert_eq!(a.profile_name.as_deref(), Some("Sheena Nelson"));
    let business = parse_fixture("calls_business_initiated.json");
    let c = only_message(&business);
    assert_eq!(c.from.key(), "+16315551181", "the customer is the callee");
    assert!(!c.content.opens_window());
}

/// A call names its customer by BSUID too (`from_user_id`, or the `contacts` entry): a
/// caller without a shared number is a customer, and one with both is one contact.
#[test]
fn a_call_names_its_customer_by_bsuid_too() {
    let bsuid_only = parse_fixture("calls_terminate_bsuid.json");
    let m = only_message(&bsuid_only);
    assert_eq!(m.from.key(), "bsuid:US.10482957361840527319");
    assert_eq!(m.username.as_deref(), Some("@maria"));
    let both = fixture("calls_terminate_bsuid.json");
    let both = String::from_utf8(both).unwrap().replace(
        "\"from_user_id\"",
        "\"from\": \"16315551181\", \"from_user_id\"",
    );
    let both = parse(both.as_bytes()).unwrap();
    let m = only_message(&both);
    assert_eq!(m.from.key(), "+16315551181");
    assert_eq!(m.from.user_id(), Some("US.10482957361840527319"));
}

#[test]
fn shared_contacts_and_orders_are_bounded() {
    let card = serde_json::json!({
        "name": {"formatted_name": "x".repeat(5000)},
        "phones": (0..50).map(|i| serde_json::json!({"phone": format!("+1555{i:07}")})).collect::<Vec<_>>(),
    });
    let items: Vec<_> = (0..200)
        .map(|i| serde_json::json!({"product_retailer_id": format!("p{i}"), "quantity": 1, "item_price": 1, "currency": "USD"}))
        .collect();
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "metadata": {"phone_number_id": "106540352242922"},
            "messages": [
                {"from": "16315551181", "id": "wamid.C", "type": "contacts", "contacts": vec![card; 100]},
                {"from": "16315551181", "id": "wamid.O", "type": "order", "order": {"product_items": items}},
            ]
        }}]}]
    });
    let parsed = parse(body.to_string().as_bytes()).unwrap();
    let contents: Vec<&InboundContent> = parsed
        .iter()
        .map(|r| match &r.item {
            WebhookItem::Message(m) => &m.content,
            other => panic!("{other:?}"),
        })
        .collect();
    let InboundContent::Contacts { contacts } = contents[0] else {
        panic!("{:?}", contents[0]);
    };
    assert_eq!(contacts.len(), crate::domain::limits::SHARED_CONTACTS_MAX);
    assert_eq!(
        contacts[0].phones.len(),
        crate::domain::limits::SHARED_CONTACT_FIELDS_MAX
    );
    assert_eq!(
        contacts[0].name.as_ref().unwrap().chars().count(),
        crate::domain::limits::INBOUND_FIELD_MAX
    );
    let InboundContent::Order { items, .. } = contents[1] else {
        panic!("{:?}", contents[1]);
    };
    assert_eq!(items.len(), crate::domain::limits::ORDER_ITEMS_MAX);
}

#[test]
fn coexistence_contact_sync_and_unknown_fields_are_dropped() {
    assert_eq!(parse_fixture("smb_app_state_sync.json"), vec![]);
}

#[test]
fn a_submitted_form_carries_its_token_apart_from_its_fields() {
    let items = parse_fixture("interactive_nfm_reply_flow.json");
    match &only_message(&items).content {
        InboundContent::FormReply { token, response } => {
            assert_eq!(token.as_deref(), Some("parley-form.12.1.0.57"));
            assert_eq!(response["people"], "2");
            assert!(!response.contains_key("flow_token"));
        }
        other => panic!("not a form reply: {other:?}"),
    }
}

#[test]
fn an_unreadable_form_reply_is_kept_as_unsupported_not_dropped() {
    let body = String::from_utf8(fixture("interactive_nfm_reply_flow.json"))
        .unwrap()
        .replace(r#""response_json": "{"#, r#""response_json": "[1,{"#);
    let items = parse(body.as_bytes()).unwrap();
    match &only_message(&items).content {
        InboundContent::Unsupported { original_type, .. } => {
            assert_eq!(original_type.as_deref(), Some("interactive"))
        }
        other => panic!("not unsupported: {other:?}"),
    }
}

#[test]
fn every_item_is_routed_by_phone_number_id() {
    for item in parse_fixture("batch_two_messages.json") {
        assert_eq!(
            item.route,
            RouteKey::MetaPhoneNumberId("106540352242922".into())
        );
    }
}

#[test]
fn button_reply_and_quick_reply_carry_the_ids_we_sent() {
    let button = parse_fixture("interactive_button_reply.json");
    assert!(matches!(
        &only_message(&button).content,
        InboundContent::ButtonReply { id, .. } if id == "talk_to_agent"
    ));
    let quick = parse_fixture("template_quick_reply_button.json");
    assert!(matches!(
        &only_message(&quick).content,
        InboundContent::QuickReply { payload, text } if payload == "CONFIRM_APPT_4821" && text == "Confirm"
    ));
}

#[test]
fn batch_messages_get_their_own_profile_names() {
    let items = parse_fixture("batch_two_messages.json");
    let senders: Vec<(String, Option<String>)> = items
        .iter()
        .map(|r| match &r.item {
            WebhookItem::Message(m) => (m.from.key(), m.profile_name.clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        senders,
        vec![
            ("+16315551181".into(), Some("Sheena Nelson".into())),
            ("+447700900123".into(), Some("Oliver Bennett".into())),
        ]
    );
}

#[test]
fn user_without_a_phone_is_business_scoped() {
    let items = parse_fixture("bsuid_username_user.json");
    let message = only_message(&items);
    assert_eq!(
        message.from,
        ContactRef::BusinessScoped("US.10482957361840527319".into())
    );
    assert_eq!(message.username.as_deref(), Some("@maria.lopez"));
    assert_eq!(message.profile_name.as_deref(), Some("Maria Lopez"));
}

#[test]
fn empty_from_falls_back_to_the_business_scoped_id() {
    // Meta's 2025 draft of the business-scoped id sent empty strings instead of omitting.
    let body = String::from_utf8(fixture("bsuid_username_user.json"))
        .unwrap()
        .replace(
            r#""from_user_id": "US.10482957361840527319","#,
            r#""from": "", "from_user_id": "US.10482957361840527319","#,
        )
        .replace(
            r#""user_id": "US.10482957361840527319""#,
            r#""wa_id": "", "user_id": "US.10482957361840527319""#,
        );
    let items = parse(body.as_bytes()).unwrap();
    let message = only_message(&items);
    assert_eq!(
        message.from,
        ContactRef::BusinessScoped("US.10482957361840527319".into())
    );
    assert_eq!(message.profile_name.as_deref(), Some("Maria Lopez"));
}

#[test]
fn failed_status_carries_the_window_closed_error() {
    let items = parse_fixture("status_failed_131047.json");
    let status = only_status(&items);
    assert_eq!(status.status, DeliveryStatus::Failed);
    let error = status.error.as_ref().expect("error on failed status");
    assert_eq!(error.code, 131047);
    assert_eq!(
        crate::domain::classify(None, Some(error.code)),
        ErrorClass::WindowClosed
    );
}

#[test]
fn a_template_status_change_is_read_with_its_category() {
    let items = parse_fixture("non_message_field.json");
    assert!(matches!(
        &items[..],
        [Routed {
            item: WebhookItem::Template(TemplateUpdate {
                change: TemplateChange::Status { status, category: Some(TemplateCategory::Utility), .. },
                ..
            }),
            ..
        }] if status == "approved"
    ));
}

#[test]
fn other_account_changes_are_ignored() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
        {"field":"phone_number_quality_update","value":{"display_phone_number":"15550783881","event":"FLAGGED"}}]}]}"#;
    assert_eq!(parse(body).unwrap(), vec![]);
}

#[test]
fn other_objects_are_acknowledged_and_dropped() {
    let body = br#"{"object":"instagram","entry":[{"id":"1","messaging":[{"x":1}]}]}"#;
    assert_eq!(parse(body).unwrap(), vec![]);
}

#[test]
fn unknown_message_types_and_statuses_are_skipped_not_errors() {
    let body = String::from_utf8(fixture("text.json"))
        .unwrap()
        .replace(r#""type": "text""#, r#""type": "hologram""#);
    assert_eq!(parse(body.as_bytes()).unwrap(), vec![]);

    let body = String::from_utf8(fixture("status_read.json"))
        .unwrap()
        .replace(r#""status": "read""#, r#""status": "deleted""#);
    assert_eq!(parse(body.as_bytes()).unwrap(), vec![]);

    // Parley's own states are not Meta's to set.
    let body = String::from_utf8(fixture("status_read.json"))
        .unwrap()
        .replace(r#""status": "read""#, r#""status": "skipped""#);
    assert_eq!(parse(body.as_bytes()).unwrap(), vec![]);
}

#[test]
fn removed_reaction_has_no_emoji() {
    let body = String::from_utf8(fixture("reaction.json"))
        .unwrap()
        .replace("\"emoji\": \"👍\"", "\"emoji\": \"\"");
    let items = parse(body.as_bytes()).unwrap();
    assert!(matches!(
        &only_message(&items).content,
        InboundContent::Reaction { emoji: None, .. }
    ));
}

#[test]
fn a_bad_sender_is_skipped_without_losing_the_rest_of_the_batch() {
    let body = String::from_utf8(fixture("batch_two_messages.json"))
        .unwrap()
        .replace(r#""from": "16315551181""#, r#""from": "not-a-number""#);
    let items = parse(body.as_bytes()).unwrap();
    let message = only_message(&items);
    assert_eq!(message.from.key(), "+447700900123");
    assert_eq!(message.profile_name.as_deref(), Some("Oliver Bennett"));
}

#[test]
fn unknown_fields_are_tolerated() {
    let body = String::from_utf8(fixture("text.json")).unwrap().replace(
        r#""type": "text","#,
        r#""type": "text", "from_parent_user_id": "US.ENT.1", "future": {"a": [1, 2]},"#,
    );
    let items = parse(body.as_bytes()).unwrap();
    assert_eq!(
        only_message(&items).content.text(),
        Some("Hi, is my order #4821 shipped yet?")
    );
}

#[test]
fn forwarded_context_without_an_id_is_no_reply_context() {
    let body = String::from_utf8(fixture("text.json")).unwrap().replace(
        r#""type": "text","#,
        r#""type": "text", "context": {"forwarded": true},"#,
    );
    let items = parse(body.as_bytes()).unwrap();
    assert_eq!(only_message(&items).context, None);
}

#[test]
fn only_a_body_that_is_not_json_is_an_error() {
    let not_json = parse(b"object=whatsapp_business_account").unwrap_err();
    insta::assert_snapshot!(not_json.to_string(), @"body is not JSON: expected value at line 1 column 1");
    for body in [
        r#"{"object":"whatsapp_business_account"}"#,
        r#"{"object":"whatsapp_business_account","entry":{"a":1}}"#,
        r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":7}]}]}"#,
        r#"[1, 2]"#,
        r#"{"object": 5}"#,
    ] {
        assert_eq!(parse(body.as_bytes()).unwrap(), Vec::new(), "{body}");
    }
    let body = String::from_utf8(fixture("text.json")).unwrap().replace(
        r#""phone_number_id": "106540352242922""#,
        r#""phone_number": 1"#,
    );
    assert_eq!(parse(body.as_bytes()).unwrap(), Vec::new());
}

/// Bytes that are not UTF-8 are refused wherever they are, in a field Parley reads or in
/// one it skips; a number too large for a double is JSON all the same: where Parley does
/// not read it the rest of the body is kept, where the body must be read part by part the
/// body is acknowledged with nothing in it.
#[test]
fn the_body_s_text_and_numbers_are_judged_the_same_by_both_readings() {
    let text = String::from_utf8(fixture("status_sent.json")).unwrap();
    for (what, at) in [
        ("a field Parley skips", r#""type": "serv"#),
        ("a field Parley reads", r#""status": ""#),
    ] {
        let mut bytes = text.clone().into_bytes();
        let i = text.find(at).unwrap() + at.len();
        bytes.insert(i, 0xff);
        let e = parse(&bytes).expect_err(what);
        assert!(e.to_string().contains("not UTF-8"), "{what}: {e}");
    }
    let huge_skipped = text.replacen(
        r#""expiration_timestamp": "1767225631""#,
        r#""expiration_timestamp": 1e400"#,
        1,
    );
    assert_ne!(huge_skipped, text, "the fixture has the field");
    assert_eq!(
        parse(huge_skipped.as_bytes()).unwrap(),
        parse_fixture("status_sent.json")
    );
    let huge_read = String::from_utf8(fixture("location.json"))
        .unwrap()
        .replacen("\"latitude\": 37.79554748535", "\"latitude\": 1e400", 1);
    assert!(huge_read.contains("1e400"));
    assert_eq!(parse(huge_read.as_bytes()).unwrap(), Vec::new());
    assert!(parse(b"{\"object\": 1e400").is_err(), "cut short: not JSON");
}

fn unsupported_type(m: &InboundMessage) -> Option<&str> {
    match &m.content {
        InboundContent::Unsupported { original_type, .. } => {
            Some(original_type.as_deref().unwrap_or(""))
        }
        _ => None,
    }
}

#[test]
fn a_type_without_its_object_is_kept_as_unsupported() {
    let body = String::from_utf8(fixture("image.json"))
        .unwrap()
        .replace(r#""image": {"#, r#""picture": {"#);
    let items = parse(body.as_bytes()).unwrap();
    assert_eq!(unsupported_type(only_message(&items)), Some("image"));
}

/// Meta's own "unsupported payload" form, a message without `type`, and a location whose
/// latitude is not a number, each beside a valid message: the valid one is kept as it is,
/// the others become `Unsupported` with their ids and senders.
#[test]
fn unreadable_messages_do_not_take_the_batch_down() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "metadata":{"phone_number_id":"106540352242922"},
        "contacts":[{"wa_id":"16315551181","profile":{"name":"Sheena"}}, 17],
        "messages":[
          {"from":"16315551181","id":"wamid.bad1","timestamp":"1767226560","type":"interactive",
            "errors":[{"code":131051,"title":"Message type unknown","message":"Message type unknown","error_data":{"details":"Message type is currently not supported."}}]},
          {"from":"16315551181","id":"wamid.bad2","timestamp":"1767226561","text":{"body":"no type"}},
          {"from":"16315551181","id":"wamid.bad3","timestamp":"1767226562","type":"location","location":{"latitude":"north","longitude":1}},
          {"id": 5},
          "not even an object",
          {"from":"16315551181","id":"wamid.good","timestamp":"1767226563","type":"text","text":{"body":"hello"}}
        ],
        "statuses":[{"id":"wamid.s1"}, {"id":"wamid.s2","status":"delivered","recipient_id":"16315551181"}]
        }}]}]}"#;
    let items = parse(body.as_bytes()).unwrap();
    let messages: Vec<&InboundMessage> = items
        .iter()
        .filter_map(|r| match &r.item {
            WebhookItem::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    let ids: Vec<&str> = messages
        .iter()
        .map(|m| m.provider_message_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["wamid.bad1", "wamid.bad2", "wamid.bad3", "wamid.good"]
    );
    assert_eq!(unsupported_type(messages[0]), Some("interactive"));
    match &messages[0].content {
        InboundContent::Unsupported { errors, .. } => assert_eq!(errors[0].code, 131051),
        other => panic!("{other:?}"),
    }
    assert_eq!(unsupported_type(messages[1]), Some(""));
    assert_eq!(unsupported_type(messages[2]), Some("location"));
    assert_eq!(messages[3].content.text(), Some("hello"));
    assert!(messages.iter().all(|m| m.from.key() == "+16315551181"));
    let statuses: Vec<&str> = items
        .iter()
        .filter_map(|r| match &r.item {
            WebhookItem::Status(s) => Some(s.provider_message_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, ["wamid.s2"]);
}

#[test]
fn a_message_whose_user_id_is_only_in_contacts_is_kept_under_it() {
    let items = parse_fixture("bsuid_only_contacts_user_id.json");
    let message = only_message(&items);
    assert_eq!(
        message.from,
        ContactRef::BusinessScoped("US.10482957361840527319".into())
    );
    assert_eq!(message.username.as_deref(), Some("@maria.lopez"));
}

#[test]
fn phone_and_user_id_are_both_kept_and_the_phone_is_the_key() {
    let items = parse_fixture("bsuid_with_phone.json");
    let message = only_message(&items);
    assert_eq!(message.from.key(), "+16505551234");
    assert_eq!(message.from.user_id(), Some("US.13491208655302741918"));
}

#[test]
fn a_changed_number_moves_from_the_old_identities_to_the_new() {
    for (file, current_user_id) in [
        (
            "system_user_changed_number.json",
            Some("US.24817305912873645029"),
        ),
        ("system_customer_changed_number_legacy.json", None),
    ] {
        let items = parse_fixture(file);
        let [Routed {
            item: WebhookItem::IdentityChange(change),
            ..
        }] = items.as_slice()
        else {
            panic!("{file}: expected one identity change, got {items:#?}");
        };
        assert_eq!(change.kind, IdentityChangeKind::ChangedNumber, "{file}");
        assert_eq!(change.previous.key(), "+16505551234", "{file}");
        assert_eq!(change.current.key(), "+12195555358", "{file}");
        assert_eq!(change.current.user_id(), current_user_id, "{file}");
    }
}

#[test]
fn user_id_update_names_the_previous_and_current_ids() {
    let items = parse_fixture("user_id_update.json");
    let [Routed {
        item: WebhookItem::IdentityChange(change),
        ..
    }] = items.as_slice()
    else {
        panic!("expected one identity change, got {items:#?}");
    };
    assert_eq!(
        change.previous,
        ContactRef::BusinessScoped("US.13491208655302741918".into())
    );
    assert_eq!(change.current.user_id(), Some("US.24817305912873645029"));
    assert_eq!(change.current.key(), "+12195555358");
}

#[test]
fn hostile_user_ids_are_not_keyed_on() {
    let body = String::from_utf8(fixture("bsuid_username_user.json"))
        .unwrap()
        .replace(
            "US.10482957361840527319",
            &format!("US.{}", "9".repeat(5000)),
        );
    assert!(parse(body.as_bytes()).unwrap().is_empty());
    let body = String::from_utf8(fixture("user_id_update.json"))
        .unwrap()
        .replace("US.24817305912873645029", "../../etc/passwd");
    assert!(parse(body.as_bytes()).unwrap().is_empty());
}

/// Every webhook fixture the one-pass reading takes gives the items the part-by-part
/// reading gives, and the common shapes (messages of every kind, statuses, batches,
/// business-scoped users) do take it.
/// Every Meta webhook fixture: its file name and its body (the Graph API's requests and
/// answers beside them left out).
fn webhook_fixtures() -> Vec<(String, String)> {
    let dir = format!(
        "{}/tests/fixtures/meta",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    let mut fixtures = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let is_webhook = name.ends_with(".json")
            && !name.starts_with("outbound_")
            && name != "media_url_response.json";
        if is_webhook {
            let body = String::from_utf8(fixture(&name)).unwrap();
            fixtures.push((name, body));
        }
    }
    assert!(fixtures.len() > 40, "fixtures in {dir}: {}", fixtures.len());
    fixtures
}

#[test]
fn the_one_pass_reading_agrees_with_the_part_by_part_reading() {
    let mut taken = Vec::new();
    for (name, body) in webhook_fixtures() {
        if let Some(items) = messages_only(&body) {
            let parts = parse_parts(&body).unwrap();
            assert_eq!(items, parts, "{name}: the two readings differ");
            taken.push(name);
        }
    }
    for common in [
        "text.json",
        "batch_two_messages.json",
        "image.json",
        "interactive_button_reply.json",
        "status_read.json",
        "status_failed_131047.json",
        "bsuid_only_contacts_user_id.json",
        "user_id_update.json",
        "system_user_changed_number.json",
    ] {
        assert!(
            taken.iter().any(|t| t == common),
            "{common} was not read in one pass (taken: {taken:?})"
        );
    }
    for other in [
        "calls_connect.json",
        "smb_message_echoes.json",
        "non_message_field.json",
    ] {
        assert!(
            !taken.iter().any(|t| t == other),
            "{other} is not a messages change"
        );
    }
}

/// Several entries and changes, each with contacts, messages, statuses and identity
/// updates: the one-pass reading keeps the part-by-part reading's order.
#[test]
fn the_one_pass_reading_keeps_the_order_of_entries_changes_and_parts() {
    let change = |phone_id: &str, n: u32| {
        format!(
            r#"{{"field":"messages","value":{{"messaging_product":"whatsapp",
              "metadata":{{"display_phone_number":"1555000","phone_number_id":"{phone_id}"}},
              "contacts":[{{"profile":{{"name":"C{n}"}},"wa_id":"1555123000{n}"}},{{"wa_id":"1555999000{n}"}}],
              "messages":[
                {{"from":"1555123000{n}","id":"wamid.M{n}a","timestamp":"170000000{n}","type":"text","text":{{"body":"a{n}"}}}},
                {{"from":"1555999000{n}","id":"wamid.M{n}b","timestamp":"170000000{n}","type":"text","text":{{"body":"b{n}"}}}}],
              "statuses":[{{"id":"wamid.S{n}","status":"delivered","timestamp":"170000000{n}","recipient_id":"1555123000{n}"}}],
              "user_id_update":[{{"wa_id":"1555123000{n}","user_id":{{"previous":"US.1{n}","current":"US.2{n}"}},"timestamp":"170000000{n}"}}]
            }}}}"#
        )
    };
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[
            {{"id":"1","changes":[{},{}]}},{{"id":"2","changes":[{}]}}]}}"#,
        change("111", 1),
        change("222", 2),
        change("111", 3)
    );
    let fast = messages_only(&body).expect("read in one pass");
    assert_eq!(fast, parse_parts(&body).unwrap());
    assert_eq!(fast.len(), 12, "{fast:#?}");
}

/// A body with one part that does not read is not read in one pass: the part-by-part
/// reading keeps the rest of the batch and the odd message as unsupported.
#[test]
fn one_unreadable_part_sends_the_body_the_part_by_part_way() {
    let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
        "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"111"},
        "contacts":[{"profile":{"name":"Ana"},"wa_id":"15551230000"}],
        "messages":[
          {"from":"15551230000","id":"wamid.A","timestamp":"1700000000","type":"text","text":{"body":"hi"}},
          {"from":"15551230000","id":"wamid.B","timestamp":"1700000001","type":"text","text":{"body":42}}
        ]}}]}]}"#;
    assert!(messages_only(body).is_none());
    let items = parse(body.as_bytes()).unwrap();
    assert_eq!(items, parse_parts(body).unwrap());
    assert_eq!(items.len(), 2, "{items:#?}");
    match &items[1].item {
        WebhookItem::Message(m) => assert_eq!(unsupported_type(m), Some("text")),
        other => panic!("expected the odd message kept as unsupported, got {other:#?}"),
    }
}

/// Every fixture with one byte changed (every fifth position, to a quote, a brace, a digit,
/// a letter or a space): whenever the one-pass reading takes the body, the part-by-part
/// reading gives the same items.
#[test]
fn the_two_readings_agree_on_damaged_bodies() {
    let (mut taken, mut tried) = (0, 0);
    for (name, original) in webhook_fixtures() {
        let original = original.into_bytes();
        for i in (0..original.len()).step_by(5) {
            for b in [b'"', b'}', b'7', b'x', b' '] {
                let mut body = original.clone();
                body[i] = b;
                let Ok(text) = std::str::from_utf8(&body) else {
                    continue;
                };
                tried += 1;
                if let Some(items) = messages_only(text) {
                    taken += 1;
                    let parts = parse_parts(text).unwrap();
                    assert_eq!(items, parts, "{name} with byte {i} = {:?}", b as char);
                }
            }
        }
    }
    assert!(
        taken > 1000,
        "{taken} of {tried} damaged bodies read in one pass"
    );
}

/// The unreadable-item counter's value for `kind` after parsing `body`, counted by a
/// recorder of this thread alone (other tests' counts do not reach it).
fn unparsed_count(body: &[u8], kind: &str) -> u64 {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    {
        let _local = metrics::set_default_local_recorder(&recorder);
        let _ = parse(body);
    }
    let series =
        format!("parley_webhook_items_unparsed_total{{provider=\"meta\",kind=\"{kind}\"}} ");
    handle
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// A `user_changed_user_id` system message without `previous_user_id` is one unreadable
/// item, counted once like any other (it was counted twice: once for its missing `from`,
/// once as an identity change with one side).
#[test]
fn an_unreadable_system_message_counts_once() {
    assert_eq!(
        unparsed_count(&fixture("system_user_changed_user_id.json"), "message"),
        1
    );
    // Another unreadable message, for comparison: a `system` type without its object.
    let other = String::from_utf8(fixture("system_user_changed_user_id.json"))
        .unwrap()
        .replace("\"system\": {", "\"nothing\": {");
    assert_eq!(unparsed_count(other.as_bytes(), "message"), 1);
}
