//! The studio's files, saves, history and restore over HTTP, and who may use them: the
//! project's files listed by kind and read with their version; paths that lead out of the
//! project refused; a save written, recorded and loaded (or kept out of the running flows
//! when it has errors); a save over someone else's newer one refused with both texts; a
//! restore of an earlier save; an exposed studio that takes only an editor's key; and hot
//! reload serving a flow saved from the studio.

use crate::helpers::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

const CUSTOMER: &str = "+34600000077";

const ECHO_TEST: &str = "flow: echo\nsteps:\n  - customer: hi\n  - bot: \"echo: hi\"\n";

fn sha(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `GET /studio/api/file?path=…`.
async fn read(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}/studio/api/file", app.addr))
        .query(&[("path", path)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `GET /studio/api/history?path=…`: the saves.
async fn history(app: &TestApp, path: &str) -> Vec<Value> {
    let r = app
        .http
        .get(format!("{}/studio/api/history", app.addr))
        .query(&[("path", path)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["saves"].as_array().unwrap().clone()
}

async fn save(app: &TestApp, path: &str, text: &str, base: Option<&str>) -> (u16, Value) {
    post_json(
        app,
        "/studio/api/save",
        json!({ "path": path, "text": text, "base_version": base }),
    )
    .await
}

fn on_disk(app: &TestApp, path: &str) -> String {
    std::fs::read_to_string(app._dir.path().join(path)).unwrap()
}

/// The bot's replies to a customer's message in the sandbox.
async fn chat(app: &TestApp, text: &str) -> Vec<String> {
    let (status, body) = post_json(
        app,
        "/sandbox/api/messages",
        json!({ "from": CUSTOMER, "text": text }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    body["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn the_projects_files_are_listed_by_kind_and_read_with_their_version() {
    let app = spawn_with(Options {
        files: vec![
            ("flows/tests/echo.test.yaml", ECHO_TEST),
            (
                "flows/sub/nested.yaml",
                "id: nested\ntriggers: [{keyword: [nest]}]\nsteps: [{send: hi}]\n",
            ),
            ("flows/.hidden.yaml", "id: hidden\n"),
            ("flows/readme.md", "notes"),
            ("knowledge/faq.md", "# FAQ\n"),
            ("knowledge/logo.png", "not text"),
            ("parley.yaml", "listen: 127.0.0.1:8080\n"),
        ],
        ..Default::default()
    })
    .await;
    std::os::unix::fs::symlink(app._dir.path(), app.flows_dir().join("up")).unwrap();
    let (status, body) = get_json(&app, "/studio/api/files").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(
        body["files"],
        json!([
            { "path": "flows/echo.yaml", "kind": "flow", "flow": "echo" },
            { "path": "flows/sub/nested.yaml", "kind": "flow", "flow": "nested" },
            { "path": "flows/tests/echo.test.yaml", "kind": "test", "flow": null },
            { "path": "knowledge/faq.md", "kind": "knowledge", "flow": null },
        ]),
        "hidden files, the link to a folder and files of no kind are not listed"
    );
    let (status, body) = read(&app, "flows/echo.yaml").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["path"], "flows/echo.yaml");
    assert_eq!(body["text"], ECHO_FLOW);
    assert_eq!(body["version"], sha(ECHO_FLOW));
    let (status, body) = read(&app, "flows/tests/echo.test.yaml").await;
    assert_eq!((status, body["text"].as_str()), (200, Some(ECHO_TEST)));
    let (status, _) = read(&app, "flows/missing.yaml").await;
    assert_eq!(status, 404);
    app.shutdown().await;
}

#[tokio::test]
async fn paths_that_lead_out_of_the_project_or_to_other_files_are_refused() {
    let app = spawn_with(Options {
        files: vec![("parley.yaml", "secret: yes\n")],
        ..Default::default()
    })
    .await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "id: secret\n").unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        app.flows_dir().join("link.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink(app._dir.path(), app.flows_dir().join("up")).unwrap();
    std::os::unix::fs::symlink("../parley.yaml", app.flows_dir().join("config.yaml")).unwrap();
    let absolute = outside.path().join("secret.yaml").display().to_string();
    for (path, status) in [
        ("../parley.yaml", 400),
        ("flows/../parley.yaml", 400),
        ("/etc/passwd", 400),
        (absolute.as_str(), 400),
        ("flows/link.yaml", 400),
        ("flows/config.yaml", 400),
        ("flows/up/flows/echo.yaml", 400),
        ("flows/.hidden.yaml", 400),
        ("parley.yaml", 404),
        ("parley.db", 404),
    ] {
        let (got, body) = read(&app, path).await;
        assert_eq!(got, status, "{path}: {body:#}");
        assert!(body["text"].is_null(), "{path}: {body:#}");
        let (got, _) = save(&app, path, "id: x\n", None).await;
        assert!(got == 400 || got == 404, "{path}: saving answered {got}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.yaml")).unwrap(),
        "id: secret\n"
    );
    assert_eq!(on_disk(&app, "parley.yaml"), "secret: yes\n");
    // Knowledge, scripts and rules are changed, never created, from the studio.
    let (status, body) = save(&app, "knowledge/new.md", "# New\n", None).await;
    assert_eq!(status, 404, "{body:#}");
    assert!(!app._dir.path().join("knowledge/new.md").exists());
    app.shutdown().await;
}

#[tokio::test]
async fn a_save_is_written_recorded_and_loaded() {
    let app = spawn_app().await;
    let text = ECHO_FLOW.replace("echo: {{", "echo again: {{");
    let (status, body) = save(&app, "flows/echo.yaml", &text, Some(&sha(ECHO_FLOW))).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["version"], sha(&text));
    assert_eq!(body["loaded"], true, "{body:#}");
    assert_eq!(body["recorded"], true, "{body:#}");
    assert_eq!(body["problems"], json!([]));
    assert_eq!(on_disk(&app, "flows/echo.yaml"), text);
    let (_, read_back) = read(&app, "flows/echo.yaml").await;
    assert_eq!(read_back["text"], text);
    assert_eq!(read_back["version"], sha(&text));
    let names: Vec<_> = std::fs::read_dir(app.flows_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["echo.yaml"], "no temporary file is left");

    let saves = history(&app, "flows/echo.yaml").await;
    assert_eq!(saves.len(), 1, "{saves:#?}");
    assert_eq!(saves[0]["who"], "local");
    assert_eq!(saves[0]["version"], sha(&text));
    assert_eq!(saves[0]["previous"], sha(ECHO_FLOW));
    let diff = saves[0]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-      text: \"echo: {{ message.text }}\"\n+      text: \"echo again: {{ message.text }}\""),
        "{diff}"
    );
    assert_eq!(body["id"], saves[0]["id"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_save_with_an_error_is_kept_on_disk_and_out_of_the_running_flows() {
    let app = spawn_app().await;
    let broken = "id: echo\ntriggers:\n  - keyword: [hi]\nsteps:\n  - sned: oops\n";
    let (status, body) = save(&app, "flows/echo.yaml", broken, Some(&sha(ECHO_FLOW))).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["loaded"], false, "{body:#}");
    let problem = &body["problems"][0];
    assert_eq!(problem["file"], "flows/echo.yaml", "{body:#}");
    assert_eq!(problem["line"], 5, "{body:#}");
    assert_eq!(problem["severity"], "error");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains("`sned` is not a step"),
        "{body:#}"
    );
    assert_eq!(on_disk(&app, "flows/echo.yaml"), broken);
    eventually(
        Duration::from_secs(10),
        "hot reload to see the error",
        || async {
            let (_, r) = get_json(&app, "/readyz").await;
            (r["flows"]["stale"] == true).then_some(())
        },
    )
    .await;
    assert_eq!(chat(&app, "hi there").await, vec!["echo: hi there"]);
    app.shutdown().await;
}

#[tokio::test]
async fn a_save_over_a_newer_version_is_refused_with_both_texts() {
    let app = spawn_app().await;
    let opened = sha(ECHO_FLOW);
    let theirs = ECHO_FLOW.replace("echo:", "theirs:");
    let (status, _) = save(&app, "flows/echo.yaml", &theirs, Some(&opened)).await;
    assert_eq!(status, 200);
    let mine = ECHO_FLOW.replace("echo:", "mine:");
    let (status, body) = save(&app, "flows/echo.yaml", &mine, Some(&opened)).await;
    assert_eq!(status, 409, "{body:#}");
    assert_eq!(body["error"], "conflict");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("changed by someone else"),
        "{body:#}"
    );
    assert_eq!(
        body["theirs"],
        json!({ "text": theirs, "version": sha(&theirs) })
    );
    assert_eq!(body["yours"], json!({ "text": mine }));
    assert_eq!(on_disk(&app, "flows/echo.yaml"), theirs, "nothing written");
    assert_eq!(history(&app, "flows/echo.yaml").await.len(), 1);
    // A new file over one that exists is refused the same way.
    let (status, body) = save(&app, "flows/echo.yaml", &mine, None).await;
    assert_eq!(status, 409, "{body:#}");
    assert_eq!(body["theirs"]["version"], sha(&theirs));
    assert_eq!(on_disk(&app, "flows/echo.yaml"), theirs);
    app.shutdown().await;
}

#[tokio::test]
async fn history_lists_every_save_and_restore_brings_an_earlier_one_back() {
    let key = "ops-key-0123456789";
    let app = spawn_with(Options {
        extra_yaml: format!("api_keys:\n  - {{ name: ops, key_sha256: {} }}\n", sha(key)),
        ..Default::default()
    })
    .await;
    let first = ECHO_FLOW.replace("echo:", "first:");
    let second = ECHO_FLOW.replace("echo:", "second:");
    save(&app, "flows/echo.yaml", &first, Some(&sha(ECHO_FLOW))).await;
    save(&app, "flows/echo.yaml", &second, Some(&sha(&first))).await;
    let saves = history(&app, "flows/echo.yaml").await;
    assert_eq!(saves.len(), 2, "{saves:#?}");
    assert_eq!(saves[0]["version"], sha(&second), "newest first");
    assert_eq!(saves[1]["version"], sha(&first));
    for s in &saves {
        assert_eq!(s["who"], "local");
        assert!(s["at"].as_str().unwrap().ends_with('Z'), "{s}");
    }
    assert!(saves[0]["diff"]
        .as_str()
        .unwrap()
        .contains("-      text: \"first:"));

    let (status, body) = post_json(
        &app,
        "/studio/api/restore",
        json!({ "path": "flows/echo.yaml", "id": saves[1]["id"], "base_version": sha(&second) }),
    )
    .await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["version"], sha(&first));
    assert_eq!(on_disk(&app, "flows/echo.yaml"), first);
    let after = history(&app, "flows/echo.yaml").await;
    assert_eq!(after.len(), 3);
    assert_eq!(after[0]["previous"], sha(&second));
    // A save of another file is not restored over this one.
    let (status, _) = post_json(
        &app,
        "/studio/api/restore",
        json!({ "path": "flows/other.yaml", "id": saves[1]["id"], "base_version": null }),
    )
    .await;
    assert_eq!(status, 404);

    // The same history through the API, with its key, for audit.
    let audit = |key: Option<&str>| {
        let mut r = app
            .http
            .get(format!("{}/api/flows/saves", app.addr))
            .query(&[("path", "flows/echo.yaml")]);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    assert_eq!(audit(None).await.unwrap().status(), 401);
    let r = app
        .http
        .get(format!("{}/api/flows/saves?path=../parley.yaml", app.addr))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let r = audit(Some(key)).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["saves"], json!(after));
    app.shutdown().await;
}

#[tokio::test]
async fn an_exposed_studio_answers_only_an_editors_key_and_records_its_name() {
    let (editor, other) = ("ana-key-0123456789", "bob-key-0123456789");
    let app = spawn_with(Options {
        extra_yaml: format!(
            "api_keys:\n  - {{ name: ana, key_sha256: {} }}\n  - {{ name: bob, key_sha256: {} }}\nstudio: {{ expose: true, editors: [ana] }}\n",
            sha(editor),
            sha(other)
        ),
        ..Default::default()
    })
    .await;
    let files = |key: Option<&str>| {
        let mut r = app
            .http
            .get(format!("{}/studio/api/files", app.addr))
            .header("host", "studio.example.com");
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    let r = files(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(files(Some("nobody's key")).await.unwrap().status(), 401);
    let r = files(Some(other)).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`bob` may not edit"),
        "{body:#}"
    );
    assert_eq!(files(Some(editor)).await.unwrap().status(), 200);
    // The page itself holds no data: a browser opens it without a key, and it asks for one.
    let page = app
        .http
        .get(format!("{}/studio", app.addr))
        .header("host", "studio.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    let text = ECHO_FLOW.replace("echo:", "ana:");
    let r = app
        .http
        .post(format!("{}/studio/api/save", app.addr))
        .bearer_auth(editor)
        .json(&json!({ "path": "flows/echo.yaml", "text": text, "base_version": sha(ECHO_FLOW) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let saves = app
        .http
        .get(format!("{}/studio/api/history", app.addr))
        .query(&[("path", "flows/echo.yaml")])
        .bearer_auth(editor)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(saves["saves"][0]["who"], "ana", "{saves:#}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_studio_not_exposed_refuses_other_names_and_bodies_not_json() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/studio/api/files", app.addr))
        .header("host", "rebound.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`rebound.example.com`"),
        "{body:#}"
    );
    let r = app
        .http
        .get(format!("{}/studio/api/files", app.addr))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(format!("{}/studio/api/save", app.addr))
        .header("content-type", "text/plain")
        .body(
            json!({ "path": "flows/echo.yaml", "text": "id: x\n", "base_version": sha(ECHO_FLOW) })
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(on_disk(&app, "flows/echo.yaml"), ECHO_FLOW);
    app.shutdown().await;
}

#[tokio::test]
async fn hot_reload_serves_a_flow_saved_from_the_studio() {
    let app = spawn_app().await;
    assert_eq!(chat(&app, "bonjour").await, Vec::<String>::new());
    let greet = "id: greet\ntriggers:\n  - keyword: [bonjour]\nsteps:\n  - send: \"Salut !\"\n";
    let (status, body) = save(&app, "flows/greet.yaml", greet, None).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["loaded"], true, "{body:#}");
    eventually(
        Duration::from_secs(10),
        "hot reload to load greet",
        || async {
            let (_, flows) = get_json(&app, "/sandbox/api/flows").await;
            flows["flows"]
                .as_array()?
                .iter()
                .any(|f| f["id"] == "greet")
                .then_some(())
        },
    )
    .await;
    assert_eq!(chat(&app, "bonjour").await, vec!["Salut !"]);
    let (_, files) = get_json(&app, "/studio/api/files").await;
    assert!(
        files["files"]
            .as_array()
            .unwrap()
            .contains(&json!({ "path": "flows/greet.yaml", "kind": "flow", "flow": "greet" })),
        "{files:#}"
    );
    assert_eq!(
        history(&app, "flows/greet.yaml").await[0]["previous"],
        Value::Null
    );
    app.shutdown().await;
}
