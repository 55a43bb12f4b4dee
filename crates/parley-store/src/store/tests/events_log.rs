//! Events out, the write side: each event is written in the transaction of the change it
//! tells of, or not at all: a step's events with its commit (not when the lease moved on,
//! not twice), and nothing while events are not recorded (no endpoint listens).

use super::fixtures::*;
use crate::domain::{ContactPatch, NewOutEvent, OutEvent, OutEventKind};
use crate::store::{DynStore, StoreError};
use serde_json::json;

fn told(kind: OutEventKind, conversation_id: i64, n: i64) -> NewOutEvent {
    NewOutEvent {
        kind,
        at: t(n) + chrono::TimeDelta::microseconds(123_456),
        conversation_id: Some(conversation_id),
        sender_id: Some(SENDER),
        data: json!({ "n": n, "text": "ünïcode ✓", "nested": { "ok": true } }),
    }
}

async fn logged(store: &DynStore) -> Vec<OutEvent> {
    store.logged_events(0, 1000).await.unwrap()
}

fn kinds(events: &[OutEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

async fn nothing_is_recorded_until_someone_listens(store: DynStore) {
    assert!(!store.records_events());
    store
        .record_events(&[told(OutEventKind::ContactCreated, 1, 0)])
        .await
        .unwrap();
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.events = vec![];
    store.commit_step(&commit).await.unwrap();
    assert!(logged(&store).await.is_empty());
}

async fn recorded_events_are_read_back_in_order_as_written(store: DynStore) {
    store.record_events_from_now();
    assert!(store.records_events());
    let written = vec![
        told(OutEventKind::BroadcastProgress, 7, 1),
        NewOutEvent {
            conversation_id: None,
            sender_id: None,
            ..told(OutEventKind::BroadcastFinished, 0, 2)
        },
    ];
    store.record_events(&written).await.unwrap();
    store.record_events(&[]).await.unwrap();
    let read = logged(&store).await;
    assert_eq!(read.len(), 2);
    assert!(read[0].id < read[1].id);
    for (r, w) in read.iter().zip(&written) {
        assert_eq!(
            (r.kind, r.at, r.conversation_id, r.sender_id, &r.data),
            (w.kind, w.at, w.conversation_id, w.sender_id, &w.data)
        );
    }
    let after_first = store.logged_events(read[0].id, 10).await.unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].kind, OutEventKind::BroadcastFinished);
}

