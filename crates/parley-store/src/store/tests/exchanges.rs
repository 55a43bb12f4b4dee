//! Model exchanges: recorded once per event and call (the first answer wins), read back
//! after a crash, summed into usage; and a lease renewed while a long model call runs.

use super::fixtures::*;
use crate::store::{DynStore, ExchangeKind, ModelExchange, UsageBy};
use serde_json::json;

fn exchange(conversation_id: i64, event_id: i64, seq: i64, text: &str) -> ModelExchange {
    ModelExchange {
        conversation_id,
        event_id,
        seq,
        kind: ExchangeKind::Chat,
        flow: "support".into(),
        step: "step 2 (line 9)".into(),
        model: "assistant".into(),
        request: json!({"system": "s", "messages": [{"role": "user", "text": "hi"}], "max_tokens": 100}),
        answer: Some(json!({ "text": text })),
        error: None,
        input_tokens: 120,
        output_tokens: 30,
        cost_micros: 36,
        latency_ms: 250,
        created_at: t(10 + seq),
    }
}

async fn the_first_recorded_answer_wins_and_is_read_back(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    assert_eq!(store.model_exchange(event, 0).await.unwrap(), None);
    let first = exchange(conversation, event, 0, "Your order ships tomorrow.");
    assert_eq!(store.record_model_exchange(&first).await.unwrap(), None);
    // A second process that called the model too (or a retry) does not replace it, and
    // is given the first answer.
    let second = exchange(conversation, event, 0, "Something else entirely.");
    assert_eq!(
        store.record_model_exchange(&second).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.model_exchange(event, 0).await.unwrap(),
        Some(first.clone())
    );

    let mut failed = exchange(conversation, event, 1, "");
    failed.answer = None;
    failed.error = Some("the model did not answer within 30s".into());
    failed.cost_micros = 0;
    store.record_model_exchange(&failed).await.unwrap();
    let listed = store
        .conversation_exchanges(conversation, 10)
        .await
        .unwrap();
    assert_eq!(listed, vec![failed, first]);
}

async fn usage_sums_by_model_flow_and_conversation(store: DynStore) {
    let (e1, c1) = receive(&store, "wamid.1", 1, t(0)).await;
    let (e2, c2) = receive(&store, "wamid.2", 2, t(0)).await;
    store
        .record_model_exchange(&exchange(c1, e1, 0, "a"))
        .await
        .unwrap();
    store
        .record_model_exchange(&exchange(c1, e1, 1, "b"))
        .await
        .unwrap();
    let mut other = exchange(c2, e2, 0, "c");
    other.model = "cheap".into();
    other.flow = "sales".into();
    other.cost_micros = 1;
    other.error = Some("failed".into());
    store.record_model_exchange(&other).await.unwrap();

    let by_model = store.model_usage(UsageBy::Model, None, 10).await.unwrap();
    assert_eq!(by_model.len(), 2);
    assert_eq!(by_model[0].key, "assistant");
    assert_eq!((by_model[0].calls, by_model[0].failed), (2, 0));
    assert_eq!(
        (
            by_model[0].input_tokens,
            by_model[0].output_tokens,
            by_model[0].cost_micros
        ),
        (240, 60, 72)
    );
    assert_eq!((by_model[1].key.as_str(), by_model[1].failed), ("cheap", 1));
    let by_flow = store.model_usage(UsageBy::Flow, None, 10).await.unwrap();
    assert_eq!(by_flow[1].key, "sales");
    let by_conversation = store
        .model_usage(UsageBy::Conversation, None, 10)
        .await
        .unwrap();
    assert_eq!(by_conversation[0].key, c1.to_string());
    // `since` leaves out what came before it.
    let later = store
        .model_usage(UsageBy::Model, Some(t(11)), 10)
        .await
        .unwrap();
    assert_eq!(later[0].calls, 1);
}

async fn a_lease_is_renewed_only_by_its_owner(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    assert_eq!(
        store
            .claim_conversations("a", t(1), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    assert!(store
        .renew_conversation_lease(conversation, "a", t(100))
        .await
        .unwrap());
    assert!(!store
        .renew_conversation_lease(conversation, "b", t(100))
        .await
        .unwrap());
    // Past the first lease (t(31)) but inside the renewed one, nobody else takes it.
    assert!(store
        .claim_conversations("b", t(60), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_conversations("b", t(101), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
}

conformance!(
    the_first_recorded_answer_wins_and_is_read_back,
    usage_sums_by_model_flow_and_conversation,
    a_lease_is_renewed_only_by_its_owner,
);
