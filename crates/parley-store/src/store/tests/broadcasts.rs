//! Broadcasts: a page of sends is queued with its recipients' marks, once; the portfolio's
//! messaging limit stops a page and frees itself over the moving 24 hours, shared between
//! broadcasts; the pair rate delays a send after a recent one; pause, resume and cancel
//! follow the states; a lost lease changes nothing; a 131049 copy stays the recipient's;
//! and a reply finds the broadcast's reply flow.

use super::fixtures::*;
use crate::domain::broadcast::{BroadcastAction, BroadcastState, PAIR_GAP};
use crate::domain::{DeliveryStatus, OutboundContent, OutboundMessage};
use crate::store::{
    DynStore, Id, IngestOutcome, NewBroadcast, NewRecipient, PageOutcome, SendOutcome, SendPricing,
    StoreError,
};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use std::time::Duration;

const REPLY: Duration = Duration::from_secs(24 * 3600);

fn new_broadcast(
    portfolio: Option<(&str, i64)>,
    reply_flow: Option<&str>,
    audience: bool,
) -> NewBroadcast {
    NewBroadcast {
        name: "spring sale".into(),
        sender_id: SENDER,
        template_name: "daily_menu".into(),
        template_language: "en".into(),
        category: Some("marketing".into()),
        variables: serde_json::json!({"1": [{"kind": "field", "name": "first_name", "default": null}]}),
        audience: audience.then(|| serde_json::json!({"tags": ["vip"]})),
        frequency_cap_secs: None,
        reply_flow: reply_flow.map(Into::into),
        portfolio: portfolio.map(|(p, _)| p.to_string()),
        messaging_limit: portfolio.map(|(_, n)| n),
        start_at: t(0),
    }
}

/// Conversations for customers `from..to` and their recipient rows (customer 3: skipped).
async fn recipients(store: &DynStore, from: u32, to: u32) -> Vec<NewRecipient> {
    let mut out = Vec::new();
    for n in from..to {
        let conversation = store
            .ensure_conversation(SENDER, &customer(n), None, t(0))
            .await
            .unwrap();
        let message = OutboundMessage {
            to: customer(n),
            content: OutboundContent::Template(template("daily_menu")),
            trace: None,
        };
        out.push(NewRecipient {
            conversation_id: Some(conversation.id),
            contact_id: conversation.contact_id,
            outcome: if n == 3 {
                Err("opted_out".into())
            } else {
                Ok(serde_json::to_string(&message).unwrap())
            },
        });
    }
    out
}

/// `daily_menu` is a marketing template; a number of the fixtures (+1…) costs 0.025 USD.
fn pricing() -> SendPricing {
    let card = crate::domain::pricing::RateCard::parse(
        "test.csv",
        "*,marketing,0.0604,USD,2025-01-01\n*,utility,0.0077,USD,2025-01-01\n\
         *,authentication,0.0077,USD,2025-01-01\n*,service,0,USD,2025-01-01\n\
         1,marketing,0.0250,USD,2025-01-01\n",
    )
    .unwrap();
    SendPricing {
        pricer: std::sync::Arc::new(crate::domain::pricing::Pricer {
            card,
            templates: [(
                "daily_menu".to_string(),
                crate::domain::TemplateCategory::Marketing,
            )]
            .into(),
        }),
        window: crate::domain::WindowPolicy {
            duration: TimeDelta::hours(24),
            safety_margin: TimeDelta::minutes(5),
        },
    }
}

async fn page(
    store: &DynStore,
    id: Id,
    owner: &str,
    limit: i64,
    now: DateTime<Utc>,
) -> PageOutcome {
    store
        .broadcast_queue_page(id, owner, limit, PAIR_GAP, REPLY, now, LEASE, &pricing())
        .await
        .expect("queue a page")
}

async fn counts(
    store: &DynStore,
    id: Id,
) -> Vec<(String, Option<String>, Option<String>, bool, i64)> {
    let mut rows: Vec<_> = store
        .broadcast_counts(id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.state, c.reason, c.status, c.deferred, c.count))
        .collect();
    rows.sort();
    rows
}

fn row(
    state: &str,
    reason: Option<&str>,
    status: Option<&str>,
    deferred: bool,
    n: i64,
) -> (String, Option<String>, Option<String>, bool, i64) {
    (
        state.into(),
        reason.map(Into::into),
        status.map(Into::into),
        deferred,
        n,
    )
}

