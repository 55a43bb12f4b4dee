//! What Parley shows to whoever can reach it (issue 13, items 9 and 10): the sandbox API
//! takes JSON bodies only, so a web page cannot post into it, and only requests to a
//! loopback name, so a page on a name rebound to 127.0.0.1 cannot either; its pages cannot
//! be framed; a sandbox on a listener other
//! machines can reach is refused unless `sandbox.expose: true`; a database failure is
//! answered with a generic message, its text logged and never sent.

use crate::api::{spawn_api, KEY};
use crate::helpers::*;
use serde_json::{json, Value};

const CUSTOMER: &str = "+34600000001";

async fn sandbox_post(app: &TestApp, content_type: &str, body: &str) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/sandbox/api/messages", app.addr))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sandbox_refuses_cross_site_simple_posts_and_stores_nothing() {
    let app = spawn_app().await;
    let message = json!({ "from": CUSTOMER, "text": "hi from a web page" }).to_string();
    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let (status, body) = sandbox_post(&app, content_type, &message).await;
        assert_eq!(status, 415, "{content_type}: {body}");
        assert_eq!(body["error"], "unsupported_media_type", "{body}");
    }
    for path in ["/sandbox/api/explain", "/sandbox/api/clock"] {
        let r = app
            .http
            .post(format!("{}{path}", app.addr))
            .header("content-type", "text/plain")
            .body(r#"{"advance": "1h", "text": "hi"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 415, "{path}");
    }
    let r = app
        .http
        .get(format!(
            "{}/sandbox/api/contacts/{CUSTOMER}/messages",
            app.addr
        ))
        .send()
        .await
        .unwrap();
    let seen: Value = r.json().await.unwrap_or(Value::Null);
    assert!(
        !seen.to_string().contains("hi from a web page"),
        "nothing was injected: {seen}"
    );
    // The same message as JSON goes through.
    let (status, body) = sandbox_post(&app, "application/json", &message).await;
    assert_eq!(status, 200, "{body}");
}

/// A request to the sandbox as a page on `host` sends it after DNS rebinding: that name as
/// `Host`, and its own origin as `Origin` on a POST.
async fn as_rebound_page(
    app: &TestApp,
    method: &str,
    path: &str,
    host: &str,
    origin: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .http
        .request(method.parse().unwrap(), format!("{}{path}", app.addr))
        .header("host", host);
    if let Some(origin) = origin {
        r = r.header("origin", origin);
    }
    if method == "POST" {
        r = r
            .header("content-type", "application/json")
            .body(json!({ "from": CUSTOMER, "text": "rebound" }).to_string());
    }
    r.send().await.unwrap()
}

