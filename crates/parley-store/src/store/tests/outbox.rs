//! The outbox: each conversation's messages leave in order, retries wait, stopped senders
//! hold their messages, and outcomes need the lease.

use super::fixtures::*;
use crate::domain::{DeliveryStatus, OutboundContent};
use crate::store::{DynStore, Id, IngestItem, SendOutcome, StoreError};

fn accepted(provider_id: &str) -> SendOutcome {
    SendOutcome::Accepted {
        provider_message_id: provider_id.into(),
        converted_to: None,
    }
}

async fn conversation(store: &DynStore, customer: u32) -> Id {
    store
        .ensure_conversation(SENDER, &super::fixtures::customer(customer), None, t(0))
        .await
        .unwrap()
        .id
}

async fn messages_leave_in_order_per_conversation(store: DynStore) {
    let (a, b) = (conversation(&store, 1).await, conversation(&store, 2).await);
    let ids = store
        .enqueue(
            &[
                text_to(a, 1, "a1"),
                text_to(a, 1, "a2"),
                text_to(b, 2, "b1"),
            ],
            t(1),
        )
        .await
        .unwrap();
    let [a1, a2, b1] = ids[..] else {
        panic!("three ids")
    };

    // a2 waits behind a1 while a1 is in flight; the other conversation proceeds.
    assert_eq!(claim_ids(&store, "o", t(2), 10).await, vec![a1, b1]);
    assert_eq!(claim_ids(&store, "o", t(3), 10).await, Vec::<Id>::new());
    store
        .record_outcome(a1, "o", &accepted("wamid.a1"), t(4))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "o", t(5), 10).await, vec![a2]);
    // a leased message is not claimed twice
    assert_eq!(claim_ids(&store, "p", t(6), 10).await, Vec::<Id>::new());
}

async fn retry_waits_for_its_next_attempt(store: DynStore) {
    let a = conversation(&store, 1).await;
    let ids = store
        .enqueue(&[text_to(a, 1, "first"), text_to(a, 1, "second")], t(0))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "o", t(1), 10).await, vec![ids[0]]);
    let retry = SendOutcome::Retry {
        at: t(60),
        code: Some(130429),
        title: "throttled".into(),
    };
    store
        .record_outcome(ids[0], "o", &retry, t(2))
        .await
        .unwrap();

    // Not before its time, and its successor still waits behind it.
    assert_eq!(claim_ids(&store, "o", t(30), 10).await, Vec::<Id>::new());
    let items = store
        .claim_outbound("o", t(61), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![ids[0]]);
    assert_eq!(items[0].attempts, 1);
    let record = store.outbound(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.error_code),
        (DeliveryStatus::Queued, Some(130429))
    );
    assert_eq!(record.error_title.as_deref(), Some("throttled"));
}

async fn stopped_sender_holds_its_messages_until_resumed(store: DynStore) {
    let a = conversation(&store, 1).await;
    let b = store
        .ensure_conversation(SENDER + 1, &customer(2), None, t(0))
        .await
        .unwrap()
        .id;
    let mut other = text_to(b, 2, "from another sender");
    other.sender_id = SENDER + 1;
    let ids = store
        .enqueue(&[text_to(a, 1, "held"), other], t(0))
        .await
        .unwrap();

    store
        .stop_sender(SENDER, Some(190), "access token expired", t(1))
        .await
        .unwrap();
    let stops = store.stopped_senders().await.unwrap();
    assert_eq!(stops.len(), 1);
    assert_eq!(
        (stops[0].sender_id, stops[0].code, stops[0].stopped_at),
        (SENDER, Some(190), t(1))
    );
    assert_eq!(stops[0].reason, "access token expired");
    // stopping again updates the record
    store
        .stop_sender(SENDER, Some(368), "restricted", t(2))
        .await
        .unwrap();
    assert_eq!(store.stopped_senders().await.unwrap()[0].code, Some(368));

    // Only the other sender's message goes while the sender is stopped.
    assert_eq!(claim_ids(&store, "o", t(3), 10).await, vec![ids[1]]);
    assert_eq!(claim_ids(&store, "o", t(4), 10).await, Vec::<Id>::new());
    store.resume_sender(SENDER).await.unwrap();
    assert!(store.stopped_senders().await.unwrap().is_empty());
    assert_eq!(claim_ids(&store, "o", t(5), 10).await, vec![ids[0]]);
}

