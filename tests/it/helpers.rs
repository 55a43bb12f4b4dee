//! `spawn_app()`: Parley on port 0 with a temporary SQLite file (or a fresh PostgreSQL
//! schema), a Meta sender and a Twilio sender pointed at wiremock doubles, and test flows.

use hmac::{Hmac, Mac};
use parley::app::App;
use parley::config::Config;
use parley::domain::{Clock, ManualClock, SystemClock};
use parley::store::DynStore;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::oneshot;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const APP_SECRET: &str = "test_app_secret";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const TWILIO_TOKEN: &str = "test_auth_token";

pub struct TestApp {
    pub addr: String,
    pub http: reqwest::Client,
    pub store: DynStore,
    pub meta: MockServer,
    pub twilio: MockServer,
    pub clock: Option<ManualClock>,
    config: Config,
    /// Keeps the temporary folder (database, flows) alive as long as the app.
    pub _dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Options {
    pub database_url: Option<String>,
    pub manual_clock: bool,
    pub extra_yaml: String,
    pub flows: Vec<(&'static str, &'static str)>,
    /// Text replacements applied to the generated config (e.g. retry settings).
    pub config_edits: Vec<(&'static str, &'static str)>,
    /// Other files of the project (e.g. `knowledge/faq.md`), relative to its folder.
    pub files: Vec<(&'static str, &'static str)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database_url: None,
            manual_clock: false,
            extra_yaml: String::new(),
            flows: vec![("echo.yaml", ECHO_FLOW)],
            config_edits: Vec::new(),
            files: Vec::new(),
        }
    }
}

/// Replies to any message starting with "hi" with its text, so replies can be matched to
/// the webhooks that caused them.
pub const ECHO_FLOW: &str = "id: echo\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send:\n      text: \"echo: {{ message.text }}\"\n";

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub fn config_yaml(
    dir: &std::path::Path,
    db_url: &str,
    meta_uri: &str,
    twilio_uri: &str,
    extra: &str,
) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
public_url: https://example.com
database: {{ url: "{db_url}" }}
flows: {{ dir: "{flows}" }}
inbox: {{ poll_interval: 50ms }}
scheduler: {{ poll_interval: 50ms }}
# A send that times out on a loaded test machine is tried again after 1 s, not 60 s.
outbox: {{ poll_interval: 50ms, send_timeout: 2s, retry: {{ initial: 20ms, max_delay: 200ms }}, unknown_outcome_wait: 1s }}
senders:
  - id: 1
    name: Meta line
    channel: meta
    phone_number: "+15550783880"
    messages_per_second: 1000
    meta:
      phone_number_id: "{PHONE_NUMBER_ID}"
      access_token: test-token
      app_secret: {APP_SECRET}
      verify_token: verify-me
      api_base: {meta_uri}/v26.0
  - id: 2
    name: Twilio line
    channel: twilio
    phone_number: "+15550783881"
    messages_per_second: 1000
    twilio: {{ account_sid: ACtest, auth_token: {TWILIO_TOKEN}, api_base: "{twilio_uri}", content_api_base: "{twilio_uri}", messaging_api_base: "{twilio_uri}" }}
  - {{ id: 3, name: Sandbox, channel: sandbox, phone_number: "+15550000000" }}
templates:
  - {{ id: 45, name: menu_reminder, language: en, status: approved, category: utility, body: "Hi {{{{1}}}}, reply MENU to continue.", twilio_content_sid: HXmenureminder }}
{extra}
"#,
        flows = dir.join("flows").display(),
    )
}

