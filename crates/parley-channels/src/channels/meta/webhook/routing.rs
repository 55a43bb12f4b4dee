//! Conversation Routing's webhook fields: `standby` (copies of activity in a thread another
//! app owns) and `messaging_handovers` (the thread's ownership moved).
//!
//! A `standby` change has the shape of a `messages` change: the customer's `messages`
//! become `InboundContent::Standby { from_customer: true }` (context: they count for the
//! window, never start a flow), the owning app's `message_echoes` become
//! `Standby { from_customer: false }` (recorded as sent by another app, like an echo), and
//! `statuses` are read as statuses (they change only messages Parley sent: the store
//! applies a status by its provider id).
//!
//! A `messaging_handovers` change becomes one `InboundContent::Handover` message per
//! notification, in the conversation of the customer it names, so it is stored and ordered
//! with the thread's messages. Meta's reference names the envelope (`type` with a
//! `control_passed` or `control_taken` object beside it, the previous and new owner's roles)
//! but this code was written from its prose: it reads the owners as `*_owner_role`,
//! `*_owner_app_id` or `*_owner: {role, app_id}`, the customer as `from`, `wa_id`,
//! `user_id`, `recipient_id` or Messenger's `sender.id`, and also Messenger's Handover
//! Protocol shapes (`pass_thread_control`, `take_thread_control`), which Conversation
//! Routing keeps compatible. Notifications may come one per change value or as a
//! `handovers` list.

use super::{timestamp, typed, unparsed, wire};
use crate::channels::dropped::dropped;
use crate::domain::routing::bounded;
use crate::domain::{
    ContactRef, HandoverKind, InboundContent, InboundMessage, PhoneNumber, ThreadHandover,
    WebhookItem,
};
use serde_json::Value;

/// The most handover notifications read from one change.
const HANDOVERS_MAX: usize = 100;

/// The items of a `standby` change.
pub(super) fn standby(at: &str, value: &Value, contacts: &[wire::Contact]) -> Vec<WebhookItem> {
    let list = |name: &str| match value.get(name) {
        Some(Value::Array(list)) => list.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            unparsed("change", &format!("{at}.{name}"), "not a list");
            &[]
        }
    };
    let mut items = Vec::new();
    let messages = list("messages");
    let lone_pair = contacts.len() == 1 && messages.len() == 1;
    for (k, raw) in messages.iter().enumerate() {
        let at = format!("{at}.messages[{k}]");
        let item = match typed::<wire::Message>(raw) {
            Ok(message) => super::message_item(&at, message, contacts, lone_pair),
            Err(reason) => super::unreadable_message(&at, raw, &reason).map(WebhookItem::Message),
        };
        match item {
            Some(WebhookItem::Message(mut m)) => {
                m.content = InboundContent::Standby {
                    from_customer: true,
                    content: Box::new(m.content),
                };
                items.push(WebhookItem::Message(m));
            }
            // A changed identity is the customer's, whoever owns the thread.
            Some(other) => items.push(other),
            None => {}
        }
    }
    for (k, raw) in list("message_echoes").iter().enumerate() {
        let at = format!("{at}.message_echoes[{k}]");
        if let Some(mut m) = super::platform::echo(&at, raw) {
            if let InboundContent::Echo { content } = m.content {
                m.content = InboundContent::Standby {
                    from_customer: false,
                    content,
                };
            }
            items.push(WebhookItem::Message(m));
        }
    }
    for (k, raw) in list("statuses").iter().enumerate() {
        match typed::<wire::Status>(raw) {
            Ok(status) => {
                if let Some(s) = super::status_update(status) {
                    items.push(WebhookItem::Status(s));
                }
            }
            Err(reason) => unparsed("status", &format!("{at}.statuses[{k}]"), &reason),
        }
    }
    items
}