/// A step's events land with the step, in order, on every way a store commits steps: a
/// plain step, one that patches its contact, and many conversations' at once.
async fn a_steps_events_are_committed_with_it(store: DynStore) {
    store.record_events_from_now();
    let (e1, c1) = receive(&store, "wamid.1", 1, t(0)).await;
    let (e2, c2) = receive(&store, "wamid.2", 2, t(0)).await;
    let (e3, c3) = receive(&store, "wamid.3", 3, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let mut plain = step(c1, e1, "a", t(2));
    plain.events = vec![
        told(OutEventKind::MessageReceived, c1, 1),
        told(OutEventKind::FlowStarted, c1, 2),
    ];
    let mut patching = step(c2, e2, "a", t(2));
    patching.contact_patch = Some(ContactPatch {
        name: Some("Ana".into()),
        ..Default::default()
    });
    patching.events = vec![told(OutEventKind::ContactChanged, c2, 3)];
    let mut other = step(c3, e3, "a", t(2));
    other.outbound = vec![text_to(c3, 3, "hi")];
    other.events = vec![
        told(OutEventKind::FlowStarted, c3, 4),
        told(OutEventKind::FlowFinished, c3, 5),
    ];
    let results = futures::future::join_all(
        [&plain, &patching, &other]
            .into_iter()
            .map(|c| store.commit_step(c)),
    )
    .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let read = logged(&store).await;
    let of = |c: i64| -> Vec<(&str, serde_json::Value)> {
        read.iter()
            .filter(|e| e.conversation_id == Some(c))
            .map(|e| (e.kind.as_str(), e.data["n"].clone()))
            .collect()
    };
    assert_eq!(
        of(c1),
        vec![("message.received", json!(1)), ("flow.started", json!(2))]
    );
    assert_eq!(of(c2), vec![("contact.changed", json!(3))]);
    assert_eq!(
        of(c3),
        vec![("flow.started", json!(4)), ("flow.finished", json!(5))]
    );
    assert_eq!(read.len(), 5);
}

/// A commit refused because another process holds the conversation now, or because the
/// event was committed already, tells nothing: what it would tell did not happen.
async fn a_refused_step_tells_nothing(store: DynStore) {
    store.record_events_from_now();
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    // a's lease runs out and b takes the conversation.
    let later = t(1) + chrono::TimeDelta::seconds(LEASE.as_secs() as i64 + 1);
    store
        .claim_conversations("b", later, LEASE, 10)
        .await
        .unwrap();
    for patch in [None, Some(ContactPatch::default())] {
        let mut late = step(conversation, event, "a", later);
        late.contact_patch = patch;
        late.events = vec![told(OutEventKind::MessageReceived, conversation, 1)];
        let lost = store.commit_step(&late).await;
        assert!(
            matches!(lost, Err(StoreError::LeaseLost { .. })),
            "{lost:?}"
        );
    }
    assert!(logged(&store).await.is_empty());

    let mut done = step(conversation, event, "b", later);
    done.events = vec![told(OutEventKind::MessageReceived, conversation, 2)];
    store.commit_step(&done).await.unwrap();
    let again = store.commit_step(&done).await;
    assert!(
        matches!(again, Err(StoreError::NotFound { .. })),
        "{again:?}"
    );
    assert_eq!(kinds(&logged(&store).await), ["message.received"]);
}

/// An accepted send tells `message.sent` with its origin and text, a status applied to it
/// `message.status`, in their transactions; a status ignored (older than what is known) or
/// an outcome recorded without the lease tells nothing.
async fn sends_and_their_statuses_are_told(store: DynStore) {
    use crate::domain::DeliveryStatus;
    store.record_events_from_now();
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let id = sent(
        &store,
        text_to(conversation, 1, "your order"),
        "wamid.out",
        t(1),
    )
    .await;
    store
        .ingest(&[status("wamid.out", DeliveryStatus::Delivered, None, t(2))])
        .await
        .unwrap();
    store
        .ingest(&[status("wamid.out", DeliveryStatus::Sent, None, t(3))])
        .await
        .unwrap();
    let read = logged(&store).await;
    assert_eq!(kinds(&read), ["message.sent", "message.status"]);
    let sent_event = &read[0];
    assert_eq!(sent_event.conversation_id, Some(conversation));
    assert_eq!(sent_event.sender_id, Some(SENDER));
    assert_eq!(sent_event.data["message_id"], id);
    assert_eq!(sent_event.data["provider_message_id"], "wamid.out");
    assert_eq!(sent_event.data["origin"], "flow");
    assert_eq!(sent_event.data["content"]["text"], "your order");
    assert_eq!(sent_event.data["contact"]["phone"], "+16315550001");
    assert_eq!(read[1].data["status"], "delivered");
    assert_eq!(read[1].data["message_id"], id);

    // A send that fails for good tells `message.status` failed with its error.
    let ids = store
        .enqueue(&[text_to(conversation, 1, "again")], t(4))
        .await
        .unwrap();
    store
        .claim_outbound("outbox", t(4), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    let failed = crate::store::SendOutcome::Failed {
        code: Some(131026),
        title: "undeliverable".into(),
        window_closed: false,
    };
    let lost = store
        .record_outcome(ids[0], "someone else", &failed, t(5))
        .await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { .. })),
        "{lost:?}"
    );
    assert_eq!(
        logged(&store).await.len(),
        2,
        "a refused outcome tells nothing"
    );
    store
        .record_outcome(ids[0], "outbox", &failed, t(5))
        .await
        .unwrap();
    let read = logged(&store).await;
    assert_eq!(read[2].kind, OutEventKind::MessageStatus);
    assert_eq!(read[2].data["status"], "failed");
    assert_eq!(read[2].data["error"]["code"], 131026);
}

/// A contact the API creates (`ensure_conversation`) is told of once, in that transaction;
/// found again, it is not told again.
async fn a_contact_the_api_creates_is_told_once(store: DynStore) {
    store.record_events_from_now();
    let first = store
        .ensure_conversation(SENDER, &customer(7), Some("Bo"), t(0))
        .await
        .unwrap();
    store
        .ensure_conversation(SENDER, &customer(7), Some("Bo"), t(1))
        .await
        .unwrap();
    let read = logged(&store).await;
    assert_eq!(kinds(&read), ["contact.created"]);
    assert_eq!(read[0].conversation_id, Some(first.id));
    assert_eq!(read[0].data["via"], "api");
    assert_eq!(read[0].data["contact"]["id"], first.contact_id);
    assert_eq!(read[0].data["contact"]["name"], "Bo");
    assert_eq!(read[0].data["contact"]["phone"], "+16315550007");
}