async fn outcome_needs_the_lease(store: DynStore) {
    let a = conversation(&store, 1).await;
    let id = store.enqueue(&[text_to(a, 1, "hi")], t(0)).await.unwrap()[0];
    assert_eq!(claim_ids(&store, "a", t(1), 10).await, vec![id]);
    assert_eq!(claim_ids(&store, "b", t(20), 10).await, Vec::<Id>::new());
    // "a" hung past its lease: the message waits for a status naming it, then "b" takes
    // it over.
    assert_eq!(claim_ids(&store, "b", t(40), 10).await, Vec::<Id>::new());
    assert_eq!(claim_ids(&store, "b", t(99), 10).await, Vec::<Id>::new());
    assert_eq!(claim_ids(&store, "b", t(100), 10).await, vec![id]);
    let lost = store
        .record_outcome(id, "a", &accepted("wamid.a"), t(101))
        .await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { id: lost_id, .. }) if lost_id == id),
        "{lost:?}"
    );

    // Requeue hands it back untouched.
    store
        .record_outcome(id, "b", &SendOutcome::Requeue, t(102))
        .await
        .unwrap();
    assert_eq!(
        store.outbound(id).await.unwrap().unwrap().status,
        DeliveryStatus::Queued
    );
    assert_eq!(claim_ids(&store, "c", t(103), 10).await, vec![id]);
    store
        .record_outcome(id, "c", &accepted("wamid.c"), t(104))
        .await
        .unwrap();
    let record = store.outbound(id).await.unwrap().unwrap();
    assert_eq!(record.status, DeliveryStatus::Accepted);
    assert_eq!(record.provider_message_id.as_deref(), Some("wamid.c"));
    // The wait after "a" stopped counted as an attempt.
    assert_eq!(record.attempts, 1);
    assert_eq!(record.updated_at, t(104));
    // recorded once: a second outcome for the same lease is refused
    let twice = store
        .record_outcome(id, "c", &accepted("wamid.c"), t(105))
        .await;
    assert!(
        matches!(twice, Err(StoreError::LeaseLost { .. })),
        "{twice:?}"
    );
}

async fn claimed_items_carry_what_the_window_needs(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(-100)).await;
    let mut reply = text_to(conversation, 1, "hi");
    reply.fallback = crate::domain::WindowFallback::Template(template("menu_reminder"));
    let id = store.enqueue(&[reply.clone()], t(0)).await.unwrap()[0];
    let items = store
        .claim_outbound("o", t(1), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(
        (item.id, item.sender_id, item.conversation_id),
        (id, SENDER, conversation)
    );
    assert_eq!(
        (&item.message, &item.fallback),
        (&reply.message, &reply.fallback)
    );
    assert_eq!(
        (item.attempts, item.created_at, item.last_inbound_at),
        (0, t(0), Some(t(-100)))
    );

    // The window had closed: sent as its template, still to the same customer.
    let converted = OutboundContent::Template(template("menu_reminder"));
    let outcome = SendOutcome::Accepted {
        provider_message_id: "wamid.t".into(),
        converted_to: Some(converted.clone()),
    };
    store.record_outcome(id, "o", &outcome, t(2)).await.unwrap();
    let record = store.outbound(id).await.unwrap().unwrap();
    assert_eq!(record.message.to, customer(1));
    assert_eq!(record.message.content, converted);
    assert_eq!(record.fallback, reply.fallback);
}

