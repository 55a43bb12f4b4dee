//! What the process counts: Prometheus metrics (names in one place, one recorder per
//! process, every documented series described and present from start: `series`) and, in
//! `memory`, the per-thread allocation meter scripts are stopped by.

pub mod logs;
pub mod memory;
mod series;
mod strays;

pub use series::{documented, register_senders};
pub use strays::webhook_for_unknown_number;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

pub const WEBHOOKS_RECEIVED: &str = "parley_webhooks_received_total";
pub const WEBHOOKS_DUPLICATE: &str = "parley_webhooks_duplicate_total";
pub const WEBHOOKS_REJECTED: &str = "parley_webhooks_rejected_total";
/// Webhooks answered 503 because the database did not store them (`reason`: `timeout`,
/// `queue_full` when too many already waited, `store_error` when it refused: down, full).
pub const WEBHOOKS_UNAVAILABLE: &str = "parley_webhooks_unavailable_total";
/// Store operations retried in-process after a transient database error, by `work`.
/// Sends whose answer never came (timeouts): held for a status before any resend.
pub const SENDS_OUTCOME_UNKNOWN: &str = "parley_sends_outcome_unknown_total";
pub const STORE_RETRIES: &str = "parley_store_retries_total";
/// Webhook items for a number no configured sender has, by `provider` and `number`
/// (`strays`): acknowledged, never processed.
pub const WEBHOOKS_UNKNOWN_SENDER: &str = "parley_webhooks_unknown_sender_total";
/// Parts of a verified webhook (by `provider` and `kind`: `notification`, `change`,
/// `message`, `status`) that could not be read; acknowledged, logged at WARN, and kept as an
/// unsupported message where possible.
pub const WEBHOOK_ITEMS_UNPARSED: &str = "parley_webhook_items_unparsed_total";
/// Webhook events read but dropped on purpose (a message type, change field or status value
/// Parley does not act on), by `provider`, `field` and `type`.
pub const WEBHOOK_EVENTS_DROPPED: &str = "parley_webhook_events_dropped_total";
/// HTTP connections refused because `http.max_connections` were open.
pub const HTTP_CONNECTIONS_REFUSED: &str = "parley_http_connections_refused_total";
/// Form (WhatsApp Flow) submissions by `outcome`: `completed`, `invalid`, `stale` (a
/// Parley token no step waits for), `foreign` (a token Parley did not make).
pub const FORM_REPLIES: &str = "parley_form_replies_total";
pub const STATUSES_APPLIED: &str = "parley_statuses_applied_total";
/// A customer's number or business-scoped user id changed (`outcome`: `moved` a contact
/// Parley knew, `unknown` nobody it knew).
pub const CONTACT_IDENTITY_CHANGES: &str = "parley_contact_identity_changes_total";
pub const MESSAGES_SENT: &str = "parley_messages_sent_total";
pub const MESSAGES_RETRIED: &str = "parley_messages_retried_total";
pub const MESSAGES_FAILED: &str = "parley_messages_failed_total";
pub const MESSAGES_SKIPPED: &str = "parley_messages_skipped_total";
pub const MESSAGES_CONVERTED: &str = "parley_messages_converted_to_template_total";
/// Conversation routing: the routing roles a Meta sender's number gives Parley (`role`:
/// `primary`, `escalation`, `standby`, `none`; 1 for each held), read at start and by the
/// sender health check.
pub const THREAD_ROUTING_ROLE: &str = "parley_thread_routing_role";
/// Conversation routing: handovers Meta reported (`kind`: `control_passed`,
/// `control_taken`, `released`, `idle`).
pub const THREAD_HANDOVERS: &str = "parley_thread_handovers_total";
/// Conversation routing: thread-control calls Parley made (`action`: `pass`, `take`,
/// `release`; `outcome`: `accepted`, `failed`).
pub const THREAD_CONTROL: &str = "parley_thread_control_total";
/// Conversation routing: sends not made because another app owns the customer's thread.
pub const THREAD_NOT_OWNED: &str = "parley_sends_thread_not_owned_total";
/// Broadcast sends queued (with their recipients), and times a broadcast stopped at its
/// portfolio's messaging limit.
pub const BROADCAST_QUEUED: &str = "parley_broadcast_sends_queued_total";
pub const BROADCAST_LIMIT_WAITS: &str = "parley_broadcast_limit_waits_total";
pub const OUTBOX_DEPTH: &str = "parley_outbox_depth";
pub const SENDER_STOPPED: &str = "parley_sender_stopped";
pub const FLOWS_STALE: &str = "parley_flows_stale";
/// Days until the Graph API version a Meta sender uses is retired by Meta, by sender.
pub const GRAPH_API_DAYS_LEFT: &str = "parley_graph_api_days_left";
/// Webhook stored → the flow step that handles it starts.
pub const INBOX_LATENCY: &str = "parley_inbox_latency_seconds";
pub const INBOX_HANDOFFS: &str = "parley_inbox_handoffs_total";
pub const INBOX_ANNOUNCEMENTS: &str = "parley_inbox_announcements_total";
/// Reply enqueued → accepted by the provider.
pub const OUTBOX_LATENCY: &str = "parley_outbox_latency_seconds";
pub const ENGINE_PANICS: &str = "parley_engine_panics_total";
/// Script steps refused because the script queue was full (`scripts.queue`).
pub const SCRIPTS_REFUSED: &str = "parley_scripts_refused_total";
/// Trace spans sent to the OTLP collector (`telemetry`), and those lost (`reason`:
/// `queue_full`, `export_failed`, `stopped`).
pub const TRACE_SPANS_EXPORTED: &str = "parley_trace_spans_exported_total";
pub const TRACE_SPANS_DROPPED: &str = "parley_trace_spans_dropped_total";
/// SQLite group commit: write transactions committed, and the jobs (writes) they carried.
pub const SQLITE_COMMITS: &str = "parley_sqlite_commits_total";
pub const SQLITE_JOBS: &str = "parley_sqlite_jobs_total";
/// Pages SQLite's commits wrote to the WAL: the write footprint (1 KiB each).
pub const SQLITE_WAL_PAGES: &str = "parley_sqlite_wal_pages_total";
/// PostgreSQL batching, by `kind` (`steps` and `accepted`: group commit of step commits and
/// accepted sends; `loads`: conversations' waiting work read together): statements run, and
/// the requests they carried.
pub const POSTGRES_BATCHES: &str = "parley_postgres_batches_total";
pub const POSTGRES_BATCHED: &str = "parley_postgres_batched_total";
/// "typing…" requests made while a flow's slow step ran, by `outcome` (`shown`, `failed`).
pub const TYPING_INDICATORS: &str = "parley_typing_indicators_total";
/// Language-model calls of `agent` steps by `model`, `flow` and `outcome` (`answered`,
/// `failed`, `replayed`: read from the record after a crash, no new call), their tokens by
/// `direction` (`input`, `output`), their cost in millionths of a US dollar, and how long
/// they took.
pub const MODEL_CALLS: &str = "parley_model_calls_total";
pub const AGENT_SCORE: &str = "parley_agent_score";
pub const AGENT_SCORES: &str = "parley_agent_scores_total";
pub const AGENT_JUDGE_COST: &str = "parley_agent_judge_cost_microdollars_total";
pub const MODEL_TOKENS: &str = "parley_model_tokens_total";
pub const MODEL_COST: &str = "parley_model_cost_microdollars_total";
pub const MODEL_LATENCY: &str = "parley_model_call_seconds";
/// Model calls tried again after a 429, a 5xx or a connection failure, by `model`.
pub const MODEL_RETRIES: &str = "parley_model_retries_total";
/// Runs of flows that began and ended, by `flow` and `outcome` (`started`, `finished`,
/// `handed_off`, `moved`, `timed_out`, `invalid`, `dropped`, `errored`): the flow insights'
/// outcomes (`domain::insight`), counted once their event is committed.
pub const FLOW_RUNS: &str = "parley_flow_runs_total";
/// Messages queued with a predicted price (the cost ledger), by `sender`, `category`
/// (marketing, utility, authentication, service) and `flow` (`api` for API sends, `none` for
/// messages no step sent): their predicted cost in micro-units of the rate card's currency,
/// and their count by `sender`, `category` and pricing `type` (regular,
/// free_customer_service, free_entry_point).
pub const MESSAGE_COST: &str = "parley_message_cost_microunits_total";
pub const MESSAGES_PRICED: &str = "parley_messages_priced_total";
/// Twilio Content API templates (quick-reply, list-picker) created; cached ones are reused.
pub const TWILIO_CONTENTS_CREATED: &str = "parley_twilio_contents_created_total";

