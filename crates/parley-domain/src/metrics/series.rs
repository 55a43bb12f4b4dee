//! What each documented series means (`# HELP`), and the series created at start: zero
//! counters, empty histograms and gauges at their value, so `/metrics` lists every series
//! before its first event and an alert on an absent series means something. Labels whose
//! values are known in advance (`provider`, `reason`, `kind`, `work`, `sender`) get one
//! series per value; open-ended ones (`code`) get one series without labels.

use super::*;

enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Every series README.md ("Operations") documents, with its help text.
const DOCUMENTED: &[(&str, Kind, &str)] = &[
    (WEBHOOKS_RECEIVED, Kind::Counter, "Webhook requests received, by provider (before the signature check)."),
    (WEBHOOKS_DUPLICATE, Kind::Counter, "Inbound messages received again (same provider message id) and not processed twice."),
    (WEBHOOKS_REJECTED, Kind::Counter, "Webhook requests refused, by provider and reason (signature, malformed)."),
    (WEBHOOKS_UNKNOWN_SENDER, Kind::Counter, "Webhook items for a phone number no configured sender has (with cells: a number whose webhooks reach the wrong cell), by provider and number (Meta's phone_number_id or the Twilio number; `other` past 100 numbers); acknowledged and ignored."),
    (WEBHOOKS_UNAVAILABLE, Kind::Counter, "Webhooks answered 503 because the database did not store them, by reason (timeout: not in time; queue_full: too many waiting; store_error: the database refused them)."),
    (WEBHOOK_ITEMS_UNPARSED, Kind::Counter, "Parts of verified webhooks that could not be read (kept as unsupported), by provider and kind."),
    (WEBHOOK_EVENTS_DROPPED, Kind::Counter, "Webhook events read but dropped on purpose (a message type, change field or status value Parley does not act on), by provider, field and type; the first of each kind is logged at WARN."),
    (HTTP_CONNECTIONS_REFUSED, Kind::Counter, "HTTP connections closed because http.max_connections were all busy."),
    (FORM_REPLIES, Kind::Counter, "Form (WhatsApp Flow) submissions, by outcome: completed, invalid, stale (no step waits for its token), foreign (not Parley's token)."),
    (STATUSES_APPLIED, Kind::Counter, "Delivery statuses (sent, delivered, read, failed) applied to outbound messages."),
    (CONTACT_IDENTITY_CHANGES, Kind::Counter, "Changed numbers and business-scoped user ids reported by the provider, by outcome (moved a known contact, or unknown)."),
    (MESSAGES_SENT, Kind::Counter, "Messages accepted by the provider, by sender."),
    (MESSAGES_RETRIED, Kind::Counter, "Sends retried after a transient provider error, by error code."),
    (MESSAGES_FAILED, Kind::Counter, "Sends that failed for good, by error code."),
    (MESSAGES_SKIPPED, Kind::Counter, "Messages not sent because the window was closed and the step said skip."),
    (MESSAGES_CONVERTED, Kind::Counter, "Free-form messages sent as their template fallback because the window had closed."),
    (THREAD_ROUTING_ROLE, Kind::Gauge, "Conversation routing: 1 for each routing role a Meta sender's number gives Parley (primary, escalation, standby, none), by sender and role; read at start and by the health check."),
    (THREAD_HANDOVERS, Kind::Counter, "Conversation routing: thread handovers Meta reported, by kind (control_passed, control_taken, released, idle)."),
    (THREAD_CONTROL, Kind::Counter, "Conversation routing: thread-control calls Parley made (pass, take, release), by action and outcome (accepted, failed)."),
    (THREAD_NOT_OWNED, Kind::Counter, "Conversation routing: sends not made because another app owns the customer's thread (recorded skipped, thread_not_owned)."),
    (BROADCAST_QUEUED, Kind::Counter, "Broadcast sends queued, each in the transaction that marks its recipient queued."),
    (BROADCAST_LIMIT_WAITS, Kind::Counter, "Times a broadcast stopped at its business portfolio's messaging limit until the moving 24 hours freed capacity."),
    (OUTBOX_DEPTH, Kind::Gauge, "Messages waiting to be sent, read from the database at each scrape."),
    (SENDER_STOPPED, Kind::Gauge, "1 while a sender is stopped after its provider refused its credentials or account (190, 368), else 0."),
    (FLOWS_STALE, Kind::Gauge, "1 while the flow files on disk have errors and the flows loaded before them keep running (hot reload refused them; /readyz lists the problems), else 0."),
    (GRAPH_API_DAYS_LEFT, Kind::Gauge, "Days until Meta retires the Graph API version a Meta sender's api_base names (negative once retired), by Meta sender; NaN while Meta has announced no date. Alert below 90."),
    (INBOX_LATENCY, Kind::Histogram, "Seconds from a webhook stored to the start of the flow step that handles it (a model's or an http step's wait is not counted)."),
    (INBOX_HANDOFFS, Kind::Counter, "Stored messages whose conversation the webhook's own commit leased to this process's inbox (outcome handed), or left in the database for a claim (left: the inbox had no free slot, a worker holds the conversation, or no inbox runs here)."),
    (INBOX_ANNOUNCEMENTS, Kind::Counter, "Word from PostgreSQL (NOTIFY) that a process, this one included, left inbox work with no lease for lack of room; each wakes this process's inbox to claim. 0 on SQLite."),
    (OUTBOX_LATENCY, Kind::Histogram, "Seconds from a reply enqueued to its acceptance by the provider."),
    (ENGINE_PANICS, Kind::Counter, "Flow steps or scripts that panicked; the conversation goes on."),
    (SCRIPTS_REFUSED, Kind::Counter, "Script steps failed because every script thread was busy and the queue full."),
    (TRACE_SPANS_EXPORTED, Kind::Counter, "Trace spans sent to the OTLP collector (telemetry.endpoint); 0 while tracing is off."),
    (TRACE_SPANS_DROPPED, Kind::Counter, "Trace spans lost, by reason (queue_full: the export queue was full; export_failed: the collector was down, slow or refused them; stopped: the exporter had stopped)."),
    (SQLITE_COMMITS, Kind::Counter, "SQLite write transactions committed (group commit); 0 on PostgreSQL."),
    (SQLITE_JOBS, Kind::Counter, "Writes carried by SQLite commits; jobs / commits is the batch size. 0 on PostgreSQL."),
    (SQLITE_WAL_PAGES, Kind::Counter, "Pages (1 KiB) SQLite's commits wrote to the WAL, the write footprint; per message it is what the disk and the checkpoints carry. 0 on PostgreSQL."),
    (POSTGRES_BATCHES, Kind::Counter, "PostgreSQL batched statements run, by kind (steps, accepted, loads); 0 on SQLite."),
    (POSTGRES_BATCHED, Kind::Counter, "Requests carried by PostgreSQL batches, by kind; 0 on SQLite."),
    (STORE_RETRIES, Kind::Counter, "Store writes retried in-process after a transient database error, by work (inbox, outcome)."),
    (SENDS_OUTCOME_UNKNOWN, Kind::Counter, "Sends whose answer never came (timeouts), held for a status before any resend."),
    (AGENT_SCORE, Kind::Gauge, "The mean score (0 to 1) a judge model gave a flow's last 50 scored agent conversations (`score:` of an agent step), by flow."),
    (AGENT_SCORES, Kind::Counter, "Agent conversations drawn to be scored, by flow and result (scored, failed, skipped: the flow or its `score:` is gone, skipped_budget: left for the next day by the judge's budget)."),
    (AGENT_JUDGE_COST, Kind::Counter, "What the judge model cost scoring agent conversations, in millionths of a US dollar (the config's prices), by flow."),
    (MODEL_CALLS, Kind::Counter, "Language-model calls of agent steps, by model, flow and outcome (answered, failed, replayed: read from the record of an earlier try, no new call)."),
    (MODEL_TOKENS, Kind::Counter, "Tokens of language-model calls, by model, flow and direction (input, output)."),
    (MODEL_COST, Kind::Counter, "Cost of language-model calls in millionths of a US dollar (the config's prices), by model and flow."),
    (MODEL_LATENCY, Kind::Histogram, "How long language-model calls took, by model."),
    (TYPING_INDICATORS, Kind::Counter, "\"typing…\" requests made while a typing: true flow ran an http step, by outcome (shown, failed)."),
    (MESSAGE_COST, Kind::Counter, "Predicted cost of queued messages in micro-units of the rate card's currency (pricing.rate_card), by sender, category and flow."),
    (MESSAGES_PRICED, Kind::Counter, "Messages queued with a predicted price, by sender, category and pricing type (regular, free_customer_service, free_entry_point)."),
    (TWILIO_CONTENTS_CREATED, Kind::Counter, "Twilio Content API templates (quick-reply, list-picker) created for buttons and lists; cached ones are reused."),
    (MODEL_RETRIES, Kind::Counter, "Language-model and transcription calls tried again after a 429, a 5xx or a connection failure, by model."),
    (FLOW_RUNS, Kind::Counter, "Runs of flows started and ended, by flow and outcome (started, finished, handed_off, moved, timed_out, invalid, dropped, errored); the per-step funnel is GET /api/insights/flows/{flow}."),
    (MEDIA_DOWNLOADS, Kind::Counter, "Inbound media download attempts, by outcome (stored, retried, failed)."),
    (MEDIA_BYTES, Kind::Counter, "Bytes of inbound media written to the media store."),
    (MEDIA_QUEUED, Kind::Gauge, "Inbound media downloads waiting, read from the database at each scrape."),
    (MEDIA_SWEPT, Kind::Counter, "Inbound media deleted after media.retention, by what (rows, files)."),
    (RETENTION_ARCHIVED, Kind::Counter, "Rows of history past their retention period written to the archive, by kind."),
    (RETENTION_REMOVED, Kind::Counter, "Rows of history deleted from the database after they were archived (a send's or a model exchange's content emptied, its counted row kept), by kind."),
    (RETENTION_LAST_RUN, Kind::Gauge, "When the last retention pass of this process ended (Unix seconds); 0 before the first."),
];

