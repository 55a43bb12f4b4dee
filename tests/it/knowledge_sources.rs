//! Knowledge from the web (issue 59): a small site served locally (two pages, a PDF and a
//! sitemap listing them, a page that is not there) named by an agent step, fetched with
//! `flows.allow_private_networks: true` (and refused without it, saying how to allow it),
//! answered from with the page's address in the system prompt, cited in the reply,
//! refreshed when a page changes, and listed by `GET /api/knowledge` with its errors.

use crate::helpers::*;
use crate::model_double::{DoubleAnswer, ModelDouble};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CUSTOMER: &str = "16315551182";
const GUIDE_PDF: &[u8] = include_bytes!("../fixtures/knowledge/guide.pdf");
const RETURNS_V1: &str = "<html><head><title>Returns</title></head><body><nav>Home | Shop</nav><h1>Returns</h1><p>You may return a kettle within 30 days for a full refund.</p></body></html>";
const RETURNS_V2: &str = "<html><head><title>Returns</title></head><body><h1>Returns</h1><p>You may return a kettle within 60 days for a full refund.</p></body></html>";

async fn site(returns: &str) -> MockServer {
    let server = MockServer::start().await;
    mount(&server, returns).await;
    server
}

async fn mount(server: &MockServer, returns: &str) {
    let base = server.uri();
    let sitemap = format!("<?xml version=\"1.0\"?><urlset><url><loc>{base}/help/returns</loc></url><url><loc>{base}/help/guide.pdf</loc></url><url><loc>{base}/blog/news</loc></url></urlset>");
    for (p, body, ct) in [
        ("/sitemap.xml", sitemap.into_bytes(), "application/xml"),
        (
            "/help/returns",
            returns.as_bytes().to_vec(),
            "text/html; charset=utf-8",
        ),
        ("/help/guide.pdf", GUIDE_PDF.to_vec(), "application/pdf"),
    ] {
        Mock::given(method("GET"))
            .and(path(p))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, ct))
            .mount(server)
            .await;
    }
}

fn flow(base: &str) -> &'static str {
    Box::leak(format!(
        "id: support\ntriggers:\n  - keyword: [help]\nsteps:\n  - agent:\n      model: assistant\n      instructions: \"You answer questions about Acme kettles.\"\n      scope: \"Acme kettles\"\n      knowledge:\n        - {{ sitemap: \"{base}/sitemap.xml\", include: /help/, refresh: 1d }}\n        - {{ url: \"{base}/help/gone\" }}\n      passages: 1\n      cite: true\n      guardrails: {{ allowed_domains: [127.0.0.1] }}\n      if_window_closed: skip\n"
    ).into_boxed_str())
}

async fn app(
    double: &ModelDouble,
    base: &str,
    allow: bool,
    database_url: Option<String>,
) -> TestApp {
    let models = format!(
        "models:\n  - {{ name: assistant, kind: openai, base_url: \"{}\", model: test-model, timeout: 20s, retries: 0 }}\n",
        double.openai_base()
    );
    spawn_with(Options {
        flows: vec![("support.yaml", flow(base))],
        extra_yaml: format!("{models}{}", crate::api::api_yaml(100, 100)),
        config_edits: if allow {
            vec![(
                "flows: { dir: \"",
                "flows: { allow_private_networks: true, dir: \"",
            )]
        } else {
            Vec::new()
        },
        database_url,
        ..Default::default()
    })
    .await
}

