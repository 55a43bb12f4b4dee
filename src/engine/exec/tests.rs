//! The interpreter on its own: it hands out its I/O and resumes with the answer given,
//! without a network or a script thread.

use super::{Answer, Effect, Interpreter};
use crate::domain::{ConversationState, OutboundContent};
use crate::engine::fixtures::{load, OneText};
use crate::engine::{EngineOptions, Library};
use crate::flows::script;
use serde_json::json;

const FLOW: &str = r#"id: order
triggers:
  - regex: '(?P<oid>\d+)'
steps:
  - http:
      method: POST
      url: "https://shop.example/orders/{{ vars.oid }}"
      body: { who: "{{ contact.name }}" }
      save_as: res
      on_error: failed
  - set: { status: "= vars.res.body.status", first: "{{ vars.oid }}" }
  - send: "Order {{ vars.first }} is {{ vars.status }}"
  - end: {}
  - id: failed
    send: "Cannot check now"
"#;

/// The flows alone: no script pool, no HTTP client.
fn library() -> (Library, tempfile::TempDir) {
    let (set, dir) = load(&[("order.yaml", FLOW)], &[]);
    (Library::new(set, EngineOptions::default()), dir)
}

/// Runs the interpreter for `text`, answering its http request with `http` and its
/// scripts here, on this thread; returns the requests seen and the replies.
fn run(
    library: &Library,
    text: &str,
    http: Result<serde_json::Value, String>,
) -> (Vec<String>, Vec<String>) {
    let one = OneText::new(ConversationState::default(), 1, text);
    let input = one.input();
    let rhai = script::sandbox();
    let mut interpreter = Interpreter::new(library, &input, None);
    let mut requests = Vec::new();
    let mut http = Some(http);
    while let Some(effect) = interpreter.next() {
        let answer = match effect {
            Effect::Http(req) => {
                requests.push(format!("{} {} {}", req.method, req.url, req.body.unwrap()));
                Answer::Http(http.take().expect("one request"))
            }
            Effect::Script(job) => Answer::Script(
                script::run_on(&rhai, &job.ast, job.inputs).map_err(|e| e.to_string()),
            ),
        };
        interpreter.resume(answer);
    }
    let done = interpreter.finish();
    let replies = done
        .out
        .replies
        .iter()
        .map(|r| match &r.content {
            OutboundContent::Text { body, .. } => body.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    (requests, replies)
}

#[test]
fn an_http_step_hands_out_its_request_and_resumes_with_the_answer() {
    let (library, _dir) = library();
    let answer = json!({ "status": 200, "ok": true, "body": { "status": "shipped" } });
    let (requests, replies) = run(&library, "order 42", Ok(answer));
    assert_eq!(
        requests,
        vec![r#"POST https://shop.example/orders/42 {"who":"Ana"}"#]
    );
    assert_eq!(replies, vec!["Order 42 is shipped"]);
}

#[test]
fn a_failed_or_refused_answer_takes_the_on_error_path() {
    let (library, _dir) = library();
    let refused = json!({ "status": 503, "ok": false, "body": "" });
    assert_eq!(
        run(&library, "order 7", Ok(refused)).1,
        vec!["Cannot check now"]
    );
    let unreachable = Err("shop.example did not answer within 5s".to_string());
    assert_eq!(
        run(&library, "order 7", unreachable).1,
        vec!["Cannot check now"]
    );
}
