//! Work handed from the inbox to the outbox in one commit (`commit_step_and_claim`,
//! `record_outcome_and_claim_next`) and the inbox's claim that also loads
//! (`claim_work`). The SQLite store does all three in its write jobs; the PostgreSQL store
//! hands a step's first reply over in its batched commit, says after an accepted send
//! whether anything is left queued (a claim takes it), and uses the trait's default for
//! the claim that loads (a claim, then a load).

use super::fixtures::*;
use crate::store::{
    ConversationWork, DynStore, Id, InboxClaim, IngestItem, IngestOutcome, NextSend, OutboxItem,
    SendOutcome, StepCommit,
};
use chrono::{DateTime, Utc};

fn accepted(id: &str) -> SendOutcome {
    SendOutcome::Accepted {
        provider_message_id: id.to_string(),
        converted_to: None,
    }
}

/// What both stores guarantee: the claim that loads gives what a claim and a load give,
/// and nothing handed over is ever claimable by another process.
async fn claim_work_loads_what_load_work_loads(store: DynStore) {
    let (_, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    receive(&store, "wamid.2", 1, t(1)).await;
    let work = store.claim_work("a", t(2), LEASE, 10, 32).await.unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0], store.load_work(conversation, 32).await.unwrap());
    assert_eq!(work[0].events.len(), 2);
    // Claimed: nobody else gets it.
    assert!(store
        .claim_work("b", t(3), LEASE, 10, 32)
        .await
        .unwrap()
        .is_empty());
    // At most `events` events come with it.
    let (_, other) = receive(&store, "wamid.3", 2, t(4)).await;
    receive(&store, "wamid.4", 2, t(5)).await;
    let work = store.claim_work("b", t(6), LEASE, 10, 1).await.unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].conversation.id, other);
    assert_eq!(work[0].events.len(), 1);
}

async fn a_handed_reply_is_never_claimed_twice(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store.claim_work("a", t(1), LEASE, 10, 32).await.unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.outbound = vec![
        text_to(conversation, 1, "one"),
        text_to(conversation, 1, "two"),
    ];
    commit.release = true;
    let committed = store
        .commit_step_and_claim(&commit, Some(LEASE))
        .await
        .unwrap();
    assert_eq!(committed.ids.len(), 2);
    let handed: Vec<_> = committed.handed.iter().map(|i| i.id).collect();
    // Another process's claim gets neither the handed message nor the one behind it.
    let theirs = claim_ids(&store, "b", t(3), 10).await;
    for id in &theirs {
        assert!(!handed.contains(id), "{id} was handed over and claimed");
    }
    if handed.is_empty() {
        // The default hands nothing over: the first reply is claimed as before.
        assert_eq!(theirs, vec![committed.ids[0]]);
    } else {
        assert!(theirs.is_empty(), "{theirs:?}");
    }
}

/// Commits a step at `t(2)` with two replies ("one", "two") queued at `queued_at` for a new
/// conversation, asking for a hand-over, and checks the handed message is the first reply
/// as the outbox would have read it from its row (`created_at` = `queued_at`). Returns the
/// step, the handed message and the new ids.
async fn commit_two_replies(
    store: &DynStore,
    queued_at: DateTime<Utc>,
) -> (StepCommit, OutboxItem, Vec<Id>) {
    let (event, conversation) = receive(store, "wamid.1", 1, t(0)).await;
    let work = store.claim_work("a", t(1), LEASE, 10, 32).await.unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.queued_at = queued_at;
    commit.outbound = vec![
        text_to(conversation, 1, "one"),
        text_to(conversation, 1, "two"),
    ];
    commit.release = true;
    let committed = store
        .commit_step_and_claim(&commit, Some(LEASE))
        .await
        .unwrap();
    assert!(!committed.more_work);
    let first = committed.handed.expect("the first reply is handed over");
    assert_eq!(first.id, committed.ids[0]);
    assert_eq!(first.sender_id, SENDER);
    assert_eq!(first.conversation_id, conversation);
    assert_eq!(first.message, commit.outbound[0].message);
    assert_eq!(first.fallback, commit.outbound[0].fallback);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.last_inbound_at, work[0].conversation.last_inbound_at);
    assert_eq!(first.created_at, queued_at);
    (commit, first, committed.ids)
}