/// The items of a `messaging_handovers` change.
pub(super) fn handovers(at: &str, value: &Value) -> Vec<WebhookItem> {
    let mut notes: Vec<(String, &Value)> = Vec::new();
    if kind_of(value).is_some() {
        notes.push((at.to_string(), value));
    }
    for key in ["handovers", "messaging_handovers"] {
        if let Some(Value::Array(list)) = value.get(key) {
            for (k, raw) in list.iter().enumerate().take(HANDOVERS_MAX) {
                notes.push((format!("{at}.{key}[{k}]"), raw));
            }
        }
    }
    if notes.is_empty() {
        unparsed(
            "handover",
            at,
            "no `type` naming `control_passed` or `control_taken`, and no `handovers` list",
        );
    }
    notes
        .into_iter()
        .filter_map(|(at, raw)| handover(&at, raw, value))
        .map(WebhookItem::Message)
        .collect()
}

/// What a notification is, and the object that details it.
fn kind_of(raw: &Value) -> Option<(HandoverKind, Option<&Value>)> {
    let named = |key: &str| raw.get(key).filter(|v| v.is_object());
    let by_type = raw
        .get("type")
        .and_then(Value::as_str)
        .map(|t| t.to_ascii_lowercase());
    match by_type.as_deref() {
        Some("control_passed" | "pass_thread_control" | "pass") => {
            return Some((
                HandoverKind::ControlPassed,
                named("control_passed").or(named("pass_thread_control")),
            ))
        }
        Some("control_taken" | "take_thread_control" | "take") => {
            return Some((
                HandoverKind::ControlTaken,
                named("control_taken").or(named("take_thread_control")),
            ))
        }
        Some("release" | "released" | "control_released") => {
            return Some((
                HandoverKind::Released,
                named("release").or(named("control_released")),
            ))
        }
        Some("idle" | "thread_idle") => return Some((HandoverKind::Idle, named("idle"))),
        Some(other) => {
            dropped(
                "meta",
                "messaging_handovers",
                other,
                "a handover Parley does not act on",
            );
            return None;
        }
        None => {}
    }
    for (key, kind) in [
        ("control_passed", HandoverKind::ControlPassed),
        ("pass_thread_control", HandoverKind::ControlPassed),
        ("control_taken", HandoverKind::ControlTaken),
        ("take_thread_control", HandoverKind::ControlTaken),
    ] {
        if let Some(detail) = named(key) {
            return Some((kind, Some(detail)));
        }
    }
    None
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(bounded(s.trim())),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The previous or new owner (`side`: `previous` or `new`) as an app id or a role.
fn owner(detail: Option<&Value>, raw: &Value, side: &str) -> Option<String> {
    let look = |v: &Value| {
        text(v.get(format!("{side}_owner_app_id")))
            .or_else(|| text(v.get(format!("{side}_owner_role"))))
            .or_else(|| {
                let o = v.get(format!("{side}_owner"))?;
                text(o.get("app_id"))
                    .or_else(|| text(o.get("role")))
                    .or_else(|| text(Some(o)))
            })
    };
    detail
        .and_then(look)
        .or_else(|| look(raw))
        .map(|s| s.to_ascii_lowercase())
}

/// The customer a notification is about.
fn customer(raw: &Value, change: &Value) -> Option<ContactRef> {
    let candidates = [
        raw.get("from"),
        raw.get("wa_id"),
        raw.get("recipient_id"),
        raw.get("user").and_then(|u| u.get("wa_id")),
        raw.get("sender")
            .and_then(|s| s.get("phone_number").or_else(|| s.get("id"))),
        change
            .get("contacts")
            .and_then(|c| c.get(0))
            .and_then(|c| c.get("wa_id")),
    ];
    for c in candidates.into_iter().flatten() {
        if let Some(id) = text(Some(c)) {
            if let Ok(phone) = PhoneNumber::parse(&id) {
                return Some(ContactRef::Phone(phone));
            }
        }
    }
    let user = text(raw.get("user_id"))
        .or_else(|| text(raw.get("from_user_id")))
        .or_else(|| text(raw.get("user").and_then(|u| u.get("user_id"))))?;
    crate::domain::is_user_id(&user).then_some(ContactRef::BusinessScoped(user))
}

fn handover(at: &str, raw: &Value, change: &Value) -> Option<InboundMessage> {
    let (kind, detail) = kind_of(raw)?;
    let Some(from) = customer(raw, change) else {
        unparsed(
            "handover",
            at,
            "no customer (`from`, `wa_id`, `user_id` or `sender.id`) to give the thread to",
        );
        return None;
    };
    let stamp = raw
        .get("timestamp")
        .and_then(|t| typed::<wire::Timestamp>(t).ok());
    let when = timestamp(stamp.as_ref());
    let h = ThreadHandover {
        kind,
        previous_owner: owner(detail, raw, "previous"),
        new_owner: owner(detail, raw, "new"),
        metadata: detail
            .and_then(|d| text(d.get("metadata")))
            .or_else(|| text(raw.get("metadata"))),
    };
    let kind_name = match kind {
        HandoverKind::ControlPassed => "control_passed",
        HandoverKind::ControlTaken => "control_taken",
        HandoverKind::Released => "released",
        HandoverKind::Idle => "idle",
    };
    metrics::counter!(crate::metrics::THREAD_HANDOVERS, "kind" => kind_name).increment(1);
    let who = match &from {
        ContactRef::Phone(p) | ContactRef::PhoneAndBusinessScoped { phone: p, .. } => p.to_string(),
        ContactRef::BusinessScoped(u) => u.clone(),
    };
    // Meta gives a notification no id: this one is its type, customer and time, so a
    // notification Meta delivers again is stored once.
    let id = text(raw.get("id")).unwrap_or_else(|| {
        format!(
            "handover:{kind_name}:{who}:{}",
            when.map_or_else(|| "none".to_string(), |t| t.timestamp().to_string())
        )
    });
    Some(InboundMessage {
        provider_message_id: id,
        from,
        profile_name: None,
        username: None,
        timestamp: when,
        content: InboundContent::Handover(h),
        context: None,
        referral: None,
    })
}

#[cfg(test)]
mod tests {
    use crate::channels::meta::webhook::parse;
    use crate::domain::{
        ContactRef, HandoverKind, InboundContent, InboundMessage, Routed, ThreadHandover,
        WebhookItem,
    };

    fn items(name: &str) -> Vec<Routed> {
        let path = format!(
            "{}/../../tests/fixtures/meta/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn messages(name: &str) -> Vec<InboundMessage> {
        items(name)
            .into_iter()
            .filter_map(|r| match r.item {
                WebhookItem::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn handover(name: &str) -> (InboundMessage, ThreadHandover) {
        let ms = messages(name);
        assert_eq!(ms.len(), 1, "{name}: {ms:#?}");
        let m = ms.into_iter().next().unwrap();
        let InboundContent::Handover(h) = m.content.clone() else {
            panic!("{name}: not a handover: {m:#?}")
        };
        (m, h)
    }

    #[test]
    fn a_standby_customer_message_is_context_that_counts_for_the_window() {
        let ms = messages("routing_standby_message.json");
        assert_eq!(ms.len(), 1);
        let m = &ms[0];
        assert_eq!(m.profile_name.as_deref(), Some("Sheena Nelson"));
        let InboundContent::Standby {
            from_customer: true,
            content,
        } = &m.content
        else {
            panic!("{m:#?}")
        };
        assert_eq!(content.text(), Some("Is my order shipped yet?"));
        assert!(
            m.content.opens_window(),
            "the customer wrote: the window opens"
        );
        assert!(!m.content.is_conversational(), "never answered");
        assert!(m.content.echoed().is_none());
    }

    #[test]
    fn a_standby_echo_is_another_apps_reply_recorded_as_sent() {
        let ms = messages("routing_standby_echo.json");
        assert_eq!(ms.len(), 1);
        let m = &ms[0];
        assert!(
            matches!(m.from, ContactRef::Phone(_)),
            "the customer it went to"
        );
        assert!(matches!(
            m.content,
            InboundContent::Standby {
                from_customer: false,
                ..
            }
        ));
        assert!(!m.content.opens_window());
        assert!(!m.content.is_conversational());
        let out = m.content.echoed().expect("recorded as an outbound message");
        assert!(format!("{out:?}").contains("your order left the warehouse"));
    }

    #[test]
    fn a_standby_status_is_an_ordinary_status() {
        let all = items("routing_standby_status.json");
        assert!(
            matches!(&all[..], [Routed { item: WebhookItem::Status(s), .. }] if s.provider_message_id.contains("STANDBYECHO") || !s.provider_message_id.is_empty()),
            "{all:#?}"
        );
    }

    #[test]
    fn control_passed_and_taken_read_their_owner_roles_and_metadata() {
        let (m, h) = handover("routing_handover_control_passed.json");
        assert_eq!(h.kind, HandoverKind::ControlPassed);
        assert_eq!(h.previous_owner.as_deref(), Some("escalation_partner"));
        assert_eq!(h.new_owner.as_deref(), Some("primary"));
        assert_eq!(
            h.metadata.as_deref(),
            Some("order 4821: resolved by an agent")
        );
        assert_eq!(
            m.provider_message_id,
            "handover:control_passed:+16315551181:1767226100"
        );
        assert!(m.timestamp.is_some());
        assert!(!m.content.opens_window() && !m.content.is_conversational());

        let (_, h) = handover("routing_handover_control_taken.json");
        assert_eq!(h.kind, HandoverKind::ControlTaken);
        assert_eq!(h.new_owner.as_deref(), Some("escalation_partner"));
    }

    #[test]
    fn release_and_idle_notifications_are_read_when_they_come() {
        assert_eq!(
            handover("routing_handover_release.json").1.kind,
            HandoverKind::Released
        );
        assert_eq!(
            handover("routing_handover_idle.json").1.kind,
            HandoverKind::Idle
        );
    }

    #[test]
    fn messenger_handover_protocol_shapes_in_a_list_are_read_too() {
        let ms = messages("routing_handover_list_messenger_shape.json");
        assert_eq!(ms.len(), 2, "{ms:#?}");
        let InboundContent::Handover(pass) = &ms[0].content else {
            panic!()
        };
        assert_eq!(pass.kind, HandoverKind::ControlPassed);
        assert_eq!(pass.new_owner.as_deref(), Some("1234567890"));
        assert_eq!(pass.previous_owner.as_deref(), Some("263902037430900"));
        let InboundContent::Handover(take) = &ms[1].content else {
            panic!()
        };
        assert_eq!(take.kind, HandoverKind::ControlTaken);
        assert_ne!(ms[0].from, ms[1].from, "each for its own customer");
    }

    #[test]
    fn an_unknown_handover_type_is_acknowledged_and_dropped() {
        assert!(items("routing_handover_unknown_type.json").is_empty());
    }

    #[test]
    fn a_call_under_routing_is_an_ordinary_call_event() {
        let ms = messages("routing_calls_under_routing.json");
        assert_eq!(ms.len(), 1);
        assert!(matches!(ms[0].content, InboundContent::Call(_)));
    }

    /// Hostile input: a handover without a customer, an oversized metadata, a non-object
    /// detail: nothing panics, nothing unbounded is kept.
    #[test]
    fn bad_handovers_are_skipped_or_bounded() {
        let body = |value: &str| {
            format!(
                r#"{{"object":"whatsapp_business_account","entry":[{{"id":"1","changes":[{{"field":"messaging_handovers","value":{value}}}]}}]}}"#
            )
        };
        let meta = r#""metadata":{"phone_number_id":"106540352242922"}"#;
        let none =
            parse(body(&format!(r#"{{{meta},"type":"control_passed"}}"#)).as_bytes()).unwrap();
        assert!(none.is_empty(), "no customer: skipped");
        let long = "x".repeat(10_000);
        let one = parse(
            body(&format!(
                r#"{{{meta},"type":"control_taken","from":"16315551181","control_taken":{{"metadata":"{long}"}}}}"#
            ))
            .as_bytes(),
        )
        .unwrap();
        let [Routed {
            item: WebhookItem::Message(m),
            ..
        }] = &one[..]
        else {
            panic!("{one:#?}")
        };
        let InboundContent::Handover(h) = &m.content else {
            panic!()
        };
        assert_eq!(
            h.metadata.as_ref().unwrap().len(),
            crate::domain::routing::ROUTING_FIELD_MAX
        );
        let odd =
            parse(body(&format!(r#"{{{meta},"type":5,"handovers":"no"}}"#)).as_bytes()).unwrap();
        assert!(odd.is_empty());
    }
}
