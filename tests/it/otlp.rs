//! Traces (issue 60) checked with an OTLP collector double: an HTTP server that takes
//! `POST /v1/traces` as OTLP JSON and keeps every span. One trace per message, from the
//! webhook to the provider's answer, with its spans linked parent to child; the
//! `traceparent` an `http` step sends is its span's; an API request's `traceparent` is
//! joined; no customer text in any span unless `include_text`; a collector that is down or
//! slow changes nothing for replies, and what it costs is counted.

use crate::api::{api_yaml, customer_writes, KEY};
use crate::helpers::{meta_text, metrics_page, now_unix, spawn_with, Options, ECHO_FLOW};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the collector double received: each span (with its service name), and the headers
/// of each export.
#[derive(Clone, Default)]
struct Collected {
    spans: Arc<Mutex<Vec<Value>>>,
    api_keys: Arc<Mutex<Vec<String>>>,
}

impl Collected {
    fn spans(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }

    /// The spans of the trace `trace_id`.
    fn trace(&self, trace_id: &str) -> Vec<Value> {
        self.spans()
            .into_iter()
            .filter(|s| s["traceId"] == trace_id)
            .collect()
    }

    /// Waits until spans named `names` are all in one trace that `pick` accepts; that
    /// trace's spans.
    async fn wait_for(&self, names: &[&str], pick: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let spans = self.spans();
            let mut ids: Vec<&str> = spans.iter().filter_map(|s| s["traceId"].as_str()).collect();
            ids.sort();
            ids.dedup();
            for id in ids {
                let trace = self.trace(id);
                let has = |n: &str| trace.iter().any(|s| s["name"] == n);
                if names.iter().all(|n| has(n)) && pick(&trace) {
                    return trace;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no trace with spans {names:?}; got:\n{:#}",
                json!(self.spans())
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts the collector double; it answers each export after `delay`.
async fn collector(delay: Duration) -> (String, Collected) {
    use axum::extract::State;
    use axum::http::HeaderMap;
    let collected = Collected::default();
    let app = axum::Router::new()
        .route(
            "/v1/traces",
            axum::routing::post(
                |State((c, delay)): State<(Collected, Duration)>,
                 headers: HeaderMap,
                 body: axum::body::Bytes| async move {
                    assert_eq!(headers["content-type"], "application/json");
                    let v: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                    let key = headers
                        .get("x-api-key")
                        .map(|v| v.to_str().unwrap().to_string());
                    c.api_keys.lock().unwrap().extend(key);
                    for rs in v["resourceSpans"].as_array().unwrap() {
                        let service = &rs["resource"]["attributes"][0];
                        assert_eq!(service["key"], "service.name");
                        for ss in rs["scopeSpans"].as_array().unwrap() {
                            for s in ss["spans"].as_array().unwrap() {
                                let mut s = s.clone();
                                s["service"] = service["value"]["stringValue"].clone();
                                c.spans.lock().unwrap().push(s);
                            }
                        }
                    }
                    tokio::time::sleep(delay).await;
                    axum::Json(json!({}))
                },
            ),
        )
        .with_state((collected.clone(), delay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, collected)
}

fn named<'a>(trace: &'a [Value], name: &str) -> &'a Value {
    trace
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no span {name} in {:#}", json!(trace)))
}

/// Every attribute value of every span, as text.
fn attribute_texts(spans: &[Value]) -> String {
    spans
        .iter()
        .flat_map(|s| s["attributes"].as_array().cloned().unwrap_or_default())
        .map(|a| a["value"].to_string())
        .chain(spans.iter().map(|s| s["status"].to_string()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A flow that calls an `http` step before it answers.
fn order_flow(service: &str) -> &'static str {
    Box::leak(
        format!(
            "id: order\ntriggers: [{{keyword: [order]}}]\nsteps:\n  - http: {{ url: \"{service}/orders/42\", save_as: r }}\n  - send: \"Your order is {{{{ vars.r.body.state }}}}\"\n"
        )
        .into_boxed_str(),
    )
}

async fn order_service() -> MockServer {
    let service = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "state": "shipped" })))
        .mount(&service)
        .await;
    service
}

fn telemetry_yaml(endpoint: &str, more: &str) -> String {
    format!(
        "telemetry: {{ endpoint: \"{endpoint}\", interval: 20ms, headers: {{ x-api-key: collector-secret }}, service_name: parley-under-test{more} }}\n"
    )
}

#[tokio::test]
async fn one_trace_per_message_from_the_webhook_to_the_providers_answer() {
    let (endpoint, collected) = collector(Duration::ZERO).await;
    let service = order_service().await;
    let app = spawn_with(Options {
        flows: vec![
            ("echo.yaml", ECHO_FLOW),
            ("order.yaml", order_flow(&service.uri())),
        ],
        extra_yaml: telemetry_yaml(&endpoint, ""),
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, dir: ",
        )],
        ..Options::default()
    })
    .await;
    let body = meta_text(
        "16315551181",
        "wamid.order.1",
        "order my secret parcel",
        now_unix(),
    );
    assert_eq!(app.post_meta(&body).await.status(), 200);
    let sends = app.wait_meta_sends(1, Duration::from_secs(10)).await;
    assert_eq!(
        crate::helpers::body_text(&sends[0]),
        "Your order is shipped"
    );

    let all = [
        "ingest",
        "inbox.wait",
        "flow.handle",
        "flow.step",
        "http",
        "outbox.wait",
        "send",
    ];
    let trace = collected.wait_for(&all, |_| true).await;
    let id = |name: &str| named(&trace, name)["spanId"].as_str().unwrap().to_string();
    let parent = |name: &str| named(&trace, name)["parentSpanId"].clone();
    // The webhook's span is the root; the rest hang from it or from the flow's handling.
    assert_eq!(parent("ingest"), Value::Null);
    assert_eq!(parent("inbox.wait"), json!(id("ingest")));
    assert_eq!(parent("flow.handle"), json!(id("ingest")));
    for child in ["flow.step", "http", "outbox.wait", "send"] {
        assert_eq!(parent(child), json!(id("flow.handle")), "{child}");
    }
    assert_eq!(named(&trace, "send")["kind"], 3);
    assert!(trace.iter().all(|s| s["service"] == "parley-under-test"));
    let attrs = |name: &str| named(&trace, name)["attributes"].to_string();
    assert!(
        attrs("send").contains("parley.provider_message_id"),
        "{}",
        attrs("send")
    );
    assert!(
        attrs("flow.step").contains("\"order\""),
        "{}",
        attrs("flow.step")
    );
    let start = |name: &str| {
        named(&trace, name)["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
    };
    assert!(start("ingest") <= start("inbox.wait") && start("inbox.wait") <= start("send"));

    // The `http` step's request carried its span's traceparent.
    let trace_id = named(&trace, "http")["traceId"]
        .as_str()
        .unwrap()
        .to_string();
    let requests = service.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers["traceparent"].to_str().unwrap(),
        format!("00-{trace_id}-{}-01", id("http"))
    );
    // Nobody's words in any span by default; the collector's key went with each export.
    let texts = attribute_texts(&collected.spans());
    assert!(
        !texts.contains("secret parcel") && !texts.contains("shipped"),
        "{texts}"
    );
    assert!(collected
        .api_keys
        .lock()
        .unwrap()
        .iter()
        .all(|k| k == "collector-secret"));

    // Another message, another trace.
    let body = meta_text("16315551182", "wamid.hi.2", "hi again", now_unix());
    assert_eq!(app.post_meta(&body).await.status(), 200);
    let other = collected
        .wait_for(&["ingest", "send"], |t| {
            t[0]["traceId"] != trace_id.as_str()
        })
        .await;
    assert_eq!(other.iter().filter(|s| s["name"] == "ingest").count(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn include_text_puts_the_customers_words_in_spans() {
    let (endpoint, collected) = collector(Duration::ZERO).await;
    let app = spawn_with(Options {
        extra_yaml: telemetry_yaml(&endpoint, ", include_text: true"),
        ..Options::default()
    })
    .await;
    let body = meta_text("16315551181", "wamid.hi.text", "hi my words", now_unix());
    assert_eq!(app.post_meta(&body).await.status(), 200);
    let trace = collected.wait_for(&["flow.handle", "send"], |_| true).await;
    let handle = named(&trace, "flow.handle")["attributes"].to_string();
    assert!(handle.contains("hi my words"), "{handle}");
    assert!(handle.contains("echo: hi my words"), "{handle}");
    app.shutdown().await;
}

#[tokio::test]
async fn an_api_send_joins_the_callers_trace() {
    let (endpoint, collected) = collector(Duration::ZERO).await;
    let app = spawn_with(Options {
        manual_clock: true,
        extra_yaml: format!("{}{}", api_yaml(1000, 1000), telemetry_yaml(&endpoint, "")),
        ..Options::default()
    })
    .await;
    customer_writes(&app, "16315551181", 5).await;
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let send = |traceparent: &'static str| {
        app.http
            .post(format!("{}/api/user/whatsapp/send-freeform", app.addr))
            .bearer_auth(KEY)
            .header("traceparent", traceparent)
            .json(&json!({ "sender_id": 1, "recipient_phone": "+16315551181", "message": "Your parcel left" }))
            .send()
    };
    assert_eq!(send(caller).await.unwrap().status(), 200);
    let trace = collected
        .wait_for(
            &[
                "POST /api/user/whatsapp/send-freeform",
                "outbox.wait",
                "send",
            ],
            |t| t[0]["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736",
        )
        .await;
    let api = named(&trace, "POST /api/user/whatsapp/send-freeform");
    assert_eq!(api["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(api["kind"], 2);
    assert!(api["attributes"].to_string().contains("\"200\""), "{api}");
    for child in ["outbox.wait", "send"] {
        assert_eq!(
            named(&trace, child)["parentSpanId"],
            api["spanId"],
            "{child}"
        );
    }
    // A malformed traceparent is ignored: the send goes out in a trace of its own.
    let before = collected.spans().len();
    assert_eq!(send("00-not-a-trace-01").await.unwrap().status(), 200);
    let fresh = collected
        .wait_for(&["POST /api/user/whatsapp/send-freeform", "send"], |t| {
            t[0]["traceId"] != "4bf92f3577b34da6a3ce929d0e0e4736"
        })
        .await;
    assert_eq!(
        named(&fresh, "POST /api/user/whatsapp/send-freeform")["parentSpanId"],
        Value::Null
    );
    assert!(collected.spans().len() > before);
    assert!(!attribute_texts(&collected.spans()).contains("parcel left"));
    app.shutdown().await;
}

#[tokio::test]
async fn a_collector_down_or_slow_never_delays_replies_and_what_is_lost_is_counted() {
    // Slow: each export takes 3 s, longer than the exporter waits (300 ms); the queue
    // holds 4 spans.
    let (slow, _collected) = collector(Duration::from_secs(3)).await;
    let app = spawn_with(Options {
        extra_yaml: telemetry_yaml(&slow, ", timeout: 300ms, queue: 4, batch_size: 2"),
        ..Options::default()
    })
    .await;
    let started = Instant::now();
    for i in 0..8 {
        let body = meta_text(
            &format!("1631555120{i}"),
            &format!("wamid.slow.{i}"),
            "hi",
            now_unix(),
        );
        let posted = Instant::now();
        assert_eq!(app.post_meta(&body).await.status(), 200);
        assert!(
            posted.elapsed() < Duration::from_secs(1),
            "{:?}",
            posted.elapsed()
        );
    }
    app.wait_meta_sends(8, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let dropped = |page: &str, reason: &str| {
        crate::helpers::metric_value(
            page,
            &format!("parley_trace_spans_dropped_total{{reason=\"{reason}\"}}"),
        )
    };
    let page = metrics_page(&app.http, &app.addr).await;
    assert!(dropped(&page, "queue_full") > 0.0, "{page}");
    crate::helpers::eventually(Duration::from_secs(5), "an export to time out", || async {
        let page = metrics_page(&app.http, &app.addr).await;
        (dropped(&page, "export_failed") > 0.0).then_some(())
    })
    .await;
    app.shutdown().await;

    // Down: nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let app = spawn_with(Options {
        extra_yaml: telemetry_yaml(&down, ""),
        ..Options::default()
    })
    .await;
    let body = meta_text("16315551299", "wamid.down.1", "hi", now_unix());
    assert_eq!(app.post_meta(&body).await.status(), 200);
    app.wait_meta_sends(1, Duration::from_secs(5)).await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_event_delivered_out_carries_its_spans_traceparent_in_the_messages_trace() {
    let (endpoint, collected) = collector(Duration::ZERO).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let events = format!(
        "events: {{ poll_interval: 20ms, endpoints: [{{ name: crm, url: \"{}/hooks\", secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"], events: [message.received] }}] }}\n",
        receiver.uri()
    );
    let app = spawn_with(Options {
        extra_yaml: format!("{}{events}", telemetry_yaml(&endpoint, "")),
        config_edits: vec![(
            "flows: { dir: ",
            "flows: { allow_private_networks: true, dir: ",
        )],
        ..Options::default()
    })
    .await;
    let body = meta_text("16315551181", "wamid.hi.events", "hi out there", now_unix());
    assert_eq!(app.post_meta(&body).await.status(), 200);
    let trace = collected
        .wait_for(&["ingest", "events.deliver"], |_| true)
        .await;
    let deliver = named(&trace, "events.deliver");
    assert_eq!(deliver["parentSpanId"], named(&trace, "ingest")["spanId"]);
    assert_eq!(deliver["kind"], 4);
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers["traceparent"].to_str().unwrap(),
        format!(
            "00-{}-{}-01",
            deliver["traceId"].as_str().unwrap(),
            deliver["spanId"].as_str().unwrap()
        )
    );
    assert!(!attribute_texts(&trace).contains("out there"));
    app.shutdown().await;
}
