//! Flow insights' counters: added in the transaction that commits their event, so an event
//! committed twice (a replay after a crash) or refused (a lost lease) counts nothing more;
//! summed per period by flow, step and counter; steps committed together (PostgreSQL's
//! group commit) add up exactly.

use super::fixtures::*;
use crate::domain::insight::{Outcome, StepCount, Tally};
use crate::domain::ContactPatch;
use crate::store::{DynStore, InsightRow, StoreError};

fn survey_tally() -> Tally {
    let mut t = Tally::default();
    t.outcome("survey", Outcome::Started);
    t.step("survey", "step 1", StepCount::Entered);
    t.step("survey", "step 1", StepCount::Answered);
    t.step("survey", "step 2", StepCount::Entered);
    t
}

fn rows(v: &[(&str, &str, &str, i64)]) -> Vec<InsightRow> {
    v.iter()
        .map(|(flow, step, what, n)| InsightRow {
            flow: flow.to_string(),
            step: step.to_string(),
            what: what.to_string(),
            n: *n,
        })
        .collect()
}

const HOUR: i64 = 3600;

async fn counts_are_added_with_their_step_and_never_twice(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.insights = survey_tally();
    store.commit_step(&commit).await.unwrap();
    // The same event committed again (a replay after a crash) is refused whole.
    let again = store.commit_step(&commit).await;
    assert!(
        matches!(again, Err(StoreError::NotFound { .. })),
        "{again:?}"
    );

    // A later event, an hour later: its own hour.
    let (second, _) = receive(&store, "wamid.2", 1, t(HOUR + 5)).await;
    store
        .claim_conversations("a", t(HOUR + 6), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, second, "a", t(HOUR + 7));
    commit
        .insights
        .step("survey", "step 2", StepCount::Answered);
    commit.insights.outcome("survey", Outcome::Finished);
    commit.insights.outcome("other", Outcome::Started);
    store.commit_step(&commit).await.unwrap();

    let (h0, h1, h2) = (
        t(0).timestamp(),
        t(HOUR).timestamp(),
        t(2 * HOUR).timestamp(),
    );
    let both = store.flow_insights(h0, h2, None).await.unwrap();
    assert!(!both.truncated);
    assert_eq!(
        both.rows,
        rows(&[
            ("other", "", "started", 1),
            ("survey", "", "finished", 1),
            ("survey", "", "started", 1),
            ("survey", "step 1", "answered", 1),
            ("survey", "step 1", "entered", 1),
            ("survey", "step 2", "answered", 1),
            ("survey", "step 2", "entered", 1),
        ])
    );
    let first_hour = store.flow_insights(h0, h1, Some("survey")).await.unwrap();
    assert_eq!(
        first_hour.rows,
        rows(&[
            ("survey", "", "started", 1),
            ("survey", "step 1", "answered", 1),
            ("survey", "step 1", "entered", 1),
            ("survey", "step 2", "entered", 1),
        ])
    );
    let later = store.flow_insights(h1, h2, Some("other")).await.unwrap();
    assert_eq!(later.rows, rows(&[("other", "", "started", 1)]));
    assert!(store
        .flow_insights(h2, h2 + HOUR, None)
        .await
        .unwrap()
        .rows
        .is_empty());
}

async fn a_step_refused_for_a_lost_lease_counts_nothing(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    // "a" stalls; "b" takes the conversation over once the lease ran out.
    store
        .claim_conversations("b", t(40), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(41));
    commit.insights = survey_tally();
    assert!(store.commit_step(&commit).await.is_err());
    let sums = store
        .flow_insights(t(0).timestamp(), t(HOUR).timestamp(), None)
        .await
        .unwrap();
    assert!(sums.rows.is_empty(), "{:?}", sums.rows);
    // "b" commits the event: counted once.
    commit.owner = "b".into();
    store.commit_step(&commit).await.unwrap();
    let sums = store
        .flow_insights(t(0).timestamp(), t(HOUR).timestamp(), Some("survey"))
        .await
        .unwrap();
    assert_eq!(sums.rows.len(), 4);
    assert!(sums.rows.iter().all(|r| r.n == 1), "{:?}", sums.rows);
}

