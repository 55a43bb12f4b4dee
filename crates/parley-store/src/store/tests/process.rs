//! The process-wide part of the store: the owners of leases, live or expired, and giving
//! back the leases of one owner (a process proven dead) without touching anyone else's.

use super::fixtures::*;
use crate::store::DynStore;

async fn lease_owners(store: &DynStore) -> Vec<String> {
    let mut owners = store.lease_owners().await.expect("lease owners");
    owners.sort();
    owners
}

async fn leases_of_one_owner_are_listed_and_given_back(store: DynStore) {
    store.ping().await.expect("ping");
    assert!(lease_owners(&store).await.is_empty());
    let (_, a) = receive(&store, "wamid.1", 1, t(0)).await;
    let (_, b) = receive(&store, "wamid.2", 2, t(1)).await;
    let (_, c) = receive(&store, "wamid.3", 3, t(2)).await;
    // "dead" holds a conversation, a send and a schedule fire; "live" a conversation.
    assert_eq!(
        store
            .claim_conversations("dead", t(3), LEASE, 2)
            .await
            .unwrap(),
        vec![a, b]
    );
    assert_eq!(
        store
            .claim_conversations("live", t(3), LEASE, 10)
            .await
            .unwrap(),
        vec![c]
    );
    let sends = store
        .enqueue(&[text_to(a, 1, "x"), text_to(c, 3, "y")], t(3))
        .await
        .unwrap();
    assert_eq!(claim_ids(&store, "dead", t(3), 1).await, vec![sends[0]]);
    assert!(store
        .record_schedule_fire("daily", t(3), false, t(3))
        .await
        .unwrap());
    let fire = store
        .claim_schedule_fire("dead", t(3), LEASE)
        .await
        .unwrap()
        .expect("the fire");
    assert_eq!(lease_owners(&store).await, ["dead", "live"]);

    assert_eq!(store.release_leases_of("nobody").await.unwrap(), 0);
    // Two conversations, one send, one fire.
    assert_eq!(store.release_leases_of("dead").await.unwrap(), 4);
    assert_eq!(lease_owners(&store).await, ["live"]);
    assert_eq!(store.release_leases_of("dead").await.unwrap(), 0);

    // What "dead" held is free at once, before its leases would have run out; what
    // "live" holds is not. Its send may have reached the provider: it waits for a status
    // naming it, then goes.
    assert_eq!(
        store
            .claim_conversations("next", t(4), LEASE, 10)
            .await
            .unwrap(),
        vec![a, b]
    );
    assert_eq!(claim_ids(&store, "next", t(4), 10).await, vec![sends[1]]);
    let after_the_wait = t(4) + chrono::Duration::from_std(IN_DOUBT).unwrap();
    assert_eq!(
        claim_ids(&store, "next", after_the_wait, 10).await,
        vec![sends[0]]
    );
    let again = store
        .claim_schedule_fire("next", t(4), LEASE)
        .await
        .unwrap()
        .expect("the fire, given back");
    assert_eq!(again.id, fire.id);
    assert_eq!(lease_owners(&store).await, ["live", "next"]);
}

conformance!(
    leases_of_one_owner_are_listed_and_given_back,
    twilio_content_sids_are_kept_by_account_and_hash_first_one_wins
);

async fn twilio_content_sids_are_kept_by_account_and_hash_first_one_wins(store: DynStore) {
    assert_eq!(store.twilio_content_sid("AC1", "h1").await.unwrap(), None);
    store
        .save_twilio_content_sid("AC1", "h1", "HX1", t(0))
        .await
        .unwrap();
    // Another process created its own meanwhile: the first stays.
    store
        .save_twilio_content_sid("AC1", "h1", "HX2", t(1))
        .await
        .unwrap();
    assert_eq!(
        store
            .twilio_content_sid("AC1", "h1")
            .await
            .unwrap()
            .as_deref(),
        Some("HX1")
    );
    assert_eq!(store.twilio_content_sid("AC2", "h1").await.unwrap(), None);
    assert_eq!(store.twilio_content_sid("AC1", "h2").await.unwrap(), None);
}