/// Both stores: a step's first reply comes leased with its commit, and nobody else can
/// claim it or the reply behind it; without a lease to hand out, nothing is handed over.
async fn the_first_reply_comes_leased_with_its_commit(store: DynStore) {
    let (commit, first, _) = commit_two_replies(&store, t(2)).await;
    assert!(claim_ids(&store, "b", t(3), 10).await.is_empty());
    let stored = store.outbound(first.id).await.unwrap().unwrap();
    assert_eq!(stored.message, commit.outbound[0].message);
    let (event, other) = receive(&store, "wamid.2", 2, t(4)).await;
    store.claim_work("a", t(5), LEASE, 10, 32).await.unwrap();
    let mut commit = step(other, event, "a", t(6));
    commit.outbound = vec![text_to(other, 2, "hi")];
    commit.release = true;
    let committed = store.commit_step_and_claim(&commit, None).await.unwrap();
    assert_eq!(committed.handed, None);
    assert_eq!(claim_ids(&store, "b", t(7), 10).await, committed.ids);
}

/// Both stores: a step's replies are created when they are queued (`queued_at`: after a
/// model's or an `http` step's wait), not when the step began (`now`, which its lease is
/// checked against); the reply handed over says the same (`commit_two_replies`).
async fn replies_are_created_when_queued_not_when_the_step_began(store: DynStore) {
    let (_, _, ids) = commit_two_replies(&store, t(9)).await;
    for id in ids {
        let stored = store.outbound(id).await.unwrap().unwrap();
        assert_eq!(stored.created_at, t(9), "reply {id}");
    }
}

/// Both stores: steps committed at the same moment (on PostgreSQL, one batch statement)
/// each get their own first reply handed over, and only that one.
async fn steps_committed_together_each_get_their_own_reply(store: DynStore) {
    let mut steps = Vec::new();
    for n in 1..=6 {
        let (event, conversation) = receive(&store, &format!("wamid.{n}"), n, t(0)).await;
        let mut commit = step(conversation, event, "a", t(2));
        commit.outbound = vec![
            text_to(conversation, n, &format!("first {n}")),
            text_to(conversation, n, &format!("second {n}")),
        ];
        commit.release = true;
        steps.push(commit);
    }
    assert_eq!(
        store
            .claim_work("a", t(1), LEASE, 10, 32)
            .await
            .unwrap()
            .len(),
        6
    );
    let committed = futures::future::join_all(
        steps
            .iter()
            .map(|commit| store.commit_step_and_claim(commit, Some(LEASE))),
    )
    .await;
    for (commit, committed) in steps.iter().zip(committed) {
        let committed = committed.unwrap();
        assert_eq!(committed.ids.len(), 2);
        assert!(!committed.more_work);
        let handed = committed.handed.expect("handed");
        assert_eq!(handed.id, committed.ids[0]);
        assert_eq!(handed.conversation_id, commit.conversation_id);
        assert_eq!(handed.message, commit.outbound[0].message);
        let stored = store.outbound(committed.ids[1]).await.unwrap().unwrap();
        assert_eq!(stored.message, commit.outbound[1].message);
    }
    assert!(claim_ids(&store, "b", t(3), 10).await.is_empty());
}

/// Both stores: an accepted send whose conversation has nothing else queued says so
/// (`Nothing`: no claim needed after it); one with a message queued behind it never does:
/// SQLite leases that message to the same owner (a step's replies follow each other
/// without claims), PostgreSQL leaves it to a claim.
async fn an_accepted_send_says_when_its_line_is_empty(store: DynStore) {
    let (commit, first, ids) = commit_two_replies(&store, t(2)).await;
    let next = store
        .record_outcome_and_claim_next(&first, "a", &accepted("wamid.out1"), t(3), LEASE)
        .await
        .unwrap();
    let second = match next {
        NextSend::Leased(second) => {
            // Leased to "a": nobody else can claim it.
            assert!(claim_ids(&store, "b", t(4), 10).await.is_empty());
            *second
        }
        NextSend::Unknown => {
            assert_ne!(store.backend(), "sqlite", "SQLite leases the next reply");
            let mut claimed = store
                .claim_outbound("a", t(4), LEASE, IN_DOUBT, 10)
                .await
                .unwrap();
            assert_eq!(claimed.len(), 1, "{claimed:?}");
            claimed.remove(0)
        }
        NextSend::Nothing => panic!("the second reply is still queued"),
    };
    assert_eq!(second.id, ids[1]);
    assert_eq!(second.message, commit.outbound[1].message);
    assert_eq!(
        store
            .record_outcome_and_claim_next(&second, "a", &accepted("wamid.out2"), t(5), LEASE)
            .await
            .unwrap(),
        NextSend::Nothing
    );
    let stored = store.outbound(first.id).await.unwrap().unwrap();
    assert_eq!(stored.provider_message_id.as_deref(), Some("wamid.out1"));
    let stored = store.outbound(second.id).await.unwrap().unwrap();
    assert_eq!(stored.provider_message_id.as_deref(), Some("wamid.out2"));
    assert!(claim_ids(&store, "b", t(6), 10).await.is_empty());
}