async fn call(app: &TestApp, m: &str, p: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = app
        .http
        .request(m.parse().unwrap(), format!("{}{p}", app.addr))
        .bearer_auth(crate::api::KEY);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Waits until `check` holds for `GET /api/knowledge`.
async fn wait_sources(app: &TestApp, check: impl Fn(&Value) -> bool) -> Value {
    let t0 = std::time::Instant::now();
    loop {
        let (status, body) = call(app, "GET", "/api/knowledge", None).await;
        assert_eq!(status, 200, "{body}");
        if check(&body) {
            return body;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn source<'a>(body: &'a Value, suffix: &str) -> &'a Value {
    body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"].as_str().unwrap().ends_with(suffix))
        .unwrap()
}

async fn ask(app: &TestApp, double: &ModelDouble, wamid: &str, answer: &str) -> (String, String) {
    ask_as(app, double, CUSTOMER, wamid, answer).await
}

async fn ask_as(
    app: &TestApp,
    double: &ModelDouble,
    customer: &str,
    wamid: &str,
    answer: &str,
) -> (String, String) {
    let before = double.calls();
    let sent_before = app
        .meta_sends()
        .await
        .into_iter()
        .filter(|s| s.get("to").is_some())
        .count();
    double.push(DoubleAnswer::Text(answer.into()));
    let r = app
        .post_meta(&meta_text(
            customer,
            wamid,
            "help: can I return my kettle?",
            now_unix(),
        ))
        .await;
    assert_eq!(r.status(), 200);
    let t0 = std::time::Instant::now();
    loop {
        let sent: Vec<Value> = app
            .meta_sends()
            .await
            .into_iter()
            .filter(|s| s.get("to").is_some())
            .collect();
        if sent.len() > sent_before {
            let system = double.received()[before].body["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            return (body_text(sent.last().unwrap()).to_string(), system);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "calls {} sends {:#?}",
            double.calls(),
            app.meta_sends().await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_site_is_fetched_answered_from_cited_refreshed_and_kept() {
    let server = site(RETURNS_V1).await;
    let base = server.uri();
    let double = ModelDouble::start().await;
    let db = tempfile::tempdir().unwrap();
    let database_url = Some(format!("sqlite://{}/parley.db", db.path().display()));
    let app = app(&double, &base, true, database_url.clone()).await;

    let body = wait_sources(&app, |b| {
        b["sources"].as_array().is_some_and(|s| {
            s.len() == 2
                && s.iter()
                    .all(|s| !s["fetched_at"].is_null() || !s["error"].is_null())
        })
    })
    .await;
    let sitemap = source(&body, "/sitemap.xml");
    assert_eq!(
        (sitemap["pages"].as_i64(), sitemap["error"].is_null()),
        (Some(2), true),
        "{body:#}"
    );
    assert_eq!(sitemap["used_by"], "support/line 5");
    let gone = source(&body, "/help/gone");
    assert!(gone["error"].as_str().unwrap().contains("404"), "{body:#}");
    assert_eq!(gone["pages"], 0);

    // The flows reload with the pages: the prompt shows the page's address, the reply cites it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (reply, system) = ask(&app, &double, "wamid.k1", "Within 30 days.").await;
    assert!(
        system.contains(&format!(
            "{base}/help/returns (Returns): # Returns\nYou may return a kettle within 30 days"
        )),
        "{system}"
    );
    assert_eq!(
        reply,
        format!("Within 30 days.\n\nSource: {base}/help/returns")
    );

    // The page changes; a refresh fetches it again and the new text replaces the old.
    server.reset().await;
    mount(&server, RETURNS_V2).await;
    let (status, scheduled) = call(
        &app,
        "POST",
        "/api/knowledge/refresh",
        Some(json!({ "source": format!("{base}/sitemap.xml") })),
    )
    .await;
    assert_eq!(
        (status, scheduled["scheduled"].as_array().map(Vec::len)),
        (202, Some(1)),
        "{scheduled}"
    );
    let (status, _) = call(
        &app,
        "POST",
        "/api/knowledge/refresh",
        Some(json!({ "source": "https://nowhere.example/" })),
    )
    .await;
    assert_eq!(status, 404);
    let t0 = std::time::Instant::now();
    let mut n = 2;
    let system = loop {
        let (_, system) = ask(&app, &double, &format!("wamid.k{n}"), "Within 60 days.").await;
        if system.contains("60 days") || t0.elapsed() > Duration::from_secs(15) {
            break system;
        }
        n += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(
        system.contains("within 60 days") && !system.contains("within 30 days"),
        "{system}"
    );
    app.shutdown().await;

    // A restart on the same database with the site down answers from the stored copy.
    drop(server);
    let app = app_again(&double, &base, database_url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, system) = ask_as(&app, &double, "16315551183", "wamid.k99", "Within 60 days.").await;
    assert!(system.contains("within 60 days"), "{system}");
    app.shutdown().await;
}

async fn app_again(double: &ModelDouble, base: &str, database_url: Option<String>) -> TestApp {
    app(double, base, true, database_url).await
}

#[tokio::test]
async fn a_local_site_is_refused_without_allow_private_networks() {
    let server = site(RETURNS_V1).await;
    let double = ModelDouble::start().await;
    let app = app(&double, &server.uri(), false, None).await;
    let body = wait_sources(&app, |b| {
        b["sources"]
            .as_array()
            .is_some_and(|s| s.len() == 2 && s.iter().all(|s| !s["error"].is_null()))
    })
    .await;
    let error = source(&body, "/sitemap.xml")["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("`flows.allow_private_networks: true`"),
        "{error}"
    );
    app.shutdown().await;
}
