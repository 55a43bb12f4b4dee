//! Agent conversations drawn to be scored (issue 59): a run leaving an `agent` step with
//! `score:` carries a `ScoreRequest` under the run's outcome, for the conversations the
//! stable hash draws at the step's `share`, and nothing for a step without `score:`.

use super::*;
use crate::domain::chat::{ChatAnswer, ChatRequest, ToolCall, Usage};
use crate::domain::insight::ScoreRequest;
use crate::models::{ChatModel, Model, ModelError, Models};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Answers with a tool call from a queue (`end` when the queue is empty).
#[derive(Default)]
struct Tools(Mutex<VecDeque<&'static str>>);

#[async_trait]
impl ChatModel for Tools {
    async fn complete(&self, _: &ChatRequest) -> Result<ChatAnswer, ModelError> {
        let name = self.0.lock().unwrap().pop_front().unwrap_or("end");
        let tool_calls = match name {
            "" => vec![],
            name => vec![ToolCall {
                id: format!("call_{name}"),
                name: name.into(),
                arguments: json!({}),
            }],
        };
        Ok(ChatAnswer {
            text: if name.is_empty() {
                "Sure.".into()
            } else {
                String::new()
            },
            tool_calls,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 5,
            },
        })
    }
}

fn support(score: &str) -> String {
    format!(
        r#"id: support
triggers:
  - keyword: [help]
steps:
  - id: chat
    agent:
      model: assistant
      instructions: "You help with Acme orders."
      scope: "orders at Acme"
      tools:
        handoff: {{ message: "A person will answer." }}
        end: true
      if_window_closed: skip
      rubric: ["never promises a refund"]
{score}  - send: "Bye."
"#
    )
}

fn harness_for(flow: &str, model: Arc<Tools>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("support.yaml"), flow).unwrap();
    let report = crate::flows::load_dir(&crate::flows::LoadSettings {
        dir: dir.path(),
        scripts_dir: dir.path(),
        templates: &templates(),
        window: Duration::from_secs(86400),
        overrides: None,
    });
    assert_eq!(report.errors(), 0, "{}", report.render());
    let mut models = Models::default();
    models.insert(Model {
        name: "assistant".into(),
        client: model,
        prices: crate::domain::chat::Prices {
            input_per_million: 1.0,
            output_per_million: 2.0,
        },
        timeout: Duration::from_secs(30),
    });
    let now = fixtures::start();
    Harness {
        engine: FlowEngine::new(report.set.unwrap(), EngineOptions::default())
            .with_models(Arc::new(models), None),
        conversation: fixtures::conversation(ConversationState::default(), None),
        contact: fixtures::ana(),
        now,
        timers: vec![],
        next_event: 1,
        last_inbound: now,
    }
}

async fn say(h: &mut Harness, text: &str) -> StepOutput {
    h.send(InboundContent::Text { body: text.into() }).await
}

const SCORE_ALL: &str = "      score: { judge: assistant, share: 100 }\n";

#[tokio::test]
async fn a_finished_agent_conversation_is_drawn_at_its_end_under_the_runs_outcome() {
    let model = Arc::new(Tools::default());
    model.0.lock().unwrap().extend(["", "end"]);
    let mut h = harness_for(&support(SCORE_ALL), model);
    let started = h.now;
    let first = say(&mut h, "help me").await;
    assert!(first.insights.to_score.is_empty(), "still talking");
    h.now += chrono::Duration::seconds(30);
    let last = say(&mut h, "thanks, that is all").await;
    assert_eq!(
        last.insights.to_score,
        vec![ScoreRequest {
            flow: "support".into(),
            step: "chat".into(),
            outcome: "finished",
            started_ms: started.timestamp_millis(),
        }]
    );
}

#[tokio::test]
async fn a_handed_off_conversation_is_scored_as_handed_off() {
    let model = Arc::new(Tools::default());
    model.0.lock().unwrap().extend(["handoff"]);
    let mut h = harness_for(&support(SCORE_ALL), model);
    let out = say(&mut h, "help, a person please").await;
    let outcomes: Vec<&str> = out.insights.to_score.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, ["handed_off"]);
}

#[tokio::test]
async fn an_agent_without_score_is_never_drawn() {
    let model = Arc::new(Tools::default());
    let mut h = harness_for(&support(""), model);
    let out = say(&mut h, "help").await;
    assert!(out.insights.counts.iter().any(|c| c.what == "finished"));
    assert!(out.insights.to_score.is_empty());
}

#[tokio::test]
async fn the_share_draws_the_same_conversations_every_time() {
    let flow = support("      score: { judge: assistant, share: 50 }\n");
    let mut drawn = Vec::new();
    for id in 1..=200 {
        let mut h = harness_for(&flow, Arc::new(Tools::default()));
        h.conversation.id = id;
        let out = say(&mut h, "help").await;
        if !out.insights.to_score.is_empty() {
            drawn.push(id);
        }
        let bucket = crate::domain::experiment::bucket(&format!("conversation:{id}"), "support");
        assert_eq!(!out.insights.to_score.is_empty(), bucket < 5_000, "{id}");
    }
    assert!((70..=130).contains(&drawn.len()), "{}", drawn.len());
}