async fn failed_and_skipped_leave_the_queue(store: DynStore) {
    let (a, b, c) = (
        conversation(&store, 1).await,
        conversation(&store, 2).await,
        conversation(&store, 3).await,
    );
    let ids = store
        .enqueue(
            &[text_to(a, 1, "x"), text_to(b, 2, "y"), text_to(c, 3, "z")],
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), 3);
    assert_eq!(claim_ids(&store, "o", t(1), 2).await, ids[..2]);

    let failed = SendOutcome::Failed {
        code: Some(131047),
        title: "Re-engagement message".into(),
        window_closed: true,
    };
    store
        .record_outcome(ids[0], "o", &failed, t(2))
        .await
        .unwrap();
    let skipped = SendOutcome::Skipped {
        reason: "window closed".into(),
    };
    store
        .record_outcome(ids[1], "o", &skipped, t(2))
        .await
        .unwrap();
    assert_eq!(store.outbox_depth().await.unwrap(), 1);

    let record = store.outbound(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.error_code, record.window_closed),
        (DeliveryStatus::Failed, Some(131047), true)
    );
    assert_eq!(
        store.outbound(ids[1]).await.unwrap().unwrap().status,
        DeliveryStatus::Skipped
    );
    assert_eq!(store.outbound(ids[2] + 100).await.unwrap(), None);
}

async fn conversation_outbound_pages_newest_first(store: DynStore) {
    let (a, b) = (conversation(&store, 1).await, conversation(&store, 2).await);
    let mut ids = vec![];
    for n in 0..5 {
        ids.extend(
            store
                .enqueue(
                    &[text_to(a, 1, &format!("m{n}")), text_to(b, 2, "other")],
                    t(n),
                )
                .await
                .unwrap(),
        );
    }
    let mine: Vec<Id> = ids.iter().copied().step_by(2).rev().collect();
    let page = |before, limit| {
        let store = store.clone();
        async move {
            let records = store.conversation_outbound(a, before, limit).await.unwrap();
            assert!(records.iter().all(|r| r.conversation_id == a));
            records.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None, 2).await, mine[..2]);
    assert_eq!(page(Some(mine[1]), 2).await, mine[2..4]);
    assert_eq!(page(Some(mine[3]), 2).await, mine[4..]);
    assert_eq!(page(Some(mine[4]), 2).await, Vec::<Id>::new());
}

/// One message queued to each of `count` customers, all claimed by "o": sends in flight.
async fn sends_in_flight(store: &DynStore, count: u32) -> Vec<Id> {
    let mut ids = Vec::new();
    for n in 1..=count {
        let conversation = conversation(store, n).await;
        ids.extend(
            store
                .enqueue(&[text_to(conversation, n, "hello")], t(0))
                .await
                .unwrap(),
        );
    }
    assert_eq!(claim_ids(store, "o", t(1), 1000).await, ids);
    ids
}

/// Many sends recorded at once (on PostgreSQL they share batch statements): each gets its
/// own answer; a status that arrived early is still applied, a lost lease still refused.
async fn accepted_sends_recorded_at_once_each_get_their_own_answer(store: DynStore) {
    let ids = sends_in_flight(&store, 20).await;
    // The status of send 5 arrives before its outcome is recorded.
    store
        .ingest(&[status("wamid.s5", DeliveryStatus::Delivered, None, t(2))])
        .await
        .unwrap();

    let outcomes: Vec<(Id, &str, SendOutcome)> = ids
        .iter()
        .enumerate()
        .map(|(n, &id)| {
            let owner = if n == 12 { "x" } else { "o" };
            (id, owner, accepted(&format!("wamid.s{n}")))
        })
        .collect();
    let results = futures::future::join_all(
        outcomes
            .iter()
            .map(|(id, owner, outcome)| store.record_outcome(*id, owner, outcome, t(3))),
    )
    .await;

    for (n, (result, &id)) in results.iter().zip(&ids).enumerate() {
        let record = store.outbound(id).await.unwrap().unwrap();
        if n == 12 {
            assert!(
                matches!(result, Err(StoreError::LeaseLost { .. })),
                "{result:?}"
            );
            assert_eq!(record.status, DeliveryStatus::Queued);
            assert_eq!(record.provider_message_id, None);
            continue;
        }
        result.as_ref().unwrap_or_else(|e| panic!("send {n}: {e}"));
        assert_eq!(
            record.provider_message_id.as_deref(),
            Some(format!("wamid.s{n}").as_str())
        );
        let expected = if n == 5 {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Accepted
        };
        assert_eq!(record.status, expected, "send {n}");
    }
}

