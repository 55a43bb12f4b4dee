//! Flow insights as the engine tallies them: each visit of a step is entered once and left
//! once (answered, timed out, invalid, dropped, errored), each run started once and ended
//! once, whatever path a conversation takes.

use super::*;
use std::collections::BTreeMap;

const SURVEY: &str = r#"id: survey
triggers: [{ keyword: [survey] }]
steps:
  - send: "Hi"
  - ask: { text: "Name?", expect: text, save_as: name, timeout: 10m }
  - ask: { text: "Age?", expect: number, save_as: age, retries: 0, timeout: 10m }
  - send: "Thanks"
"#;

const MENU: &str = r#"id: menu
triggers: [{ keyword: [menu], interrupt: true }]
steps:
  - send: "Menu"
"#;

/// The counts of every event so far, by (flow, step, what).
#[derive(Default)]
struct Counted(BTreeMap<(String, String, String), i64>);

impl Counted {
    fn add(&mut self, out: &StepOutput) {
        for c in &out.insights.counts {
            *self
                .0
                .entry((c.flow.clone(), c.step.clone(), c.what.to_string()))
                .or_default() += c.n;
        }
    }

    fn get(&self, flow: &str, step: &str, what: &str) -> i64 {
        self.0
            .get(&(flow.into(), step.into(), what.into()))
            .copied()
            .unwrap_or(0)
    }

    fn only(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((f, s, w), n)| format!("{f}/{s}/{w}={n}"))
            .collect()
    }
}

async fn say(h: &mut Harness, c: &mut Counted, text: &str) {
    let out = h.send(InboundContent::Text { body: text.into() }).await;
    c.add(&out);
}

#[tokio::test]
async fn a_finished_run_counts_each_step_entered_and_answered_once() {
    let mut h = harness(&[SURVEY]);
    let mut c = Counted::default();
    say(&mut h, &mut c, "survey").await;
    say(&mut h, &mut c, "Ana").await;
    say(&mut h, &mut c, "42").await;
    assert_eq!(
        c.only(),
        vec![
            "survey//finished=1",
            "survey//started=1",
            "survey/step 1/answered=1",
            "survey/step 1/entered=1",
            "survey/step 2/answered=1",
            "survey/step 2/entered=1",
            "survey/step 3/answered=1",
            "survey/step 3/entered=1",
            "survey/step 4/answered=1",
            "survey/step 4/entered=1",
        ]
    );
}

#[tokio::test]
async fn a_waiting_step_left_by_its_timeout_is_timed_out() {
    let mut h = harness(&[SURVEY]);
    let mut c = Counted::default();
    say(&mut h, &mut c, "survey").await;
    // The run waits at step 2: entered, not left.
    assert_eq!(c.get("survey", "step 2", "entered"), 1);
    assert_eq!(c.get("survey", "step 2", "answered"), 0);
    h.now += chrono::Duration::minutes(11);
    let due: Vec<NewTimer> = h.timers.drain(..).collect();
    for (i, t) in due.into_iter().enumerate() {
        let fire = TimerFire {
            timer_id: i as i64,
            timer: t.timer,
            due_at: t.due_at,
        };
        let out = h.event(EventKind::Timer(fire)).await;
        c.add(&out);
    }
    assert_eq!(c.get("survey", "step 2", "timed_out"), 1);
    assert_eq!(c.get("survey", "", "timed_out"), 1);
    assert_eq!(c.get("survey", "", "finished"), 0);
    assert!(h.state().run.is_none());
}

