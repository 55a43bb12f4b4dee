//! Scored agent conversations: rows added with the commit of their step; claimed with a
//! lease that gives a row to one owner only; recorded by their owner only; held for the
//! day's budget; stale pending rows skipped; the judge's spend, recent scores and the
//! report's reads.

use super::fixtures::*;
use crate::domain::insight::ScoreRequest;
use crate::store::{DynStore, ScoreRecord, ScoreStatus};
use chrono::TimeDelta;

fn request(flow: &str, started_ms: i64) -> ScoreRequest {
    ScoreRequest {
        flow: flow.into(),
        step: "chat".into(),
        outcome: "finished",
        started_ms,
    }
}

/// Commits one event of a new conversation that ended `requests`.
async fn commit_with(
    store: &DynStore,
    wamid: &str,
    contact: u32,
    requests: Vec<ScoreRequest>,
) -> i64 {
    let (event, conversation) = receive(store, wamid, contact, t(10)).await;
    store
        .claim_conversations("a", t(11), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(12));
    commit.insights.to_score = requests;
    store.commit_step(&commit).await.unwrap();
    conversation
}

fn scored(score: f64, cost: i64) -> ScoreRecord {
    ScoreRecord {
        score: Some(score),
        verdicts: Some(r#"[{"criterion":"polite","pass":true,"reason":"ok"}]"#.into()),
        transcript: Some(r#"[{"from":"customer","text":"hi"}]"#.into()),
        tokens: 100,
        cost_micros: cost,
        reason: None,
    }
}

async fn rows_are_claimed_once_recorded_and_reported(store: DynStore) {
    let started = t(5).timestamp_millis();
    let c1 = commit_with(&store, "wamid.1", 1, vec![request("support", started)]).await;
    commit_with(&store, "wamid.2", 2, vec![request("support", started)]).await;
    commit_with(&store, "wamid.3", 3, vec![request("billing", started)]).await;

    let a = store.claim_scores("a", t(20), LEASE, 2).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].conversation_id, c1);
    assert_eq!(
        (
            a[0].flow.as_str(),
            a[0].step.as_str(),
            a[0].outcome.as_str()
        ),
        ("support", "chat", "finished")
    );
    assert_eq!(
        (a[0].started_us, a[0].ended_us),
        (t(5).timestamp_micros(), t(12).timestamp_micros())
    );
    // Another owner gets only the row left; nothing while the leases hold.
    let b = store.claim_scores("b", t(21), LEASE, 10).await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].flow, "billing");
    assert!(store
        .claim_scores("b", t(22), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    // Only the owner records; a row is recorded once.
    assert!(!store
        .record_score(a[0].id, "b", ScoreStatus::Scored, &scored(1.0, 10), t(30))
        .await
        .unwrap());
    assert!(store
        .record_score(a[0].id, "a", ScoreStatus::Scored, &scored(1.0, 10), t(30))
        .await
        .unwrap());
    assert!(!store
        .record_score(a[0].id, "a", ScoreStatus::Scored, &scored(1.0, 10), t(30))
        .await
        .unwrap());
    assert!(store
        .record_score(a[1].id, "a", ScoreStatus::Scored, &scored(0.5, 30), t(31))
        .await
        .unwrap());
    let failed = ScoreRecord {
        reason: Some("judge failed".into()),
        tokens: 7,
        ..ScoreRecord::default()
    };
    assert!(store
        .record_score(b[0].id, "b", ScoreStatus::Failed, &failed, t(32))
        .await
        .unwrap());

    assert_eq!(
        store.judge_spend("support", "chat", t(0)).await.unwrap(),
        (200, 40)
    );
    assert_eq!(
        store.judge_spend("support", "chat", t(31)).await.unwrap(),
        (100, 30)
    );
    assert_eq!(
        store.judge_spend("billing", "chat", t(0)).await.unwrap(),
        (7, 0)
    );
    assert_eq!(
        store.recent_scores("support", "chat", 50).await.unwrap(),
        vec![0.5, 1.0]
    );

    let rows = store.scored_rows(t(0), t(100), None).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.transcript.is_none() && r.flow == "support"));
    assert!(store
        .scored_rows(t(0), t(100), Some("billing"))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .scored_rows(t(31) + TimeDelta::seconds(1), t(100), None)
        .await
        .unwrap()
        .is_empty());
    let worst = store
        .worst_scores("support", "chat", t(0), t(100), 1)
        .await
        .unwrap();
    assert_eq!(worst.len(), 1);
    assert_eq!(worst[0].score, 0.5);
    assert_eq!(
        worst[0].transcript.as_deref(),
        Some(r#"[{"from":"customer","text":"hi"}]"#)
    );
    let statuses = store.score_statuses(t(0), t(100), None).await.unwrap();
    let s: Vec<(String, String, i64)> = statuses
        .into_iter()
        .map(|s| (s.flow, s.status, s.n))
        .collect();
    assert_eq!(
        s,
        vec![
            ("billing".into(), "failed".into(), 1),
            ("support".into(), "scored".into(), 2)
        ]
    );
}

async fn held_rows_wait_and_stale_ones_are_skipped(store: DynStore) {
    commit_with(&store, "wamid.1", 1, vec![request("support", 0)]).await;
    let jobs = store.claim_scores("a", t(20), LEASE, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    // Held past the lease (the day's budget is spent): nobody claims it before then.
    store.hold_score(jobs[0].id, "a", t(5000)).await.unwrap();
    assert!(store
        .claim_scores("b", t(4000), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_scores("b", t(5001), LEASE, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Ended before the cut: skipped, and never claimed again.
    assert_eq!(store.skip_stale_scores(t(11), "budget").await.unwrap(), 0);
    assert_eq!(store.skip_stale_scores(t(13), "budget").await.unwrap(), 1);
    assert!(store
        .claim_scores("c", t(9000), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let s = store
        .score_statuses(t(0), t(100), Some("support"))
        .await
        .unwrap();
    assert_eq!((s[0].status.as_str(), s[0].n), ("skipped", 1));
}

conformance!(
    rows_are_claimed_once_recorded_and_reported,
    held_rows_wait_and_stale_ones_are_skipped
);
