//! Experiments' insights' counters (issue 58): an event's arm counts are added in the
//! transaction that commits it, with the flow insights (so a replayed or refused event adds
//! nothing); summed per period by experiment, arm, step and counter, filtered by flow;
//! steps committed together (PostgreSQL's group commit, and a step in its own transaction)
//! add up exactly.

use super::fixtures::*;
use crate::domain::experiment::RunArm;
use crate::domain::insight::{Outcome, StepCount, Tally};
use crate::domain::ContactPatch;
use crate::store::{ArmInsightRow, DynStore, StoreError, MAX_FLOW_FILTER};

const HOUR: i64 = 3600;

fn arm(experiment: &str, arm: &str) -> RunArm {
    RunArm {
        experiment: experiment.into(),
        arm: arm.into(),
    }
}

/// A run entering arm `b` of survey/opening and reaching its ask.
fn entered_tally() -> Tally {
    let b = arm("survey/opening", "b");
    let mut t = Tally::default();
    t.outcome("survey", Outcome::Started);
    t.step("survey", "ask", StepCount::Entered);
    t.arm_started(&b);
    t.arm_step(&b, "ask", StepCount::Entered);
    t
}

fn rows(v: &[(&str, &str, &str, &str, i64)]) -> Vec<ArmInsightRow> {
    v.iter()
        .map(|(experiment, arm, step, what, n)| ArmInsightRow {
            experiment: experiment.to_string(),
            arm: arm.to_string(),
            step: step.to_string(),
            what: what.to_string(),
            n: *n,
        })
        .collect()
}

async fn arm_counts_are_added_with_their_step_and_never_twice(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(2));
    commit.insights = entered_tally();
    store.commit_step(&commit).await.unwrap();
    let again = store.commit_step(&commit).await;
    assert!(
        matches!(again, Err(StoreError::NotFound { .. })),
        "{again:?}"
    );

    // An hour later: the answer finishes the run; other experiments count on their own.
    let (second, _) = receive(&store, "wamid.2", 1, t(HOUR + 5)).await;
    store
        .claim_conversations("a", t(HOUR + 6), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, second, "a", t(HOUR + 7));
    let b = arm("survey/opening", "b");
    commit.insights.arm_step(&b, "ask", StepCount::Answered);
    commit.insights.arm_outcome(&b, Outcome::Finished);
    commit.insights.arm_finish_ms(&b, 3_600_005_000);
    commit
        .insights
        .arm_started(&arm("survey@version", "current"));
    commit.insights.arm_started(&arm("survey2/x", "a"));
    store.commit_step(&commit).await.unwrap();

    let (h0, h1, h2) = (
        t(0).timestamp(),
        t(HOUR).timestamp(),
        t(2 * HOUR).timestamp(),
    );
    let all = store.experiment_insights(h0, h2, None).await.unwrap();
    assert!(!all.truncated);
    assert_eq!(
        all.rows,
        rows(&[
            ("survey/opening", "b", "", "finish_ms", 3_600_005_000),
            ("survey/opening", "b", "", "finished", 1),
            ("survey/opening", "b", "", "started", 1),
            ("survey/opening", "b", "ask", "answered", 1),
            ("survey/opening", "b", "ask", "entered", 1),
            ("survey2/x", "a", "", "started", 1),
            ("survey@version", "current", "", "started", 1),
        ])
    );
    // The flow filter: `survey`'s experiments, not `survey2`'s.
    let survey = store
        .experiment_insights(h0, h2, Some("survey"))
        .await
        .unwrap();
    assert_eq!(survey.rows.len(), 6, "{:?}", survey.rows);
    assert!(survey.rows.iter().all(|r| r.experiment != "survey2/x"));
    // The first hour alone.
    let first = store
        .experiment_insights(h0, h1, Some("survey"))
        .await
        .unwrap();
    assert_eq!(
        first.rows,
        rows(&[
            ("survey/opening", "b", "", "started", 1),
            ("survey/opening", "b", "ask", "entered", 1),
        ])
    );
    // The flow insights got their counts in the same commits, and only theirs.
    let flows = store.flow_insights(h0, h2, None).await.unwrap();
    assert_eq!(flows.rows.len(), 2, "{:?}", flows.rows);
    // A name past the bound matches nothing, and hostile characters are just text.
    let long = "x".repeat(MAX_FLOW_FILTER + 1);
    assert!(store
        .experiment_insights(h0, h2, Some(&long))
        .await
        .unwrap()
        .rows
        .is_empty());
    assert!(store
        .experiment_insights(h0, h2, Some("%' or 1=1 --"))
        .await
        .unwrap()
        .rows
        .is_empty());
}

async fn an_arm_step_refused_for_a_lost_lease_counts_nothing(store: DynStore) {
    let (event, conversation) = receive(&store, "wamid.1", 1, t(0)).await;
    store
        .claim_conversations("a", t(1), LEASE, 10)
        .await
        .unwrap();
    store
        .claim_conversations("b", t(40), LEASE, 10)
        .await
        .unwrap();
    let mut commit = step(conversation, event, "a", t(41));
    commit.insights = entered_tally();
    assert!(store.commit_step(&commit).await.is_err());
    let (h0, h1) = (t(0).timestamp(), t(HOUR).timestamp());
    let sums = store.experiment_insights(h0, h1, None).await.unwrap();
    assert!(sums.rows.is_empty(), "{:?}", sums.rows);
    commit.owner = "b".into();
    store.commit_step(&commit).await.unwrap();
    let sums = store.experiment_insights(h0, h1, None).await.unwrap();
    assert_eq!(sums.rows.len(), 2);
    assert!(sums.rows.iter().all(|r| r.n == 1), "{:?}", sums.rows);
}

