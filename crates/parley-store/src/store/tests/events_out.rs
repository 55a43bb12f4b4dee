//! Events out, the delivery side: an endpoint's cursor starts at the newest event, fan-out
//! is idempotent, a conversation's events are claimed one after the other in id order (a
//! parked one no longer holds the next back), leases keep two owners apart, outcomes are
//! recorded only by the lease's owner, the log filters and pages, replays requeue.

use super::fixtures::*;
use crate::domain::{Id, NewOutEvent, OutEvent, OutEventKind};
use crate::store::{
    ClaimedDelivery, DeliveryFilter, DeliveryResult, DeliveryState, DynStore, ReplaySelection,
};
use serde_json::json;

fn new_event(kind: OutEventKind, conversation_id: Option<Id>, n: i64) -> NewOutEvent {
    NewOutEvent {
        kind,
        at: t(n),
        conversation_id,
        sender_id: Some(SENDER),
        data: json!({ "n": n }),
    }
}

/// Records `events` and returns them as stored.
async fn record(store: &DynStore, events: &[NewOutEvent]) -> Vec<OutEvent> {
    store.record_events_from_now();
    let before = store.events_after(0, 1000).await.unwrap().len();
    store.record_events(events).await.unwrap();
    let all = store.events_after(0, 1000).await.unwrap();
    all[before..].to_vec()
}

/// Fans out everything past the endpoint's cursor.
async fn fan_out_all(store: &DynStore, endpoint: &str) {
    let cursor = store.event_cursor(endpoint).await.unwrap();
    let events = store.events_after(cursor, 1000).await.unwrap();
    if let Some(last) = events.last() {
        let through = last.id;
        store
            .fan_out(endpoint, &events, through, t(0))
            .await
            .unwrap();
    }
}

async fn claim(store: &DynStore, endpoint: &str, owner: &str, n: i64) -> Vec<ClaimedDelivery> {
    store
        .claim_deliveries(endpoint, owner, t(10), t(70), n)
        .await
        .unwrap()
}

fn ids(c: &[ClaimedDelivery]) -> Vec<i64> {
    c.iter()
        .map(|c| c.event.data["n"].as_i64().unwrap())
        .collect()
}

async fn delivered(store: &DynStore, c: &ClaimedDelivery, owner: &str) -> bool {
    store
        .finish_delivery(
            c.id,
            owner,
            &DeliveryResult::Delivered { status: Some(200) },
            t(11),
        )
        .await
        .unwrap()
}

