//! Experiments in the interpreter (issue 58): a `split`'s arms drawn by the weights, kept
//! and forced; a flow's candidate version served by the rollout's share, forced, and a run
//! in progress finishing on the version it started on.

use super::*;
use crate::domain::experiment::{ArmWhy, RunArm};

const WELCOME: &str = r#"id: welcome
triggers: [{ keyword: [hi] }]
steps:
  - id: opening
    split:
      short: { weight: 70, then: [ { send: "Short" } ] }
      long: { weight: 30, then: [ { send: "Long" } ] }
  - send: "Bye"
"#;

fn contact_number(i: usize) -> String {
    format!("+1202555{i:04}")
}

/// Puts the harness on contact `i`, with `state`.
fn as_contact(h: &mut Harness, i: usize, state: ConversationState) {
    h.contact.key = contact_number(i);
    h.conversation.state = state;
}

#[tokio::test]
async fn ten_thousand_contacts_split_by_the_weights_and_keep_their_arm() {
    let mut h = harness(&[WELCOME]);
    let mut states = Vec::with_capacity(10_000);
    let mut short = 0;
    for i in 0..10_000 {
        as_contact(&mut h, i, ConversationState::default());
        let said = h.say("hi").await;
        let choice = h.state().experiments["welcome/opening"].clone();
        assert_eq!(choice.why, ArmWhy::Drawn);
        assert_eq!(
            said,
            [
                if choice.arm == "short" {
                    "Short"
                } else {
                    "Long"
                },
                "Bye"
            ]
        );
        short += usize::from(choice.arm == "short");
        states.push(h.state());
    }
    assert!(
        (6_800..=7_200).contains(&short),
        "70 % ± 2: {short} of 10000"
    );
    // A second pass: the arm recorded is kept; drawn afresh (no record, as another
    // sender's conversation) it is the same arm too.
    for (i, state) in states.iter().enumerate() {
        let arm = state.experiments["welcome/opening"].arm.clone();
        as_contact(&mut h, i, state.clone());
        h.say("hi").await;
        assert_eq!(h.state().experiments["welcome/opening"].arm, arm);
        if i % 10 == 0 {
            as_contact(&mut h, i, ConversationState::default());
            h.say("hi").await;
            assert_eq!(
                h.state().experiments["welcome/opening"].arm,
                arm,
                "contact {i}"
            );
        }
    }
}

#[tokio::test]
async fn the_trace_says_why_an_arm_and_a_forced_arm_wins() {
    let mut h = harness(&[WELCOME]);
    as_contact(&mut h, 1, ConversationState::default());
    let (_, t) = h.say_traced("hi").await;
    let drawn = t
        .decisions
        .iter()
        .find(|d| d.starts_with("split "))
        .unwrap()
        .clone();
    let arm = h.state().experiments["welcome/opening"].arm.clone();
    let b = crate::domain::experiment::bucket(&contact_number(1), "welcome/opening");
    assert_eq!(
        drawn,
        format!("split welcome/opening: arm {arm}, drawn (bucket {b} of 10000; weights short 70, long 30)")
    );
    assert_eq!(
        h.state().run.as_ref().map(|r| r.arm.clone()),
        None,
        "the run ended"
    );
    let (_, t) = h.say_traced("hi").await;
    assert!(t.decisions.contains(&format!(
        "split welcome/opening: arm {arm}, kept from this contact's first time here"
    )));
    // Forced: the other arm, whatever was recorded.
    let other = if arm == "short" { "long" } else { "short" };
    h.contact.attributes.insert(
        "experiment_arms".into(),
        json!({ "welcome/opening": other }),
    );
    let (out, t) = h.say_traced("hi").await;
    assert!(t.decisions.contains(&format!(
        "split welcome/opening: arm {other}, forced by the contact's experiment_arms field"
    )));
    assert_eq!(
        bodies(&out)[0],
        if other == "short" { "Short" } else { "Long" }
    );
    assert_eq!(h.state().experiments["welcome/opening"].why, ArmWhy::Forced);
    // The force removed: back to the drawn arm, drawn again (a forced record is not kept).
    h.contact.attributes.remove("experiment_arms");
    h.say("hi").await;
    assert_eq!(h.state().experiments["welcome/opening"].arm, arm);
}

const SURVEY: &str = "id: survey\ntriggers: [{ keyword: [survey] }]\nsteps:\n  - ask: { text: \"Name?\", save_as: name }\n  - send: \"Thanks {{ vars.name }} (current)\"\n";
const SURVEY_V2: &str = "id: survey\ncandidate: v2\nsteps:\n  - ask: { text: \"Your name, please?\", save_as: name }\n  - send: \"Thanks {{ vars.name }} (v2)\"\n";

/// Starts the survey for contact `i`; whether it was served the candidate.
async fn start_survey(h: &mut Harness, i: usize) -> bool {
    as_contact(h, i, ConversationState::default());
    let said = h.say("survey").await;
    said == ["Your name, please?"]
}