/// A status that races the recording of its send's outcome is applied either way: before
/// the outcome (kept as early, replayed by it) or after it (applied at once), never lost
/// in between.
async fn a_status_racing_its_sends_outcome_is_never_lost(store: DynStore) {
    let ids = sends_in_flight(&store, 100).await;
    let outcomes: Vec<SendOutcome> = (0..ids.len())
        .map(|n| accepted(&format!("wamid.r{n}")))
        .collect();
    let statuses: Vec<_> = (0..ids.len())
        .map(|n| {
            status(
                &format!("wamid.r{n}"),
                DeliveryStatus::Delivered,
                None,
                t(2),
            )
        })
        .collect();
    let record = futures::future::join_all(
        ids.iter()
            .zip(&outcomes)
            .map(|(id, outcome)| store.record_outcome(*id, "o", outcome, t(2))),
    );
    let ingest = futures::future::join_all(
        statuses
            .iter()
            .map(|s| store.ingest(std::slice::from_ref(s))),
    );
    let (recorded, ingested) = tokio::join!(record, ingest);
    for r in recorded {
        r.unwrap();
    }
    for i in ingested {
        i.unwrap();
    }
    for (n, id) in ids.iter().enumerate() {
        let record = store.outbound(*id).await.unwrap().unwrap();
        assert_eq!(record.status, DeliveryStatus::Delivered, "send {n}");
    }
}

/// A send timed out (its outcome unknown) and waits to be retried; a status that names its
/// outbox id shows the provider took it: accepted under that provider id, never claimed
/// again, and the late outcome of the attempt does not undo it.
async fn a_status_naming_a_timed_out_send_settles_it(store: DynStore) {
    let ids = sends_in_flight(&store, 2).await;
    let mut tagged = status("wamid.late", DeliveryStatus::Sent, None, t(2));
    if let IngestItem::Status { status, .. } = &mut tagged {
        status.outbox_id = Some(ids[0]);
    }
    store.ingest(&[tagged]).await.unwrap();
    let retry = SendOutcome::Retry {
        at: t(3),
        code: None,
        title: "no answer".into(),
    };
    for &id in &ids {
        store.record_outcome(id, "o", &retry, t(3)).await.unwrap();
    }
    let settled = store.outbound(ids[0]).await.unwrap().unwrap();
    assert_eq!(settled.provider_message_id.as_deref(), Some("wamid.late"));
    assert_eq!(settled.status, DeliveryStatus::Sent);
    // Only the unsettled one is sent again.
    assert_eq!(claim_ids(&store, "o", t(10), 10).await, vec![ids[1]]);
}

/// The provider's statuses can come before its answer to the send is recorded (the
/// status names the send): recording the answer then keeps the later status, `sent` or a
/// failure with its code, instead of putting it back to `accepted`.
async fn an_answer_recorded_after_its_statuses_keeps_them(store: DynStore) {
    let ids = sends_in_flight(&store, 2).await;
    for (id, wamid, state, code) in [
        (ids[0], "wamid.early", DeliveryStatus::Sent, None),
        (ids[1], "wamid.held", DeliveryStatus::Failed, Some(131049)),
    ] {
        let mut tagged = status(wamid, state, code, t(2));
        if let IngestItem::Status { status, .. } = &mut tagged {
            status.outbox_id = Some(id);
        }
        store.ingest(&[tagged]).await.unwrap();
        store
            .record_outcome(id, "o", &accepted(wamid), t(3))
            .await
            .unwrap();
    }
    let sent = store.outbound(ids[0]).await.unwrap().unwrap();
    assert_eq!(sent.status, DeliveryStatus::Sent);
    let held = store.outbound(ids[1]).await.unwrap().unwrap();
    assert_eq!(held.status, DeliveryStatus::Failed);
    assert_eq!(held.error_code, Some(131049));
}