async fn a_new_endpoint_hears_only_of_new_events_and_fan_out_is_idempotent(store: DynStore) {
    record(
        &store,
        &[new_event(OutEventKind::MessageReceived, Some(1), 1)],
    )
    .await;
    let start = store.event_cursor("crm").await.unwrap();
    assert!(start > 0, "starts at the newest event");
    let new = record(&store, &[new_event(OutEventKind::MessageSent, Some(1), 2)]).await;
    let past = store.events_after(start, 10).await.unwrap();
    assert_eq!(past, new);
    store.fan_out("crm", &past, new[0].id, t(0)).await.unwrap();
    // Twice (two processes): one delivery, the cursor never moves back.
    store.fan_out("crm", &past, new[0].id, t(0)).await.unwrap();
    store.fan_out("crm", &[], start, t(0)).await.unwrap();
    assert_eq!(store.event_cursor("crm").await.unwrap(), new[0].id);
    let log = store
        .deliveries(&DeliveryFilter {
            endpoint: Some("crm".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event_id, new[0].id);
    assert_eq!(log[0].state, DeliveryState::Pending);
    assert_eq!(log[0].kind, OutEventKind::MessageSent);
    assert_eq!(log[0].attempts, 0);
}

async fn a_conversations_events_are_claimed_one_after_the_other(store: DynStore) {
    store.event_cursor("crm").await.unwrap();
    record(
        &store,
        &[
            new_event(OutEventKind::MessageReceived, Some(1), 1),
            new_event(OutEventKind::MessageReceived, Some(2), 2),
            new_event(OutEventKind::MessageSent, Some(1), 3),
            new_event(OutEventKind::BroadcastProgress, None, 4),
            new_event(OutEventKind::BroadcastProgress, None, 5),
            new_event(OutEventKind::MessageSent, Some(2), 6),
        ],
    )
    .await;
    fan_out_all(&store, "crm").await;
    let first = claim(&store, "crm", "a", 10).await;
    // The first of each conversation, and the events of none, all at once.
    assert_eq!(ids(&first), [1, 2, 4, 5]);
    // Leased: another owner gets nothing, and nothing after them.
    assert!(claim(&store, "crm", "b", 10).await.is_empty());
    // Only the lease's owner records an outcome.
    assert!(!delivered(&store, &first[0], "b").await);
    assert!(delivered(&store, &first[0], "a").await);
    assert!(!delivered(&store, &first[0], "a").await, "not twice");
    let third = claim(&store, "crm", "b", 10).await;
    assert_eq!(ids(&third), [3]);
    assert!(delivered(&store, &third[0], "b").await);
    assert!(delivered(&store, &first[2], "a").await);
    assert!(delivered(&store, &first[3], "a").await);
    // A retry in the future holds the conversation back; parked, it no longer does.
    let c2 = &first[1];
    let retry = DeliveryResult::Retry {
        status: Some(503),
        error: "answered 503".into(),
        next_at: t(1000),
    };
    assert!(store
        .finish_delivery(c2.id, "a", &retry, t(11))
        .await
        .unwrap());
    assert!(claim(&store, "crm", "c", 10).await.is_empty());
    let again = store
        .claim_deliveries("crm", "c", t(1000), t(1060), 10)
        .await
        .unwrap();
    assert_eq!(ids(&again), [2]);
    assert_eq!(again[0].attempts, 1);
    let park = DeliveryResult::Park {
        status: Some(410),
        error: "gone".into(),
    };
    assert!(store
        .finish_delivery(again[0].id, "c", &park, t(1001))
        .await
        .unwrap());
    let next = store
        .claim_deliveries("crm", "d", t(1000), t(1060), 10)
        .await
        .unwrap();
    assert_eq!(ids(&next), [6]);
    // Another endpoint has its own deliveries and order.
    assert!(claim(&store, "other", "a", 10).await.is_empty());
}

async fn the_log_filters_and_pages_and_replay_requeues(store: DynStore) {
    store.event_cursor("crm").await.unwrap();
    let events = record(
        &store,
        &[
            new_event(OutEventKind::MessageReceived, Some(1), 1),
            new_event(OutEventKind::ContactOptedOut, Some(2), 2),
            new_event(OutEventKind::MessageReceived, Some(3), 3),
        ],
    )
    .await;
    fan_out_all(&store, "crm").await;
    let claimed = claim(&store, "crm", "a", 10).await;
    assert_eq!(claimed.len(), 3);
    let park = |e: &str| DeliveryResult::Park {
        status: None,
        error: e.into(),
    };
    store
        .finish_delivery(claimed[0].id, "a", &park("x"), t(20))
        .await
        .unwrap();
    store
        .finish_delivery(claimed[1].id, "a", &park("y"), t(20))
        .await
        .unwrap();
    delivered(&store, &claimed[2], "a").await;
    let filter = |f: DeliveryFilter| {
        let store = store.clone();
        async move { store.deliveries(&f).await.unwrap() }
    };
    let all = filter(DeliveryFilter {
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(all.len(), 3);
    assert!(all[0].id > all[1].id, "newest first");
    let parked = filter(DeliveryFilter {
        endpoint: Some("crm".into()),
        state: Some(DeliveryState::Parked),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(parked.len(), 2);
    assert_eq!(parked[0].last_error.as_deref(), Some("y"));
    assert_eq!(parked[0].attempts, 1);
    let opted = filter(DeliveryFilter {
        kind: Some(OutEventKind::ContactOptedOut),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(opted.len(), 1);
    assert_eq!(opted[0].event_id, events[1].id);
    let of_three = filter(DeliveryFilter {
        conversation_id: Some(3),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(of_three[0].state, DeliveryState::Delivered);
    assert!(of_three[0].delivered_at.is_some());
    let page = filter(DeliveryFilter {
        before: Some(all[0].id),
        limit: 1,
        ..Default::default()
    })
    .await;
    assert_eq!(page, vec![all[1].clone()]);
    assert_eq!(
        store.out_event(events[1].id).await.unwrap(),
        Some(events[1].clone())
    );
    assert_eq!(store.out_event(events[2].id + 100).await.unwrap(), None);
    // Parked deliveries of events in a period; another endpoint's name requeues nothing.
    let period = ReplaySelection::Parked {
        since: Some(t(2)),
        until: Some(t(3)),
    };
    assert_eq!(
        store
            .replay_deliveries("other", &period, t(30))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .replay_deliveries("crm", &period, t(30))
            .await
            .unwrap(),
        1
    );
    let requeued = filter(DeliveryFilter {
        state: Some(DeliveryState::Pending),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].event_id, events[1].id);
    assert_eq!(requeued[0].attempts, 0);
    let all_parked = ReplaySelection::Parked {
        since: None,
        until: None,
    };
    assert_eq!(
        store
            .replay_deliveries("crm", &all_parked, t(30))
            .await
            .unwrap(),
        1
    );
    // By id, whatever the state (a delivered one is delivered again).
    let by_id = ReplaySelection::Ids(vec![all[0].id, all[0].id + 1000]);
    assert_eq!(
        store.replay_deliveries("crm", &by_id, t(30)).await.unwrap(),
        1
    );
    let again = store
        .claim_deliveries("crm", "b", t(30), t(90), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
}

conformance!(
    a_new_endpoint_hears_only_of_new_events_and_fan_out_is_idempotent,
    a_conversations_events_are_claimed_one_after_the_other,
    the_log_filters_and_pages_and_replay_requeues,
);
