//! An agent step with `retrieval: { embeddings }`: the question's nearest passages are
//! recorded before the step uses them, and an event handled again (after a crash) finds the
//! same passages from the record, with the embedding model down; the passages' vectors are
//! kept once per process.

use super::*;
use crate::domain::chat::ChatAnswer;
use crate::models::{Embedder, Model, Models, ScriptedQueue};
use std::sync::Arc;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FLOW: &str = r#"id: support
triggers:
  - keyword: [help]
steps:
  - agent:
      model: assistant
      instructions: You answer questions about Acme.
      scope: questions about Acme
      knowledge: [knowledge/shipping.md, knowledge/password.md]
      passages: 1
      retrieval: { embeddings: vectors }
      if_window_closed: skip
"#;

/// A text's vector: how often it speaks of parcels, and of accounts.
struct Concepts;

impl Respond for Concepts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let data: Vec<serde_json::Value> = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t.as_str().unwrap().to_lowercase();
                let count = |ws: &[&str]| ws.iter().filter(|w| t.contains(**w)).count() as f64;
                let v = [
                    count(&["ship", "parcel", "arrive", "deliver"]),
                    count(&["password", "sign in", "account", "login"]),
                ];
                json!({ "index": i, "embedding": v })
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({ "data": data }))
    }
}

#[tokio::test]
async fn an_event_handled_again_finds_the_recorded_passages_with_the_model_down() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(Concepts)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::create_dir_all(dir.path().join("knowledge")).unwrap();
    std::fs::write(
        dir.path().join("knowledge/shipping.md"),
        "Orders ship within 2 working days.",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("knowledge/password.md"),
        "Passwords are reset from the login page.",
    )
    .unwrap();
    std::fs::write(flows.join("support.yaml"), FLOW).unwrap();
    let report = crate::flows::load_dir(&crate::flows::LoadSettings {
        dir: &flows,
        scripts_dir: &flows,
        templates: &templates(),
        window: Duration::from_secs(86400),
        overrides: None,
    });
    assert_eq!(report.errors(), 0, "{}", report.render());
    let store = crate::store::connect(&crate::config::DatabaseConfig {
        url: format!("sqlite://{}", dir.path().join("parley.db").display()),
        ..Default::default()
    })
    .await
    .unwrap();
    let chat = ScriptedQueue::default();
    let mut models = Models::default();
    models.insert(Model::new("assistant", Arc::new(chat.clone())));
    let embedder = Embedder::new(
        "vectors",
        &format!("{}/v1", server.uri()),
        None,
        "e",
        Duration::from_secs(5),
        2,
        0,
    )
    .unwrap();
    models.insert_embedder("vectors", Arc::new(embedder));
    let engine = FlowEngine::new(report.set.unwrap(), EngineOptions::default())
        .with_models(Arc::new(models), Some(store.clone()));
    let now = fixtures::start();
    let conversation = fixtures::conversation(ConversationState::default(), None);
    let contact = fixtures::ana();
    let event = StoredEvent {
        id: 7,
        conversation_id: 1,
        kind: EventKind::Message(fixtures::from_ana(
            "wamid.1",
            InboundContent::Text {
                body: "help, when does my parcel arrive?".into(),
            },
            now,
        )),
        received_at: now,
    };
    let window = WindowPolicy::default().state(Some(now), now);
    let input = StepInput {
        conversation: &conversation,
        contact: &contact,
        event: &event,
        window: &window,
        now,
        broadcast_reply: None,
    };
    chat.push(ChatAnswer {
        text: "Within 2 working days.".into(),
        ..Default::default()
    });
    let (_, first) = engine.handle_traced(input).await;
    let found = |t: &trace::Trace| t.exchanges[0].passages.clone();
    assert!(
        found(&first)[0].contains("knowledge/shipping.md"),
        "{first:#?}"
    );
    assert!(
        first
            .decisions
            .iter()
            .any(|d| d.contains("passages embedded first")),
        "{first:#?}"
    );
    // The passages were embedded once, then the question.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    // The same event again (a crash before its commit), the model down: the record answers.
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    chat.push(ChatAnswer {
        text: "Within 2 working days.".into(),
        ..Default::default()
    });
    let (_, again) = engine.handle_traced(input).await;
    assert_eq!(found(&again), found(&first));
    assert!(
        again.decisions.iter().any(|d| d.contains("as recorded")),
        "{again:#?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 0);

    // A new event with the model down: BM25 alone for that turn, and the trace says so.
    let next = StoredEvent {
        id: 8,
        ..event.clone()
    };
    chat.push(ChatAnswer {
        text: "Within 2 working days.".into(),
        ..Default::default()
    });
    let (_, down) = engine
        .handle_traced(StepInput {
            event: &next,
            ..input
        })
        .await;
    assert!(
        down.decisions
            .iter()
            .any(|d| d.contains("failed") && d.contains("BM25 alone")),
        "{down:#?}"
    );
}
