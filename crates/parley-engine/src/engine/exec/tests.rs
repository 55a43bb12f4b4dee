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
            Effect::Model(_) | Effect::Embed(_) => unreachable!("no agent steps here"),
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

/// What an `http` answer carries into a message: a NUL, an escape sequence or a bell never
/// reaches the customer (no phone shows them, and some break what reads them); line
/// breaks, tabs and the direction marks of right-to-left text stay.
#[test]
fn characters_no_phone_shows_are_dropped_from_a_flows_message() {
    let (library, _dir) = library();
    let answer = json!({ "status": 200, "ok": true,
        "body": { "status": "ship\u{0}ped\u{1b}[31m\u{7}\n\tsoon \u{200f}שלום" } });
    let (_, replies) = run(&library, "order 42", Ok(answer));
    assert_eq!(
        replies,
        vec!["Order 42 is shipped[31m\n\tsoon \u{200f}שלום"]
    );
}

const KINDS: &str = r#"id: kinds
typing: true
triggers: [{ keyword: [react] }]
steps:
  - send: { react: "👍" }
  - send: { react: "{{ message.text }}" }
  - send: { location_request: "Where, {{ contact.name }}?" }
  - http: { url: "https://shop.example/slow" }
"#;

#[test]
fn a_reaction_goes_to_the_message_handled_and_a_bad_templated_emoji_is_not_sent() {
    let (set, _dir) = load(&[("kinds.yaml", KINDS)], &[]);
    let library = Library::new(set, EngineOptions::default());
    let one = OneText::new(ConversationState::default(), 1, "react");
    let input = one.input();
    let mut interpreter = Interpreter::new(&library, &input, None);
    let mut waited_typing = Vec::new();
    while let Some(effect) = interpreter.next() {
        waited_typing.push(interpreter.waits_in_typing_flow());
        let answer = match effect {
            Effect::Http(_) => Answer::Http(Ok(json!({ "status": 200, "ok": true, "body": {} }))),
            Effect::Script(_) => unreachable!("no scripts here"),
            Effect::Model(_) | Effect::Embed(_) => unreachable!("no agent steps here"),
        };
        interpreter.resume(answer);
    }
    assert_eq!(
        waited_typing,
        vec![true],
        "the http step waits in a typing flow"
    );
    let done = interpreter.finish();
    let contents: Vec<&OutboundContent> = done.out.replies.iter().map(|r| &r.content).collect();
    assert_eq!(
        contents,
        vec![
            &OutboundContent::Reaction {
                message_id: "wamid.1".into(),
                emoji: "👍".into()
            },
            &OutboundContent::LocationRequest {
                body: "Where, Ana?".into()
            },
        ]
    );
    let error = done
        .out
        .state
        .last_error
        .expect("the skipped reaction is recorded");
    assert_eq!(error.step, 1);
    assert!(
        error.message.contains("`react` has letters"),
        "{}",
        error.message
    );
}

#[test]
fn a_flow_without_typing_waits_without_it() {
    let (library, _dir) = library();
    let one = OneText::new(ConversationState::default(), 1, "order 42");
    let input = one.input();
    let mut interpreter = Interpreter::new(&library, &input, None);
    assert!(interpreter.next().is_some());
    assert!(!interpreter.waits_in_typing_flow());
}

/// Hot reload keeps the last `VERSIONS_KEPT` versions of a flow for the runs that started on
/// them; a run on an older one goes on with the current version, as after a restart.
#[test]
fn reloads_keep_the_last_versions_of_a_flow() {
    use crate::engine::library::VERSIONS_KEPT;
    let edit = |n: usize| FLOW.replace("Cannot check now", &format!("Cannot check now ({n})"));
    let (first, _dir) = load(&[("order.yaml", &edit(0))], &[]);
    let first_version = first.get("order").unwrap().version;
    let library = Library::new(first, EngineOptions::default());
    let mut versions = vec![first_version];
    for n in 1..=VERSIONS_KEPT + 4 {
        let (set, _dir) = load(&[("order.yaml", &edit(n))], &[]);
        versions.push(set.get("order").unwrap().version);
        library.replace(set);
    }
    assert_eq!(library.versions_kept("order"), VERSIONS_KEPT);
    let current = *versions.last().unwrap();
    let oldest_kept = versions[versions.len() - VERSIONS_KEPT];
    assert_eq!(
        library.flow_version("order", oldest_kept).unwrap().version,
        oldest_kept
    );
    // Forgotten: the current version stands in.
    assert_eq!(
        library
            .flow_version("order", first_version)
            .unwrap()
            .version,
        current
    );
    // Loading a version again (an edit undone) makes it the newest: the next new version
    // forgets the one after it instead.
    let oldest = versions.len() - VERSIONS_KEPT;
    let (again, _dir) = load(&[("order.yaml", &edit(oldest))], &[]);
    library.replace(again);
    let (last, _dir) = load(&[("order.yaml", &edit(999))], &[]);
    let newest = last.get("order").unwrap().version;
    library.replace(last);
    assert_eq!(library.versions_kept("order"), VERSIONS_KEPT);
    let undone = versions[oldest];
    assert_eq!(
        library.flow_version("order", undone).unwrap().version,
        undone
    );
    let next = versions[oldest + 1];
    assert_eq!(library.flow_version("order", next).unwrap().version, newest);
}
