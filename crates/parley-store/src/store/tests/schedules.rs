//! Schedules and the guards on a sender's pace: each fire is recorded once, a fire has one
//! runner at a time that walks its audience in pages from a saved cursor and loses its
//! lease to a taker-over, the backlog counts work not yet done and the daily template cap
//! counts accepted templates.

use super::fixtures::*;
use crate::domain::{
    DeliveryStatus, OutboundContent, OutboundMessage, ScheduledRun, Timer, WindowFallback,
};
use crate::store::{
    DynStore, Id, NewEvent, NewOutbound, Origin, ScheduleFire, SendOutcome, StoreError,
};
use chrono::{DateTime, Utc};

/// The event a schedule's run adds to a conversation, deduplicated per fire and conversation.
fn run_event(fire: Id, conversation_id: Id, now: DateTime<Utc>) -> NewEvent {
    NewEvent {
        conversation_id,
        sender_id: SENDER,
        dedupe_key: Some(format!("schedule:{fire}:{conversation_id}")),
        event: Timer::Scheduled(ScheduledRun {
            flow: "daily".into(),
            fire_id: fire,
        }),
        now,
    }
}

fn template_to(conversation_id: Id, to: u32) -> NewOutbound {
    NewOutbound {
        sender_id: SENDER,
        conversation_id,
        message: OutboundMessage {
            to: customer(to),
            content: OutboundContent::Template(template("daily_menu")),
            trace: None,
        },
        fallback: WindowFallback::Fail,
        origin: Origin::Api,
        flow: None,
        step: None,
        cost: None,
    }
}

fn accepted(provider_id: &str) -> SendOutcome {
    SendOutcome::Accepted {
        provider_message_id: provider_id.into(),
        converted_to: None,
    }
}

async fn claim_fire(store: &DynStore, owner: &str, now: DateTime<Utc>) -> Option<ScheduleFire> {
    store
        .claim_schedule_fire(owner, now, LEASE)
        .await
        .expect("claim a schedule fire")
}

async fn each_fire_is_recorded_once_and_anchors_never_run(store: DynStore) {
    assert_eq!(store.last_schedule_fire("daily").await.unwrap(), None);
    // First seen: an anchor marks the time, nothing runs.
    assert!(store
        .record_schedule_fire("daily", t(0), true, t(0))
        .await
        .unwrap());
    assert!(!store
        .record_schedule_fire("daily", t(0), true, t(1))
        .await
        .unwrap());
    assert_eq!(store.last_schedule_fire("daily").await.unwrap(), Some(t(0)));
    assert_eq!(claim_fire(&store, "a", t(1)).await, None);

    // A fire, recorded by this process and then again by another: once.
    assert!(store
        .record_schedule_fire("daily", t(60), false, t(60))
        .await
        .unwrap());
    assert!(!store
        .record_schedule_fire("daily", t(60), false, t(61))
        .await
        .unwrap());
    assert_eq!(
        store.last_schedule_fire("daily").await.unwrap(),
        Some(t(60))
    );
    // Another schedule's fires are its own.
    assert!(store
        .record_schedule_fire("weekly", t(30), false, t(62))
        .await
        .unwrap());
    assert_eq!(
        store.last_schedule_fire("daily").await.unwrap(),
        Some(t(60))
    );
    assert_eq!(
        store.last_schedule_fire("weekly").await.unwrap(),
        Some(t(30))
    );
    assert_eq!(store.last_schedule_fire("never").await.unwrap(), None);

    // Unfinished fires are claimed oldest first, each by one owner.
    let daily = claim_fire(&store, "a", t(63))
        .await
        .expect("the daily fire");
    assert_eq!(
        (daily.flow_id.as_str(), daily.fire_at, daily.cursor),
        ("daily", t(60), 0)
    );
    let weekly = claim_fire(&store, "b", t(63))
        .await
        .expect("the weekly fire");
    assert_eq!((weekly.flow_id.as_str(), weekly.fire_at), ("weekly", t(30)));
    assert_ne!(daily.id, weekly.id);
    assert_eq!(claim_fire(&store, "c", t(64)).await, None);
}

