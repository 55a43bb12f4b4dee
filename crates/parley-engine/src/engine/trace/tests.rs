//! The trace says what the engine did, and asking for it changes nothing the engine does.

use super::super::fixtures::{load, OneText};
use super::super::{Engine, EngineOptions, FlowEngine, StepOutput};
use super::Trace;
use crate::config::Config;
use crate::domain::ConversationState;
use serde_json::{json, Value};

const QUIZ: &str = r#"id: quiz
triggers:
  - keyword: [quiz]
steps:
  - set: { level: "easy" }
  - ask:
      text: "What is your name?"
      save_as: name
      expect: text
  - tag: player
  - send:
      text: "Thanks {{ vars.name }}"
      if_window_closed: skip
"#;

fn engine() -> (FlowEngine, tempfile::TempDir) {
    let templates = Config::embedded_default().templates;
    let (set, dir) = load(&[("quiz.yaml", QUIZ)], &templates);
    (FlowEngine::new(set, EngineOptions::default()), dir)
}

async fn both(engine: &FlowEngine, state: &ConversationState, text: &str) -> (StepOutput, Trace) {
    let one = OneText::new(state.clone(), 7, text);
    let input = one.input();
    let plain = engine.handle(input).await;
    let (traced, trace) = engine.handle_traced(input).await;
    assert_eq!(
        plain, traced,
        "tracing must not change what the engine does"
    );
    (traced, trace)
}

#[tokio::test]
async fn trace_shows_triggers_steps_vars_and_sends() {
    let (engine, _dir) = engine();
    let (out, trace) = both(&engine, &ConversationState::default(), "Quiz!").await;
    assert_eq!(trace.event, "text «Quiz!»");
    assert_eq!(trace.decisions, vec!["start flow `quiz`"]);
    assert_eq!(
        trace.triggers.as_ref().unwrap().winner.as_deref(),
        Some("quiz")
    );
    let ops: Vec<_> = trace.steps.iter().map(|s| (s.op, s.line)).collect();
    assert_eq!(ops, vec![("set", 5), ("ask", 6)]);
    assert_eq!(trace.steps[1].place(), "step 2 (line 6)");
    assert_eq!(trace.sends.len(), 1);
    assert_eq!(trace.sends[0].summary, "What is your name?");
    assert_eq!(trace.sends[0].if_window_closed, "fail");
    assert!(trace.vars_before.is_empty());
    assert_eq!(
        Value::Object(trace.vars_after.clone()),
        json!({ "level": "easy" })
    );
    assert_eq!(
        trace.run_after.as_deref(),
        Some("flow quiz, step 2 (line 6), waiting for an answer")
    );
    assert!(trace.window.as_ref().unwrap().is_open);

    let (_, trace) = both(&engine, &out.state, "Ana").await;
    assert_eq!(
        trace.run_before.as_deref(),
        Some("flow quiz, step 2 (line 6), waiting for an answer")
    );
    assert_eq!(
        trace.decisions,
        vec![
            "no trigger counts: the message answers the question",
            "the answer is saved as `name`: \"Ana\""
        ]
    );
    // The run ended; its last variables are kept in the trace.
    assert_eq!(
        Value::Object(trace.vars_after.clone()),
        json!({ "level": "easy", "name": "Ana" })
    );
    assert_eq!(trace.run_after, None);
    // The file's steps 3 and 4; the `end` the compiler adds after them is not shown.
    let ran: Vec<_> = trace.steps.iter().map(|s| (s.op, s.step, s.line)).collect();
    assert_eq!(ran, vec![("tag", 3, 10), ("send", 4, 11)]);
    assert_eq!(trace.tags_added, vec!["player"]);
    assert_eq!(trace.sends[0].summary, "Thanks Ana");
    assert_eq!(trace.sends[0].if_window_closed, "skip");
}

#[tokio::test]
async fn trace_of_a_message_nothing_matched() {
    let (engine, _dir) = engine();
    let (out, trace) = both(&engine, &ConversationState::default(), "quizz").await;
    assert!(out.replies.is_empty());
    assert_eq!(trace.decisions, vec!["no flow starts"]);
    let nearest = trace.triggers.unwrap().nearest.unwrap();
    assert_eq!(nearest.flow, "quiz");
    assert!(nearest.why.contains("1 letter away"), "{}", nearest.why);
}