/// nginx forwards with the upstream's address as `Host` (`127.0.0.1:port`) unless told
/// otherwise: what a proxy forwards from the internet is refused all the same, by the
/// headers it adds.
#[tokio::test]
async fn what_a_proxy_forwards_cannot_use_the_sandbox() {
    let app = spawn_app().await;
    let port = app.addr.rsplit(':').next().unwrap().to_string();
    for header in [
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "x-forwarded-host",
    ] {
        let r = app
            .http
            .post(format!("{}/sandbox/api/messages", app.addr))
            .header("host", format!("127.0.0.1:{port}"))
            .header(header, "203.0.113.9")
            .header("content-type", "application/json")
            .body(json!({ "from": CUSTOMER, "text": "from the internet" }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{header}");
        let body: Value = r.json().await.unwrap();
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("forwarded by a proxy"), "{message}");
        assert!(message.contains(header), "{message}");
    }
    let (_, seen) = get_json(&app, "/sandbox/api/contacts/+34600000001/messages").await;
    assert_eq!(seen["messages"], json!([]), "nothing was injected: {seen}");
}

#[tokio::test]
async fn a_page_on_a_name_rebound_to_loopback_cannot_use_the_sandbox() {
    let app = spawn_app().await;
    let port = app.addr.rsplit(':').next().unwrap().to_string();
    let evil = format!("attacker.example:{port}");
    let evil_origin = format!("http://{evil}");
    for (method, path) in [
        ("GET", "/sandbox"),
        ("GET", "/insights"),
        ("GET", "/sandbox/api/flows"),
        ("GET", "/sandbox/api/insights/flows"),
        ("GET", "/sandbox/api/contacts/+34600000001/messages"),
        ("POST", "/sandbox/api/messages"),
    ] {
        let r = as_rebound_page(&app, method, path, &evil, Some(&evil_origin)).await;
        assert_eq!(r.status().as_u16(), 403, "{method} {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "forbidden", "{path}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains("attacker.example"), "{message}");
        assert!(message.contains("expose: true"), "{message}");
    }
    // A loopback Host with a foreign page's Origin: a post is refused, a read is not.
    let here = format!("127.0.0.1:{port}");
    let r = as_rebound_page(
        &app,
        "POST",
        "/sandbox/api/messages",
        &here,
        Some(&evil_origin),
    )
    .await;
    assert_eq!(r.status().as_u16(), 403);
    let r = as_rebound_page(&app, "POST", "/sandbox/api/messages", &here, Some("null")).await;
    assert_eq!(r.status().as_u16(), 403);
    let (_, seen) = get_json(&app, "/sandbox/api/contacts/+34600000001/messages").await;
    assert_eq!(seen["messages"], json!([]), "nothing was injected: {seen}");
    // This machine's names, with or without a port, and the page's own origin.
    for host in [
        here.clone(),
        format!("localhost:{port}"),
        "localhost".into(),
    ] {
        let r = as_rebound_page(&app, "GET", "/sandbox/api/flows", &host, None).await;
        assert_eq!(r.status().as_u16(), 200, "{host}");
    }
    for origin in [format!("http://localhost:{port}"), format!("http://{here}")] {
        let r = as_rebound_page(
            &app,
            "POST",
            "/sandbox/api/messages?wait=false",
            &here,
            Some(&origin),
        )
        .await;
        assert_eq!(r.status().as_u16(), 200, "{origin}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn an_exposed_sandbox_answers_any_name() {
    let app = spawn_with(Options {
        extra_yaml: "sandbox: { expose: true }\n".into(),
        ..Default::default()
    })
    .await;
    let r = as_rebound_page(&app, "GET", "/sandbox/api/flows", "parley.lan:8080", None).await;
    assert_eq!(r.status().as_u16(), 200);
    app.shutdown().await;
}

#[tokio::test]
async fn the_sandbox_pages_cannot_be_framed_or_sniffed() {
    let app = spawn_app().await;
    for path in ["/sandbox", "/insights"] {
        let r = app
            .http
            .get(format!("{}{path}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        let policy = header("content-security-policy");
        for directive in [
            "frame-ancestors 'none'",
            "default-src 'self'",
            "connect-src 'self'",
            "script-src 'self' 'unsafe-inline'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(header("content-type").starts_with("text/html"), "{path}");
    }
    app.shutdown().await;
}

fn parley(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn check_and_serve_refuse_a_sandbox_on_a_public_listener_unless_exposed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    let write = |name: &str, extra: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "listen: 0.0.0.0:0\ndatabase: {{ url: \"sqlite://{db}\" }}\nflows: {{ dir: \"{flows}\" }}\nsenders:\n  - {{ id: 1, name: Sandbox, channel: sandbox, phone_number: \"+15550000000\" }}\n{extra}",
                db = dir.path().join("p.db").display(),
                flows = dir.path().join("flows").display(),
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let public = write("public.yaml", "");
    for command in ["check", "serve"] {
        let out = parley(&[command, "--config", &public]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.status.success(), "{command}: {text}");
        assert!(
            text.contains("sandbox: { expose: true }"),
            "{command}: {text}"
        );
    }
    assert!(
        !dir.path().join("p.db").exists(),
        "serve stopped before opening anything"
    );
    let exposed = write("exposed.yaml", "sandbox: { expose: true }\n");
    let out = parley(&["check", "--config", &exposed]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Drops the tables under the running server, so every query fails with the driver's
/// "no such table" text.
fn break_database(app: &TestApp) {
    let path = app._dir.path().join("parley.db");
    let db = rusqlite::Connection::open(path).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute_batch(
        "PRAGMA foreign_keys = OFF; DROP TABLE outbound_messages; DROP TABLE conversation_events; DROP TABLE conversations; DROP TABLE contacts;",
    )
    .unwrap();
}

fn assert_no_driver_text(what: &str, body: &str) {
    for leak in [
        "no such table",
        "sqlite",
        "SQLITE",
        "database error",
        "contacts",
        "conversation_events",
    ] {
        assert!(!body.contains(leak), "{what} leaks `{leak}`: {body}");
    }
    assert!(body.contains("please retry"), "{what}: {body}");
}

#[tokio::test]
async fn database_error_text_never_reaches_clients() {
    let app = spawn_api().await;
    break_database(&app);

    let webhook = meta_text(
        CUSTOMER.trim_start_matches('+'),
        "wamid.broken",
        "hi",
        now_unix(),
    );
    let r = app.post_meta(&webhook).await;
    assert_eq!(r.status().as_u16(), 503);
    assert_no_driver_text("webhook", &r.text().await.unwrap());

    let r = app
        .http
        .get(format!("{}/api/conversations", app.addr))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_no_driver_text("platform API", &r.text().await.unwrap());

    let r = app
        .http
        .post(format!("{}/api/v1/messages/send-message", app.addr))
        .bearer_auth(KEY)
        .json(&json!({ "contact_phone": "16315551181", "message_type": "text", "message": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_no_driver_text("the /api/v1 messages API", &r.text().await.unwrap());

    let (status, body) = sandbox_post(
        &app,
        "application/json",
        &json!({ "from": CUSTOMER, "text": "hi" }).to_string(),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_no_driver_text("sandbox", &body.to_string());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("could not be stored"),
        "{body}"
    );

    // A read says so: nothing was to be stored.
    let (status, body) =
        get_json(&app, &format!("/sandbox/api/contacts/{CUSTOMER}/messages")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["message"], "the data could not be read, please retry",
        "{body}"
    );

    // The export reads its first page before answering: a 503, not a 200 cut after `[`.
    for format in ["json", "csv"] {
        let (status, text) = crate::contacts::export(&app, format).await;
        assert_eq!(status, 503, "{format}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error_code"], "UNAVAILABLE", "{format}: {body}");
        assert_no_driver_text("the contact export", &body.to_string());
    }
}