async fn a_fire_walks_its_audience_in_pages_and_finishes_once(store: DynStore) {
    let mut audience = Vec::new();
    for n in 1..=3 {
        let (event, conversation) = receive(&store, &format!("wamid.{n}"), n, t(n as i64)).await;
        // Handled, so the backlog below counts only what the run adds.
        store
            .claim_conversations("inbox", t(5), LEASE, 10)
            .await
            .unwrap();
        let mut done = step(conversation, event, "inbox", t(5));
        done.release = true;
        store.commit_step(&done).await.unwrap();
        audience.push(conversation);
    }
    // Another sender's conversation is not in this sender's audience.
    store
        .ensure_conversation(SENDER + 1, &customer(9), None, t(5))
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 0);

    assert!(store
        .record_schedule_fire("daily", t(10), false, t(10))
        .await
        .unwrap());
    let fire = claim_fire(&store, "a", t(10)).await.expect("the fire");
    assert_eq!(fire.cursor, 0);

    // Page one: the first two conversations in id order, with their contacts.
    let page = store.audience_page(SENDER, fire.cursor, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.conversation_id).collect::<Vec<_>>(),
        audience[..2]
    );
    assert_eq!(page[0].contact.key, customer(1).key());
    assert_eq!(page[1].contact.name.as_deref(), Some("Customer 2"));
    assert_eq!(page[1].last_inbound_at, Some(t(2)));
    let events: Vec<_> = page
        .iter()
        .map(|r| run_event(fire.id, r.conversation_id, t(11)))
        .collect();
    store
        .schedule_progress(fire.id, "a", audience[1], &events, t(11), LEASE)
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 2);
    // The lease is held (and was renewed): no one else runs this fire meanwhile.
    assert_eq!(claim_fire(&store, "b", t(12)).await, None);
    assert_eq!(
        store
            .claim_conversations("inbox", t(12), LEASE, 10)
            .await
            .unwrap(),
        audience[..2],
        "the run's events are work for their conversations"
    );

    // Page two: the rest, after the cursor; an event already added is not added again.
    let page = store.audience_page(SENDER, audience[1], 2).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.conversation_id).collect::<Vec<_>>(),
        audience[2..]
    );
    let events = [
        run_event(fire.id, audience[2], t(13)),
        run_event(fire.id, audience[0], t(13)),
    ];
    store
        .schedule_progress(fire.id, "a", audience[2], &events, t(13), LEASE)
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 3);
    assert!(store
        .audience_page(SENDER, audience[2], 2)
        .await
        .unwrap()
        .is_empty());

    store
        .finish_schedule_fire(fire.id, "a", t(14))
        .await
        .unwrap();
    // Done: never claimed again, not even once its lease would have run out.
    assert_eq!(claim_fire(&store, "b", t(14) + LEASE * 2).await, None);
    assert!(matches!(
        store.finish_schedule_fire(fire.id, "a", t(15)).await,
        Err(StoreError::LeaseLost { id, .. }) if id == fire.id
    ));
    assert!(matches!(
        store
            .schedule_progress(fire.id, "a", audience[2], &[], t(15), LEASE)
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
}

async fn an_abandoned_fire_is_taken_over_from_its_cursor(store: DynStore) {
    let mut audience = Vec::new();
    for n in 1..=3 {
        let conversation = store
            .ensure_conversation(SENDER, &customer(n), None, t(0))
            .await
            .unwrap()
            .id;
        audience.push(conversation);
    }
    assert!(store
        .record_schedule_fire("daily", t(10), false, t(10))
        .await
        .unwrap());
    let fire = claim_fire(&store, "a", t(10)).await.expect("the fire");
    store
        .schedule_progress(
            fire.id,
            "a",
            audience[0],
            &[run_event(fire.id, audience[0], t(11))],
            t(11),
            LEASE,
        )
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 1);

    // "a" stalls past its lease: its progress is refused and adds nothing.
    let late = t(11) + LEASE;
    assert!(matches!(
        store
            .schedule_progress(
                fire.id,
                "a",
                audience[1],
                &[run_event(fire.id, audience[1], late)],
                late,
                LEASE,
            )
            .await,
        Err(StoreError::LeaseLost { what: "schedule fire", id }) if id == fire.id
    ));
    assert_eq!(store.backlog(SENDER).await.unwrap(), 1);

    // "b" takes the fire over and resumes after the saved cursor.
    let taken = claim_fire(&store, "b", late)
        .await
        .expect("the abandoned fire");
    assert_eq!(
        taken,
        ScheduleFire {
            id: fire.id,
            flow_id: "daily".into(),
            fire_at: t(10),
            cursor: audience[0],
        }
    );
    assert!(matches!(
        store.finish_schedule_fire(fire.id, "a", late).await,
        Err(StoreError::LeaseLost { .. })
    ));
    let rest: Vec<_> = store
        .audience_page(SENDER, taken.cursor, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| run_event(fire.id, r.conversation_id, late))
        .collect();
    assert_eq!(rest.len(), 2);
    store
        .schedule_progress(fire.id, "b", audience[2], &rest, late, LEASE)
        .await
        .unwrap();
    store
        .finish_schedule_fire(fire.id, "b", late)
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 3);
}