async fn a_page_queues_sends_with_their_recipients_once_and_finishes(store: DynStore) {
    let list = recipients(&store, 1, 6).await;
    let id = store
        .create_broadcast(&new_broadcast(None, None, false), &list, t(0))
        .await
        .unwrap();
    let b = store.broadcast(id).await.unwrap().unwrap();
    assert!(b.prepared);
    assert_eq!(b.state, BroadcastState::Sending);
    assert_eq!(
        store
            .claim_broadcast("a", t(1), LEASE)
            .await
            .unwrap()
            .map(|b| b.id),
        Some(id)
    );
    assert_eq!(
        store.claim_broadcast("b", t(1), LEASE).await.unwrap(),
        None,
        "one runner at a time"
    );
    assert_eq!(page(&store, id, "a", 2, t(1)).await, PageOutcome::Queued(2));
    // Each customer queued is stamped as reached, for later frequency caps; the others not.
    let reached = |n: usize| {
        let store = store.clone();
        let contact = list[n].contact_id;
        async move {
            store
                .contact(contact)
                .await
                .unwrap()
                .unwrap()
                .attributes
                .get("last_reengaged_at")
                .cloned()
        }
    };
    assert_eq!(reached(0).await, Some(serde_json::json!(t(1).to_rfc3339())));
    assert_eq!(reached(3).await, None);
    assert_eq!(
        counts(&store, id).await,
        vec![
            row("pending", None, None, false, 2),
            row("queued", None, Some("queued"), false, 2),
            row("skipped", Some("opted_out"), None, false, 1),
        ]
    );
    assert_eq!(
        page(&store, id, "a", 10, t(1)).await,
        PageOutcome::Queued(2)
    );
    assert_eq!(page(&store, id, "a", 10, t(1)).await, PageOutcome::Finished);
    assert_eq!(
        store.broadcast(id).await.unwrap().unwrap().state,
        BroadcastState::Done
    );
    assert_eq!(store.claim_broadcast("a", t(2), LEASE).await.unwrap(), None);
    // Every queued recipient has exactly one send, and the send names its recipient.
    let rows = store.broadcast_recipients(id, 0, 100).await.unwrap();
    assert_eq!(rows.len(), 5);
    let mut sends = Vec::new();
    for r in rows.iter().filter(|r| r.state == "queued") {
        let o = store
            .outbound(r.outbound_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.conversation_id, r.conversation_id);
        assert_eq!(o.origin, crate::store::Origin::Broadcast);
        sends.push(o.id);
    }
    sends.sort();
    sends.dedup();
    assert_eq!(sends.len(), 4);
    assert_eq!(claim_ids(&store, "outbox", t(2), 100).await.len(), 4);
}

async fn the_portfolio_limit_stops_a_page_and_frees_after_24_hours(store: DynStore) {
    // Customer 1 wrote an hour ago: inside a window, not counted.
    receive(&store, "wamid.in.1", 1, t(0) - TimeDelta::hours(1)).await;
    let list = recipients(&store, 1, 7).await; // 5 sendable (3 is skipped)
    let id = store
        .create_broadcast(&new_broadcast(Some(("main", 2)), None, false), &list, t(0))
        .await
        .unwrap();
    let other = store
        .create_broadcast(
            &new_broadcast(Some(("main", 2)), None, false),
            &recipients(&store, 20, 22).await,
            t(0),
        )
        .await
        .unwrap();
    store
        .claim_broadcast("a", t(0), LEASE)
        .await
        .unwrap()
        .unwrap();
    match page(&store, id, "a", 10, t(0)).await {
        PageOutcome::LimitReached { until, queued } => {
            // 1 (open window) + 2 within the limit.
            assert_eq!(queued, 3);
            assert!(until > t(0) + TimeDelta::hours(24) && until < t(1) + TimeDelta::hours(24));
        }
        other => panic!("expected the limit, got {other:?}"),
    }
    assert_eq!(
        store
            .portfolio_reached("main", t(0) - TimeDelta::hours(24))
            .await
            .unwrap(),
        2
    );
    let b = store.broadcast(id).await.unwrap().unwrap();
    assert!(b.wait_reason.unwrap().contains("messaging limit of 2"));
    // The other broadcast of the portfolio has no capacity either.
    let claimed = store
        .claim_broadcast("b", t(60), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, other);
    assert!(matches!(
        page(&store, other, "b", 10, t(60)).await,
        PageOutcome::LimitReached { queued: 0, .. }
    ));
    // Nothing is due before the moving 24 hours free capacity.
    assert_eq!(
        store.claim_broadcast("a", t(3600), LEASE).await.unwrap(),
        None
    );
    let later = t(1) + TimeDelta::hours(24);
    assert_eq!(
        store
            .claim_broadcast("a", later, LEASE)
            .await
            .unwrap()
            .map(|b| b.id),
        Some(id)
    );
    // The last two fit in the freed capacity.
    assert_eq!(
        page(&store, id, "a", 10, later).await,
        PageOutcome::Queued(2)
    );
    assert_eq!(
        counts(&store, id).await,
        vec![
            row("queued", None, Some("queued"), false, 5),
            row("skipped", Some("opted_out"), None, false, 1),
        ]
    );
}