/// Counts a Twilio content template created.
pub fn twilio_content_created() {
    metrics::counter!(TWILIO_CONTENTS_CREATED).increment(1);
}

/// Inbound media downloads by `outcome` (`stored`, `retried`, `failed`), the bytes they
/// stored, the downloads waiting, and what the retention sweep deleted (`what`: `rows`,
/// `files`).
pub const MEDIA_DOWNLOADS: &str = "parley_media_downloads_total";
pub const MEDIA_BYTES: &str = "parley_media_bytes_stored_total";
pub const MEDIA_QUEUED: &str = "parley_media_downloads_queued";
pub const MEDIA_SWEPT: &str = "parley_media_swept_total";

/// Retention (issue 60): rows written to the archive and rows deleted (or emptied) from the
/// database, by `kind` (`store::HistoryKind::name`), and when the last pass ended.
pub const RETENTION_ARCHIVED: &str = "parley_retention_archived_rows_total";
pub const RETENTION_REMOVED: &str = "parley_retention_removed_rows_total";
pub const RETENTION_LAST_RUN: &str = "parley_retention_last_run_timestamp_seconds";

/// Installs the process-wide recorder once and returns a handle that renders `/metrics`.
pub fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("static bucket list is valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding Parley); then this
            // handle renders an empty page, which is still valid Prometheus text.
            let _ = metrics::set_global_recorder(recorder);
            series::register();
            if let Err(error) = start_upkeep(handle.clone(), UPKEEP_EVERY, UPKEEP_THREAD) {
                tracing::warn!(%error, "could not start the metrics upkeep thread: histogram samples are kept until /metrics is scraped");
            }
            handle
        })
        .clone()
}

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);
const UPKEEP_THREAD: &str = "parley-metrics";