async fn backlog_counts_unprocessed_events_and_queued_messages(store: DynStore) {
    assert_eq!(store.backlog(SENDER).await.unwrap(), 0);
    let (first, a) = receive(&store, "wamid.1", 1, t(0)).await;
    let (_, b) = receive(&store, "wamid.2", 2, t(1)).await;
    assert_eq!(store.backlog(SENDER).await.unwrap(), 2);

    // A processed event is done.
    assert_eq!(
        store
            .claim_conversations("inbox", t(2), LEASE, 1)
            .await
            .unwrap(),
        vec![a]
    );
    store
        .commit_step(&step(a, first, "inbox", t(2)))
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 1);

    // Queued messages are waiting work; sent and failed ones are not.
    let ids = store
        .enqueue(&[text_to(a, 1, "x"), text_to(b, 2, "y")], t(3))
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 3);
    assert_eq!(claim_ids(&store, "o", t(4), 10).await, ids);
    // Claimed but not yet sent: still queued.
    assert_eq!(store.backlog(SENDER).await.unwrap(), 3);
    store
        .record_outcome(ids[0], "o", &accepted("wamid.out.1"), t(5))
        .await
        .unwrap();
    let failed = SendOutcome::Failed {
        code: Some(131026),
        title: "undeliverable".into(),
        window_closed: false,
    };
    store
        .record_outcome(ids[1], "o", &failed, t(5))
        .await
        .unwrap();
    assert_eq!(store.backlog(SENDER).await.unwrap(), 1);
    assert_eq!(store.backlog(SENDER + 1).await.unwrap(), 0);
}

async fn templates_sent_since_counts_accepted_templates_by_last_change(store: DynStore) {
    let (_, a) = receive(&store, "wamid.1", 1, t(0)).await;
    let (_, b) = receive(&store, "wamid.2", 2, t(0)).await;
    assert_eq!(store.templates_sent_since(SENDER, t(0)).await.unwrap(), 0);

    let ids = store
        .enqueue(
            &[template_to(a, 1), template_to(b, 2), text_to(a, 1, "x")],
            t(1),
        )
        .await
        .unwrap();
    // Queued templates are not sent yet.
    assert_eq!(store.templates_sent_since(SENDER, t(0)).await.unwrap(), 0);
    assert_eq!(claim_ids(&store, "o", t(2), 10).await, ids[..2]);
    store
        .record_outcome(ids[0], "o", &accepted("wamid.out.1"), t(2))
        .await
        .unwrap();
    let failed = SendOutcome::Failed {
        code: Some(132001),
        title: "template does not exist".into(),
        window_closed: false,
    };
    store
        .record_outcome(ids[1], "o", &failed, t(2))
        .await
        .unwrap();
    // The text after the template is accepted too, and is no template.
    assert_eq!(claim_ids(&store, "o", t(3), 10).await, vec![ids[2]]);
    store
        .record_outcome(ids[2], "o", &accepted("wamid.out.3"), t(3))
        .await
        .unwrap();
    assert_eq!(store.templates_sent_since(SENDER, t(0)).await.unwrap(), 1);
    assert_eq!(store.templates_sent_since(SENDER, t(2)).await.unwrap(), 1);
    assert_eq!(store.templates_sent_since(SENDER, t(3)).await.unwrap(), 0);

    // A delivery status moves its last change forward; it still counts once.
    store
        .ingest(&[status("wamid.out.1", DeliveryStatus::Delivered, None, t(9))])
        .await
        .unwrap();
    assert_eq!(store.templates_sent_since(SENDER, t(0)).await.unwrap(), 1);
    assert_eq!(store.templates_sent_since(SENDER, t(9)).await.unwrap(), 1);
    assert_eq!(
        store.templates_sent_since(SENDER + 1, t(0)).await.unwrap(),
        0
    );
}

async fn system_events_are_added_once_per_key_and_make_work(store: DynStore) {
    let a = store
        .ensure_conversation(SENDER, &customer(1), None, t(0))
        .await
        .unwrap()
        .id;
    let b = store
        .ensure_conversation(SENDER, &customer(2), None, t(0))
        .await
        .unwrap()
        .id;
    assert_eq!(
        store
            .claim_conversations("inbox", t(1), LEASE, 10)
            .await
            .unwrap(),
        Vec::<Id>::new()
    );
    let mut keyless = run_event(0, b, t(1));
    keyless.dedupe_key = None;
    let ids = store
        .insert_events(&[run_event(7, a, t(1)), keyless.clone()])
        .await
        .unwrap();
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
    // A re-run: the keyed event is skipped, an event without a key is always added.
    let again = store
        .insert_events(&[run_event(7, a, t(2)), keyless])
        .await
        .unwrap();
    assert_eq!(again[0], None);
    assert!(again[1].is_some() && again[1] != ids[1]);
    assert_eq!(store.backlog(SENDER).await.unwrap(), 3);
    assert_eq!(
        store
            .claim_conversations("inbox", t(3), LEASE, 10)
            .await
            .unwrap(),
        vec![a, b]
    );
    let work = store.load_work(a, 10).await.unwrap();
    assert_eq!(
        work.events.iter().map(|e| Some(e.id)).collect::<Vec<_>>(),
        ids[..1]
    );
}

conformance!(
    system_events_are_added_once_per_key_and_make_work,
    each_fire_is_recorded_once_and_anchors_never_run,
    a_fire_walks_its_audience_in_pages_and_finishes_once,
    an_abandoned_fire_is_taken_over_from_its_cursor,
    backlog_counts_unprocessed_events_and_queued_messages,
    templates_sent_since_counts_accepted_templates_by_last_change,
);