async fn steps_committed_at_once_add_up_exactly(store: DynStore) {
    // 20 conversations commit at the same moment: on PostgreSQL they share group commits
    // (and one, with a contact change, its own transaction), all adding to the same counters.
    let mut commits = Vec::new();
    for n in 0..20u32 {
        let (event, conversation) = receive(&store, &format!("wamid.{n}"), n, t(0)).await;
        let mut commit = step(conversation, event, "a", t(2));
        commit.insights = survey_tally();
        if n == 7 {
            commit.contact_patch = Some(ContactPatch {
                name: Some("Ana".into()),
                ..Default::default()
            });
        }
        commits.push(commit);
    }
    store
        .claim_conversations("a", t(1), LEASE, 100)
        .await
        .unwrap();
    let results = futures::future::join_all(commits.iter().map(|c| store.commit_step(c))).await;
    for r in results {
        r.unwrap();
    }
    let sums = store
        .flow_insights(t(0).timestamp(), t(HOUR).timestamp(), Some("survey"))
        .await
        .unwrap();
    assert_eq!(
        sums.rows,
        rows(&[
            ("survey", "", "started", 20),
            ("survey", "step 1", "answered", 20),
            ("survey", "step 1", "entered", 20),
            ("survey", "step 2", "entered", 20),
        ])
    );
}

fn from_step(conversation: crate::store::Id, flow: &str, step: &str) -> crate::store::NewOutbound {
    let mut m = text_to(conversation, 1, step);
    m.flow = Some(flow.into());
    m.step = Some(step.into());
    m.cost = Some(predicted(crate::domain::pricing::Category::Service, 3_400));
    m
}

/// Each step's messages, by the flow and step they record: how many left, were delivered,
/// read or failed, and what the ledger predicts for those not failed.
async fn deliveries_are_summed_by_flow_and_step(store: DynStore) {
    use crate::domain::DeliveryStatus as S;
    let (_, c) = receive(&store, "wamid.in", 1, t(0)).await;
    let mut ids = Vec::new();
    for (k, (flow, step)) in [("f", "ask"), ("f", "ask"), ("f", "ask"), ("g", "hi")]
        .into_iter()
        .enumerate()
    {
        ids.push(
            sent(
                &store,
                from_step(c, flow, step),
                &format!("wamid.{k}"),
                t(10 + k as i64),
            )
            .await,
        );
    }
    for (wamid, status, code) in [
        ("wamid.0", S::Read, None),
        ("wamid.1", S::Delivered, None),
        ("wamid.2", S::Failed, Some(131026)),
    ] {
        store
            .ingest(&[status_item(wamid, status, code)])
            .await
            .unwrap();
    }
    // Queued, not sent yet.
    store
        .enqueue(&[from_step(c, "f", "thanks")], t(20))
        .await
        .unwrap();
    let f = store.step_deliveries(t(0), t(60), Some("f")).await.unwrap();
    let row = |flow: &str, step: &str, n: [i64; 6]| crate::store::StepDelivery {
        flow: flow.into(),
        step: step.into(),
        messages: n[0],
        sent: n[1],
        delivered: n[2],
        read: n[3],
        failed: n[4],
        predicted_micros: n[5],
        actual_micros: 0,
    };
    assert_eq!(
        f,
        vec![
            row("f", "ask", [3, 3, 2, 1, 1, 6_800]),
            row("f", "thanks", [1, 0, 0, 0, 0, 3_400]),
        ]
    );
    let all = store.step_deliveries(t(0), t(60), None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], row("g", "hi", [1, 1, 0, 0, 0, 3_400]));
    // The period is the messages' own time.
    assert!(store
        .step_deliveries(t(21), t(60), None)
        .await
        .unwrap()
        .is_empty());
}

fn status_item(
    wamid: &str,
    s: crate::domain::DeliveryStatus,
    code: Option<i64>,
) -> crate::store::IngestItem {
    status(wamid, s, code, t(30))
}

conformance!(
    deliveries_are_summed_by_flow_and_step,
    counts_are_added_with_their_step_and_never_twice,
    a_step_refused_for_a_lost_lease_counts_nothing,
    steps_committed_at_once_add_up_exactly,
);
