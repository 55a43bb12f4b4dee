//! Quick steps (`QuickSteps`): the step of a message an ingest claims, run and committed by
//! the store right after the ingest's commit. SQLite does it; PostgreSQL hands the work over
//! as before and never asks for the step.

use super::fixtures::*;
use crate::store::{
    ClaimedWork, Committed, ConversationWork, DynStore, Id, InboxClaim, IngestOutcome, Quick,
    QuickSteps, StepCommit,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the test's inbox does when asked for a step.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// A step with one reply, giving the conversation back.
    Reply,
    /// Not quick.
    NotQuick,
    /// A step whose reply names no conversation: its write fails after it marked the
    /// event processed.
    Unwritable,
    /// Panics.
    Panics,
}

/// An inbox for the tests: answers as `mode` says and notes what it was asked and told.
struct TestInbox {
    mode: Mode,
    asked: Mutex<Vec<Id>>,
    told: Mutex<Vec<(Id, Committed)>>,
    handed: Mutex<Vec<ClaimedWork>>,
}

impl TestInbox {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode,
            asked: Mutex::new(Vec::new()),
            told: Mutex::new(Vec::new()),
            handed: Mutex::new(Vec::new()),
        })
    }

    /// Waits until the store told of `n` commits and handed over `m` conversations in all.
    async fn settled(&self, n: usize, m: usize) {
        for _ in 0..1000 {
            if self.told().len() >= n && self.handed.lock().unwrap().len() >= m {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(self.told().len(), n, "commits told");
        assert_eq!(
            self.handed.lock().unwrap().len(),
            m,
            "conversations handed over"
        );
    }

    fn take_handed(&self) -> Vec<ClaimedWork> {
        std::mem::take(&mut *self.handed.lock().unwrap())
    }

    fn asked(&self) -> Vec<Id> {
        self.asked.lock().unwrap().clone()
    }

    fn told(&self) -> Vec<(Id, Committed)> {
        self.told.lock().unwrap().clone()
    }
}

impl QuickSteps for TestInbox {
    fn step(&self, work: &ConversationWork) -> Option<StepCommit> {
        let id = work.conversation.id;
        self.asked.lock().unwrap().push(id);
        let [event] = work.events.as_slice() else {
            return None;
        };
        let to = match self.mode {
            Mode::Reply => id,
            Mode::Unwritable => 999_999,
            Mode::NotQuick => return None,
            Mode::Panics => panic!("a bug in a step"),
        };
        let mut commit = step(id, event.id, "a", t(1));
        commit.outbound = vec![text_to(to, 1, "quick")];
        commit.release = true;
        Some(commit)
    }

    fn outbox_lease(&self) -> Option<Duration> {
        Some(LEASE)
    }

    fn committed(&self, work: &ConversationWork, _step: &StepCommit, committed: Committed) {
        self.told
            .lock()
            .unwrap()
            .push((work.conversation.id, committed));
    }

    fn hand_over(&self, work: ClaimedWork) {
        self.handed.lock().unwrap().push(work);
    }
}

fn claim(inbox: &Arc<TestInbox>) -> InboxClaim {
    InboxClaim {
        owner: "a".into(),
        now: t(1),
        lease: LEASE,
        limit: 10,
        events: 32,
        quick: Some(Quick(inbox.clone())),
    }
}

/// One message from customer 1, ingested with `claim`: its conversation and what was
/// handed to the inbox.
async fn ingest(store: &DynStore, id: &str, claim: &InboxClaim) -> (Id, Vec<ClaimedWork>) {
    let (outcomes, handed) = store
        .ingest_and_claim(
            &[message(inbound(id, 1, Some(t(0)), "hi"), t(0))],
            Some(claim),
        )
        .await
        .unwrap();
    let [IngestOutcome::Stored {
        conversation_id, ..
    }] = outcomes[..]
    else {
        panic!("{outcomes:?}");
    };
    (conversation_id, handed)
}

/// SQLite: the conversation is passed to the quick steps, not handed back; right after the
/// ingest's commit its step is committed — the event processed, the reply queued and leased
/// to the outbox of the claim's owner, the conversation given back — and the inbox is told;
/// nothing is left to claim. The next message of the conversation is quick again.
/// PostgreSQL hands the work back and never asks.
async fn a_quick_step_is_committed_right_after_its_message(store: DynStore) {
    let inbox = TestInbox::new(Mode::Reply);
    let (conversation, handed) = ingest(&store, "wamid.1", &claim(&inbox)).await;
    if store.backend() == "postgres" {
        assert!(inbox.asked().is_empty());
        assert_eq!(handed.len(), 1);
        assert!(!handed[0].is_quick());
        return;
    }
    assert_eq!(handed.len(), 1);
    assert!(handed[0].is_quick(), "{handed:?}");
    inbox.settled(1, 0).await;
    assert_eq!(inbox.asked(), vec![conversation]);
    let told = inbox.told();
    assert_eq!(told.len(), 1);
    let (id, committed) = &told[0];
    assert_eq!(*id, conversation);
    assert_eq!(committed.ids.len(), 1);
    let reply = committed.handed.as_ref().expect("the reply handed over");
    assert_eq!(reply.id, committed.ids[0]);
    assert!(!committed.more_work);
    // Processed and given back: nothing to load, nobody to claim it from.
    assert!(store
        .load_work(conversation, 32)
        .await
        .unwrap()
        .events
        .is_empty());
    assert!(store
        .claim_work("b", t(2), LEASE, 10, 32)
        .await
        .unwrap()
        .is_empty());
    // The reply is leased to "a" (a claim after its lease holds it back for the doubt that
    // a send went out), then anyone's.
    assert!(claim_ids(&store, "b", t(2), 10).await.is_empty());
    assert!(claim_ids(&store, "b", t(40), 10).await.is_empty());
    assert_eq!(claim_ids(&store, "b", t(200), 10).await, vec![reply.id]);

    let (again, handed) = ingest(&store, "wamid.2", &claim(&inbox)).await;
    assert_eq!(again, conversation);
    assert!(handed[0].is_quick(), "{handed:?}");
    inbox.settled(2, 0).await;
}

/// A step that is not quick, cannot be written, or panics leaves the message stored, the
/// conversation leased to the claim's owner and the work to the inbox (read), with nothing
/// of the step kept and the inbox not told of a commit.
async fn a_step_that_is_not_quick_goes_to_the_inbox(store: DynStore) {
    let backend = store.backend();
    for (n, mode) in [Mode::NotQuick, Mode::Unwritable, Mode::Panics]
        .into_iter()
        .enumerate()
    {
        let inbox = TestInbox::new(mode);
        let (outcomes, handed) = store
            .ingest_and_claim(
                &[message(
                    inbound(&format!("wamid.{n}"), n as u32 + 1, Some(t(0)), "hi"),
                    t(0),
                )],
                Some(&claim(&inbox)),
            )
            .await
            .unwrap();
        let [IngestOutcome::Stored {
            conversation_id, ..
        }] = outcomes[..]
        else {
            panic!("{outcomes:?}");
        };
        assert_eq!(handed.len(), 1);
        let handed = match backend {
            "sqlite" => {
                assert!(handed[0].is_quick());
                inbox.settled(0, 1).await;
                assert_eq!(inbox.asked(), vec![conversation_id]);
                inbox.take_handed()
            }
            _ => {
                assert!(!handed[0].is_quick());
                handed
            }
        };
        assert!(inbox.told().is_empty());
        let work = handed
            .into_iter()
            .next()
            .unwrap()
            .read_or_load(&*store, 32)
            .await
            .unwrap();
        assert_eq!(work.events.len(), 1);
        assert_eq!(work, store.load_work(conversation_id, 32).await.unwrap());
        // Still "a"'s, and no reply was queued.
        assert!(store
            .claim_work("b", t(2), LEASE, 10, 32)
            .await
            .unwrap()
            .is_empty());
        assert!(claim_ids(&store, "b", t(100), 10).await.is_empty());
    }
}

conformance!(
    a_quick_step_is_committed_right_after_its_message,
    a_step_that_is_not_quick_goes_to_the_inbox,
);