#[tokio::test]
async fn a_run_another_flow_interrupts_is_dropped_where_it_waited() {
    let mut h = harness(&[SURVEY, MENU]);
    let mut c = Counted::default();
    say(&mut h, &mut c, "survey").await;
    say(&mut h, &mut c, "Ana").await;
    say(&mut h, &mut c, "menu").await;
    assert_eq!(c.get("survey", "step 3", "entered"), 1);
    assert_eq!(c.get("survey", "step 3", "dropped"), 1);
    assert_eq!(c.get("survey", "", "dropped"), 1);
    assert_eq!(c.get("menu", "", "started"), 1);
    assert_eq!(c.get("menu", "", "finished"), 1);
    assert_eq!(c.get("menu", "step 1", "answered"), 1);
}

#[tokio::test]
async fn an_answer_that_stays_invalid_is_counted_invalid() {
    let mut h = harness(&[SURVEY]);
    let mut c = Counted::default();
    say(&mut h, &mut c, "survey").await;
    say(&mut h, &mut c, "Ana").await;
    // No retries: the first invalid answer ends the run (no `on_invalid`).
    say(&mut h, &mut c, "forty").await;
    assert_eq!(c.get("survey", "step 3", "invalid"), 1);
    assert_eq!(c.get("survey", "", "invalid"), 1);
    assert_eq!(c.get("survey", "step 4", "entered"), 0);
}

#[tokio::test]
async fn opting_out_drops_the_run() {
    let mut h = harness_opts(
        &[SURVEY],
        EngineOptions {
            opt_out_keywords: vec!["stop".into()],
            ..Default::default()
        },
    );
    let mut c = Counted::default();
    say(&mut h, &mut c, "survey").await;
    say(&mut h, &mut c, "STOP").await;
    assert_eq!(c.get("survey", "step 2", "dropped"), 1);
    assert_eq!(c.get("survey", "", "dropped"), 1);
}

#[tokio::test]
async fn handoffs_errors_and_goto_flow_end_runs_by_their_outcome() {
    let mut h = harness(&[
        "id: h\ntriggers: [{keyword: [human]}]\nsteps:\n  - handoff: { timeout: 1h }\n",
        "id: e\ntriggers: [{keyword: [boom]}]\nsteps:\n  - script: \"throw \\\"boom\\\";\"\n  - send: never\n",
        "id: g\ntriggers: [{keyword: [go]}]\nsteps:\n  - goto_flow: t\n",
        "id: t\ntriggers: [{keyword: [t]}]\nsteps:\n  - send: there\n  - end: {}\n",
    ]);
    let mut c = Counted::default();
    say(&mut h, &mut c, "boom").await;
    say(&mut h, &mut c, "go").await;
    say(&mut h, &mut c, "human").await;
    assert_eq!(c.get("e", "step 1", "errored"), 1);
    assert_eq!(c.get("e", "", "errored"), 1);
    assert_eq!(c.get("e", "step 2", "entered"), 0);
    assert_eq!(c.get("g", "step 1", "answered"), 1);
    assert_eq!(c.get("g", "", "moved"), 1);
    assert_eq!(c.get("t", "", "started"), 1);
    assert_eq!(c.get("t", "step 2", "answered"), 1, "{:?}", c.only());
    assert_eq!(c.get("t", "", "finished"), 1);
    assert_eq!(c.get("h", "step 1", "answered"), 1);
    assert_eq!(c.get("h", "", "handed_off"), 1);
}

#[tokio::test]
async fn nested_steps_and_ids_name_their_counters() {
    let flow = r#"id: n
triggers: [{ keyword: [go] }]
steps:
  - if: "true"
    then:
      - send: "a"
      - send: "b"
  - id: last
    send: "c"
"#;
    let mut h = harness(&[flow]);
    let mut c = Counted::default();
    say(&mut h, &mut c, "go").await;
    assert_eq!(c.get("n", "step 1", "answered"), 1, "{:?}", c.only());
    assert_eq!(c.get("n", "step 1.1", "answered"), 1, "{:?}", c.only());
    assert_eq!(c.get("n", "step 1.2", "answered"), 1);
    assert_eq!(c.get("n", "last", "answered"), 1);
    assert_eq!(c.get("n", "", "finished"), 1);
}
