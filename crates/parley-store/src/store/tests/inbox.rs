//! The inbox: one worker per conversation through leases, events in order, and steps that
//! commit everything or nothing.

use super::fixtures::*;
use crate::domain::{ContactPatch, ConversationState, NewTimer, Timer, TimerKind};
use crate::domain::{DeliveryStatus, OutboundContent};
use crate::store::{DynStore, Id, StoreError};
use serde_json::json;

async fn claims_are_exclusive_between_owners(store: DynStore) {
    for n in 1..=4 {
        receive(&store, &format!("wamid.{n}"), n, t(n as i64)).await;
    }
    // Racing claimers split the work and never share a conversation.
    let (a, b) = tokio::join!(
        store.claim_conversations("a", t(10), LEASE, 3),
        store.claim_conversations("b", t(10), LEASE, 3),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(
        a.iter().all(|id| !b.contains(id)),
        "{a:?} and {b:?} overlap"
    );
    assert_eq!(a.len() + b.len(), 4);
    assert!(store
        .claim_conversations("c", t(11), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn oldest_work_is_claimed_first(store: DynStore) {
    let (_, late) = receive(&store, "wamid.late", 1, t(5)).await;
    let (_, early) = receive(&store, "wamid.early", 2, t(1)).await;
    assert_eq!(
        store
            .claim_conversations("a", t(10), LEASE, 1)
            .await
            .unwrap(),
        vec![early]
    );
    assert_eq!(
        store
            .claim_conversations("a", t(10), LEASE, 1)
            .await
            .unwrap(),
        vec![late]
    );
}

/// A claim takes conversations whose lease ran out (their worker failed or died) first, by
/// the lease's end, then the work nobody holds, oldest first, and never one still held,
/// however old its work: a lease that ran out is not starved behind free work.
async fn leases_that_ran_out_go_before_free_work(store: DynStore) {
    let (_, stalled) = receive(&store, "wamid.stalled", 1, t(0)).await;
    let (_, held) = receive(&store, "wamid.held", 2, t(1)).await;
    let claim = |owner: &'static str, at: i64, limit: i64| {
        let store = store.clone();
        async move {
            store
                .claim_conversations(owner, t(at), LEASE, limit)
                .await
                .unwrap()
        }
    };
    assert_eq!(claim("a", 2, 1).await, vec![stalled]);
    assert_eq!(claim("a", 20, 1).await, vec![held]);
    let (_, early) = receive(&store, "wamid.early", 3, t(3)).await;
    let (_, late) = receive(&store, "wamid.late", 4, t(40)).await;
    // At 41 s the stalled conversation's lease (from 2 s) has run out; the held one's (from
    // 20 s) has not.
    assert_eq!(claim("b", 41, 1).await, vec![stalled]);
    assert_eq!(claim("b", 41, 1).await, vec![early]);
    assert_eq!(claim("b", 41, 10).await, vec![late]);
    assert!(claim("b", 41, 10).await.is_empty());
    // Both kinds in one claim: returned oldest work first.
    let (_, fresh) = receive(&store, "wamid.fresh", 5, t(45)).await;
    assert_eq!(claim("c", 51, 10).await, vec![held, fresh]);
}

async fn expired_lease_is_taken_over(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    assert_eq!(
        store
            .claim_conversations("a", t(1), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    assert!(store
        .claim_conversations("b", t(20), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    // "a" crashed: once its lease runs out "b" takes over, and "a" can no longer commit.
    assert_eq!(
        store
            .claim_conversations("b", t(32), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    let lost = store
        .commit_step(&step(conversation, event, "a", t(33)))
        .await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { id, .. }) if id == conversation),
        "{lost:?}"
    );
    assert_eq!(
        store
            .commit_step(&step(conversation, event, "b", t(33)))
            .await
            .unwrap(),
        Vec::<Id>::new()
    );
}

async fn release_keeps_work_that_arrived_meanwhile(store: DynStore) {
    let (first, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    assert_eq!(
        store
            .claim_conversations("a", t(1), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    let work = store.load_work(conversation, 10).await.unwrap();
    assert_eq!(
        work.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first]
    );

    let (second, _) = receive(&store, "wamid.2", 1, t(2)).await;
    store
        .commit_step(&step(conversation, first, "a", t(3)))
        .await
        .unwrap();
    store.release_conversation(conversation, "a").await.unwrap();

    assert_eq!(
        store
            .claim_conversations("b", t(4), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    let work = store.load_work(conversation, 10).await.unwrap();
    assert_eq!(
        work.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![second]
    );
    store
        .commit_step(&step(conversation, second, "b", t(5)))
        .await
        .unwrap();
    // Releasing with another owner's name does nothing.
    store.release_conversation(conversation, "a").await.unwrap();
    assert!(store
        .claim_conversations("c", t(6), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    store.release_conversation(conversation, "b").await.unwrap();
    assert!(store
        .claim_conversations("c", t(6), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn a_releasing_step_gives_the_conversation_back_in_the_same_commit(store: DynStore) {
    let (first, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let (second, _) = receive(&store, "wamid.2", 1, t(2)).await;
    // The first step releases, but an event arrived meanwhile: the conversation is free
    // and still has work.
    let mut commit = step(conversation, first, "a", t(3));
    commit.release = true;
    store.commit_step(&commit).await.unwrap();
    assert_eq!(
        store
            .claim_conversations("b", t(4), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    let mut commit = step(conversation, second, "b", t(5));
    commit.release = true;
    store.commit_step(&commit).await.unwrap();
    // Released with nothing left: nobody can claim it, and the lease is gone (a new event
    // is claimable at once, long before the lease would have expired).
    assert!(store
        .claim_conversations("c", t(6), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    receive(&store, "wamid.3", 1, t(7)).await;
    assert_eq!(
        store
            .claim_conversations("c", t(8), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
}

async fn load_work_returns_events_in_order(store: DynStore) {
    let mut events = vec![];
    let mut conversation = 0;
    for n in 0..4 {
        let (event, c) = receive(&store, &format!("wamid.{n}"), 1, t(n)).await;
        events.push(event);
        conversation = c;
    }
    let work = store.load_work(conversation, 3).await.unwrap();
    assert_eq!(
        work.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        events[..3]
    );
    assert!(work
        .events
        .iter()
        .all(|e| e.conversation_id == conversation));
    assert!(matches!(
        store.load_work(conversation + 1000, 3).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn commit_step_applies_state_contact_outbound_and_timers(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let mut setup = step(conversation, event, "a", t(2));
    setup.contact_patch = Some(ContactPatch {
        name: None,
        set_attributes: json!({"city": "Lima", "plan": "free"})
            .as_object()
            .cloned()
            .unwrap(),
        add_tags: vec!["lead".into(), "vip".into()],
        remove_tags: vec![],
    });
    setup.timers = vec![NewTimer {
        timer: Timer::AskTimeout { run: 1, step: 2 },
        due_at: t(600),
    }];
    store.commit_step(&setup).await.unwrap();
    store.release_conversation(conversation, "a").await.unwrap();

    let (event, _) = receive(&store, "wamid.2", 1, t(10)).await;
    store
        .claim_conversations("a", t(11), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(12));
    commit.state = state_at("welcome", 3);
    commit.contact_patch = Some(ContactPatch {
        name: Some("Ana".into()),
        set_attributes: json!({"plan": null, "age": 31})
            .as_object()
            .cloned()
            .unwrap(),
        add_tags: vec!["vip".into(), "customer".into()],
        remove_tags: vec!["lead".into()],
    });
    commit.outbound = vec![
        text_to(conversation, 1, "one"),
        text_to(conversation, 1, "two"),
    ];
    // The answer arrived: the old timeout goes, a new one of the same purpose replaces it.
    commit.cancel_timers = vec![TimerKind::AskTimeout, TimerKind::Delay];
    commit.timers = vec![NewTimer {
        timer: Timer::AskTimeout { run: 1, step: 3 },
        due_at: t(900),
    }];
    let ids = store.commit_step(&commit).await.unwrap();
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1]);

    let work = store.load_work(conversation, 10).await.unwrap();
    assert!(work.events.is_empty());
    assert_eq!(work.conversation.state, commit.state);
    assert_eq!(work.contact.name.as_deref(), Some("Ana"));
    assert_eq!(
        serde_json::Value::Object(work.contact.attributes),
        json!({"city": "Lima", "age": 31})
    );
    assert_eq!(
        work.contact.tags,
        vec!["vip".to_string(), "customer".to_string()]
    );

    for (id, body) in ids.iter().zip(["one", "two"]) {
        let record = store.outbound(*id).await.unwrap().unwrap();
        assert_eq!(record.status, DeliveryStatus::Queued);
        assert_eq!(record.created_at, t(12));
        assert!(
            matches!(&record.message.content, OutboundContent::Text { body: b, .. } if b == body)
        );
    }
    assert_eq!(store.next_timer_due().await.unwrap(), Some(t(900)));
}

/// A conversation "a" claimed, whose lease expired and "b" took over: (event, conversation,
/// the work as it stands).
async fn taken_over(store: &DynStore) -> (Id, Id, crate::store::ConversationWork) {
    let (event, conversation) = receive(store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    store
        .claim_conversations("b", t(40), LEASE, 10)
        .await
        .unwrap();
    let before = store.load_work(conversation, 10).await.unwrap();
    (event, conversation, before)
}

async fn commit_step_with_a_lost_lease_changes_nothing(store: DynStore) {
    let (event, conversation, before) = taken_over(&store).await;

    let mut commit = step(conversation, event, "a", t(41));
    commit.state = state_at("late", 9);
    commit.contact_patch = Some(ContactPatch {
        name: Some("Mallory".into()),
        ..Default::default()
    });
    commit.outbound = vec![text_to(conversation, 1, "late")];
    commit.timers = vec![NewTimer {
        timer: Timer::Delay { run: 1, step: 9 },
        due_at: t(100),
    }];
    let lost = store.commit_step(&commit).await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { .. })),
        "{lost:?}"
    );

    assert_eq!(store.load_work(conversation, 10).await.unwrap(), before);
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    assert_eq!(store.next_timer_due().await.unwrap(), None);
}

/// The same with only state, replies and the release: the shape the stores may commit in
/// one statement.
async fn a_plain_step_with_a_lost_lease_changes_nothing(store: DynStore) {
    let (event, conversation, before) = taken_over(&store).await;
    let mut commit = step(conversation, event, "a", t(41));
    commit.state = state_at("late", 9);
    commit.outbound = vec![text_to(conversation, 1, "late")];
    commit.release = true;
    let lost = store.commit_step(&commit).await;
    assert!(
        matches!(lost, Err(StoreError::LeaseLost { .. })),
        "{lost:?}"
    );
    assert_eq!(store.load_work(conversation, 10).await.unwrap(), before);
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
    // b's lease is untouched: nobody else can claim the conversation.
    assert!(store
        .claim_conversations("c", t(42), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn an_event_is_committed_only_once(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.outbound = vec![text_to(conversation, 1, "reply")];
    store.commit_step(&commit).await.unwrap();
    let again = store.commit_step(&commit).await;
    assert!(
        matches!(again, Err(StoreError::NotFound { .. })),
        "{again:?}"
    );
    assert_eq!(store.outbox_depth().await.unwrap(), 1);
}

async fn ensure_conversation_is_idempotent(store: DynStore) {
    let first = store
        .ensure_conversation(SENDER, &customer(7), Some("Bo"), t(0))
        .await
        .unwrap();
    let again = store
        .ensure_conversation(SENDER, &customer(7), None, t(5))
        .await
        .unwrap();
    assert_eq!(first, again);
    assert_eq!(first.created_at, t(0));
    assert_eq!(first.last_inbound_at, None);
    let contact = store.contact(first.contact_id).await.unwrap().unwrap();
    assert_eq!(contact.name.as_deref(), Some("Bo"));
    assert_eq!(
        store
            .find_conversation(SENDER, &customer(7).key())
            .await
            .unwrap(),
        Some(first.clone())
    );

    // The same customer with another sender is another conversation of the same contact.
    let other = store
        .ensure_conversation(SENDER + 1, &customer(7), None, t(6))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    assert_eq!(other.contact_id, first.contact_id);
    assert_eq!(
        store
            .find_conversation(SENDER, &customer(8).key())
            .await
            .unwrap(),
        None
    );
    // Nothing to process: an API conversation is not inbox work.
    assert!(store
        .claim_conversations("a", t(7), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
}

/// Many conversations commit at once (on PostgreSQL they share batch statements): each
/// step gets its own answer, refused ones write nothing and the others everything.
async fn steps_of_many_conversations_at_once_each_get_their_own_answer(store: DynStore) {
    let mut received = Vec::new();
    for n in 1..=30u32 {
        received.push(receive(&store, &format!("wamid.m{n}"), n, t(0)).await);
    }
    let claimed = store
        .claim_conversations("a", t(1), LEASE, 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 30);

    // Loaded at once (on PostgreSQL, in shared queries), including one conversation asked
    // for twice and one that does not exist: each answer is that conversation's own.
    let mut wanted: Vec<Id> = received.iter().map(|&(_, c)| c).collect();
    wanted.push(received[4].1);
    wanted.push(999_999);
    let loads = futures::future::join_all(wanted.iter().map(|&c| store.load_work(c, 10))).await;
    for (k, (load, &c)) in loads.iter().zip(&wanted).enumerate() {
        if c == 999_999 {
            assert!(matches!(load, Err(StoreError::NotFound { .. })), "{load:?}");
            continue;
        }
        let work = load.as_ref().unwrap_or_else(|e| panic!("load {k}: {e}"));
        assert_eq!(work.conversation.id, c);
        let event = received.iter().find(|&&(_, conv)| conv == c).unwrap().0;
        assert_eq!(
            work.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [event]
        );
    }
    let commits: Vec<_> = received
        .iter()
        .enumerate()
        .map(|(n, &(event, conversation))| {
            let mut commit = step(conversation, event, "a", t(2));
            commit.state = state_at("many", n);
            commit.outbound = vec![
                text_to(conversation, n as u32 + 1, &format!("first {n}")),
                text_to(conversation, n as u32 + 1, &format!("second {n}")),
            ];
            commit.timers = vec![NewTimer {
                timer: Timer::Delay { run: 1, step: n },
                due_at: t(100 + n as i64),
            }];
            commit.cancel_timers = vec![TimerKind::AskTimeout];
            commit.release = n % 2 == 0;
            match n {
                // Not the lease holder.
                3 | 17 => commit.owner = "z".into(),
                // The event of another conversation.
                9 => commit.event_id = received[10].0,
                _ => {}
            }
            commit
        })
        .collect();
    let results = futures::future::join_all(commits.iter().map(|c| store.commit_step(c))).await;

    let mut all_ids = std::collections::HashSet::new();
    for (n, (result, commit)) in results.iter().zip(&commits).enumerate() {
        let conversation = commit.conversation_id;
        let work = store.load_work(conversation, 10).await.unwrap();
        match n {
            3 | 17 => assert!(
                matches!(result, Err(StoreError::LeaseLost { id, .. }) if *id == conversation),
                "step {n}: {result:?}"
            ),
            9 => assert!(
                matches!(result, Err(StoreError::NotFound { .. })),
                "step {n}: {result:?}"
            ),
            _ => {
                let ids = result.as_ref().unwrap_or_else(|e| panic!("step {n}: {e}"));
                assert_eq!(ids.len(), 2, "step {n}");
                for (k, id) in ids.iter().enumerate() {
                    assert!(all_ids.insert(*id), "outbound id {id} given twice");
                    let record = store.outbound(*id).await.unwrap().unwrap();
                    assert_eq!(record.conversation_id, conversation);
                    let expected = if k == 0 { "first" } else { "second" };
                    assert_eq!(
                        record.message.content,
                        OutboundContent::Text {
                            body: format!("{expected} {n}"),
                            preview_url: false
                        }
                    );
                }
                assert!(work.events.is_empty(), "step {n} left its event");
                assert_eq!(work.conversation.state, state_at("many", n));
                continue;
            }
        }
        // Refused: nothing written.
        assert_eq!(work.events.len(), 1, "step {n}");
        assert_eq!(
            work.conversation.state,
            ConversationState::default(),
            "step {n}"
        );
        assert!(store
            .conversation_outbound(conversation, None, 10)
            .await
            .unwrap()
            .is_empty());
    }
    // Event 10 was not consumed by step 9's mistake: its own step committed it.
    assert!(results[10].is_ok());

    // Released conversations (even positions; the refused steps are all odd) can be claimed again at once
    // when new work arrives; the others stay with "a" until the lease runs out.
    for n in 1..=30u32 {
        receive(&store, &format!("wamid.again{n}"), n, t(3)).await;
    }
    let mut again = store
        .claim_conversations("c", t(4), LEASE, 100)
        .await
        .unwrap();
    again.sort_unstable();
    let mut expected: Vec<Id> = (0..30)
        .filter(|n| n % 2 == 0)
        .map(|n| received[n].1)
        .collect();
    expected.sort_unstable();
    assert_eq!(again, expected);

    // Each committed step set its timer; the refused ones did not.
    assert_eq!(store.fire_due_timers(t(200), 100).await.unwrap(), 27);
}

/// A state Parley cannot read back (nested deeper than JSON is read: an `http` answer 125
/// levels deep once did it) starts afresh, as a damaged one does, instead of refusing every
/// later message of the conversation.
async fn a_state_too_deep_to_read_back_starts_afresh(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.deep", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let levels = 126;
    let deep: serde_json::Value = serde_json::from_str(&format!(
        "{}1{}",
        "{\"a\":".repeat(levels),
        "}".repeat(levels)
    ))
    .unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.state = state_at("deep", 2);
    if let Some(run) = &mut commit.state.run {
        run.vars.insert("r".into(), deep);
    }
    store.commit_step(&commit).await.unwrap();
    store.release_conversation(conversation, "a").await.unwrap();

    let read = store.conversation(conversation).await.unwrap().unwrap();
    assert_eq!(read.state, ConversationState::default());
    let (event, _) = receive(&store, "wamid.after", 1, t(10)).await;
    store
        .claim_conversations("a", t(11), LEASE, 10)
        .await
        .unwrap();
    let work = store.load_work(conversation, 10).await.unwrap();
    assert_eq!(work.events.len(), 1);
    assert_eq!(work.events[0].id, event);
    assert_eq!(work.conversation.state, ConversationState::default());
}

conformance!(
    a_state_too_deep_to_read_back_starts_afresh,
    steps_of_many_conversations_at_once_each_get_their_own_answer,
    a_releasing_step_gives_the_conversation_back_in_the_same_commit,
    claims_are_exclusive_between_owners,
    oldest_work_is_claimed_first,
    leases_that_ran_out_go_before_free_work,
    expired_lease_is_taken_over,
    release_keeps_work_that_arrived_meanwhile,
    load_work_returns_events_in_order,
    commit_step_applies_state_contact_outbound_and_timers,
    commit_step_with_a_lost_lease_changes_nothing,
    a_plain_step_with_a_lost_lease_changes_nothing,
    an_event_is_committed_only_once,
    ensure_conversation_is_idempotent,
);

/// A state with a run of `flow` at `step`, as the engine stores it.
fn state_at(flow: &str, step: usize) -> ConversationState {
    ConversationState {
        run: Some(crate::domain::Run {
            id: 1,
            flow: flow.into(),
            version: 1,
            step,
            vars: serde_json::Map::new(),
            wait: None,
            offered: vec![],
            started_at: t(0),
            arm: None,
        }),
        runs_started: 1,
        ..Default::default()
    }
}