/// A process stopped with two sends in flight (say, SIGKILL): the provider took one of
/// them, and its status names it. Neither is sent again at once; the named one is settled
/// and its conversation goes on; the other goes again, once, after the wait.
async fn a_send_whose_process_stopped_waits_for_a_status_before_going_again(store: DynStore) {
    let (a, b) = (conversation(&store, 1).await, conversation(&store, 2).await);
    let ids = store
        .enqueue(
            &[
                text_to(a, 1, "a1"),
                text_to(a, 1, "a2"),
                text_to(b, 2, "b1"),
            ],
            t(0),
        )
        .await
        .unwrap();
    let [a1, a2, b1] = ids[..] else {
        panic!("three ids")
    };
    assert_eq!(claim_ids(&store, "dead", t(1), 10).await, vec![a1, b1]);
    // Its lease ran out: put back to wait, with a word on why.
    assert_eq!(claim_ids(&store, "live", t(40), 10).await, Vec::<Id>::new());
    let waiting = store.outbound(a1).await.unwrap().unwrap();
    assert_eq!(waiting.status, DeliveryStatus::Queued);
    assert_eq!(
        waiting.error_title.as_deref(),
        Some(crate::store::apply::IN_DOUBT)
    );
    // The provider's status for a1 arrives, naming the send.
    let mut tagged = status("wamid.a1", DeliveryStatus::Delivered, None, t(45));
    if let IngestItem::Status { status, .. } = &mut tagged {
        status.outbox_id = Some(a1);
    }
    store.ingest(&[tagged]).await.unwrap();
    let settled = store.outbound(a1).await.unwrap().unwrap();
    assert_eq!(settled.provider_message_id.as_deref(), Some("wamid.a1"));
    assert_eq!(settled.status, DeliveryStatus::Delivered);
    // a1 is done, so a2 goes; b1 still waits for its status.
    assert_eq!(claim_ids(&store, "live", t(46), 10).await, vec![a2]);
    store
        .record_outcome(a2, "live", &accepted("wamid.a2"), t(47))
        .await
        .unwrap();
    // No status for b1: it goes again once, after the wait, as another attempt.
    assert_eq!(claim_ids(&store, "live", t(99), 10).await, Vec::<Id>::new());
    let items = store
        .claim_outbound("live", t(100), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![b1]);
    assert_eq!(items[0].attempts, 1);
    store
        .record_outcome(b1, "live", &accepted("wamid.b1"), t(101))
        .await
        .unwrap();
    assert_eq!(
        claim_ids(&store, "live", t(500), 10).await,
        Vec::<Id>::new()
    );
}

