//! Flow rollouts: none at first; set, read back, replaced (share, promoted, candidate,
//! time to the microsecond); one row per flow, listed by flow; shares above 100 clamped.

use super::fixtures::*;
use crate::store::{DynStore, Rollout};

async fn rollouts_are_set_replaced_and_listed_by_flow(store: DynStore) {
    assert!(store.rollouts().await.unwrap().is_empty(), "none at first");
    let at = t(1) + chrono::TimeDelta::microseconds(654_321);
    store
        .set_rollout("welcome", "v2", 10, false, at)
        .await
        .unwrap();
    store
        .set_rollout("billing", "new-menu", 0, false, t(2))
        .await
        .unwrap();
    let all = store.rollouts().await.unwrap();
    assert_eq!(
        all,
        vec![
            Rollout {
                flow: "billing".into(),
                candidate: "new-menu".into(),
                share: 0,
                promoted: false,
                updated_at: t(2),
            },
            Rollout {
                flow: "welcome".into(),
                candidate: "v2".into(),
                share: 10,
                promoted: false,
                updated_at: at,
            },
        ]
    );

    // A promote replaces the row; a later rollback clears `promoted`.
    store
        .set_rollout("welcome", "v2", 100, true, t(3))
        .await
        .unwrap();
    let welcome = |all: Vec<Rollout>| all.into_iter().find(|r| r.flow == "welcome").unwrap();
    let w = welcome(store.rollouts().await.unwrap());
    assert_eq!((w.share, w.promoted, w.updated_at), (100, true, t(3)));
    store
        .set_rollout("welcome", "v3", 0, false, t(4))
        .await
        .unwrap();
    let w = welcome(store.rollouts().await.unwrap());
    assert_eq!(
        (w.candidate.as_str(), w.share, w.promoted),
        ("v3", 0, false)
    );
    assert_eq!(store.rollouts().await.unwrap().len(), 2, "one row per flow");

    // Hostile share: clamped to 100.
    store
        .set_rollout("billing", "new-menu", 250, false, t(5))
        .await
        .unwrap();
    let b = store.rollouts().await.unwrap().remove(0);
    assert_eq!(b.share, 100);
}

conformance!(rollouts_are_set_replaced_and_listed_by_flow);
