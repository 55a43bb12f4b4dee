//! Durable timers: they become events of their conversation when due, exactly once, even
//! with two callers racing.

use super::fixtures::*;
use crate::domain::{EventKind, NewTimer, Timer, TimerFire, TimerKind};
use crate::store::{DynStore, Id};

/// A conversation whose first event is processed and whose lease is released.
async fn idle_conversation(store: &DynStore, customer: u32, timers: Vec<NewTimer>) -> Id {
    let (event, conversation) = receive(store, &format!("wamid.{customer}"), customer, t(0)).await;
    let claimed = store
        .claim_conversations("setup", t(0), LEASE, 100)
        .await
        .unwrap();
    assert!(claimed.contains(&conversation));
    let mut commit = step(conversation, event, "setup", t(0));
    commit.timers = timers;
    store.commit_step(&commit).await.unwrap();
    store
        .release_conversation(conversation, "setup")
        .await
        .unwrap();
    conversation
}

fn timer(timer: Timer, due_at: i64) -> NewTimer {
    NewTimer {
        timer,
        due_at: t(due_at),
    }
}

fn ask(due_at: i64) -> NewTimer {
    timer(Timer::AskTimeout { run: 7, step: 3 }, due_at)
}

fn delay(due_at: i64) -> NewTimer {
    timer(Timer::Delay { run: 7, step: 4 }, due_at)
}

async fn due_timers_fire_once_into_their_conversation(store: DynStore) {
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    let conversation = idle_conversation(&store, 1, vec![delay(20), ask(10)]).await;
    assert_eq!(store.next_timer_due().await.unwrap(), Some(t(10)));
    assert!(store
        .claim_conversations("w", t(1), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(store.fire_due_timers(t(5), 100).await.unwrap(), 0);
    assert_eq!(store.fire_due_timers(t(15), 100).await.unwrap(), 1);
    assert_eq!(store.fire_due_timers(t(15), 100).await.unwrap(), 0);
    assert_eq!(store.next_timer_due().await.unwrap(), Some(t(20)));

    assert_eq!(
        store
            .claim_conversations("w", t(15), LEASE, 10)
            .await
            .unwrap(),
        vec![conversation]
    );
    let work = store.load_work(conversation, 10).await.unwrap();
    let [event] = &work.events[..] else {
        panic!("one timer event, got {:?}", work.events)
    };
    assert_eq!(event.received_at, t(15));
    let EventKind::Timer(TimerFire { timer, due_at, .. }) = &event.kind else {
        panic!("a timer event, got {:?}", event.kind);
    };
    assert_eq!(
        (timer, *due_at),
        (&Timer::AskTimeout { run: 7, step: 3 }, t(10))
    );

    store
        .commit_step(&step(conversation, event.id, "w", t(16)))
        .await
        .unwrap();
    store.release_conversation(conversation, "w").await.unwrap();
    assert_eq!(store.fire_due_timers(t(25), 100).await.unwrap(), 1);
    assert_eq!(store.next_timer_due().await.unwrap(), None);
}

async fn racing_callers_fire_each_timer_once(store: DynStore) {
    let mut conversations = vec![];
    for customer in 1..=4 {
        let timers = (0..5)
            .map(|n| {
                let flow = format!("t{n}");
                timer(
                    Timer::WindowClosing {
                        flow,
                        expires_at: t(100),
                    },
                    10 + n,
                )
            })
            .collect();
        conversations.push(idle_conversation(&store, customer, timers).await);
    }
    let (a, b) = tokio::join!(
        store.fire_due_timers(t(60), 7),
        store.fire_due_timers(t(60), 7)
    );
    let (c, d) = tokio::join!(
        store.fire_due_timers(t(60), 100),
        store.fire_due_timers(t(60), 100)
    );
    assert_eq!(a.unwrap() + b.unwrap() + c.unwrap() + d.unwrap(), 20);

    let mut fired = vec![];
    for conversation in conversations {
        let work = store.load_work(conversation, 100).await.unwrap();
        assert_eq!(work.events.len(), 5);
        for event in work.events {
            let EventKind::Timer(fire) = event.kind else {
                panic!("only timer events")
            };
            fired.push(fire.timer_id);
        }
    }
    fired.sort_unstable();
    fired.dedup();
    assert_eq!(fired.len(), 20);
}

async fn cancelled_timer_never_fires(store: DynStore) {
    let conversation = idle_conversation(&store, 1, vec![ask(10), delay(10)]).await;
    let (event, _) = receive(&store, "wamid.answer", 1, t(5)).await;
    store
        .claim_conversations("w", t(5), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "w", t(6));
    commit.cancel_timers = vec![TimerKind::AskTimeout];
    store.commit_step(&commit).await.unwrap();
    store.release_conversation(conversation, "w").await.unwrap();

    assert_eq!(store.fire_due_timers(t(20), 100).await.unwrap(), 1);
    store
        .claim_conversations("w", t(20), LEASE, 10)
        .await
        .unwrap();
    let work = store.load_work(conversation, 10).await.unwrap();
    assert!(
        matches!(&work.events[..], [e] if matches!(&e.kind, EventKind::Timer(f) if f.timer.kind() == TimerKind::Delay))
    );
}

conformance!(
    due_timers_fire_once_into_their_conversation,
    racing_callers_fire_each_timer_once,
    cancelled_timer_never_fires,
);