/// An import tells `contact.created` for a new contact, `contact.changed` for one it
/// changed (not for one it left as it was) and `contact.opted_out` once, all in the
/// import's transaction; a marketing preference tells the stop once.
async fn imports_and_preferences_tell_of_contacts(store: DynStore) {
    use crate::domain::contact_file::ContactImport;
    use crate::domain::{MarketingPreference, PhoneNumber};
    store.record_events_from_now();
    let row = |name: Option<&str>, opted_in: Option<bool>, city: Option<&str>| ContactImport {
        row: 1,
        phone: Some(PhoneNumber::parse("+16315550009").unwrap()),
        user_id: None,
        name: name.map(str::to_string),
        tags: Vec::new(),
        opted_in,
        fields: city
            .map(|c| [("city".to_string(), json!(c))].into_iter().collect())
            .unwrap_or_default(),
    };
    store
        .import_contacts(&[row(Some("Cy"), None, None)], t(0))
        .await
        .unwrap();
    store
        .import_contacts(&[row(Some("Cy"), None, None)], t(1))
        .await
        .unwrap();
    store
        .import_contacts(&[row(None, None, Some("Lima"))], t(2))
        .await
        .unwrap();
    store
        .import_contacts(&[row(None, Some(false), None)], t(3))
        .await
        .unwrap();
    store
        .import_contacts(&[row(None, Some(false), None)], t(4))
        .await
        .unwrap();
    let read = logged(&store).await;
    assert_eq!(
        kinds(&read),
        [
            "contact.created",
            "contact.changed",
            "contact.changed",
            "contact.opted_out"
        ]
    );
    assert!(read.iter().all(|e| e.data["via"] == "import"));
    assert_eq!(read[0].data["contact"]["name"], "Cy");
    assert_eq!(read[0].data["contact"]["phone"], "+16315550009");
    assert_eq!(read[1].data["changes"]["attributes"]["city"], "Lima");
    assert_eq!(read[0].conversation_id, None);

    let stop = |stopped| MarketingPreference {
        contact: customer(9),
        stopped,
        at: Some(t(5)),
    };
    store
        .set_marketing_preference(&stop(true), t(5))
        .await
        .unwrap();
    store
        .set_marketing_preference(&stop(true), t(6))
        .await
        .unwrap();
    let read = logged(&store).await;
    assert_eq!(kinds(&read[4..]), ["contact.opted_out"]);
    assert_eq!(read[4].data["via"], "marketing_preference");
    // A customer Parley meets through their preference is created, then stops.
    let stranger = MarketingPreference {
        contact: customer(10),
        stopped: true,
        at: None,
    };
    store
        .set_marketing_preference(&stranger, t(7))
        .await
        .unwrap();
    let read = logged(&store).await;
    assert_eq!(kinds(&read[5..]), ["contact.created", "contact.opted_out"]);
}

