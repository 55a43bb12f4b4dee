//! What a person who opens Parley's address, or mistypes a path, is told (issue 15, item
//! 5): `/` opens the sandbox (or, with the sandbox off, lists what to open), `/sandbox/`
//! leads to `/sandbox`, an unknown path answers 404 naming what exists — in the JSON shape
//! of its family under `/api`, `/webhooks` and `/sandbox/api`, as text elsewhere — and a
//! sandbox that is off says why and which config key turns it on.

use crate::helpers::*;
use serde_json::{json, Value};

/// The test config's sandbox sender, as `config_yaml` writes it.
const SANDBOX_SENDER: &str =
    "  - { id: 3, name: Sandbox, channel: sandbox, phone_number: \"+15550000000\" }\n";

struct Answer {
    status: u16,
    location: Option<String>,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A request that does not follow redirects.
async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}{path}", app.addr);
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let r = request.send().await.unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Answer {
        status: r.status().as_u16(),
        location: header("location"),
        content_type: header("content-type").unwrap_or_default(),
        body: r.text().await.unwrap(),
    }
}

async fn sandbox_off() -> TestApp {
    spawn_with(Options {
        extra_yaml: "sandbox: { enabled: false }\n".into(),
        ..Default::default()
    })
    .await
}

async fn no_sandbox_sender() -> TestApp {
    spawn_with(Options {
        config_edits: vec![(SANDBOX_SENDER, "")],
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn the_root_and_a_trailing_slash_lead_to_the_sandbox() {
    let app = spawn_app().await;
    for path in ["/", "/sandbox/"] {
        let a = call(&app, "GET", path, None).await;
        assert_eq!(a.status, 303, "{path}: {}", a.body);
        assert_eq!(a.location.as_deref(), Some("/sandbox"), "{path}");
    }
    let a = call(&app, "GET", "/sandbox", None).await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("Parley sandbox"), "{}", a.body);
    app.shutdown().await;
}

#[tokio::test]
async fn with_the_sandbox_off_the_root_lists_what_to_open_and_each_link_answers() {
    let app = sandbox_off().await;
    let a = call(&app, "GET", "/", None).await;
    assert_eq!(a.status, 200);
    assert!(
        a.content_type.starts_with("text/html"),
        "{}",
        a.content_type
    );
    assert!(a.body.contains("README.md"), "{}", a.body);
    assert!(a.body.contains("sandbox: { enabled: false }"), "{}", a.body);
    let links: Vec<String> = regex::Regex::new(r#"href="([^"]+)""#)
        .unwrap()
        .captures_iter(&a.body)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(
        links,
        ["/healthz", "/readyz", "/metrics", "/api/openapi.json"]
    );
    for link in &links {
        let l = call(&app, "GET", link, None).await;
        assert_eq!(l.status, 200, "{link}: {}", l.body);
    }
    app.shutdown().await;
}

#[tokio::test]
async fn an_unknown_page_says_it_does_not_exist_and_what_does() {
    let app = spawn_app().await;
    let a = call(&app, "GET", "/nope", None).await;
    assert_eq!(a.status, 404);
    assert!(
        a.content_type.starts_with("text/plain"),
        "{}",
        a.content_type
    );
    insta::assert_snapshot!("unknown_page", a.body);
    let a = call(&app, "POST", "/sandbox/nope", Some(json!({}))).await;
    assert_eq!(a.status, 404);
    assert!(
        a.body.starts_with("There is nothing at /sandbox/nope."),
        "{}",
        a.body
    );
    // A path of any length is answered briefly.
    let long = format!("/{}", "a".repeat(6000));
    let a = call(&app, "GET", &long, None).await;
    assert_eq!(a.status, 404);
    assert!(a.body.len() < 600, "{}", a.body.len());
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_api_paths_answer_not_found_in_their_familys_shape() {
    let app = spawn_app().await;
    // No API key needed to learn that a path does not exist.
    for (method, path) in [
        ("GET", "/api"),
        ("GET", "/api/"),
        ("GET", "/api/nothing/here"),
        ("POST", "/webhooks/nope"),
    ] {
        let a = call(&app, method, path, Some(json!({}))).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        let body = a.json();
        assert_eq!(body["success"], false, "{path}: {body}");
        assert_eq!(body["error_code"], "NOT_FOUND", "{path}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains(&format!("nothing at {path}.")),
            "{message}"
        );
        assert!(message.contains("/api/openapi.json"), "{message}");
    }
    let a = call(&app, "GET", "/api/nothing/here", None).await;
    insta::assert_json_snapshot!("unknown_api_path", a.json());
    let a = call(&app, "POST", "/api/v1/messages/nope", Some(json!({}))).await;
    assert_eq!(a.status, 404);
    let body = a.json();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("There is nothing at /api/v1/messages/nope."),
        "{body}"
    );
    let a = call(&app, "GET", "/sandbox/api/nope", None).await;
    assert_eq!(a.status, 404);
    let body = a.json();
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("/sandbox"),
        "{body}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_sandbox_turned_off_in_the_config_says_so_and_how_to_turn_it_on() {
    let app = sandbox_off().await;
    for path in ["/sandbox", "/sandbox/anything"] {
        let a = call(&app, "GET", path, None).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(
            a.content_type.starts_with("text/plain"),
            "{}",
            a.content_type
        );
        assert!(
            a.body
                .contains("set `enabled: true` in the `sandbox:` section"),
            "{}",
            a.body
        );
    }
    let a = call(&app, "GET", "/sandbox", None).await;
    insta::assert_snapshot!("sandbox_disabled_page", a.body);
    let a = call(
        &app,
        "POST",
        "/sandbox/api/messages",
        Some(json!({ "from": "+34600000001", "text": "hi" })),
    )
    .await;
    assert_eq!(a.status, 404);
    insta::assert_json_snapshot!("sandbox_disabled_api", a.json());
    // The trailing slash still leads to /sandbox, which explains.
    let a = call(&app, "GET", "/sandbox/", None).await;
    assert_eq!(a.location.as_deref(), Some("/sandbox"));
    // An unknown path elsewhere mentions that the sandbox is off.
    let a = call(&app, "GET", "/nope", None).await;
    assert!(
        a.body.contains("/sandbox (off in this config)"),
        "{}",
        a.body
    );
    app.shutdown().await;
}

#[tokio::test]
async fn without_a_sandbox_sender_the_sandbox_says_which_sender_to_add() {
    let app = no_sandbox_sender().await;
    let a = call(&app, "GET", "/sandbox", None).await;
    assert_eq!(a.status, 404);
    assert!(
        a.body.contains("no sender has `channel: sandbox`"),
        "{}",
        a.body
    );
    assert!(a.body.contains("add one under `senders:`"), "{}", a.body);
    let a = call(&app, "GET", "/sandbox/api/flows", None).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"], "sandbox_off");
    let a = call(&app, "GET", "/", None).await;
    assert_eq!(a.status, 200);
    assert!(
        a.body.contains("no sender has `channel: sandbox`"),
        "{}",
        a.body
    );
    app.shutdown().await;
}

/// Every route outside `/api` that the OpenAPI document lists is one the server answers
/// (no 405, never the "nothing at" answer of an unknown path), and every route the HTTP
/// layer's source registers is in the document.
#[tokio::test]
async fn the_openapi_document_lists_every_route_the_server_answers() {
    let app = spawn_app().await;
    let doc = call(&app, "GET", "/api/openapi.json", None).await.json();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for (path, operations) in paths {
        documented.insert(path.clone());
        if path.starts_with("/api/") {
            continue;
        }
        let concrete = path
            .replace("{phone}", "%2B16315551181")
            .replace("{id}", "1")
            .replace("{sha256}", &"0".repeat(64))
            .replace("{flow}", "echo");
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            let body = (method == "POST").then(|| json!({}));
            let a = call(&app, &method, &concrete, body).await;
            assert_ne!(a.status, 405, "{method} {path}: {}", a.body);
            assert!(
                !a.body.contains("There is nothing at"),
                "{method} {path} is documented but not served: {}",
                a.body
            );
            let operation = &operations[method.to_lowercase().as_str()];
            assert!(
                operation["responses"]
                    .as_object()
                    .unwrap()
                    .contains_key(&a.status.to_string()),
                "{method} {path} answered {}, which the document does not list: {}",
                a.status,
                a.body
            );
        }
    }
    // The routes the source registers outside `/api` (`.route("…"`).
    let route = regex::Regex::new(r#"\.route\(\s*"([^"]+)""#).unwrap();
    for file in ["mod.rs", "sandbox.rs", "insights.rs", "pages.rs"] {
        let source = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/http")
                .join(file),
        )
        .unwrap();
        for c in route.captures_iter(&source) {
            assert!(
                documented.contains(&c[1]),
                "src/http/{file} routes {} but /api/openapi.json does not list it",
                &c[1]
            );
        }
    }
    app.shutdown().await;
}
