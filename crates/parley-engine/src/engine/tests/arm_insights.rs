//! Experiment insights as the engine tallies them (issue 58): every count of a run in an
//! arm is counted again under (experiment, arm) — steps, the run's outcome, the time to
//! finish — and only in the experiment's own flow. The arm is set on the run here by hand,
//! as the `split` step does.

use super::*;
use crate::domain::experiment::RunArm;
use crate::domain::insight::FINISH_MS;
use std::collections::BTreeMap;

const SURVEY: &str = r#"id: survey
triggers: [{ keyword: [survey] }]
steps:
  - send: "Hi"
  - ask: { text: "Name?", expect: text, save_as: name, timeout: 10m }
  - send: "Thanks"
"#;

const MENU: &str = r#"id: menu
triggers: [{ keyword: [menu], interrupt: true }]
steps:
  - send: "Menu"
"#;

#[derive(Default)]
struct ArmCounted(BTreeMap<String, i64>);

impl ArmCounted {
    fn add(&mut self, out: &StepOutput) {
        for c in &out.insights.arms {
            *self
                .0
                .entry(format!("{}:{}/{}/{}", c.experiment, c.arm, c.step, c.what))
                .or_default() += c.n;
        }
    }

    fn all(&self) -> Vec<String> {
        self.0.iter().map(|(k, n)| format!("{k}={n}")).collect()
    }
}

/// Starts the survey and puts its run in `experiment`'s arm `b`, as a split would.
async fn start_in_arm(h: &mut Harness, experiment: &str) {
    let out = h
        .send(InboundContent::Text {
            body: "survey".into(),
        })
        .await;
    assert!(out.insights.arms.is_empty(), "no arm yet");
    let run = h.conversation.state.run.as_mut().unwrap();
    run.arm = Some(RunArm {
        experiment: experiment.into(),
        arm: "b".into(),
    });
}

#[tokio::test]
async fn a_finished_run_in_an_arm_counts_its_steps_outcome_and_time() {
    let mut h = harness(&[SURVEY]);
    let mut c = ArmCounted::default();
    start_in_arm(&mut h, "survey/opening").await;
    h.now += chrono::Duration::seconds(90);
    c.add(&h.send(InboundContent::Text { body: "Ana".into() }).await);
    assert_eq!(
        c.all(),
        vec![
            format!("survey/opening:b//{FINISH_MS}=90000"),
            "survey/opening:b//finished=1".to_string(),
            "survey/opening:b/step 2/answered=1".into(),
            "survey/opening:b/step 3/answered=1".into(),
            "survey/opening:b/step 3/entered=1".into(),
        ]
    );
}

#[tokio::test]
async fn a_timed_out_run_counts_under_its_versions_arm() {
    let mut h = harness(&[SURVEY]);
    let mut c = ArmCounted::default();
    start_in_arm(&mut h, "survey@version").await;
    h.now += chrono::Duration::minutes(11);
    let due = h.timers.drain(..).next().unwrap();
    let out = h
        .event(EventKind::Timer(TimerFire {
            timer_id: 1,
            timer: due.timer,
            due_at: due.due_at,
        }))
        .await;
    c.add(&out);
    assert_eq!(
        c.all(),
        vec![
            "survey@version:b//timed_out=1",
            "survey@version:b/step 2/timed_out=1",
        ]
    );
}

#[tokio::test]
async fn a_dropped_run_counts_under_its_arm_and_the_next_flow_does_not() {
    let mut h = harness(&[SURVEY, MENU]);
    let mut c = ArmCounted::default();
    start_in_arm(&mut h, "survey/opening").await;
    c.add(
        &h.send(InboundContent::Text {
            body: "menu".into(),
        })
        .await,
    );
    assert_eq!(
        c.all(),
        vec![
            "survey/opening:b//dropped=1",
            "survey/opening:b/step 2/dropped=1"
        ]
    );
}

#[tokio::test]
async fn another_flows_arm_is_not_counted_here() {
    let mut h = harness(&[SURVEY]);
    let mut c = ArmCounted::default();
    // An arm of another flow's experiment (as after a `goto_flow` kept the run's arm).
    start_in_arm(&mut h, "welcome/opening").await;
    let out = h.send(InboundContent::Text { body: "Ana".into() }).await;
    c.add(&out);
    assert!(c.all().is_empty(), "{:?}", c.all());
    assert!(out.insights.counts.iter().any(|x| x.what == "finished"));
}

const SPLIT: &str = r#"id: welcome
triggers: [{ keyword: [hello] }]
steps:
  - id: opening
    split:
      a: { weight: 50 }
      b: { weight: 50 }
  - send: "Hi"
"#;

#[tokio::test]
async fn a_split_starts_its_arm_and_is_the_arms_first_step() {
    let mut h = harness(&[SPLIT]);
    let mut c = ArmCounted::default();
    c.add(
        &h.send(InboundContent::Text {
            body: "hello".into(),
        })
        .await,
    );
    let arm = h.state().experiments["welcome/opening"].arm.clone();
    let all = c.all();
    let want: Vec<String> = [
        format!("welcome/opening:{arm}//{FINISH_MS}=0"),
        format!("welcome/opening:{arm}//finished=1"),
        format!("welcome/opening:{arm}//started=1"),
        format!("welcome/opening:{arm}/opening/answered=1"),
        format!("welcome/opening:{arm}/opening/entered=1"),
        format!("welcome/opening:{arm}/step 2/answered=1"),
        format!("welcome/opening:{arm}/step 2/entered=1"),
    ]
    .into();
    assert_eq!(all, want);
}