/// The `kind` label of the retention series (`store::HistoryKind::name`).
const RETENTION_KINDS: [&str; 7] = [
    "inbound_messages",
    "outbound_messages",
    "timer_events",
    "events_out",
    "event_deliveries",
    "model_exchanges",
    "audit_log",
];

/// The label sets known in advance; a series not listed gets one series without labels.
fn known_labels(name: &str) -> Vec<Vec<(&'static str, &'static str)>> {
    let one = |key: &'static str, values: &[&'static str]| {
        values.iter().map(|v| vec![(key, *v)]).collect()
    };
    match name {
        WEBHOOKS_RECEIVED | WEBHOOKS_UNKNOWN_SENDER => one("provider", &["meta", "twilio"]),
        WEBHOOKS_REJECTED => vec![
            vec![("provider", "meta"), ("reason", "signature")],
            vec![("provider", "meta"), ("reason", "malformed")],
            vec![("provider", "twilio"), ("reason", "signature")],
            vec![("provider", "twilio"), ("reason", "malformed")],
        ],
        WEBHOOKS_UNAVAILABLE => one("reason", &["timeout", "queue_full", "store_error"]),
        CONTACT_IDENTITY_CHANGES => one("outcome", &["moved", "unknown"]),
        WEBHOOK_ITEMS_UNPARSED => [
            "notification",
            "change",
            "message",
            "status",
            "user_id_update",
        ]
        .iter()
        .map(|k| vec![("provider", "meta"), ("kind", *k)])
        .chain(
            ["message", "status"]
                .iter()
                .map(|k| vec![("provider", "twilio"), ("kind", *k)]),
        )
        .collect(),
        WEBHOOK_EVENTS_DROPPED => [
            ("meta", "messages", "system"),
            ("meta", "smb_app_state_sync", "contact"),
            ("meta", "statuses", "other"),
            ("twilio", "statuses", "other"),
        ]
        .iter()
        .map(|(p, f, t)| vec![("provider", *p), ("field", *f), ("type", *t)])
        .collect(),
        POSTGRES_BATCHES | POSTGRES_BATCHED => one("kind", &["steps", "accepted", "loads"]),
        STORE_RETRIES => one("work", &["inbox", "outcome"]),
        TYPING_INDICATORS => one("outcome", &["shown", "failed"]),
        FORM_REPLIES => one("outcome", &["completed", "invalid", "stale", "foreign"]),
        MEDIA_DOWNLOADS => one("outcome", &["stored", "retried", "failed"]),
        INBOX_HANDOFFS => one("outcome", &["handed", "left"]),
        MEDIA_SWEPT => one("what", &["rows", "files"]),
        RETENTION_ARCHIVED | RETENTION_REMOVED => one("kind", &RETENTION_KINDS),
        TRACE_SPANS_DROPPED => one("reason", &["queue_full", "export_failed", "stopped"]),
        THREAD_HANDOVERS => one(
            "kind",
            &["control_passed", "control_taken", "released", "idle"],
        ),
        THREAD_CONTROL => ["pass", "take", "release"]
            .iter()
            .flat_map(|a| {
                ["accepted", "failed"]
                    .iter()
                    .map(move |o| vec![("action", *a), ("outcome", *o)])
            })
            .collect(),
        _ => vec![Vec::new()],
    }
}

