//! `parley lsp` spoken to as an editor speaks to it: JSON-RPC with `Content-Length`
//! framing over the real binary's stdin and stdout, in a project `parley init` wrote.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

const GREET: &str = "id: greet\ntriggers:\n  - keyword: greet\nsteps:\n  - id: ask_name\n    ask:\n      text: \"Your name?\"\n      save_as: name\n  - sned: \"Hello {{ vars.name }}\"\n  - goto: ask_name\n";

/// An editor's end of the session.
struct Client {
    child: Child,
    stdin: ChildStdin,
    from_server: Receiver<Value>,
    next_id: i64,
}

impl Client {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
            .arg("lsp")
            .current_dir(dir)
            .env_remove("PARLEY_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start parley lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(stdout);
            loop {
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    if out.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(n) = header.strip_prefix("Content-Length: ") {
                        length = n.parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                out.read_exact(&mut body).unwrap();
                if tx.send(serde_json::from_slice(&body).unwrap()).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            stdin,
            from_server: rx,
            next_id: 1,
        }
    }

    fn write(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.write(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response (notifications in between are skipped).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.write(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.wait(|m| m["id"] == json!(id) && m.get("method").is_none())
    }

    /// The next message from the server that `wanted` picks (a test that gets none fails
    /// after a minute instead of hanging).
    fn wait(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let msg = self
                .from_server
                .recv_timeout(Duration::from_secs(60))
                .expect("the server said nothing more");
            if wanted(&msg) {
                return msg;
            }
        }
    }

    fn diagnostics_for(&mut self, uri: &str) -> Vec<Value> {
        let msg = self.wait(|m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        msg["params"]["diagnostics"].as_array().unwrap().clone()
    }
}

fn uri_of(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// The first problem `parley check` prints for `flows/greet.yaml`: line, column, message.
fn check_says(dir: &Path) -> (u64, u64, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["check", "--config", "parley.yaml"])
        .current_dir(dir)
        .env_remove("PARLEY_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let line = text
        .lines()
        .find(|l| l.starts_with("flows/greet.yaml:"))
        .unwrap_or_else(|| panic!("parley check said nothing of greet.yaml:\n{text}"));
    let mut parts = line.splitn(4, ':');
    let _file = parts.next();
    let l = parts.next().unwrap().parse().unwrap();
    let c = parts.next().unwrap().parse().unwrap();
    let message = parts
        .next()
        .unwrap()
        .trim_start()
        .strip_prefix("error: ")
        .unwrap();
    (l, c, message.to_string())
}

#[test]
fn an_editor_sees_check_s_problems_takes_the_fix_and_gets_completion_hover_definition_and_outline()
{
    let dir = tempfile::tempdir().unwrap();
    let init = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("init")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    let file = dir.path().join("flows/greet.yaml");
    std::fs::write(&file, GREET).unwrap();
    let (line, column, message) = check_says(dir.path());
    assert_eq!(message, "`sned` is not a step");

    let mut editor = Client::start(dir.path());
    let root = uri_of(dir.path());
    let init = editor.request(
        "initialize",
        json!({"processId": null, "rootUri": root, "capabilities": {},
               "workspaceFolders": [{"uri": root, "name": "project"}]}),
    );
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["textDocumentSync"], json!(1), "{init}");
    assert_eq!(caps["hoverProvider"], json!(true));
    editor.notify("initialized", json!({}));

    // Opened: `parley check`'s problem, at its line and column.
    let uri = uri_of(&file);
    editor.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": GREET}}),
    );
    let found = editor.diagnostics_for(&uri);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(
        d["message"].as_str().unwrap().lines().next(),
        Some(message.as_str())
    );
    assert_eq!(
        d["range"]["start"],
        json!({"line": line - 1, "character": column - 1})
    );
    assert_eq!(
        d["range"]["end"],
        json!({"line": line - 1, "character": column + 3})
    );
    assert_eq!(d["severity"], json!(1));

    // The quick fix.
    let actions = editor.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": d["range"], "context": {"diagnostics": [d]}}),
    );
    let action = &actions["result"][0];
    assert_eq!(action["title"], "Change to `send`", "{actions}");
    let edit = &action["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "send");
    assert_eq!(edit["range"], d["range"]);

    // Taken: the problem goes away.
    let fixed = GREET.replace("sned", "send");
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": fixed}]}),
    );
    assert_eq!(editor.diagnostics_for(&uri), Vec::<Value>::new());

    // Completion of a step id after `goto: ` (line 11, 0-based 10).
    let typing = format!("{fixed}  - goto: \n");
    editor.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": typing}]}),
    );
    let items = editor.request(
        "textDocument/completion",
        json!({"textDocument": {"uri": uri}, "position": {"line": 10, "character": 10}}),
    );
    let labels: Vec<&str> = items["result"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{items}"))
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["ask_name"]);

    // Hover on `save_as` (line 8): the reference's words for it.
    let hover = editor.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 7, "character": 8}}),
    );
    let described = parley::studio::schema::key_doc(&["steps", "ask"], "save_as").unwrap();
    let shown = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("{hover}"));
    assert!(shown.contains(described.description), "{shown}");

    // Go to definition on `goto: ask_name` (line 10): the step's id, line 5.
    let target = editor.request(
        "textDocument/definition",
        json!({"textDocument": {"uri": uri}, "position": {"line": 9, "character": 12}}),
    );
    assert_eq!(target["result"]["uri"], json!(uri), "{target}");
    assert_eq!(
        target["result"]["range"]["start"],
        json!({"line": 4, "character": 8})
    );

    // The outline: the trigger and the steps.
    let symbols = editor.request(
        "textDocument/documentSymbol",
        json!({"textDocument": {"uri": uri}}),
    );
    let names: Vec<&str> = symbols["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{symbols}"))
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["keyword: greet", "ask_name", "step 2", "step 3", "step 4"]
    );

    // A method it does not know.
    let unknown = editor.request("textDocument/rename", json!({}));
    assert_eq!(unknown["error"]["code"], json!(-32601), "{unknown}");

    // A document over the size limit: one problem, and the server goes on.
    let huge_uri = uri_of(dir.path()).to_string() + "/flows/huge.yaml";
    let huge = format!("id: huge\n#{}\n", "x".repeat(1024 * 1024));
    editor.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": huge_uri, "languageId": "yaml", "version": 1, "text": huge}}),
    );
    let found = editor.diagnostics_for(&huge_uri);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0]["message"]
        .as_str()
        .unwrap()
        .contains("larger than"));

    // A flow test file: the test runner's reader says what is wrong with it.
    let test_uri = uri_of(dir.path()).to_string() + "/flows/tests/greet.test.yaml";
    editor.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": test_uri, "languageId": "yaml", "version": 1, "text": "flow: [greet\n"}}),
    );
    let found = editor.diagnostics_for(&test_uri);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("the test file is not valid"),
        "{found:?}"
    );

    let done = editor.request("shutdown", Value::Null);
    assert_eq!(done["result"], Value::Null, "{done}");
    editor.notify("exit", Value::Null);
    let status = editor.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
