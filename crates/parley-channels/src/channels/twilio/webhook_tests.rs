//! Tests for `webhook`: every Twilio fixture against a reviewed snapshot, plus the edge cases
//! the fixtures do not show.

use super::*;

fn fixture(name: &str) -> Vec<(String, String)> {
    let path = format!(
        "{}/tests/fixtures/twilio/{name}.txt",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    parse_form(&body).expect("fixture is a valid form")
}

fn parsed(name: &str) -> Vec<Routed> {
    parse(&fixture(name)).expect("fixture parses")
}

/// A fixture's parameters with some replaced, added (`Some`) or removed (`None`).
fn edited(name: &str, changes: &[(&str, Option<&str>)]) -> Vec<(String, String)> {
    let mut params = fixture(name);
    for (key, value) in changes {
        params.retain(|(k, _)| k != key);
        if let Some(value) = value {
            params.push((key.to_string(), value.to_string()));
        }
    }
    params
}

fn only_message(routed: Vec<Routed>) -> InboundMessage {
    match routed.as_slice() {
        [Routed {
            item: WebhookItem::Message(m),
            ..
        }] => m.clone(),
        other => panic!("expected one message, got {other:?}"),
    }
}

fn only_status(routed: Vec<Routed>) -> StatusUpdate {
    match routed.as_slice() {
        [Routed {
            item: WebhookItem::Status(s),
            ..
        }] => s.clone(),
        other => panic!("expected one status, got {other:?}"),
    }
}

#[test]
fn inbound_text() {
    insta::assert_yaml_snapshot!("inbound_text", parsed("inbound_text"));
}

#[test]
fn inbound_media_image() {
    insta::assert_yaml_snapshot!("inbound_media_image", parsed("inbound_media_image"));
}

#[test]
fn inbound_button_reply() {
    insta::assert_yaml_snapshot!("inbound_button_reply", parsed("inbound_button_reply"));
}

#[test]
fn inbound_location() {
    insta::assert_yaml_snapshot!("inbound_location", parsed("inbound_location"));
}

#[test]
fn status_delivered() {
    insta::assert_yaml_snapshot!("status_delivered", parsed("status_delivered"));
}

#[test]
fn status_read() {
    insta::assert_yaml_snapshot!("status_read", parsed("status_read"));
}

#[test]
fn status_failed_63016() {
    insta::assert_yaml_snapshot!("status_failed_63016", parsed("status_failed_63016"));
}

#[test]
fn messages_route_by_to_and_statuses_by_from() {
    let ours = RouteKey::TwilioNumber("+15550783881".into());
    assert_eq!(parsed("inbound_text")[0].route, ours);
    assert_eq!(parsed("status_read")[0].route, ours);
}

#[test]
fn template_quick_reply_tap_is_a_quick_reply() {
    let params = edited("inbound_button_reply", &[("MessageType", Some("button"))]);
    let message = only_message(parse(&params).unwrap());
    assert_eq!(
        message.content,
        InboundContent::QuickReply {
            payload: "talk_to_agent".into(),
            text: "Talk to an agent".into()
        }
    );
}

#[test]
fn undelivered_counts_as_failed_and_error_message_wins() {
    let params = edited(
        "status_failed_63016",
        &[
            ("MessageStatus", Some("undelivered")),
            ("ErrorMessage", Some("Message outside of window")),
        ],
    );
    let status = only_status(parse(&params).unwrap());
    assert_eq!(status.status, DeliveryStatus::Failed);
    assert_eq!(
        status.error,
        Some(ProviderError {
            code: 63016,
            title: "Message outside of window".into(),
            details: None
        })
    );
}

#[test]
fn non_delivery_and_unknown_statuses_are_ignored() {
    for status in [
        "queued",
        "accepted",
        "sending",
        "scheduled",
        "canceled",
        "teleported",
    ] {
        let params = edited("status_read", &[("MessageStatus", Some(status))]);
        assert_eq!(parse(&params).unwrap(), vec![], "{status}");
    }
}

#[test]
fn hidden_number_sender_is_business_scoped() {
    let params = edited(
        "inbound_text",
        &[("From", Some("whatsapp:US.10482957361840527319"))],
    );
    let message = only_message(parse(&params).unwrap());
    assert_eq!(
        message.from,
        ContactRef::BusinessScoped("US.10482957361840527319".into())
    );
}

#[test]
fn external_user_identifier_joins_the_bsuid_to_the_phone() {
    let params = edited(
        "inbound_text",
        &[(
            "ExternalUserIdentifier",
            Some("whatsapp:US.10482957361840527319"),
        )],
    );
    let message = only_message(parse(&params).unwrap());
    assert_eq!(message.from.key(), "+16315551181");
    assert_eq!(message.from.user_id(), Some("US.10482957361840527319"));
    let params = edited(
        "inbound_text",
        &[("ExternalUserIdentifier", Some("not an id"))],
    );
    assert_eq!(only_message(parse(&params).unwrap()).from.user_id(), None);
}

#[test]
fn unknown_type_with_body_is_text_and_without_is_unsupported() {
    let params = edited("inbound_text", &[("MessageType", Some("contacts"))]);
    assert_eq!(
        only_message(parse(&params).unwrap()).content,
        InboundContent::Text {
            body: "Hi, is my order #4821 shipped yet?".into()
        }
    );
    let params = edited(
        "inbound_text",
        &[("MessageType", Some("contacts")), ("Body", Some(""))],
    );
    assert_eq!(
        only_message(parse(&params).unwrap()).content,
        InboundContent::Unsupported {
            original_type: Some("contacts".into()),
            errors: vec![]
        }
    );
}

#[test]
fn media_kind_falls_back_to_the_mime_type() {
    let params = edited(
        "inbound_media_image",
        &[
            ("MessageType", None),
            ("MediaContentType0", Some("video/mp4")),
        ],
    );
    let content = only_message(parse(&params).unwrap()).content;
    assert!(
        matches!(
            content,
            InboundContent::Media {
                media: MediaKind::Video,
                ..
            }
        ),
        "{content:?}"
    );
}

#[test]
fn ad_referral_fields_become_a_referral() {
    let params = edited(
        "inbound_text",
        &[
            ("ReferralSourceId", Some("120210000000000001")),
            ("ReferralSourceType", Some("ad")),
            ("ReferralCtwaClid", Some("ARAbc123ClickId")),
        ],
    );
    let referral = only_message(parse(&params).unwrap())
        .referral
        .expect("referral");
    assert_eq!(referral.source_id.as_deref(), Some("120210000000000001"));
    assert_eq!(referral.ctwa_clid.as_deref(), Some("ARAbc123ClickId"));
    assert!(only_message(parsed("inbound_text")).referral.is_none());
}

#[test]
fn missing_required_parameters_are_errors_a_person_can_read() {
    let err = |changes: &[(&str, Option<&str>)]| {
        parse(&edited("inbound_text", changes))
            .expect_err("must fail")
            .to_string()
    };
    insta::assert_snapshot!(err(&[("From", None)]), @"required parameter `From` is missing or empty");
    insta::assert_snapshot!(err(&[("To", None)]), @"required parameter `To` is missing or empty");
    insta::assert_snapshot!(
        err(&[("MessageSid", None), ("SmsMessageSid", None)]),
        @"required parameter `MessageSid` is missing or empty"
    );
    insta::assert_snapshot!(
        err(&[("To", Some("whatsapp:+12"))]),
        @"parameter `To` = `whatsapp:+12` cannot be read: phone number must have between 8 and 15 digits including the country code, found 2"
    );
    let status_without_sid = edited("status_read", &[("MessageSid", None), ("SmsSid", None)]);
    assert!(matches!(
        parse(&status_without_sid),
        Err(TwilioWebhookError::Missing("MessageSid"))
    ));
}

#[test]
fn bad_coordinates_make_an_unsupported_message_not_an_error() {
    let params = edited("inbound_location", &[("Latitude", Some("north"))]);
    let items = parse(&params).unwrap();
    match &items[..] {
        [Routed {
            item: WebhookItem::Message(m),
            ..
        }] => assert!(
            matches!(&m.content, InboundContent::Unsupported { original_type, .. } if original_type.as_deref() == Some("location")),
            "{m:?}"
        ),
        other => panic!("expected one message, got {other:?}"),
    }
}

#[test]
fn an_unreadable_error_code_keeps_its_status() {
    let params = edited(
        "status_read",
        &[("MessageStatus", Some("failed")), ("ErrorCode", Some("x1"))],
    );
    let items = parse(&params).unwrap();
    assert!(matches!(
        &items[..],
        [Routed { item: WebhookItem::Status(s), .. }] if s.status == DeliveryStatus::Failed && s.error.is_none()
    ));
}

#[test]
fn form_pairs_are_decoded_in_order_with_repeats_kept() {
    let params = parse_form(b"Body=Hi%2C+there&MediaUrl0=a&MediaUrl0=b&Empty=").unwrap();
    assert_eq!(
        params,
        [
            ("Body", "Hi, there"),
            ("MediaUrl0", "a"),
            ("MediaUrl0", "b"),
            ("Empty", "")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
}

#[test]
fn form_decoding_agrees_with_serde_urlencoded_and_refuses_what_is_not_utf8() {
    for body in [
        &b"Body=Hi%2C+there&MediaUrl0=a&MediaUrl0=b&Empty="[..],
        b"Body=%E2%9C%93+ok&Name=Jos%C3%A9",
        b"Body=100%25&Odd=%zz&Tail=%4",
        b"&&Flag&Body=a=b",
        b"",
    ] {
        let theirs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
        assert_eq!(
            parse_form(body).unwrap(),
            theirs,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    for bad in [&b"Body=%ff"[..], b"Body=%C3", b"%80=x"] {
        assert!(
            matches!(parse_form(bad), Err(TwilioWebhookError::NotUtf8)),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn a_list_picker_pick_is_a_list_reply() {
    let params = edited(
        "inbound_button_reply",
        &[
            ("ButtonPayload", None),
            ("ButtonText", None),
            ("Body", Some("09:00")),
            ("ListId", Some("m9")),
            ("ListTitle", Some("09:00")),
        ],
    );
    let message = only_message(parse(&params).unwrap());
    assert_eq!(
        message.content,
        InboundContent::ListReply {
            id: "m9".into(),
            title: "09:00".into(),
            description: None
        }
    );
}