/// A database outage longer than the lease: the provider took both sends, their outcomes
/// could not be written, and a claim put them in doubt meanwhile. When the outcomes are
/// written at last they settle the sends, so neither goes again after the wait.
async fn an_outcome_written_after_its_send_was_put_in_doubt_settles_it(store: DynStore) {
    let (a, b) = (conversation(&store, 1).await, conversation(&store, 2).await);
    store
        .enqueue(&[text_to(a, 1, "a1"), text_to(b, 2, "b1")], t(0))
        .await
        .unwrap();
    let items = store
        .claim_outbound("o", t(1), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(items.len(), 2);
    // The lease ran out during the outage; a claim (this process's own) found the sends.
    assert_eq!(claim_ids(&store, "o", t(40), 10).await, Vec::<Id>::new());
    store
        .record_outcome(items[0].id, "o", &accepted("wamid.a1"), t(45))
        .await
        .unwrap();
    store
        .record_outcome_and_claim_next(&items[1], "o", &accepted("wamid.b1"), t(45), LEASE)
        .await
        .unwrap();
    for (item, wamid) in items.iter().zip(["wamid.a1", "wamid.b1"]) {
        let record = store.outbound(item.id).await.unwrap().unwrap();
        assert_eq!(record.status, DeliveryStatus::Accepted);
        assert_eq!(record.provider_message_id.as_deref(), Some(wamid));
    }
    assert_eq!(
        claim_ids(&store, "o", t(500), 10).await,
        Vec::<Id>::new(),
        "nothing goes again"
    );
}

/// An opt-out (STOP, a flow's `set` of `contact.opted_out`, an import's `opted_in: no`) stops the contact's
/// flow and broadcast sends still queued, in its own transaction: a scheduled flow's
/// reminder waiting behind the pacing does not reach a customer who just wrote STOP. The
/// send in flight goes on, an API send (the operator's own) still goes, and the step's own
/// reply (the opt-out's confirmation) is queued after the stop, so it goes too.
async fn an_opt_out_stops_the_contacts_queued_flow_sends(store: DynStore) {
    use crate::domain::contact::OPTED_OUT;
    use crate::domain::ContactPatch;
    use crate::store::Origin;
    let (event, a) = receive(&store, "wamid.stop", 1, t(0)).await;
    let mut api = text_to(a, 1, "from the operator");
    api.origin = Origin::Api;
    let ids = store
        .enqueue(
            &[text_to(a, 1, "in flight"), text_to(a, 1, "reminder"), api],
            t(1),
        )
        .await
        .unwrap();
    let [in_flight, reminder, api] = ids[..] else {
        panic!("three ids")
    };
    assert_eq!(claim_ids(&store, "o", t(2), 10).await, vec![in_flight]);

    store
        .claim_conversations("w", t(3), LEASE, 10)
        .await
        .unwrap();
    let mut stop = step(a, event, "w", t(4));
    let mut patch = ContactPatch::default();
    patch
        .set_attributes
        .insert(OPTED_OUT.into(), serde_json::json!(true));
    stop.contact_patch = Some(patch);
    stop.outbound = vec![text_to(a, 1, "You will get no more messages.")];
    let confirmation = store.commit_step(&stop).await.unwrap()[0];

    let status = |id: Id| {
        let store = store.clone();
        async move {
            let r = store.outbound(id).await.unwrap().unwrap();
            (r.status, r.error_title)
        }
    };
    assert_eq!(status(in_flight).await, (DeliveryStatus::Queued, None));
    let (skipped, why) = status(reminder).await;
    assert_eq!(skipped, DeliveryStatus::Skipped);
    assert!(why.unwrap().starts_with("opted_out:"));
    assert_eq!(status(api).await, (DeliveryStatus::Queued, None));
    assert_eq!(status(confirmation).await, (DeliveryStatus::Queued, None));

    // An import that opts a contact out does the same.
    let b = conversation(&store, 2).await;
    let queued = store
        .enqueue(&[text_to(b, 2, "reminder")], t(5))
        .await
        .unwrap()[0];
    let row = crate::domain::contact_file::ContactImport {
        row: 2,
        phone: Some(crate::domain::PhoneNumber::parse("+16315550002").unwrap()),
        user_id: None,
        name: None,
        tags: vec![],
        opted_in: Some(false),
        fields: serde_json::Map::new(),
    };
    store.import_contacts(&[row], t(6)).await.unwrap();
    assert_eq!(status(queued).await.0, DeliveryStatus::Skipped);
}

conformance!(
    an_opt_out_stops_the_contacts_queued_flow_sends,
    an_outcome_written_after_its_send_was_put_in_doubt_settles_it,
    a_send_whose_process_stopped_waits_for_a_status_before_going_again,
    a_status_naming_a_timed_out_send_settles_it,
    an_answer_recorded_after_its_statuses_keeps_them,
    a_status_racing_its_sends_outcome_is_never_lost,
    accepted_sends_recorded_at_once_each_get_their_own_answer,
    messages_leave_in_order_per_conversation,
    retry_waits_for_its_next_attempt,
    stopped_sender_holds_its_messages_until_resumed,
    outcome_needs_the_lease,
    claimed_items_carry_what_the_window_needs,
    failed_and_skipped_leave_the_queue,
    conversation_outbound_pages_newest_first,
);