/// Both stores: nothing is handed over when the reply is not next in line (an older message
/// still queued) or its sender is stopped; a retried send leaves the claim to decide; a
/// conversation given back with events left says so.
async fn only_a_ready_head_of_line_is_handed_over(store: DynStore) {
    let (first_event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store.claim_work("a", t(1), LEASE, 10, 32).await.unwrap();
    let (second_event, _) = receive(&store, "wamid.2", 1, t(1)).await;
    let mut commit = step(conversation, first_event, "a", t(2));
    commit.outbound = vec![text_to(conversation, 1, "one")];
    let one = store
        .commit_step_and_claim(&commit, Some(LEASE))
        .await
        .unwrap()
        .handed
        .expect("handed");
    // "one" is still queued (in flight): the next step's reply waits behind it.
    let mut commit = step(conversation, second_event, "a", t(3));
    commit.outbound = vec![text_to(conversation, 1, "two")];
    commit.release = true;
    let committed = store
        .commit_step_and_claim(&commit, Some(LEASE))
        .await
        .unwrap();
    assert_eq!(committed.handed, None);
    assert!(!committed.more_work);
    // A retry keeps "one" at the head: the claim decides when it goes again.
    let retry = SendOutcome::Retry {
        at: t(60),
        code: Some(131000),
        title: "try later".into(),
    };
    assert_eq!(
        store
            .record_outcome_and_claim_next(&one, "a", &retry, t(4), LEASE)
            .await
            .unwrap(),
        NextSend::Unknown
    );
    assert!(claim_ids(&store, "b", t(5), 10).await.is_empty());
    assert_eq!(claim_ids(&store, "b", t(61), 10).await, vec![one.id]);

    // A stopped sender: nothing handed over.
    store
        .stop_sender(SENDER, Some(190), "token expired", t(70))
        .await
        .unwrap();
    let (event, other) = receive(&store, "wamid.3", 2, t(71)).await;
    store.claim_work("a", t(72), LEASE, 10, 32).await.unwrap();
    let (_, _) = receive(&store, "wamid.4", 2, t(73)).await;
    let mut commit = step(other, event, "a", t(74));
    commit.outbound = vec![text_to(other, 2, "hi")];
    commit.release = true;
    let committed = store
        .commit_step_and_claim(&commit, Some(LEASE))
        .await
        .unwrap();
    assert_eq!(committed.handed, None);
    // An event arrived after the load: the conversation goes back with work.
    assert!(committed.more_work);
}

/// Both stores: a handed reply that waited past its lease for a slot renews it while
/// nobody took it (nobody sent it meanwhile); once a claim has put it back (its lease ran
/// out) or taken it, it is not the first owner's to send any more.
async fn a_late_handed_reply_renews_its_lease_only_while_nobody_took_it(store: DynStore) {
    let (_, first, _) = commit_two_replies(&store, t(2)).await;
    // Leased to "a" until t(32); at t(40) it has run out, but nobody took it.
    assert!(!store
        .renew_outbound_lease(&first, "b", t(40), LEASE)
        .await
        .unwrap());
    assert!(store
        .renew_outbound_lease(&first, "a", t(40), LEASE)
        .await
        .unwrap());
    // Renewed until t(70): another process's claim finds nothing.
    assert!(claim_ids(&store, "b", t(41), 10).await.is_empty());
    // At t(71) a claim puts it back (in doubt: "a" may have sent it) ...
    assert!(claim_ids(&store, "b", t(71), 10).await.is_empty());
    assert!(!store
        .renew_outbound_lease(&first, "a", t(72), LEASE)
        .await
        .unwrap());
    // ... and takes it once the doubt (`IN_DOUBT`, 60 s) has passed: still not "a"'s.
    assert_eq!(claim_ids(&store, "b", t(131), 10).await, vec![first.id]);
    assert!(!store
        .renew_outbound_lease(&first, "a", t(132), LEASE)
        .await
        .unwrap());
}

/// An ingest that claims for its inbox leases each conversation its messages gave work,
/// where nobody holds it, in the ingest's own commit, and hands it over with what
/// `load_work` loads (SQLite loads it in that commit, PostgreSQL when it is read). No
/// conversation is claimable by another owner while handed.
async fn an_ingest_claims_the_work_it_stores_for_its_inbox(store: DynStore) {
    let claim = |owner: &str, at: i64, limit: usize| InboxClaim {
        owner: owner.into(),
        now: t(at),
        lease: LEASE,
        limit,
        events: 32,
    };
    let items = [
        message(inbound("wamid.1", 1, Some(t(0)), "one"), t(0)),
        message(inbound("wamid.2", 2, Some(t(0)), "two"), t(0)),
        message(inbound("wamid.3", 1, Some(t(0)), "three"), t(0)),
    ];
    let (outcomes, handed) = store
        .ingest_and_claim(&items, Some(&claim("a", 1, 10)))
        .await
        .unwrap();
    let ids: Vec<Id> = handed.iter().map(|w| w.conversation_id).collect();
    // New conversations: their work is what the ingest stored, handed over read.
    let handed: Vec<ConversationWork> = handed
        .into_iter()
        .map(|w| w.read().expect("handed over read").unwrap())
        .collect();
    let stored: Vec<Id> = outcomes
        .iter()
        .map(|o| match o {
            IngestOutcome::Stored {
                conversation_id, ..
            } => *conversation_id,
            other => panic!("{other:?}"),
        })
        .collect();
    let (first, second) = (stored[0], stored[1]);
    assert_eq!(stored[2], first);
    // In the order their messages came, each once, with all of its events.
    assert_eq!(ids, vec![first, second]);
    assert!(handed
        .iter()
        .zip(&ids)
        .all(|(w, &id)| w.conversation.id == id));
    assert_eq!(handed[0].events.len(), 2);
    assert_eq!(handed[0], store.load_work(first, 32).await.unwrap());
    assert_eq!(handed[1], store.load_work(second, 32).await.unwrap());
    assert!(store
        .claim_work("b", t(2), LEASE, 10, 32)
        .await
        .unwrap()
        .is_empty());
    // Held by "a": its step commits under that lease.
    let event = handed[1].events[0].id;
    let mut commit = step(second, event, "a", t(3));
    commit.release = true;
    store.commit_step_and_claim(&commit, None).await.unwrap();

    // A message for a conversation a worker holds is stored and left to that worker (its
    // release finds it); a duplicate is not claimed at all.
    let (outcomes, handed) = store
        .ingest_and_claim(
            &[
                message(inbound("wamid.4", 1, Some(t(4)), "four"), t(4)),
                message(inbound("wamid.1", 1, Some(t(0)), "one"), t(4)),
            ],
            Some(&claim("c", 4, 10)),
        )
        .await
        .unwrap();
    assert!(
        matches!(outcomes[0], IngestOutcome::Stored { conversation_id, .. } if conversation_id == first)
    );
    assert_eq!(outcomes[1], IngestOutcome::Duplicate);
    assert!(handed.is_empty(), "{handed:?}");

    // Once its lease has run out, a conversation is leased again by the next message's
    // ingest (`first` is still "a"'s until t(31)).
    let handed = read_the_one_handed(&store, ingest_one(&store, "wamid.7", 1, 40, "f").await).await;
    assert_eq!(handed.conversation.id, first);
    assert_eq!(handed.events.len(), 4, "{handed:?}");
    assert!(store
        .claim_work("g", t(41), LEASE, 10, 32)
        .await
        .unwrap()
        .is_empty());

    // A conversation whose earlier messages were all answered (`second`): its new message
    // is all its work, handed over read, equal to what a load gives (the state its step
    // left included).
    let handed = ingest_one(&store, "wamid.8", 2, 42, "h").await;
    assert_eq!(handed.len(), 1);
    let work = handed
        .into_iter()
        .next()
        .unwrap()
        .read()
        .expect("handed over read")
        .unwrap();
    assert_eq!(work.conversation.id, second);
    assert_eq!(work.events.len(), 1, "{work:?}");
    assert_eq!(work, store.load_work(second, 32).await.unwrap());

    // At most `limit` conversations; the rest wait for a claim.
    let (_, handed) = store
        .ingest_and_claim(
            &[
                message(inbound("wamid.5", 5, Some(t(5)), "five"), t(5)),
                message(inbound("wamid.6", 6, Some(t(5)), "six"), t(5)),
            ],
            Some(&claim("d", 5, 1)),
        )
        .await
        .unwrap();
    let claimed = store.claim_work("e", t(6), LEASE, 10, 32).await.unwrap();
    let mut all: Vec<Id> = handed
        .iter()
        .map(|w| w.conversation_id)
        .chain(claimed.iter().map(|w| w.conversation.id))
        .collect();
    all.sort();
    assert_eq!(handed.len(), 1);
    assert_eq!(all.len(), 2, "{all:?}");
}

/// Work an ingest leaves to a claim is announced to the processes sharing the database
/// (PostgreSQL's `NOTIFY`), so an idle one claims it at once rather than at its next poll;
/// work the ingest leases for its own inbox, or that a worker holds, is not. SQLite, which
/// one process owns, announces nothing.
async fn work_left_to_a_claim_is_announced(store: DynStore) {
    let Some(mut heard) = store.work_announcements() else {
        assert_eq!(store.backend(), "sqlite");
        return;
    };
    let wait = std::time::Duration::from_secs(10);
    // Once listening, it says so (what was announced before is not delivered to it).
    tokio::time::timeout(wait, heard.recv())
        .await
        .expect("the listener listens")
        .unwrap();
    let quiet = |heard: &mut tokio::sync::mpsc::Receiver<()>| {
        let heard = heard.try_recv();
        heard.is_err()
    };
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(500));
    let claim = InboxClaim {
        owner: "a".into(),
        now: t(1),
        lease: LEASE,
        limit: 10,
        events: 32,
    };

    // Leased for this process's inbox: nothing to announce.
    let ingest = |items: Vec<IngestItem>, claim: Option<InboxClaim>| {
        let store = store.clone();
        async move {
            store
                .ingest_and_claim(&items, claim.as_ref())
                .await
                .unwrap()
        }
    };
    ingest(
        vec![message(inbound("wamid.1", 1, Some(t(0)), "one"), t(0))],
        Some(claim),
    )
    .await;
    settle().await;
    assert!(quiet(&mut heard), "work leased by the ingest was announced");
    // Held by "a": left to it, nothing to announce.
    ingest(
        vec![message(inbound("wamid.2", 1, Some(t(2)), "two"), t(2))],
        None,
    )
    .await;
    settle().await;
    assert!(quiet(&mut heard), "work a worker holds was announced");
    // No room here: both conversations wait for a claim, announced once.
    ingest(
        vec![
            message(inbound("wamid.3", 2, Some(t(3)), "three"), t(3)),
            message(inbound("wamid.4", 3, Some(t(3)), "four"), t(3)),
        ],
        None,
    )
    .await;
    tokio::time::timeout(wait, heard.recv())
        .await
        .expect("work left to a claim announced")
        .unwrap();
    settle().await;
    assert!(quiet(&mut heard), "announced more than once");
}