#[tokio::test]
async fn new_runs_follow_the_share_and_runs_in_progress_keep_their_version() {
    let mut h = harness(&[SURVEY, SURVEY_V2]);
    assert!(!start_survey(&mut h, 1).await, "no rollout: 0 %");
    let run = h.state().run.unwrap();
    assert_eq!(
        run.arm,
        Some(RunArm {
            experiment: "survey@version".into(),
            arm: "current".into()
        })
    );
    h.engine.library().set_rollout("survey", "v2", 10);
    let mut on_v2 = Vec::new();
    for i in 0..2_000 {
        if start_survey(&mut h, i).await {
            on_v2.push(i);
            let run = h.state().run.unwrap();
            assert_eq!(
                run.version,
                h.engine.flows().candidate("survey").unwrap().version
            );
            assert_eq!(run.arm.unwrap().arm, "v2");
        }
    }
    assert!((140..=260).contains(&on_v2.len()), "10 %: {}", on_v2.len());
    // Raising the share never moves a contact back.
    h.engine.library().set_rollout("survey", "v2", 50);
    for &i in &on_v2 {
        assert!(start_survey(&mut h, i).await, "contact {i} stays on v2");
    }
    // A run waiting at the question finishes on its version after a rollback, and one on
    // the current version after a promote.
    let candidate = on_v2[0];
    assert!(start_survey(&mut h, candidate).await);
    h.engine.library().set_rollout("survey", "v2", 0);
    assert_eq!(h.say("Ana").await, ["Thanks Ana (v2)"]);
    assert!(
        !start_survey(&mut h, candidate).await,
        "rolled back: new runs are current"
    );
    h.engine.library().set_rollout("survey", "v2", 100);
    assert_eq!(h.say("Bo").await, ["Thanks Bo (current)"]);
    assert!(start_survey(&mut h, candidate).await, "promoted");
    // A share set for another label does not apply to this candidate.
    h.engine.library().set_rollout("survey", "v1", 100);
    assert!(!start_survey(&mut h, candidate).await);
}

#[tokio::test]
async fn a_forced_version_wins_over_the_share_and_the_trace_says_why() {
    let mut h = harness(&[SURVEY, SURVEY_V2]);
    h.engine.library().set_rollout("survey", "v2", 10);
    as_contact(&mut h, 7, ConversationState::default());
    let b = crate::domain::experiment::bucket(&contact_number(7), "survey@version");
    let (_, t) = h.say_traced("survey").await;
    let line = if b < 1000 {
        format!("flow survey: version v2 (candidate), drawn (bucket {b} below the share 10 %)")
    } else {
        format!("flow survey: the current version (bucket {b}, share 10 %)")
    };
    assert!(t.decisions.contains(&line), "{:?}", t.decisions);
    h.contact
        .attributes
        .insert("experiment_arms".into(), json!({ "survey@version": "v2" }));
    h.conversation.state = ConversationState::default();
    let (out, t) = h.say_traced("survey").await;
    assert!(
        t.decisions.contains(
            &"flow survey: version v2 (candidate), forced by the contact's experiment_arms field"
                .to_string()
        ),
        "{:?}",
        t.decisions
    );
    assert_eq!(bodies(&out), ["Your name, please?"]);
    assert_eq!(h.state().experiments["survey@version"].why, ArmWhy::Forced);
    h.contact.attributes.insert(
        "experiment_arms".into(),
        json!({ "survey@version": "current" }),
    );
    h.engine.library().set_rollout("survey", "v2", 100);
    h.conversation.state = ConversationState::default();
    assert_eq!(h.say("survey").await, ["Name?"]);
}

#[tokio::test]
async fn goto_flow_serves_the_target_flows_version_too() {
    let menu = "id: menu\ntriggers: [{ keyword: [menu] }]\nsteps:\n  - goto_flow: survey\n";
    let mut h = harness(&[SURVEY, SURVEY_V2, menu]);
    h.engine.library().set_rollout("survey", "v2", 100);
    as_contact(&mut h, 3, ConversationState::default());
    assert_eq!(h.say("menu").await, ["Your name, please?"]);
    let run = h.state().run.unwrap();
    assert_eq!(
        run.version,
        h.engine.flows().candidate("survey").unwrap().version
    );
    assert_eq!(h.say("Cy").await, ["Thanks Cy (v2)"]);
}

#[tokio::test]
async fn a_run_coming_round_to_its_split_again_is_counted_in_its_arm_once() {
    let looping = r#"id: loop
triggers: [{ keyword: [loop] }]
steps:
  - id: opening
    split:
      a: { weight: 1, then: [ { send: "A" } ] }
      b: { weight: 1, then: [ { send: "B" } ] }
  - ask: { text: "Again?", save_as: again }
  - goto: opening
"#;
    let mut h = harness(&[looping]);
    let started = |out: &StepOutput| {
        out.insights
            .arms
            .iter()
            .filter(|c| c.what == "started")
            .map(|c| c.n)
            .sum::<i64>()
    };
    assert_eq!(
        started(
            &h.send(InboundContent::Text {
                body: "loop".into()
            })
            .await
        ),
        1
    );
    let arm = h.state().run.unwrap().arm.unwrap();
    assert_eq!(arm.experiment, "loop/opening");
    let out = h.send(InboundContent::Text { body: "yes".into() }).await;
    assert_eq!(started(&out), 0, "the same run, the same arm");
    assert_eq!(h.state().run.unwrap().arm, Some(arm));
}
