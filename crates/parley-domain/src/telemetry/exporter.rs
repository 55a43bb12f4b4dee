//! The background task that sends spans to an OTLP/HTTP collector: it takes spans from
//! the tracer's bounded queue, gathers up to `batch_size` of them (or what came within
//! `interval`), and POSTs them as OTLP JSON to `<endpoint>/v1/traces`, one request at a
//! time. A collector that is down, slow or refusing costs the spans of that batch (counted
//! as `export_failed`, logged at most every 30 s) and, while the queue is full, the spans
//! that do not fit in it (`queue_full`): never a reply's time.

use super::otlp;
use super::span::Span;
use super::tracer::Tracer;
use crate::metrics as m;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where and how spans are exported (`telemetry:` of the config).
#[derive(Clone)]
pub struct ExportSettings {
    /// The collector's base URL; spans go to `<endpoint>/v1/traces`.
    pub endpoint: String,
    /// Sent with every export (authentication): never logged.
    pub headers: Vec<(String, String)>,
    pub service_name: String,
    pub sample_ratio: f64,
    pub include_text: bool,
    /// Spans per export request, at most.
    pub batch_size: usize,
    /// Spans waiting for export, at most; more are dropped.
    pub queue: usize,
    /// The longest a span waits for its batch to fill.
    pub interval: Duration,
    /// The longest one export request may take.
    pub timeout: Duration,
}

/// Starts the exporter on the current runtime: the tracer to record spans with. The task
/// ends once every clone of the tracer is gone, after sending what was queued.
pub fn start(settings: ExportSettings) -> Result<Tracer, String> {
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter's HTTP client: {e}"))?;
    let url = format!("{}/v1/traces", settings.endpoint.trim_end_matches('/'));
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in &settings.headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("telemetry.headers: `{name}` is not a valid header name"))?;
        let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            format!("telemetry.headers: the value of `{name}` is not a valid header value")
        })?;
        headers.insert(name, value);
    }
    let (tx, rx) = mpsc::channel(settings.queue.max(1));
    let tracer = Tracer::new(tx, settings.sample_ratio, settings.include_text);
    let export = Export {
        client,
        url,
        headers,
        service_name: settings.service_name,
        batch_size: settings.batch_size.max(1),
        interval: settings.interval,
    };
    tokio::spawn(export.run(rx));
    Ok(tracer)
}

struct Export {
    client: reqwest::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    service_name: String,
    batch_size: usize,
    interval: Duration,
}

impl Export {
    async fn run(self, mut rx: mpsc::Receiver<Span>) {
        let mut batch = Vec::with_capacity(self.batch_size);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            let deadline = tokio::time::Instant::now() + self.interval;
            while batch.len() < self.batch_size {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(span)) => batch.push(span),
                    // Every tracer is gone: send what there is, then stop.
                    Ok(None) | Err(_) => break,
                }
            }
            self.send(&batch).await;
            batch.clear();
        }
    }

    async fn send(&self, spans: &[Span]) {
        let body = otlp::encode(&self.service_name, spans);
        let sent = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let failure = match sent {
            Ok(r) if r.status().is_success() => None,
            Ok(r) => Some(format!("the collector answered {}", r.status())),
            Err(e) if e.is_timeout() => Some("the collector did not answer in time".to_string()),
            Err(e) if e.is_connect() => Some("the collector could not be reached".to_string()),
            Err(_) => Some("the request to the collector failed".to_string()),
        };
        let n = spans.len() as u64;
        match failure {
            None => metrics::counter!(m::TRACE_SPANS_EXPORTED).increment(n),
            Some(why) => {
                metrics::counter!(m::TRACE_SPANS_DROPPED, "reason" => "export_failed").increment(n);
                m::logs::log_every!(warn, url = %self.url, spans = n, "trace spans not exported: {why} (check telemetry.endpoint)");
            }
        }
    }
}