/// A reply handed over by a commit whose answer was lost (the inbox never pushed it to the
/// outbox) is found by its hand-over lease's end and given back: claimable at once, not
/// after the lease and `unknown_outcome_wait`. A reply handed with another end, or one
/// already given back, is untouched.
async fn a_lost_commits_handed_reply_is_given_back_by_its_lease_end(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store.claim_work("a", t(1), LEASE, 10, 32).await.unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.outbound = vec![text_to(conversation, 1, "one")];
    commit.release = true;
    let until =
        t(2) + chrono::TimeDelta::from_std(LEASE).unwrap() + chrono::TimeDelta::microseconds(3);
    commit.hand_until = Some(until);
    let committed = store
        .commit_step_and_claim(&commit, Some(LEASE))
        .await
        .unwrap();
    let handed = committed.handed.expect("handed over").id;
    // Its lease is the one the step asked for, to the microsecond.
    assert!(claim_ids(&store, "b", t(3), 10).await.is_empty());
    // Another end, or another owner: nothing.
    let other_end = until + chrono::TimeDelta::microseconds(1);
    assert_eq!(
        store
            .release_handed(conversation, "a", other_end)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .release_handed(conversation, "b", until)
            .await
            .unwrap(),
        0
    );
    // Its own: given back, and the next claim (anyone's) sends it, not in doubt.
    assert_eq!(
        store
            .release_handed(conversation, "a", until)
            .await
            .unwrap(),
        1
    );
    let items = store
        .claim_outbound("b", t(4), LEASE, IN_DOUBT, 10)
        .await
        .unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![handed]);
    assert_eq!(items[0].attempts, 0);
    assert_eq!(
        store
            .release_handed(conversation, "a", until)
            .await
            .unwrap(),
        0
    );
}

conformance!(
    a_lost_commits_handed_reply_is_given_back_by_its_lease_end,
    an_accepted_send_says_when_its_line_is_empty,
    work_left_to_a_claim_is_announced,
    an_ingest_claims_the_work_it_stores_for_its_inbox,
    claim_work_loads_what_load_work_loads,
    a_handed_reply_is_never_claimed_twice,
    the_first_reply_comes_leased_with_its_commit,
    steps_committed_together_each_get_their_own_reply,
    only_a_ready_head_of_line_is_handed_over,
    a_late_handed_reply_renews_its_lease_only_while_nobody_took_it,
    replies_are_created_when_queued_not_when_the_step_began,
);