pub async fn spawn_with(opts: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    for (name, text) in &opts.flows {
        std::fs::write(dir.path().join("flows").join(name), text).unwrap();
    }
    for (name, text) in &opts.files {
        let file = dir.path().join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let meta = MockServer::start().await;
    let twilio = MockServer::start().await;
    mount_meta_ok(&meta).await;
    mount_twilio_ok(&twilio).await;
    let db_url = opts
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("parley.db").display()));
    let mut yaml = config_yaml(
        dir.path(),
        &db_url,
        &meta.uri(),
        &twilio.uri(),
        &opts.extra_yaml,
    );
    for (from, to) in &opts.config_edits {
        assert!(yaml.contains(from), "config edit `{from}` matches nothing");
        yaml = yaml.replace(from, to);
    }
    let config = Config::from_yaml(&yaml, "test.yaml", &|_| None).expect("test config is valid");
    let manual = opts.manual_clock.then(|| {
        ManualClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:30Z")
                .unwrap()
                .into(),
        )
    });
    let clock: Arc<dyn Clock> = match &manual {
        Some(m) => Arc::new(m.clone()),
        None => Arc::new(SystemClock),
    };
    let (addr, store, stop, server) = start(config.clone(), clock).await;
    TestApp {
        addr,
        http: reqwest::Client::new(),
        store,
        meta,
        twilio,
        clock: manual,
        config,
        _dir: dir,
        stop: Some(stop),
        server: Some(server),
    }
}

type Running = (
    String,
    DynStore,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
);

async fn start(config: Config, clock: Arc<dyn Clock>) -> Running {
    let mut app = App::build(config, clock).await.expect("app builds");
    // As `parley serve` does: the studio's try-out and tests start Parleys of their own.
    app.state = app
        .state
        .with_studio_runner(Arc::new(parley::cli::studio_runs::Runs));
    let store = app.state.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.serve(listener, async move {
        let _ = stopped.await;
    }));
    (addr, store, stop, server)
}

impl TestApp {
    /// Stops Parley like SIGTERM and starts it again on the same database and flows.
    pub async fn restart(self) -> Self {
        self.restart_after(chrono::Duration::zero()).await
    }

    /// Like `restart`, with the manual clock moved on by `down` while Parley is stopped.
    pub async fn restart_after(mut self, down: chrono::Duration) -> Self {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        if down > chrono::Duration::zero() {
            self.clock
                .as_ref()
                .expect("moving the clock needs a manual clock")
                .advance(down);
        }
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(m) => Arc::new(m.clone()),
            None => Arc::new(SystemClock),
        };
        let (addr, store, stop, server) = start(self.config.clone(), clock).await;
        self.addr = addr;
        self.store = store;
        self.stop = Some(stop);
        self.server = Some(server);
        self
    }

    pub fn flows_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("flows")
    }

    /// Stops the server the way SIGTERM does and waits for work in flight.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    pub async fn post_meta(&self, body: &[u8]) -> reqwest::Response {
        self.http
            .post(format!("{}/webhooks/meta", self.addr))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign_meta(body))
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
    }

    /// Bodies of the messages the Meta double received, in arrival order.
    pub async fn meta_sends(&self) -> Vec<Value> {
        sends(&self.meta).await
    }

    /// Waits until the Meta double received `n` messages (or panics after `timeout`).
    pub async fn wait_meta_sends(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.meta_sends().await;
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < timeout,
                "expected {n} sends at the Meta double, got {}: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn sends(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/messages"))
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

pub fn sign_meta(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A compact Meta text webhook, as Meta sends them.
pub fn meta_text(from: &str, wamid: &str, text: &str, timestamp: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Tester" }, "wa_id": from }],
            "messages": [{ "from": from, "id": wamid, "timestamp": timestamp.to_string(), "type": "text", "text": { "body": text } }]
        }}]}]
    }))
    .unwrap()
}

pub fn meta_status(wamid: &str, status: &str, error_code: Option<i64>, timestamp: i64) -> Vec<u8> {
    let mut st = json!({ "id": wamid, "status": status, "timestamp": timestamp.to_string(), "recipient_id": "16315551181" });
    if let Some(code) = error_code {
        st["errors"] = json!([{ "code": code, "title": "Re-engagement message", "message": "Re-engagement message" }]);
    }
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "statuses": [st]
        }}]}]
    }))
    .unwrap()
}

pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The path of the Meta double's sends.
pub const META_SENDS: &str = r"^/v26\.0/\d+/messages$";

/// Meta double: every send succeeds with a fresh wamid.
pub async fn mount_meta_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path_regex(META_SENDS))
        .respond_with(meta_accepts)
        .mount(server)
        .await;
}

/// The Meta double's answer to a send it accepts: the recipient and a fresh wamid.
pub fn meta_accepts(req: &Request) -> ResponseTemplate {
    let n = uuid::Uuid::new_v4().simple().to_string();
    let to = serde_json::from_slice::<Value>(&req.body)
        .ok()
        .and_then(|b| b.get("to").cloned())
        .unwrap_or(Value::Null);
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.test.{n}") }]
    }))
}

pub async fn mount_twilio_ok(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path_regex(r"^/2010-04-01/Accounts/.+/Messages\.json$"))
        .respond_with(|_: &Request| {
            let n = uuid::Uuid::new_v4().simple().to_string();
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": format!("SM{}", &n[..32]), "status": "queued" }))
        })
        .mount(server)
        .await;
    // The Content API (the same double serves it): every template gets a fresh HX sid.
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/Content$"))
        .respond_with(|_: &Request| {
            let n = uuid::Uuid::new_v4().simple().to_string();
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": format!("HX{n}"), "account_sid": "ACtest" }))
        })
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v2/Indicators/Typing\.json$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "success": true })))
        .mount(server)
        .await;
}

/// Polls `f` until it returns `Some`, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `POST` a JSON body to the app; the status and the JSON answer (`Null` when not JSON).
pub async fn post_json(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.addr))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `GET` from the app; the status and the JSON answer (`Null` when not JSON).
pub async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app
        .http
        .get(format!("{}{path}", app.addr))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub fn body_text(send: &Value) -> &str {
    send["text"]["body"].as_str().unwrap_or("")
}