async fn arm_steps_committed_at_once_add_up_exactly(store: DynStore) {
    // 20 conversations commit at once, half in arm a and half in b: on PostgreSQL they
    // share group commits, and one (with a contact change) has its own transaction.
    let mut commits = Vec::new();
    for n in 0..20u32 {
        let (event, conversation) = receive(&store, &format!("wamid.{n}"), n, t(0)).await;
        let mut commit = step(conversation, event, "a", t(2));
        let which = arm("survey/opening", if n % 2 == 0 { "a" } else { "b" });
        commit.insights.arm_started(&which);
        commit.insights.arm_step(&which, "ask", StepCount::Entered);
        commit.insights.arm_outcome(&which, Outcome::Finished);
        commit.insights.arm_finish_ms(&which, i64::from(n) * 1000);
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
        .experiment_insights(t(0).timestamp(), t(HOUR).timestamp(), Some("survey"))
        .await
        .unwrap();
    // finish_ms: a = 0+2+…+18 = 90 s, b = 1+3+…+19 = 100 s.
    assert_eq!(
        sums.rows,
        rows(&[
            ("survey/opening", "a", "", "finish_ms", 90_000),
            ("survey/opening", "a", "", "finished", 10),
            ("survey/opening", "a", "", "started", 10),
            ("survey/opening", "a", "ask", "entered", 10),
            ("survey/opening", "b", "", "finish_ms", 100_000),
            ("survey/opening", "b", "", "finished", 10),
            ("survey/opening", "b", "", "started", 10),
            ("survey/opening", "b", "ask", "entered", 10),
        ])
    );
}

/// A message of `flow` costing `micros`, to `conversation`.
fn costing(conversation: crate::store::Id, flow: &str, micros: i64) -> crate::store::NewOutbound {
    let mut m = text_to(conversation, 1, "hi");
    m.flow = Some(flow.into());
    m.step = Some("ask".into());
    m.cost = Some(predicted(crate::domain::pricing::Category::Service, micros));
    m
}

/// The cost of an experiment's flow's messages, by the arm each conversation is recorded
/// in: other flows, conversations in no arm and failed messages cost nothing here.
async fn messages_cost_is_summed_by_the_conversations_arm(store: DynStore) {
    use crate::domain::experiment::{ArmChoice, ArmWhy};
    let mut ids = Vec::new();
    for (n, arm) in [(1, Some("a")), (2, Some("b")), (3, Some("b")), (4, None)] {
        let (event, conversation) = receive(&store, &format!("wamid.{n}"), n, t(0)).await;
        store
            .claim_conversations("a", t(1), LEASE, 10)
            .await
            .unwrap();
        let mut commit = step(conversation, event, "a", t(2));
        if let Some(arm) = arm {
            commit.state.experiments.insert(
                "survey/opening".into(),
                ArmChoice {
                    arm: arm.into(),
                    why: ArmWhy::Drawn,
                },
            );
        }
        store.commit_step(&commit).await.unwrap();
        ids.push(conversation);
    }
    for (k, (c, flow, micros)) in [
        (ids[0], "survey", 1_000),
        (ids[0], "survey", 1_000),
        (ids[1], "survey", 5_000),
        (ids[2], "survey", 7_000),
        (ids[2], "other", 9_000),
        (ids[3], "survey", 11_000),
    ]
    .into_iter()
    .enumerate()
    {
        sent(
            &store,
            costing(c, flow, micros),
            &format!("wamid.out{k}"),
            t(10 + k as i64),
        )
        .await;
    }
    let costs = store
        .arm_costs(t(0), t(HOUR), "survey/opening")
        .await
        .unwrap();
    let got: Vec<(&str, i64, i64)> = costs
        .iter()
        .map(|c| (c.arm.as_str(), c.messages, c.predicted_micros))
        .collect();
    assert_eq!(got, vec![("a", 2, 2_000), ("b", 2, 12_000)]);
    // Another period, another experiment, a hostile name: nothing.
    assert!(store
        .arm_costs(t(HOUR), t(2 * HOUR), "survey/opening")
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .arm_costs(t(0), t(HOUR), "survey@version")
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .arm_costs(t(0), t(HOUR), "survey/\"x")
        .await
        .unwrap()
        .is_empty());
    let long = format!("survey/{}", "x".repeat(500));
    assert!(store
        .arm_costs(t(0), t(HOUR), &long)
        .await
        .unwrap()
        .is_empty());
}

conformance!(
    messages_cost_is_summed_by_the_conversations_arm,
    arm_counts_are_added_with_their_step_and_never_twice,
    an_arm_step_refused_for_a_lost_lease_counts_nothing,
    arm_steps_committed_at_once_add_up_exactly,
);