async fn a_send_waits_for_the_pair_rate_after_a_recent_one(store: DynStore) {
    let list = recipients(&store, 1, 2).await;
    let conversation = list[0].conversation_id.unwrap();
    sent(
        &store,
        text_to(conversation, 1, "hello"),
        "wamid.out.1",
        t(0),
    )
    .await;
    let id = store
        .create_broadcast(&new_broadcast(None, None, false), &list, t(0))
        .await
        .unwrap();
    store
        .claim_broadcast("a", t(1), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        page(&store, id, "a", 10, t(1)).await,
        PageOutcome::Queued(1)
    );
    assert!(claim_ids(&store, "outbox", t(5), 10).await.is_empty());
    assert_eq!(claim_ids(&store, "outbox", t(6), 10).await.len(), 1);
}

/// Two broadcasts to one customer, queued one right after the other: the second waits the
/// pair rate after the first's time to leave, not after its (not yet) sending.
async fn a_send_waits_for_the_pair_rate_after_one_still_queued(store: DynStore) {
    let list = recipients(&store, 1, 2).await;
    for _ in 0..2 {
        let id = store
            .create_broadcast(&new_broadcast(None, None, false), &list, t(0))
            .await
            .unwrap();
        let claimed = store.claim_broadcast("a", t(1), LEASE).await.unwrap();
        assert_eq!(claimed.map(|b| b.id), Some(id));
        assert_eq!(
            page(&store, id, "a", 10, t(1)).await,
            PageOutcome::Queued(1)
        );
        assert_eq!(page(&store, id, "a", 10, t(1)).await, PageOutcome::Finished);
        store.release_broadcast(id, "a").await.unwrap();
    }
    // The first leaves at once, the second only the pair gap (6 s) after it.
    let first = claim_ids(&store, "outbox", t(1), 10).await;
    assert_eq!(first.len(), 1);
    let accepted = crate::store::SendOutcome::Accepted {
        provider_message_id: "wamid.first".into(),
        converted_to: None,
    };
    store
        .record_outcome(first[0], "outbox", &accepted, t(1))
        .await
        .unwrap();
    assert!(claim_ids(&store, "outbox", t(6), 10).await.is_empty());
    assert_eq!(claim_ids(&store, "outbox", t(7), 10).await.len(), 1);
}

async fn pause_resume_and_cancel_follow_the_states(store: DynStore) {
    let list = recipients(&store, 1, 5).await;
    let id = store
        .create_broadcast(&new_broadcast(None, None, false), &list, t(0))
        .await
        .unwrap();
    store
        .claim_broadcast("a", t(0), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page(&store, id, "a", 2, t(0)).await, PageOutcome::Queued(2));
    let act = |a| {
        let store = store.clone();
        async move { store.broadcast_action(id, a, t(1)).await.unwrap().unwrap() }
    };
    assert_eq!(
        act(BroadcastAction::Pause).await,
        Ok(BroadcastState::Paused)
    );
    assert!(act(BroadcastAction::Pause).await.is_err());
    assert_eq!(page(&store, id, "a", 2, t(1)).await, PageOutcome::Stopped);
    assert!(!store.renew_broadcast(id, "a", t(1), LEASE).await.unwrap());
    store.release_broadcast(id, "a").await.unwrap();
    assert_eq!(store.claim_broadcast("a", t(2), LEASE).await.unwrap(), None);
    assert_eq!(
        act(BroadcastAction::Resume).await,
        Ok(BroadcastState::Sending)
    );
    assert!(store
        .claim_broadcast("a", t(2), LEASE)
        .await
        .unwrap()
        .is_some());
    // Cancelling drops the sends still queued and not in flight.
    let in_flight = claim_ids(&store, "outbox", t(2), 1).await;
    assert_eq!(in_flight.len(), 1);
    assert_eq!(store.broadcast_send_stop(in_flight[0]).await.unwrap(), None);
    assert_eq!(
        act(BroadcastAction::Cancel).await,
        Ok(BroadcastState::Cancelled)
    );
    // The send in flight is told so as it leaves.
    assert_eq!(
        store
            .broadcast_send_stop(in_flight[0])
            .await
            .unwrap()
            .as_deref(),
        Some("the broadcast was cancelled")
    );
    assert!(act(BroadcastAction::Resume).await.is_err());
    assert_eq!(page(&store, id, "a", 2, t(3)).await, PageOutcome::Stopped);
    let mut rows = counts(&store, id).await;
    rows.retain(|r| r.0 == "queued");
    assert_eq!(
        rows,
        vec![
            row("queued", None, Some("queued"), false, 1),
            row("queued", None, Some("skipped"), false, 1),
        ]
    );
    assert_eq!(
        store
            .broadcast_action(9_999_999, BroadcastAction::Pause, t(3))
            .await
            .unwrap(),
        None
    );
}