/// The recorder keeps every histogram sample until something drains it: a scrape of
/// `/metrics` or an upkeep pass. An instance that nobody scrapes grew by each sample it
/// recorded (about 25 bytes a message, 2 MB a minute at 1,000 messages/s), so a thread of
/// its own drains them every `every`, whether or not Prometheus comes.
fn start_upkeep(
    handle: PrometheusHandle,
    every: Duration,
    thread: &str,
) -> std::io::Result<Arc<AtomicU64>> {
    let passes = Arc::new(AtomicU64::new(0));
    let counted = passes.clone();
    std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || loop {
            std::thread::sleep(every);
            handle.run_upkeep();
            counted.fetch_add(1, Ordering::Relaxed);
        })?;
    Ok(passes)
}

/// Counts one queued message's predicted cost (`MESSAGE_COST`, `MESSAGES_PRICED`):
/// `category` and `kind` are the pricing category and type, `price_micros` the prediction.
pub fn message_priced(
    sender_id: i64,
    flow: &str,
    category: &'static str,
    kind: &'static str,
    price_micros: i64,
) {
    let sender = sender_id.to_string();
    metrics::counter!(MESSAGE_COST, "sender" => sender.clone(), "category" => category, "flow" => flow.to_string())
        .increment(price_micros.max(0) as u64);
    metrics::counter!(MESSAGES_PRICED, "sender" => sender, "category" => category, "type" => kind)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Recorder;

    /// Samples recorded while nobody renders are folded in by the upkeep thread (which
    /// frees the blocks that held them), and none of them is lost from the rendered count.
    #[test]
    fn upkeep_drains_samples_nobody_scraped() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let passes =
            start_upkeep(handle.clone(), Duration::from_millis(20), "upkeep-test").unwrap();
        let key = metrics::Key::from_name("upkeep_test_seconds");
        let metadata = metrics::Metadata::new(module_path!(), metrics::Level::INFO, None);
        let histogram = recorder.register_histogram(&key, &metadata);
        let samples = 100_000;
        for i in 0..samples {
            histogram.record(f64::from(i) / 1e6);
        }
        let before = passes.load(Ordering::Relaxed);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while passes.load(Ordering::Relaxed) < before + 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            passes.load(Ordering::Relaxed) >= before + 2,
            "the upkeep thread did not run"
        );
        let page = handle.render();
        assert!(
            page.contains(&format!("upkeep_test_seconds_count {samples}")),
            "{page}"
        );
    }

    /// The process-wide recorder gets its upkeep thread (without it, an instance nobody
    /// scrapes keeps every sample: 2 MB a minute at 1,000 messages/s).
    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_recorder_has_an_upkeep_thread() {
        handle();
        // A thread names itself once it runs, so look for a while.
        let names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .map(|name| name.trim().to_string())
                .collect()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut threads = names();
        while !threads.iter().any(|name| name == UPKEEP_THREAD)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
            threads = names();
        }
        assert!(
            threads.iter().any(|name| name == UPKEEP_THREAD),
            "{threads:?}"
        );
    }
}
