//! `Unanswered` (issue 59) on both backends: questions are counted with the step that asked
//! them (once, even when the event is committed again), one row per flow, step and question
//! as normalized with its first wording; read per flow over a period, the most asked first;
//! at most `MAX_UNANSWERED_PER_FLOW` questions per flow, beyond which only counts grow.

use super::fixtures::*;
use crate::domain::insight::UnansweredQuestion;
use crate::store::{DynStore, StoreError, MAX_UNANSWERED_PER_FLOW};

fn question(flow: &str, text: &str, best: f64) -> UnansweredQuestion {
    UnansweredQuestion {
        flow: flow.into(),
        step: "chat".into(),
        question: text.into(),
        best_score: best,
    }
}

/// Commits one event of a new conversation at `at` with `questions`; the commit is returned
/// to be tried again.
async fn commit(
    store: &DynStore,
    n: u32,
    at: i64,
    questions: Vec<UnansweredQuestion>,
) -> crate::store::StepCommit {
    let (event, conversation) = receive(store, &format!("wamid.{n}"), n, t(at)).await;
    store
        .claim_conversations("a", t(at), LEASE, 10)
        .await
        .unwrap();
    let mut c = step(conversation, event, "a", t(at + 1));
    c.insights.unanswered = questions;
    store.commit_step(&c).await.unwrap();
    c
}

async fn questions_are_counted_once_per_asking_and_read_most_asked_first(store: DynStore) {
    let again = commit(
        &store,
        1,
        0,
        vec![
            question("support", "Do you sell gift cards?", 0.4),
            question("billing", "Can I pay in bitcoin", 0.0),
        ],
    )
    .await;
    // A replay of the event is refused whole: nothing is counted twice.
    let refused = store.commit_step(&again).await;
    assert!(
        matches!(refused, Err(StoreError::NotFound { .. })),
        "{refused:?}"
    );

    commit(
        &store,
        2,
        100,
        vec![question("support", "do you sell GIFT cards", 0.9)],
    )
    .await;
    commit(
        &store,
        3,
        200,
        vec![question("support", "Do you have a shop in Lisbon?", 0.2)],
    )
    .await;

    let all = store.unanswered(t(0), t(1_000), None, 10).await.unwrap();
    let seen: Vec<(&str, &str, i64)> = all
        .iter()
        .map(|r| (r.flow.as_str(), r.question.as_str(), r.n))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("billing", "Can I pay in bitcoin", 1),
            ("support", "Do you sell gift cards?", 2),
            ("support", "Do you have a shop in Lisbon?", 1),
        ]
    );
    let gift = &all[1];
    assert_eq!(gift.step, "chat");
    assert!((gift.best_score - 0.9).abs() < 1e-9, "{}", gift.best_score);
    assert_eq!(gift.first_seen_ms, t(1).timestamp_millis());
    assert_eq!(gift.last_seen_ms, t(101).timestamp_millis());

    // One flow, a limit per flow, and a period.
    let one = store
        .unanswered(t(0), t(1_000), Some("support"), 1)
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].question, "Do you sell gift cards?");
    let late = store.unanswered(t(150), t(1_000), None, 10).await.unwrap();
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].question, "Do you have a shop in Lisbon?");
    assert!(store
        .unanswered(t(0), t(1), None, 10)
        .await
        .unwrap()
        .is_empty());
    let long_name = "x".repeat(10_000);
    assert!(store
        .unanswered(t(0), t(1_000), Some(&long_name), 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_flow_lists_at_most_its_bound_and_then_only_counts_grow(store: DynStore) {
    let many: Vec<UnansweredQuestion> = (0..MAX_UNANSWERED_PER_FLOW + 5)
        .map(|i| question("support", &format!("question number {i}"), 0.0))
        .collect();
    commit(&store, 1, 0, many).await;
    // A question already listed still counts; a new one is not listed; another flow is not
    // affected.
    commit(
        &store,
        2,
        10,
        vec![
            question("support", "question number 7", 0.0),
            question("support", "a brand new question", 0.0),
            question("billing", "a brand new question", 0.0),
        ],
    )
    .await;
    let read = store
        .unanswered(t(0), t(100), Some("support"), 1_000)
        .await
        .unwrap();
    assert_eq!(read.len(), 1_000, "the read is bounded");
    assert_eq!(read[0].question, "question number 7");
    assert_eq!(read[0].n, 2);
    assert!(read.iter().all(|r| r.question != "a brand new question"));
    let billing = store
        .unanswered(t(0), t(100), Some("billing"), 10)
        .await
        .unwrap();
    assert_eq!(billing.len(), 1);
    // Hostile text: cut to 500 characters.
    commit(
        &store,
        3,
        20,
        vec![question("other", &"why ".repeat(1_000), 0.0)],
    )
    .await;
    let other = store
        .unanswered(t(0), t(100), Some("other"), 10)
        .await
        .unwrap();
    assert_eq!(other[0].question.chars().count(), 500);
}

conformance!(
    questions_are_counted_once_per_asking_and_read_most_asked_first,
    a_flow_lists_at_most_its_bound_and_then_only_counts_grow
);