/// Describes every documented series and creates those that do not depend on the config.
/// Called once, right after the recorder is installed.
pub(super) fn register() {
    for (name, kind, help) in DOCUMENTED {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
            Kind::Histogram => {
                metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help)
            }
        }
        // Per-sender series are created from the config (`register_senders`).
        if matches!(*name, MESSAGES_SENT | SENDER_STOPPED | GRAPH_API_DAYS_LEFT) {
            continue;
        }
        for labels in known_labels(name) {
            let labels: Vec<metrics::Label> = labels
                .into_iter()
                .map(|(k, v)| metrics::Label::new(k, v))
                .collect();
            match kind {
                Kind::Counter => metrics::counter!(*name, labels).increment(0),
                // Its value is read from the database at each scrape.
                Kind::Gauge => metrics::gauge!(*name, labels).increment(0.0),
                Kind::Histogram => {
                    let _ = metrics::histogram!(*name, labels);
                }
            }
        }
    }
}

/// Creates the per-sender series of the configured senders: nothing sent yet, and not
/// stopped (a start resumes every stopped sender).
pub fn register_senders(sender_ids: impl IntoIterator<Item = i64>) {
    for id in sender_ids {
        let sender = id.to_string();
        metrics::counter!(MESSAGES_SENT, "sender" => sender.clone()).increment(0);
        metrics::gauge!(SENDER_STOPPED, "sender" => sender).set(0.0);
    }
}

/// The names of the documented series, for checks that README and code agree.
pub fn documented() -> impl Iterator<Item = &'static str> {
    DOCUMENTED.iter().map(|(name, _, _)| *name)
}
