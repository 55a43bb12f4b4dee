//! Conversation routing: the thread's owner the engine commits with a step is what the
//! outbox's gate reads back (owner, app, since to the microsecond, reason), and the counts
//! per sender and owner see it; conversations routing never touched have no record.

use super::fixtures::*;
use crate::domain::{OwnerReason, ThreadOwner, ThreadState};
use crate::store::{DynStore, ThreadCount};

fn owned_by(app: &str, at: i64) -> ThreadState {
    ThreadState {
        owner: ThreadOwner::App { app: app.into() },
        since: t(at) + chrono::TimeDelta::microseconds(123_456),
        reason: OwnerReason::ControlTaken,
    }
}

async fn a_committed_thread_owner_reads_back_and_is_counted(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    let (_, untouched) = receive(&store, "wamid.2", 2, t(0)).await;
    assert_eq!(store.thread_state(conversation).await.unwrap(), None);
    assert!(store.thread_counts().await.unwrap().is_empty());

    store.claim_work("a", t(1), LEASE, 10, 32).await.unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.state.thread = Some(owned_by("1234567890", 2));
    store.commit_step(&commit).await.unwrap();

    assert_eq!(
        store.thread_state(conversation).await.unwrap(),
        Some(owned_by("1234567890", 2))
    );
    assert_eq!(store.thread_state(untouched).await.unwrap(), None);
    assert_eq!(
        store.thread_state(conversation + 1_000).await.unwrap(),
        None
    );
    assert_eq!(
        store.thread_counts().await.unwrap(),
        vec![ThreadCount {
            sender_id: SENDER,
            owner: "app".into(),
            count: 1
        }]
    );

    // Passed back: Parley's again, counted as such.
    let (event, _) = receive(&store, "wamid.3", 1, t(3)).await;
    store.claim_work("a", t(4), LEASE, 10, 32).await.unwrap();
    let mut commit = step(conversation, event, "a", t(5));
    let back = ThreadState {
        owner: ThreadOwner::Parley,
        since: t(5),
        reason: OwnerReason::ControlPassed,
    };
    commit.state.thread = Some(back.clone());
    store.commit_step(&commit).await.unwrap();
    assert_eq!(store.thread_state(conversation).await.unwrap(), Some(back));
    let counts = store.thread_counts().await.unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].owner, "parley");
}

/// A message queued before a thread-control row waits in line before it; one queued after
/// it, or with none left queued, does not.
async fn a_queued_thread_control_is_found_after_a_message(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store.claim_work("a", t(1), LEASE, 10, 32).await.unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    let mut pass = text_to(conversation, 1, "unused");
    pass.message.content =
        crate::domain::OutboundContent::ThreadControl(crate::domain::ThreadAction::Pass {
            app: "1".into(),
        });
    commit.outbound = vec![text_to(conversation, 1, "A person will answer."), pass];
    let ids = store.commit_step(&commit).await.unwrap();
    assert_eq!(ids.len(), 2);
    assert!(store
        .thread_control_queued_after(conversation, ids[0])
        .await
        .unwrap());
    assert!(!store
        .thread_control_queued_after(conversation, ids[1])
        .await
        .unwrap());
    assert!(!store
        .thread_control_queued_after(conversation + 1, 0)
        .await
        .unwrap());
}

conformance!(
    a_committed_thread_owner_reads_back_and_is_counted,
    a_queued_thread_control_is_found_after_a_message
);