/// A config file for the real binary listening on `port`, with 2 s leases so the work of a
/// killed process is taken over quickly. `extra` is appended YAML.
pub fn process_config(
    dir: &std::path::Path,
    db: &str,
    meta: &str,
    port: u16,
    extra: &str,
) -> std::path::PathBuf {
    let yaml = config_yaml(
        dir,
        db,
        meta,
        "http://127.0.0.1:9",
        &format!("log: {{ level: warn }}\n{extra}"),
    )
    .replace("listen: 127.0.0.1:0", &format!("listen: 127.0.0.1:{port}"))
    .replace("send_timeout: 2s", "send_timeout: 2s, lease: 2s")
    .replace(
        "inbox: { poll_interval: 50ms }",
        "inbox: { poll_interval: 50ms, lease: 2s }",
    )
    .replace(
        "scheduler: { poll_interval: 50ms }",
        "scheduler: { poll_interval: 100ms, lease: 2s }",
    );
    let path = dir.join(format!("parley-{port}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// The Prometheus page of the Parley at `addr` (`GET /metrics`).
pub async fn metrics_page(http: &reqwest::Client, addr: &str) -> String {
    http.get(format!("{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one series (name and labels as written) on a `metrics_page`.
pub fn metric_value(page: &str, series: &str) -> f64 {
    metric_value_or_none(page, series).unwrap_or_else(|| panic!("no series {series} in:\n{page}"))
}

/// `metric_value`, `None` while the series has not been written.
pub fn metric_value_or_none(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls a condition every 50 ms, or panics after `timeout`.
pub async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Graph API double that answers every send with a fresh wamid and counts replies per
/// recipient and per text, incrementally (wiremock keeps every request: too heavy for
/// 100,000).
#[derive(Clone, Default)]
pub struct ReplyLog(Arc<std::sync::Mutex<ReplyCounts>>);

#[derive(Default)]
pub struct ReplyCounts {
    by_to: std::collections::HashMap<String, u32>,
    by_text: std::collections::HashMap<String, usize>,
    /// Where to post a `sent` status for each send, as Meta does (see `with_statuses`).
    status_webhook: Option<String>,
}

impl ReplyLog {
    /// Also posts a signed `sent` status webhook for every send it takes to
    /// `{addr}/webhooks/meta`, echoing the send's `biz_opaque_callback_data` as Meta does,
    /// and retrying every 200 ms until Parley answers 200 (Meta retries a webhook for days),
    /// so a status reaches a Parley that was down when the send was made.
    pub fn with_statuses(self, addr: &str) -> Self {
        self.0.lock().unwrap().status_webhook = Some(format!("{addr}/webhooks/meta"));
        self
    }

    fn post_status(url: String, wamid: String, to: String, tag: Option<String>) {
        tokio::spawn(async move {
            let mut status = json!({ "id": wamid, "status": "sent",
                "timestamp": now_unix().to_string(), "recipient_id": to });
            if let Some(tag) = tag {
                status["biz_opaque_callback_data"] = json!(tag);
            }
            let body = serde_json::to_vec(&json!({
                "object": "whatsapp_business_account",
                "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
                    "statuses": [status]
                }}]}]
            }))
            .unwrap();
            let http = reqwest::Client::new();
            for _ in 0..1500 {
                let sent = http
                    .post(&url)
                    .header("x-hub-signature-256", sign_meta(&body))
                    .body(body.clone())
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status() == 200) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    }

    /// Serves the double on loopback; returns its base URL (the sender's `api_base` host).
    pub async fn serve(&self) -> String {
        async fn send(
            axum::extract::State(log): axum::extract::State<ReplyLog>,
            axum::Json(body): axum::Json<Value>,
        ) -> axum::Json<Value> {
            let to = body["to"].as_str().unwrap_or_default().to_string();
            let text = body["text"]["body"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let wamid = format!("wamid.{}", uuid::Uuid::new_v4().simple());
            let webhook = {
                let mut c = log.0.lock().unwrap();
                *c.by_to.entry(to.clone()).or_default() += 1;
                *c.by_text.entry(text).or_default() += 1;
                c.status_webhook.clone()
            };
            if let Some(url) = webhook {
                let tag = body["biz_opaque_callback_data"]
                    .as_str()
                    .map(str::to_string);
                ReplyLog::post_status(url, wamid.clone(), to, tag);
            }
            axum::Json(json!({"messages": [{"id": wamid}]}))
        }
        let app = axum::Router::new()
            .route("/v26.0/{id}/messages", axum::routing::post(send))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    /// Recipients that got at least one reply.
    pub fn reached(&self) -> usize {
        self.0.lock().unwrap().by_to.len()
    }

    /// Replies in all.
    pub fn total(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .by_to
            .values()
            .map(|&n| n as usize)
            .sum()
    }

    /// Replies per text.
    pub fn counts(&self) -> std::collections::HashMap<String, usize> {
        self.0.lock().unwrap().by_text.clone()
    }
}

/// `X-Twilio-Signature` of `url` and `params`: HMAC-SHA1 over the URL and the sorted
/// name-value pairs, with the auth token (Twilio's rule).
pub fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    use base64::Engine as _;
    let mut pairs = params.to_vec();
    pairs.sort_unstable();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in pairs {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Posts a Twilio webhook signed for `https://example.com{path_and_query}` (the tests'
/// `public_url`); the answer's status.
pub async fn post_twilio(app: &TestApp, path_and_query: &str, params: &[(&str, &str)]) -> u16 {
    let url = format!("https://example.com{path_and_query}");
    app.http
        .post(format!("{}{path_and_query}", app.addr))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature(&url, params))
        .body(serde_urlencoded::to_string(params).unwrap())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
