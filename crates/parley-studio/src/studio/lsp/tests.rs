//! The server on an in-memory connection: a panic inside the analysis is answered with an
//! error and the session goes on.

use super::*;
use crate::config::Config;
use lsp_server::{Message, Notification, Request, RequestId};
use serde_json::json;
use std::sync::Arc;

fn request(id: i32, method: &str, params: serde_json::Value) -> Message {
    Request::new(RequestId::from(id), method.into(), params).into()
}

fn response(client: &Connection, id: i32) -> lsp_server::Response {
    loop {
        match client.receiver.recv().expect("the server went away") {
            Message::Response(r) if r.id == RequestId::from(id) => return r,
            _ => {}
        }
    }
}

#[test]
fn a_panic_while_answering_is_an_error_reply_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::embedded_default();
    config.flows.dir = dir.path().join("flows").display().to_string();
    let (server, client) = Connection::memory();
    let serving = std::thread::spawn(move || {
        serve(&server, |_| Setup {
            project: Project::new(Arc::new(config)),
            other_files: Some(Box::new(|_, _| panic!("a bug in a checker"))),
            notice: None,
        })
    });
    client
        .sender
        .send(request(1, "initialize", json!({"capabilities": {}})))
        .unwrap();
    assert!(response(&client, 1).result.is_some());
    let say = |method: &str, params| {
        client
            .sender
            .send(Notification::new(method.into(), params).into())
            .unwrap()
    };
    say("initialized", json!({}));
    let uri = format!("file://{}/flows/a.yaml", dir.path().display());
    say(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": "id: a\n"}}),
    );
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}});
    client
        .sender
        .send(request(
            2,
            "textDocument/codeAction",
            json!({"textDocument": {"uri": uri}, "range": range, "context": {"diagnostics": []}}),
        ))
        .unwrap();
    let failed = response(&client, 2);
    let error = failed.error.expect("an error reply");
    assert_eq!(error.code, lsp_server::ErrorCode::InternalError as i32);
    client
        .sender
        .send(request(
            3,
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": uri}}),
        ))
        .unwrap();
    assert_eq!(response(&client, 3).result, Some(json!([])));
    client
        .sender
        .send(request(4, "shutdown", json!(null)))
        .unwrap();
    assert!(response(&client, 4).error.is_none());
    say("exit", json!(null));
    assert_eq!(serving.join().unwrap(), Ok(Ending::Shutdown));
}