/// A broadcast's end is told in the transaction of the page that ends it, once: with its
/// recipients counted (queued, skipped by reason); pages before tell nothing (their
/// progress is the worker's).
async fn a_broadcasts_end_is_told_with_its_page(store: DynStore) {
    use crate::domain::broadcast::PAIR_GAP;
    use crate::domain::{OutboundContent, OutboundMessage};
    use crate::store::{NewBroadcast, NewRecipient, PageOutcome, SendPricing};
    let mut list = Vec::new();
    for n in 1..4 {
        let conversation = store
            .ensure_conversation(SENDER, &customer(n), None, t(0))
            .await
            .unwrap();
        let message = OutboundMessage {
            to: customer(n),
            content: OutboundContent::Template(template("daily_menu")),
            trace: None,
        };
        list.push(NewRecipient {
            conversation_id: Some(conversation.id),
            contact_id: conversation.contact_id,
            outcome: if n == 3 {
                Err("opted_out".into())
            } else {
                Ok(serde_json::to_string(&message).unwrap())
            },
        });
    }
    // Told from now on: the contacts above were created before anyone listened.
    store.record_events_from_now();
    let broadcast = NewBroadcast {
        name: "spring sale".into(),
        sender_id: SENDER,
        template_name: "daily_menu".into(),
        template_language: "en".into(),
        category: Some("marketing".into()),
        variables: json!({}),
        audience: None,
        frequency_cap_secs: None,
        reply_flow: None,
        portfolio: None,
        messaging_limit: None,
        start_at: t(0),
    };
    let id = store
        .create_broadcast(&broadcast, &list, t(0))
        .await
        .unwrap();
    store.claim_broadcast("a", t(1), LEASE).await.unwrap();
    let pricing = SendPricing {
        pricer: std::sync::Arc::new(crate::domain::pricing::Pricer {
            card: crate::domain::pricing::RateCard::parse(
                "test.csv",
                "*,marketing,0.0604,USD,2025-01-01\n*,utility,0.0077,USD,2025-01-01\n\
                 *,authentication,0.0077,USD,2025-01-01\n*,service,0,USD,2025-01-01\n",
            )
            .unwrap(),
            templates: Default::default(),
        }),
        window: crate::domain::WindowPolicy {
            duration: chrono::TimeDelta::hours(24),
            safety_margin: chrono::TimeDelta::minutes(5),
        },
    };
    let reply = std::time::Duration::from_secs(3600);
    let page = |n: i64| {
        let (store, pricing) = (store.clone(), pricing.clone());
        async move {
            store
                .broadcast_queue_page(id, "a", 1, PAIR_GAP, reply, t(n), LEASE, &pricing)
                .await
                .unwrap()
        }
    };
    assert_eq!(page(2).await, PageOutcome::Queued(1));
    assert_eq!(page(3).await, PageOutcome::Queued(1));
    assert!(
        logged(&store).await.is_empty(),
        "pages before the end tell nothing"
    );
    assert_eq!(page(4).await, PageOutcome::Finished);
    let read = logged(&store).await;
    assert_eq!(kinds(&read), ["broadcast.finished"]);
    let d = &read[0].data;
    assert_eq!(
        (d["broadcast_id"].clone(), d["name"].clone()),
        (json!(id), json!("spring sale"))
    );
    assert_eq!(
        (d["recipients"].clone(), d["queued"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(d["skipped"], json!({ "opted_out": 1 }));
    assert_eq!(
        d["template"],
        json!({ "name": "daily_menu", "language": "en" })
    );
    assert_eq!(
        (read[0].sender_id, read[0].conversation_id),
        (Some(SENDER), None)
    );
    assert_eq!(read[0].at, t(4));
}

/// Ingest tells nothing by itself (a message is told with its step, exactly once), so a
/// webhook delivered twice tells nothing twice; a status delivered twice is told once.
async fn a_duplicate_webhook_tells_nothing_more(store: DynStore) {
    use crate::domain::DeliveryStatus;
    use crate::store::IngestOutcome;
    store.record_events_from_now();
    let item = message(inbound("wamid.1", 1, Some(t(0)), "hi"), t(0));
    store.ingest(std::slice::from_ref(&item)).await.unwrap();
    let again = store.ingest(&[item]).await.unwrap();
    assert!(matches!(again[..], [IngestOutcome::Duplicate]), "{again:?}");
    assert!(logged(&store).await.is_empty());
    let (_, conversation) = receive(&store, "wamid.2", 2, t(1)).await;
    sent(&store, text_to(conversation, 2, "hello"), "wamid.out", t(2)).await;
    for _ in 0..2 {
        store
            .ingest(&[status("wamid.out", DeliveryStatus::Read, None, t(3))])
            .await
            .unwrap();
    }
    assert_eq!(
        kinds(&logged(&store).await),
        ["message.sent", "message.status"]
    );
}

conformance!(
    nothing_is_recorded_until_someone_listens,
    recorded_events_are_read_back_in_order_as_written,
    a_steps_events_are_committed_with_it,
    a_refused_step_tells_nothing,
    sends_and_their_statuses_are_told,
    a_contact_the_api_creates_is_told_once,
    imports_and_preferences_tell_of_contacts,
    a_broadcasts_end_is_told_with_its_page,
    a_duplicate_webhook_tells_nothing_more,
);
