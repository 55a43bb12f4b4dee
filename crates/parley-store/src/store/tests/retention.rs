//! The `Retention` conformance tests: history past its period is read oldest first in
//! batches with the same JSON on both backends, then deleted (or emptied, for the rows the
//! counters read), never what a waiting run needs; messages come back by restore, once;
//! one process at a time holds the archiver's lease.

use super::fixtures::*;
use crate::domain::pricing::Category;
use crate::domain::OutboundContent;
use crate::store::{
    AuditVia, CostGrouping, DynStore, ExchangeKind, HistoryKind, ModelExchange, NewAuditEntry,
    UsageBy, ARCHIVED_TEXT,
};
use serde_json::json;

fn all() -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    (t(-86_400), t(86_400 * 400))
}

/// Processes `event` of `conversation` (a step with `outbound`) at `t(at)`.
async fn process(
    store: &DynStore,
    conversation: i64,
    event: i64,
    at: i64,
    outbound: Vec<crate::store::NewOutbound>,
) {
    store
        .claim_conversations("inbox", t(at), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "inbox", t(at));
    commit.outbound = outbound;
    commit.release = true;
    store.commit_step(&commit).await.unwrap();
}

async fn old_processed_messages_go_and_waiting_or_newer_ones_stay(store: DynStore) {
    let (old, conversation) = receive(&store, "wamid.old", 1, t(0)).await;
    process(&store, conversation, old, 1, vec![]).await;
    let (waiting, _) = receive(&store, "wamid.waiting", 2, t(5)).await;
    let (newer, _) = receive(&store, "wamid.newer", 1, t(10_000)).await;
    process(&store, conversation, newer, 10_001, vec![]).await;

    let batch = store
        .history_batch(HistoryKind::InboundMessages, t(5_000), 0, 10)
        .await
        .unwrap();
    assert_eq!(batch.len(), 1, "{batch:?}");
    let row = &batch[0];
    assert_eq!(row.id, old);
    assert_eq!(row.at, t(0));
    assert_eq!(row.contact.as_deref(), Some("+16315550001"));
    assert_eq!(row.row["provider_message_id"], "wamid.old");
    assert_eq!(row.row["kind"], "message");
    assert_eq!(row.row["conversation_id"], conversation);
    assert_eq!(row.row["received_at"], t(0).timestamp_micros());
    assert!(row.row["payload"].is_object(), "{}", row.row);
    // Past the last id read, nothing more.
    assert!(store
        .history_batch(HistoryKind::InboundMessages, t(5_000), old, 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        store
            .remove_history(
                HistoryKind::InboundMessages,
                t(5_000),
                vec![old, waiting, newer]
            )
            .await
            .unwrap(),
        1,
        "only the old processed message goes, even when asked for the others"
    );
    let left: Vec<i64> = store
        .conversation_inbound(conversation, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec![newer]);
    assert!(store
        .history_batch(HistoryKind::InboundMessages, t(5_000), 0, 10)
        .await
        .unwrap()
        .is_empty());

    // Restored once, and only once.
    let rows = vec![row.row.clone()];
    assert_eq!(
        store
            .restore_history(HistoryKind::InboundMessages, rows.clone())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .restore_history(HistoryKind::InboundMessages, rows)
            .await
            .unwrap(),
        0
    );
    let back = store
        .conversation_inbound(conversation, None, 10)
        .await
        .unwrap();
    assert_eq!(
        back.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![newer, old]
    );
    assert_eq!(
        store
            .history_batch(HistoryKind::InboundMessages, t(5_000), 0, 10)
            .await
            .unwrap(),
        batch,
        "the restored row reads back the same"
    );
}

async fn a_sent_message_keeps_its_counted_row_and_its_content_comes_back(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let mut priced = text_to(conversation, 1, "Your order ships tomorrow.");
    priced.flow = Some("orders".into());
    priced.step = Some("answer".into());
    priced.cost = Some(predicted(Category::Utility, 3_400));
    process(&store, conversation, event, 1, vec![priced]).await;
    let queued = store
        .enqueue(&[text_to(conversation, 1, "still waiting")], t(2))
        .await
        .unwrap()[0];
    let claimed = store
        .claim_outbound("outbox", t(3), LEASE, IN_DOUBT, 1)
        .await
        .unwrap();
    let sent_id = claimed[0].id;
    assert_ne!(sent_id, queued);
    store
        .record_outcome(
            sent_id,
            "outbox",
            &crate::store::SendOutcome::Accepted {
                provider_message_id: "wamid.out".into(),
                converted_to: None,
            },
            t(3),
        )
        .await
        .unwrap();
    let costs = store
        .costs(CostGrouping::Step, all().0, all().1, 50)
        .await
        .unwrap();
    let deliveries = store.step_deliveries(all().0, all().1, None).await.unwrap();

    let batch = store
        .history_batch(HistoryKind::OutboundMessages, t(5_000), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        batch.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![sent_id],
        "a queued send is never archived"
    );
    let row = batch[0].row.clone();
    assert_eq!(row["status"], "accepted");
    assert_eq!(row["flow"], "orders");
    assert_eq!(row["window_closed"], false);
    assert_eq!(
        row["payload"]["content"]["body"],
        "Your order ships tomorrow."
    );
    assert_eq!(batch[0].contact.as_deref(), Some("+16315550001"));
    assert_eq!(
        store
            .remove_history(
                HistoryKind::OutboundMessages,
                t(5_000),
                vec![sent_id, queued]
            )
            .await
            .unwrap(),
        1
    );
    // The row stays for the counters, its content in the archive only.
    let kept = store.outbound(sent_id).await.unwrap().unwrap();
    assert_eq!(
        kept.message.content,
        OutboundContent::Text {
            body: ARCHIVED_TEXT.into(),
            preview_url: false
        }
    );
    assert_eq!(
        store
            .costs(CostGrouping::Step, all().0, all().1, 50)
            .await
            .unwrap(),
        costs
    );
    assert_eq!(
        store.step_deliveries(all().0, all().1, None).await.unwrap(),
        deliveries
    );
    assert!(store
        .history_batch(HistoryKind::OutboundMessages, t(5_000), 0, 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        store
            .restore_history(HistoryKind::OutboundMessages, vec![row.clone()])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .restore_history(HistoryKind::OutboundMessages, vec![row])
            .await
            .unwrap(),
        0
    );
    let back = store.outbound(sent_id).await.unwrap().unwrap();
    assert_eq!(
        back.message.content,
        OutboundContent::Text {
            body: "Your order ships tomorrow.".into(),
            preview_url: false
        }
    );
    let e = store
        .restore_history(HistoryKind::Audit, vec![json!({})])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("restore puts back"), "{e}");
}

fn exchange(conversation_id: i64, event_id: i64, at: i64) -> ModelExchange {
    ModelExchange {
        conversation_id,
        event_id,
        seq: 0,
        kind: ExchangeKind::Chat,
        flow: "support".into(),
        step: "agent".into(),
        model: "assistant".into(),
        request: json!({"messages": [{"role": "user", "text": "where is my order?"}]}),
        answer: Some(json!({ "text": "It ships tomorrow." })),
        error: None,
        input_tokens: 120,
        output_tokens: 30,
        cost_micros: 36,
        latency_ms: 250,
        created_at: t(at),
    }
}

async fn model_exchanges_keep_their_usage_and_a_waiting_events_stays(store: DynStore) {
    let (done, c1) = receive(&store, "wamid.1", 1, t(0)).await;
    let (waiting, c2) = receive(&store, "wamid.2", 2, t(0)).await;
    store
        .record_model_exchange(&exchange(c1, done, 1))
        .await
        .unwrap();
    store
        .record_model_exchange(&exchange(c2, waiting, 1))
        .await
        .unwrap();
    process(&store, c1, done, 2, vec![]).await;
    let usage = store.model_usage(UsageBy::Model, None, 10).await.unwrap();

    let batch = store
        .history_batch(HistoryKind::ModelExchanges, t(5_000), 0, 10)
        .await
        .unwrap();
    assert_eq!(
        batch.len(),
        1,
        "the waiting event's exchange stays: {batch:?}"
    );
    assert_eq!(batch[0].row["event_id"], done);
    assert_eq!(batch[0].row["answer"]["text"], "It ships tomorrow.");
    let id = batch[0].id;
    assert_eq!(
        store
            .remove_history(HistoryKind::ModelExchanges, t(5_000), vec![id])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.model_usage(UsageBy::Model, None, 10).await.unwrap(),
        usage
    );
    let kept = store.model_exchange(done, 0).await.unwrap().unwrap();
    assert_eq!(kept.answer, None);
    assert_eq!(kept.cost_micros, 36);
    assert_eq!(
        store.model_exchange(waiting, 0).await.unwrap(),
        Some(exchange(c2, waiting, 1))
    );
}

async fn timer_fires_and_the_audit_log_go_by_their_own_kind(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    process(&store, conversation, event, 1, vec![]).await;
    for at in [1_000, 2_000, 3_000_000] {
        let mut entry = NewAuditEntry::new(at, "crm", AuditVia::Api, "contacts.update");
        entry.target = Some("+16315550001".into());
        store.append_audit(&entry).await.unwrap();
    }
    // Audit times are milliseconds.
    let cutoff = chrono::DateTime::from_timestamp_millis(2_500).unwrap();
    let batch = store
        .history_batch(HistoryKind::Audit, cutoff, 0, 1)
        .await
        .unwrap();
    assert_eq!(batch.len(), 1);
    assert_eq!(batch[0].row["at"], 1_000);
    assert_eq!(batch[0].row["action"], "contacts.update");
    assert_eq!(batch[0].contact, None);
    let next = store
        .history_batch(HistoryKind::Audit, cutoff, batch[0].id, 10)
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        store
            .remove_history(
                HistoryKind::Audit,
                cutoff,
                vec![batch[0].id, next[0].id, next[0].id + 1]
            )
            .await
            .unwrap(),
        2
    );
    // A message is not a timer fire.
    assert!(store
        .history_batch(HistoryKind::TimerEvents, t(5_000), 0, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.reclaim_space(100).await.unwrap() >= 0);
    // Nothing of the audit log's months before the cutoff is left to drop but empty ones.
    assert_eq!(
        store
            .retire_months(HistoryKind::Audit, cutoff)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .retire_months(HistoryKind::InboundMessages, t(5_000))
            .await
            .unwrap(),
        0
    );
}

fn out_event(conversation: i64, n: i64) -> crate::domain::NewOutEvent {
    crate::domain::NewOutEvent {
        kind: crate::domain::OutEventKind::MessageReceived,
        at: t(n),
        conversation_id: Some(conversation),
        sender_id: Some(SENDER),
        data: json!({ "n": n }),
    }
}

async fn events_go_once_every_endpoint_has_them_and_deliveries_once_done(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store.record_events_from_now();
    store
        .record_events(&[out_event(conversation, 1), out_event(conversation, 2)])
        .await
        .unwrap();
    // The endpoint starts at the newest event, then hears of two more.
    let cursor = store.event_cursor("crm").await.unwrap();
    store
        .record_events(&[out_event(conversation, 3), out_event(conversation, 4)])
        .await
        .unwrap();
    let new = store.events_after(cursor, 10).await.unwrap();
    store.fan_out("crm", &new, new[1].id, t(5)).await.unwrap();
    let claimed = store
        .claim_deliveries("crm", "o", t(10), t(70), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "one at a time per conversation");
    assert!(store
        .finish_delivery(
            claimed[0].id,
            "o",
            &crate::store::DeliveryResult::Delivered { status: Some(200) },
            t(11),
        )
        .await
        .unwrap());

    let events = store
        .history_batch(HistoryKind::EventsOut, t(5_000), 0, 10)
        .await
        .unwrap();
    let ns: Vec<_> = events.iter().map(|e| e.row["data"]["n"].clone()).collect();
    assert_eq!(
        ns,
        vec![json!(1), json!(2), json!(3)],
        "the pending one stays"
    );
    assert_eq!(events[0].row["kind"], "message.received");
    assert_eq!(events[0].contact.as_deref(), Some("+16315550001"));
    let deliveries = store
        .history_batch(HistoryKind::EventDeliveries, t(5_000), 0, 10)
        .await
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].row["state"], "delivered");
    assert_eq!(deliveries[0].row["last_status"], 200);
    let ids = |rows: &[crate::store::HistoryRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    let all_events: Vec<_> = store
        .events_after(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(
        store
            .remove_history(HistoryKind::EventsOut, t(5_000), all_events)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .remove_history(HistoryKind::EventDeliveries, t(5_000), ids(&deliveries))
            .await
            .unwrap(),
        1
    );
    let left = store.events_after(0, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].data["n"], 4);
    let pending = store
        .claim_deliveries("crm", "o", t(20), t(80), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "the pending delivery is still there");
}

async fn one_process_at_a_time_holds_the_archivers_lease(store: DynStore) {
    assert!(store.retention_lease("a", t(0), t(60)).await.unwrap());
    assert!(!store.retention_lease("b", t(10), t(70)).await.unwrap());
    assert!(store.retention_lease("a", t(50), t(110)).await.unwrap());
    assert!(!store.retention_lease("b", t(100), t(160)).await.unwrap());
    assert!(store.retention_lease("b", t(110), t(170)).await.unwrap());
    assert!(!store.retention_lease("a", t(120), t(180)).await.unwrap());
}

conformance!(
    old_processed_messages_go_and_waiting_or_newer_ones_stay,
    a_sent_message_keeps_its_counted_row_and_its_content_comes_back,
    model_exchanges_keep_their_usage_and_a_waiting_events_stays,
    timer_fires_and_the_audit_log_go_by_their_own_kind,
    one_process_at_a_time_holds_the_archivers_lease,
    events_go_once_every_endpoint_has_them_and_deliveries_once_done,
);
