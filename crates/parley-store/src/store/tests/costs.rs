//! The cost ledger: a prediction is written with the message it prices (by `enqueue` and by
//! a step's commit), Meta's `pricing` is recorded with the status that carries it (even a
//! status that arrives out of order), and the reads sum it by flow, step, sender, day and
//! category, leaving out failed and skipped messages.

use super::fixtures::*;
use crate::domain::pricing::{Category, CostPrediction, PricingType, Rates, StatusPricing};
use crate::domain::{DeliveryStatus, StatusUpdate};
use crate::store::{CostGrouping, CostRow, DynStore, IngestItem, NewOutbound, SendOutcome};
use chrono::{DateTime, Utc};

fn rates() -> Rates {
    Rates {
        marketing: 25_000,
        utility: 3_400,
        authentication: 13_500,
        service: 2_000,
    }
}

fn predicted(category: Category, kind: PricingType) -> CostPrediction {
    let rates = rates();
    CostPrediction {
        category,
        pricing_type: kind,
        market: "1".into(),
        currency: "USD".into(),
        price_micros: if kind.billable() {
            rates.of(category)
        } else {
            0
        },
        rates,
    }
}

fn priced(mut m: NewOutbound, flow: &str, step: &str, cost: CostPrediction) -> NewOutbound {
    m.flow = Some(flow.into());
    m.step = Some(step.into());
    m.cost = Some(cost);
    m
}

fn pricing_status(
    provider_id: &str,
    status: DeliveryStatus,
    category: &str,
    kind: &str,
    billable: bool,
    at: DateTime<Utc>,
) -> IngestItem {
    IngestItem::Status {
        sender_id: SENDER,
        status: StatusUpdate {
            provider_message_id: provider_id.into(),
            status,
            timestamp: Some(at),
            recipient: None,
            error: None,
            outbox_id: None,
            pricing: Some(StatusPricing {
                billable: Some(billable),
                pricing_model: Some("PMP".into()),
                category: Some(category.into()),
                kind: Some(kind.into()),
            }),
        },
        received_at: at,
    }
}

fn all() -> (DateTime<Utc>, DateTime<Utc>) {
    (t(-86_400), t(86_400 * 400))
}

async fn the_prediction_is_written_with_the_message_and_the_status_pricing_after(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let service = predicted(Category::Service, PricingType::Regular);
    let id = sent(
        &store,
        priced(text_to(conversation, 1, "hi"), "welcome", "greet", service),
        "wamid.out.1",
        t(1),
    )
    .await;
    let entry = store.cost_entry(id).await.unwrap().expect("a ledger row");
    assert_eq!(entry.predicted_category, "service");
    assert_eq!(entry.predicted_type, "regular");
    assert_eq!(entry.predicted_micros, 2_000);
    assert_eq!(entry.market, "1");
    assert_eq!(entry.actual_billable, None);
    // `delivered` first, then `sent` (out of order: the status is ignored, its pricing is
    // not). Meta says utility here: priced at the utility rate kept with the prediction.
    store
        .ingest(&[pricing_status(
            "wamid.out.1",
            DeliveryStatus::Delivered,
            "UTILITY",
            "regular",
            true,
            t(2),
        )])
        .await
        .unwrap();
    store
        .ingest(&[pricing_status(
            "wamid.out.1",
            DeliveryStatus::Sent,
            "utility",
            "regular",
            true,
            t(3),
        )])
        .await
        .unwrap();
    let entry = store.cost_entry(id).await.unwrap().unwrap();
    assert_eq!(entry.actual_category.as_deref(), Some("utility"));
    assert_eq!(entry.actual_type.as_deref(), Some("regular"));
    assert_eq!(entry.actual_billable, Some(true));
    assert_eq!(entry.pricing_model.as_deref(), Some("PMP"));
    assert_eq!(entry.actual_micros, Some(3_400));
    // A free one costs nothing.
    store
        .ingest(&[pricing_status(
            "wamid.out.1",
            DeliveryStatus::Read,
            "service",
            "free_customer_service",
            false,
            t(4),
        )])
        .await
        .unwrap();
    assert_eq!(
        store.cost_entry(id).await.unwrap().unwrap().actual_micros,
        Some(0)
    );
    // A message queued without a prediction has no row, and its statuses add none.
    let bare = sent(&store, text_to(conversation, 1, "x"), "wamid.out.2", t(5)).await;
    store
        .ingest(&[pricing_status(
            "wamid.out.2",
            DeliveryStatus::Sent,
            "service",
            "regular",
            true,
            t(6),
        )])
        .await
        .unwrap();
    assert_eq!(store.cost_entry(bare).await.unwrap(), None);
}

async fn a_steps_messages_are_priced_in_its_commit(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    store
        .claim_conversations("inbox", t(0), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "inbox", t(1));
    commit.outbound = vec![
        priced(
            text_to(conversation, 1, "a"),
            "welcome",
            "step 1 (line 4)",
            predicted(Category::Service, PricingType::FreeCustomerService),
        ),
        priced(
            text_to(conversation, 1, "b"),
            "welcome",
            "menu",
            predicted(Category::Service, PricingType::Regular),
        ),
    ];
    store.commit_step(&commit).await.unwrap();
    let rows = store
        .costs(CostGrouping::Step, all().0, all().1, 50)
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            CostRow {
                flow: Some("welcome".into()),
                step: Some("menu".into()),
                messages: 1,
                predicted_micros: 2_000,
                ..Default::default()
            },
            CostRow {
                flow: Some("welcome".into()),
                step: Some("step 1 (line 4)".into()),
                messages: 1,
                predicted_micros: 0,
                ..Default::default()
            },
        ]
    );
}