async fn a_broadcast_whose_lease_was_taken_over_changes_nothing(store: DynStore) {
    let list = recipients(&store, 1, 4).await;
    let id = store
        .create_broadcast(&new_broadcast(None, None, false), &list, t(0))
        .await
        .unwrap();
    store
        .claim_broadcast("a", t(0), LEASE)
        .await
        .unwrap()
        .unwrap();
    let after = t(0) + TimeDelta::seconds(LEASE.as_secs() as i64 + 1);
    assert!(store
        .claim_broadcast("b", after, LEASE)
        .await
        .unwrap()
        .is_some());
    assert!(matches!(
        store
            .broadcast_queue_page(id, "a", 10, PAIR_GAP, REPLY, after, LEASE, &pricing())
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(claim_ids(&store, "outbox", after, 10).await.is_empty());
    assert_eq!(
        page(&store, id, "b", 10, after).await,
        PageOutcome::Queued(2)
    );
}

async fn an_audience_is_prepared_in_pages_once_per_contact(store: DynStore) {
    let mut list = recipients(&store, 1, 5).await;
    // A contact's conversation with the sender is found (or created) with its recipient.
    let known = list[0].conversation_id.take();
    let id = store
        .create_broadcast(&new_broadcast(None, None, true), &[], t(0))
        .await
        .unwrap();
    let b = store
        .claim_broadcast("a", t(0), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(!b.prepared);
    store
        .broadcast_prepare(id, "a", list[1].contact_id, &list[..2], false, t(0), LEASE)
        .await
        .unwrap();
    // A page read again after a crash adds nobody twice.
    store
        .broadcast_prepare(id, "a", list[3].contact_id, &list[..4], true, t(0), LEASE)
        .await
        .unwrap();
    let b = store.broadcast(id).await.unwrap().unwrap();
    assert!(b.prepared);
    assert_eq!(b.cursor, list[3].contact_id);
    let rows = store.broadcast_recipients(id, 0, 100).await.unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(Some(rows[0].conversation_id), known);
    assert!(matches!(
        store
            .broadcast_prepare(id, "b", 0, &list, true, t(0), LEASE)
            .await,
        Err(StoreError::LeaseLost { .. })
    ));
}

/// A broadcast of `new` to one recipient (of `list`), its page queued and its send
/// accepted by the provider as `wamid`. Returns the broadcast's id.
async fn one_send_accepted(
    store: &DynStore,
    new: &NewBroadcast,
    list: &[NewRecipient],
    wamid: &str,
) -> Id {
    let id = store.create_broadcast(new, list, t(0)).await.unwrap();
    store
        .claim_broadcast("a", t(0), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page(store, id, "a", 10, t(0)).await, PageOutcome::Queued(1));
    let claimed = claim_ids(store, "outbox", t(0), 10).await;
    let accepted = SendOutcome::Accepted {
        provider_message_id: wamid.into(),
        converted_to: None,
    };
    store
        .record_outcome(claimed[0], "outbox", &accepted, t(0))
        .await
        .unwrap();
    id
}

async fn a_held_back_send_stays_the_recipients_and_a_reply_finds_the_reply_flow(store: DynStore) {
    let list = recipients(&store, 1, 2).await;
    let conversation = list[0].conversation_id.unwrap();
    let offer = new_broadcast(None, Some("offer_reply"), false);
    let id = one_send_accepted(&store, &offer, &list, "wamid.b.1").await;
    // The customer answers: the conversation's work names the reply flow.
    let (_, conv) = receive(&store, "wamid.in.b", 1, t(30)).await;
    assert_eq!(conv, conversation);
    let work = store.load_work(conversation, 10).await.unwrap();
    let reply = work.broadcast_reply.expect("the broadcast's reply flow");
    assert_eq!(reply.flow, "offer_reply");
    assert_eq!(reply.until, t(0) + TimeDelta::hours(24));
    // WhatsApp holds the message back (131049): the copy for its day is the recipient's.
    let out = store
        .ingest(&[status(
            "wamid.b.1",
            DeliveryStatus::Failed,
            Some(131049),
            t(60),
        )])
        .await
        .unwrap();
    assert!(matches!(out[0], IngestOutcome::StatusApplied { .. }));
    assert_eq!(
        counts(&store, id).await,
        vec![row("queued", None, Some("failed"), true, 1)]
    );
    assert_eq!(
        store.release_deferred(t(3600)).await.unwrap(),
        0,
        "not the same day"
    );
    assert_eq!(
        store
            .release_deferred(t(60) + TimeDelta::hours(24))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        counts(&store, id).await,
        vec![row("queued", None, Some("queued"), false, 1)]
    );
}

/// A broadcast whose every message has gone (`done`) can still be cancelled while a copy
/// WhatsApp held back (131049) waits for its day: cancelling drops the copy.
async fn a_done_broadcast_with_a_held_back_copy_can_be_cancelled(store: DynStore) {
    let list = recipients(&store, 1, 2).await;
    let plain = new_broadcast(None, None, false);
    let id = one_send_accepted(&store, &plain, &list, "wamid.c.1").await;
    assert_eq!(page(&store, id, "a", 10, t(1)).await, PageOutcome::Finished);
    store
        .ingest(&[status(
            "wamid.c.1",
            DeliveryStatus::Failed,
            Some(131049),
            t(60),
        )])
        .await
        .unwrap();
    assert_eq!(
        store
            .broadcast_action(id, BroadcastAction::Cancel, t(62))
            .await
            .unwrap(),
        Some(Ok(BroadcastState::Cancelled))
    );
    assert_eq!(
        store
            .release_deferred(t(60) + TimeDelta::hours(24))
            .await
            .unwrap(),
        0,
        "the held-back copy went with the cancel"
    );
}

/// Each send a page queues has its cost prediction in the ledger, written with it, so the
/// costs by broadcast add up to what its sends are predicted to cost.
async fn each_queued_send_is_priced_with_it(store: DynStore) {
    let list = recipients(&store, 1, 5).await;
    let id = store
        .create_broadcast(&new_broadcast(None, None, false), &list, t(0))
        .await
        .unwrap();
    store
        .claim_broadcast("a", t(1), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        page(&store, id, "a", 10, t(1)).await,
        PageOutcome::Queued(3)
    );
    let rows = store.broadcast_recipients(id, 0, 10).await.unwrap();
    let sends: Vec<Id> = rows.iter().filter_map(|r| r.outbound_id).collect();
    assert_eq!(sends.len(), 3);
    for outbound in sends {
        let cost = store.cost_entry(outbound).await.unwrap().expect("priced");
        assert_eq!(
            (
                cost.predicted_category.as_str(),
                cost.predicted_type.as_str(),
                cost.predicted_micros,
                cost.market.as_str(),
                cost.currency.as_str()
            ),
            ("marketing", "regular", 25_000, "1", "USD")
        );
    }
    let by = store.costs_by_broadcast(t(0), t(60), 10).await.unwrap();
    assert_eq!(by.len(), 1, "{by:?}");
    assert_eq!(
        (by[0].broadcast_id, by[0].messages, by[0].predicted_micros),
        (Some(id), 3, 75_000)
    );
}

conformance!(
    each_queued_send_is_priced_with_it,
    a_page_queues_sends_with_their_recipients_once_and_finishes,
    the_portfolio_limit_stops_a_page_and_frees_after_24_hours,
    a_send_waits_for_the_pair_rate_after_a_recent_one,
    a_send_waits_for_the_pair_rate_after_one_still_queued,
    pause_resume_and_cancel_follow_the_states,
    a_broadcast_whose_lease_was_taken_over_changes_nothing,
    an_audience_is_prepared_in_pages_once_per_contact,
    a_held_back_send_stays_the_recipients_and_a_reply_finds_the_reply_flow,
    a_done_broadcast_with_a_held_back_copy_can_be_cancelled,
);
