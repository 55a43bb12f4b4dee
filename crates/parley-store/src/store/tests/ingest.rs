//! Webhook ingress: messages create contacts and conversations exactly once, statuses move
//! outbound messages forward only, and a closed-window failure enqueues its template once.

use super::fixtures::*;
use crate::domain::{ConversationState, EventKind};
use crate::domain::{DeliveryStatus, OutboundContent, WindowFallback};
use crate::store::{DynStore, IngestOutcome, Origin};

async fn first_message_creates_contact_and_conversation(store: DynStore) {
    let sent_at = t(-5);
    let msg = inbound("wamid.A1", 1, Some(sent_at), "hi");
    let outcomes = store.ingest(&[message(msg.clone(), t(0))]).await.unwrap();
    let [IngestOutcome::Stored {
        event_id,
        conversation_id,
    }] = outcomes[..]
    else {
        panic!("expected a stored message, got {outcomes:?}");
    };

    let conversation = store
        .find_conversation(SENDER, &customer(1).key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation.id, conversation_id);
    assert_eq!(conversation.sender_id, SENDER);
    assert_eq!(conversation.last_inbound_at, Some(sent_at));
    assert_eq!(conversation.state, ConversationState::default());
    assert_eq!(
        store.conversation(conversation_id).await.unwrap(),
        Some(conversation.clone())
    );

    let contact = store
        .contact(conversation.contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(contact.key, "+16315550001");
    assert_eq!(contact.contact_ref(), Some(customer(1)));
    assert_eq!(contact.name.as_deref(), Some("Customer 1"));
    assert!(contact.attributes.is_empty() && contact.tags.is_empty());

    let work = store.load_work(conversation_id, 10).await.unwrap();
    assert_eq!(work.contact, contact);
    assert_eq!(work.events.len(), 1);
    assert_eq!(work.events[0].id, event_id);
    assert_eq!(work.events[0].received_at, t(0));
    assert_eq!(work.events[0].kind, EventKind::Message(msg));
}

async fn duplicate_message_is_reported_and_stored_once(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.A1", 1, t(0)).await;
    let again = message(inbound("wamid.A1", 1, Some(t(0)), "hello"), t(1));
    assert_eq!(
        store.ingest(std::slice::from_ref(&again)).await.unwrap(),
        vec![IngestOutcome::Duplicate]
    );

    // Twice in one batch: the first is new, the second a duplicate of it.
    let fresh = message(inbound("wamid.A2", 1, Some(t(2)), "again"), t(2));
    let outcomes = store.ingest(&[fresh.clone(), fresh, again]).await.unwrap();
    assert!(matches!(outcomes[0], IngestOutcome::Stored { .. }));
    assert_eq!(
        outcomes[1..],
        [IngestOutcome::Duplicate, IngestOutcome::Duplicate]
    );

    let work = store.load_work(conversation_id, 10).await.unwrap();
    assert_eq!(work.events.len(), 2);
    assert_eq!(work.conversation.last_inbound_at, Some(t(2)));
}

async fn last_inbound_at_only_moves_forward(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.A1", 1, t(100)).await;
    // A late webhook for an older message does not move the window back.
    store
        .ingest(&[message(inbound("wamid.A0", 1, Some(t(50)), "old"), t(101))])
        .await
        .unwrap();
    let conversation = store.conversation(conversation_id).await.unwrap().unwrap();
    assert_eq!(conversation.last_inbound_at, Some(t(100)));

    // Without a provider timestamp (Twilio) the receipt time counts.
    store
        .ingest(&[message(inbound("SM1", 1, None, "twilio"), t(200))])
        .await
        .unwrap();
    let conversation = store.conversation(conversation_id).await.unwrap().unwrap();
    assert_eq!(conversation.last_inbound_at, Some(t(200)));

    // A timestamp ahead of the receipt (a wrong clock, a forged body) counts as the
    // receipt: it must not open a window of weeks.
    store
        .ingest(&[message(
            inbound("wamid.A9", 1, Some(t(30 * 86_400)), "from the future"),
            t(300),
        )])
        .await
        .unwrap();
    let conversation = store.conversation(conversation_id).await.unwrap().unwrap();
    assert_eq!(conversation.last_inbound_at, Some(t(300)));
}

async fn echoes_history_and_business_calls_leave_the_window(store: DynStore) {
    use crate::domain::{CallDirection, CallEvent, CallPhase, InboundContent};
    let with = |id: &str, at: i64, content: InboundContent| {
        let mut m = inbound(id, 1, Some(t(at)), "");
        m.content = content;
        message(m, t(at))
    };
    let text = || {
        Box::new(InboundContent::Text {
            body: "typed on the phone".into(),
        })
    };
    let call = |direction, at| {
        InboundContent::Call(CallEvent {
            call_id: format!("wacid.{at}"),
            event: CallPhase::Connect,
            direction,
            status: None,
            duration_seconds: None,
            start_time: None,
            end_time: None,
        })
    };
    // History first: the conversation exists, stored, but its window never opened.
    let outcomes = store
        .ingest(&[with(
            "wamid.H1",
            10,
            InboundContent::History {
                from_customer: true,
                content: text(),
                status: Some("read".into()),
            },
        )])
        .await
        .unwrap();
    let [IngestOutcome::Stored {
        conversation_id, ..
    }] = outcomes[..]
    else {
        panic!("history is stored: {outcomes:?}");
    };
    let last = |store: DynStore| async move {
        store
            .conversation(conversation_id)
            .await
            .unwrap()
            .unwrap()
            .last_inbound_at
    };
    assert_eq!(last(store.clone()).await, None);
    // A customer's call opens it, like a message.
    store
        .ingest(&[with(
            "wacid.1:connect",
            20,
            call(CallDirection::UserInitiated, 20),
        )])
        .await
        .unwrap();
    assert_eq!(last(store.clone()).await, Some(t(20)));
    // Neither an echo nor the business's own call moves it, in one batch with others.
    store
        .ingest(&[
            with("wamid.E1", 30, InboundContent::Echo { content: text() }),
            with(
                "wacid.2:connect",
                40,
                call(CallDirection::BusinessInitiated, 40),
            ),
        ])
        .await
        .unwrap();
    assert_eq!(last(store.clone()).await, Some(t(20)));
    let work = store.load_work(conversation_id, 10).await.unwrap();
    assert_eq!(work.events.len(), 4, "every event is stored for the worker");

    // The echo is also what the business sent: recorded once, sent, never charged.
    let again = with("wamid.E1", 31, InboundContent::Echo { content: text() });
    assert_eq!(
        store.ingest(&[again]).await.unwrap(),
        vec![IngestOutcome::Duplicate]
    );
    let outbound = store
        .conversation_outbound(conversation_id, None, 10)
        .await
        .unwrap();
    assert_eq!(outbound.len(), 1, "{outbound:?}");
    assert_eq!(outbound[0].origin, Origin::Echo);
    assert_eq!(outbound[0].status, DeliveryStatus::Sent);
    assert_eq!(outbound[0].provider_message_id.as_deref(), Some("wamid.E1"));
    assert_eq!(
        outbound[0].message.content,
        OutboundContent::Text {
            body: "typed on the phone".into(),
            preview_url: false
        }
    );
    assert!(store
        .outbound_kind_counts(SENDER, None)
        .await
        .unwrap()
        .is_empty());
    // Meta's statuses for it apply like any other.
    let read = store
        .ingest(&[status("wamid.E1", DeliveryStatus::Read, None, t(50))])
        .await
        .unwrap();
    assert!(
        matches!(
            read[..],
            [IngestOutcome::StatusApplied {
                status: DeliveryStatus::Read,
                ..
            }]
        ),
        "{read:?}"
    );
}

async fn batch_is_stored_in_order_with_one_outcome_per_item(store: DynStore) {
    let items = [
        message(inbound("wamid.B1", 1, Some(t(0)), "one"), t(1)),
        message(inbound("wamid.B2", 2, Some(t(0)), "two"), t(1)),
        status("wamid.nobody", DeliveryStatus::Read, None, t(1)),
        message(inbound("wamid.B3", 1, Some(t(1)), "three"), t(1)),
    ];
    let outcomes = store.ingest(&items).await.unwrap();
    assert_eq!(outcomes.len(), 4);
    let ids: Vec<(i64, i64)> = outcomes
        .iter()
        .filter_map(|o| match o {
            IngestOutcome::Stored {
                event_id,
                conversation_id,
            } => Some((*event_id, *conversation_id)),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes[2], IngestOutcome::StatusUnknownMessage);
    let [(e1, c1), (_, c2), (e3, c3)] = ids[..] else {
        panic!("three stored messages")
    };
    assert_eq!(c1, c3);
    assert_ne!(c1, c2);

    let work = store.load_work(c1, 10).await.unwrap();
    assert_eq!(
        work.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![e1, e3]
    );
}

async fn contact_name_is_kept_unless_a_new_one_arrives(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.N1", 1, t(0)).await;
    let mut nameless = inbound("wamid.N2", 1, Some(t(1)), "hi");
    nameless.profile_name = None;
    store.ingest(&[message(nameless, t(1))]).await.unwrap();
    let contact_id = store
        .conversation(conversation_id)
        .await
        .unwrap()
        .unwrap()
        .contact_id;
    assert_eq!(
        store
            .contact(contact_id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Customer 1")
    );

    let mut renamed = inbound("wamid.N3", 1, Some(t(2)), "hi");
    renamed.profile_name = Some("Ana".into());
    store.ingest(&[message(renamed, t(2))]).await.unwrap();
    assert_eq!(
        store
            .contact(contact_id)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("Ana")
    );
}

async fn statuses_move_forward_and_ignore_repeats(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.in", 1, t(0)).await;
    let id = sent(
        &store,
        text_to(conversation_id, 1, "hello"),
        "wamid.out",
        t(1),
    )
    .await;
    assert_eq!(
        store.outbound(id).await.unwrap().unwrap().status,
        DeliveryStatus::Accepted
    );

    let applied = |status| IngestOutcome::StatusApplied {
        outbound_id: id,
        status,
        fallback_id: None,
    };
    let ignored = IngestOutcome::StatusIgnored { outbound_id: id };
    let steps = [
        (DeliveryStatus::Sent, applied(DeliveryStatus::Sent)),
        (DeliveryStatus::Sent, ignored.clone()),
        (DeliveryStatus::Read, applied(DeliveryStatus::Read)),
        // out of order: delivered after read changes nothing
        (DeliveryStatus::Delivered, ignored.clone()),
        // the customer already has it: a late failure is ignored
        (DeliveryStatus::Failed, ignored.clone()),
    ];
    for (n, (next, expected)) in steps.into_iter().enumerate() {
        let outcome = store
            .ingest(&[status("wamid.out", next, None, t(2 + n as i64))])
            .await
            .unwrap();
        assert_eq!(outcome, vec![expected], "status #{n} {next:?}");
    }
    let record = store.outbound(id).await.unwrap().unwrap();
    assert_eq!(record.status, DeliveryStatus::Read);
    assert_eq!(record.provider_message_id.as_deref(), Some("wamid.out"));
    assert_eq!(record.error_code, None);
}

async fn failed_status_records_the_error(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.in", 1, t(0)).await;
    let id = sent(
        &store,
        text_to(conversation_id, 1, "hello"),
        "wamid.out",
        t(1),
    )
    .await;
    let outcome = store
        .ingest(&[status(
            "wamid.out",
            DeliveryStatus::Failed,
            Some(131026),
            t(2),
        )])
        .await
        .unwrap();
    assert_eq!(
        outcome,
        vec![IngestOutcome::StatusApplied {
            outbound_id: id,
            status: DeliveryStatus::Failed,
            fallback_id: None
        }]
    );
    let record = store.outbound(id).await.unwrap().unwrap();
    assert_eq!(record.status, DeliveryStatus::Failed);
    assert_eq!(record.error_code, Some(131026));
    assert_eq!(record.error_title.as_deref(), Some("error 131026"));
    assert!(!record.window_closed);
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
}

async fn statuses_that_arrive_before_the_send_is_recorded_are_applied_then(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.in", 1, t(0)).await;
    let mut reply = text_to(conversation_id, 1, "hello");
    reply.fallback = WindowFallback::Template(template("menu_reminder"));
    let ids = store.enqueue(&[reply], t(1)).await.unwrap();
    let claimed = store
        .claim_outbound("outbox", t(1), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    // The provider's webhooks overtake the send's answer.
    let early = [
        status("wamid.fast", DeliveryStatus::Sent, None, t(2)),
        status("wamid.fast", DeliveryStatus::Failed, Some(131047), t(3)),
    ];
    assert_eq!(
        store.ingest(&early).await.unwrap(),
        vec![IngestOutcome::StatusUnknownMessage; 2]
    );
    let accepted = crate::store::SendOutcome::Accepted {
        provider_message_id: "wamid.fast".into(),
        converted_to: None,
    };
    store
        .record_outcome(ids[0], "outbox", &accepted, t(4))
        .await
        .unwrap();
    let record = store.outbound(ids[0]).await.unwrap().unwrap();
    assert_eq!(record.status, DeliveryStatus::Failed);
    assert!(record.window_closed);
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        1,
        "the fallback template was enqueued once"
    );
    // Replayed once: a later repeat changes nothing more.
    assert_eq!(
        store.ingest(&early[1..]).await.unwrap(),
        vec![IngestOutcome::StatusIgnored {
            outbound_id: ids[0]
        }]
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
}

async fn closed_window_failure_enqueues_the_fallback_once(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.in", 1, t(0)).await;
    let mut reply = text_to(conversation_id, 1, "still there?");
    reply.fallback = WindowFallback::Template(template("menu_reminder"));
    let id = sent(&store, reply, "wamid.out", t(1)).await;

    let failed = status("wamid.out", DeliveryStatus::Failed, Some(131047), t(2));
    let outcome = store.ingest(std::slice::from_ref(&failed)).await.unwrap();
    let [IngestOutcome::StatusApplied {
        outbound_id,
        status: DeliveryStatus::Failed,
        fallback_id: Some(fallback_id),
    }] = outcome[..]
    else {
        panic!("expected the failure to enqueue a fallback, got {outcome:?}");
    };
    assert_eq!(outbound_id, id);

    // The provider repeats the webhook, alone and twice in a batch: no second template.
    assert_eq!(
        store.ingest(std::slice::from_ref(&failed)).await.unwrap(),
        vec![IngestOutcome::StatusIgnored { outbound_id: id }]
    );
    let repeated = store.ingest(&[failed.clone(), failed]).await.unwrap();
    assert_eq!(
        repeated,
        vec![IngestOutcome::StatusIgnored { outbound_id: id }; 2]
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 1);

    let original = store.outbound(id).await.unwrap().unwrap();
    assert!(original.window_closed);
    assert_eq!(original.error_code, Some(131047));

    let fallback = store.outbound(fallback_id).await.unwrap().unwrap();
    assert_eq!(fallback.status, DeliveryStatus::Queued);
    assert_eq!(fallback.origin, Origin::Fallback);
    assert_eq!(fallback.fallback, WindowFallback::Fail);
    assert_eq!(fallback.conversation_id, conversation_id);
    assert_eq!(fallback.message.to, customer(1));
    assert_eq!(
        fallback.message.content,
        OutboundContent::Template(template("menu_reminder"))
    );
    let claimed = claim_ids(&store, "outbox", t(3), 10).await;
    assert_eq!(claimed, vec![fallback_id]);
}

async fn status_for_an_unknown_message_changes_nothing(store: DynStore) {
    let (_, conversation_id) = receive(&store, "wamid.in", 1, t(0)).await;
    let id = sent(
        &store,
        text_to(conversation_id, 1, "hello"),
        "wamid.out",
        t(1),
    )
    .await;
    let outcome = store
        .ingest(&[status("wamid.other", DeliveryStatus::Read, None, t(2))])
        .await
        .unwrap();
    assert_eq!(outcome, vec![IngestOutcome::StatusUnknownMessage]);

    // The same provider id under another sender is not ours either.
    let mut foreign = status("wamid.out", DeliveryStatus::Read, None, t(2));
    if let crate::store::IngestItem::Status { sender_id, .. } = &mut foreign {
        *sender_id = SENDER + 1;
    }
    assert_eq!(
        store.ingest(&[foreign]).await.unwrap(),
        vec![IngestOutcome::StatusUnknownMessage]
    );
    assert_eq!(
        store.outbound(id).await.unwrap().unwrap().status,
        DeliveryStatus::Accepted
    );
}

conformance!(
    first_message_creates_contact_and_conversation,
    duplicate_message_is_reported_and_stored_once,
    last_inbound_at_only_moves_forward,
    echoes_history_and_business_calls_leave_the_window,
    batch_is_stored_in_order_with_one_outcome_per_item,
    contact_name_is_kept_unless_a_new_one_arrives,
    statuses_move_forward_and_ignore_repeats,
    failed_status_records_the_error,
    closed_window_failure_enqueues_the_fallback_once,
    statuses_that_arrive_before_the_send_is_recorded_are_applied_then,
    status_for_an_unknown_message_changes_nothing,
);