async fn costs_are_summed_by_group_without_failed_messages(store: DynStore) {
    let (_, c1) = receive(&store, "wamid.in.1", 1, t(0)).await;
    let marketing = predicted(Category::Marketing, PricingType::Regular);
    let utility = predicted(Category::Utility, PricingType::Regular);
    let a = sent(
        &store,
        priced(text_to(c1, 1, "a"), "promo", "offer", marketing.clone()),
        "w.a",
        t(10),
    )
    .await;
    sent(
        &store,
        priced(text_to(c1, 1, "b"), "promo", "offer", marketing.clone()),
        "w.b",
        t(86_400 + 10),
    )
    .await;
    sent(
        &store,
        priced(text_to(c1, 1, "c"), "receipts", "send", utility.clone()),
        "w.c",
        t(86_400 + 20),
    )
    .await;
    let mut api = text_to(c1, 1, "d");
    api.cost = Some(utility.clone());
    sent(&store, api, "w.d", t(86_400 + 30)).await;
    // Failed: not counted.
    let ids = store
        .enqueue(
            &[priced(
                text_to(c1, 1, "e"),
                "promo",
                "offer",
                marketing.clone(),
            )],
            t(86_400 + 40),
        )
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "o", t(86_400 + 40), 5).await, ids);
    store
        .record_outcome(
            ids[0],
            "o",
            &SendOutcome::Failed {
                code: Some(131026),
                title: "undeliverable".into(),
                window_closed: false,
            },
            t(86_400 + 41),
        )
        .await
        .unwrap();
    store
        .ingest(&[pricing_status(
            "w.a",
            DeliveryStatus::Sent,
            "marketing",
            "regular",
            true,
            t(11),
        )])
        .await
        .unwrap();
    let (since, until) = all();
    let by_flow = store
        .costs(CostGrouping::Flow, since, until, 50)
        .await
        .unwrap();
    let summary: Vec<(Option<String>, i64, i64, i64, i64)> = by_flow
        .iter()
        .map(|r| {
            (
                r.flow.clone(),
                r.messages,
                r.predicted_micros,
                r.priced,
                r.actual_micros,
            )
        })
        .collect();
    let mut expected = vec![
        (None, 1, 3_400, 0, 0),
        (Some("promo".to_string()), 2, 50_000, 1, 25_000),
        (Some("receipts".to_string()), 1, 3_400, 0, 0),
    ];
    // Where nulls sort is the backend's business.
    expected.sort();
    let mut got = summary;
    got.sort();
    assert_eq!(got, expected);
    let by_day = store
        .costs(CostGrouping::Day, since, until, 50)
        .await
        .unwrap();
    let days: Vec<(Option<String>, i64, i64)> = by_day
        .iter()
        .map(|r| (r.day.clone(), r.messages, r.predicted_micros))
        .collect();
    assert_eq!(
        days,
        vec![
            (Some("2025-03-01".into()), 1, 25_000),
            (Some("2025-03-02".into()), 3, 31_800),
        ]
    );
    let by_sender = store
        .costs(CostGrouping::Sender, since, until, 50)
        .await
        .unwrap();
    assert_eq!(by_sender.len(), 1);
    assert_eq!(
        (by_sender[0].sender_id, by_sender[0].predicted_micros),
        (Some(SENDER), 56_800)
    );
    let by_category = store
        .costs(CostGrouping::Category, since, until, 50)
        .await
        .unwrap();
    let cats: Vec<(Option<String>, i64)> = by_category
        .iter()
        .map(|r| (r.category.clone(), r.predicted_micros))
        .collect();
    assert_eq!(
        cats,
        vec![
            (Some("marketing".into()), 50_000),
            (Some("utility".into()), 6_800)
        ]
    );
    // The period is half-open, and the spend of a sender is the same sums.
    let day_two = store
        .costs(CostGrouping::Flow, t(86_400), until, 50)
        .await
        .unwrap();
    assert_eq!(day_two.iter().map(|r| r.messages).sum::<i64>(), 3);
    assert_eq!(store.predicted_spend(SENDER, None).await.unwrap(), 56_800);
    assert_eq!(
        store
            .predicted_spend(SENDER, Some(t(86_400)))
            .await
            .unwrap(),
        31_800
    );
    assert_eq!(store.predicted_spend(SENDER + 1, None).await.unwrap(), 0);
    // None of these messages belongs to a broadcast: that grouping has no group.
    assert_eq!(
        store.costs_by_broadcast(since, until, 50).await.unwrap(),
        vec![]
    );
    let _ = a;
}

async fn a_late_prediction_replaces_the_first(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.in", 1, t(0)).await;
    let id = sent(
        &store,
        priced(
            text_to(conversation, 1, "a"),
            "f",
            "s",
            predicted(Category::Service, PricingType::FreeCustomerService),
        ),
        "w.1",
        t(1),
    )
    .await;
    store
        .record_prediction(
            id,
            SENDER,
            &predicted(Category::Utility, PricingType::Regular),
            t(2),
        )
        .await
        .unwrap();
    let e = store.cost_entry(id).await.unwrap().unwrap();
    assert_eq!(
        (e.predicted_category.as_str(), e.predicted_micros),
        ("utility", 3_400)
    );
}

conformance!(
    the_prediction_is_written_with_the_message_and_the_status_pricing_after,
    a_steps_messages_are_priced_in_its_commit,
    costs_are_summed_by_group_without_failed_messages,
    a_late_prediction_replaces_the_first,
);
