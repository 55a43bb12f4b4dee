//! `--broadcast N` (issue 18): N contacts imported through `POST /api/contacts/import` (CSV,
//! tag `bench`, field `first_name`), then one broadcast of template `bench_offer` (whose
//! `{{1}}` is the contact's `first_name`) to tag `bench`, created just before the measured
//! webhooks start, so it sends while they run. The Graph API double hands every template
//! send to `Sends`, which counts each recipient's sends (a second one is a duplicate) and
//! checks the variable; the progress API says when Parley counts them all queued and sent.
//!
//! Broadcast contacts are Spanish numbers (`+346…`), apart from the measured contacts'
//! `+1555…`: marketing templates to +1 are held by default (`marketing.hold_regions`).

use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The API key the run's config accepts (its SHA-256 is in the config).
pub const API_KEY: &str = "pk_parley_bench_broadcast";
pub const TAG: &str = "bench";
pub const TEMPLATE_ID: u32 = 900;

/// The run's config additions: the API key (with a rate limit the benchmark never meets),
/// the template. The sender has no portfolio, so no messaging limit applies, and its
/// `messages_per_second` is the generated config's (100,000 unless `--pace` says).
pub fn config_yaml() -> String {
    use sha2::Digest;
    format!(
        "api_keys:\n  - {{ name: bench, key_sha256: \"{}\" }}\nrate_limit: {{ per_second: 100000, burst: 100000 }}\ntemplates:\n  - {{ id: {TEMPLATE_ID}, name: bench_offer, language: en, status: approved, category: marketing, body: \"Hi {{{{1}}}}, 20% off today.\" }}\n",
        hex::encode(sha2::Sha256::digest(API_KEY.as_bytes()))
    )
}

/// The WhatsApp id (digits) of broadcast contact `i`: 346 and eight digits.
pub fn contact_digits(i: u32) -> String {
    format!("346{i:08}")
}

/// The broadcast contact a recipient's digits belong to.
pub fn contact_of(digits: &str) -> Option<u32> {
    let rest = digits.strip_prefix("346")?;
    if rest.len() != 8 {
        return None;
    }
    rest.parse().ok()
}

/// The value of field `first_name` of contact `i` (what its send's `{{1}}` must say).
pub fn first_name(i: u32) -> String {
    format!("F{i}")
}

/// The import file: a header and one row per contact, tagged `bench`, with `first_name`.
pub fn import_csv(n: u32) -> String {
    let mut csv = String::with_capacity(40 * n as usize + 32);
    csv.push_str("phone,name,tags,first_name\n");
    for i in 0..n {
        csv.push_str(&format!(
            "+{},Contact {i},{TAG},{}\n",
            contact_digits(i),
            first_name(i)
        ));
    }
    csv
}

/// The request body of `POST /api/broadcasts`.
pub fn create_body(sender_id: u32) -> Value {
    json!({
        "name": "bench",
        "template_id": TEMPLATE_ID,
        "sender_id": sender_id,
        "variables": { "1": "{{ contact.fields.first_name }}" },
        "audience": { "tags": [TAG] },
    })
}

/// Template sends seen by the Graph API double, per broadcast contact.
pub struct Sends {
    per_contact: Vec<AtomicU32>,
    /// When each contact's first send reached the double (ns; 0 = none yet).
    first_at: Vec<AtomicU64>,
    /// Sends per sender index (by the `phone_number_id` called); the last slot counts
    /// sends on numbers the run does not know.
    per_sender: [AtomicU64; crate::pace::MAX_SENDERS + 1],
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    /// Template sends to no broadcast contact.
    pub unexpected: AtomicU64,
    /// Sends whose `{{1}}` is not the contact's `first_name`.
    pub wrong_value: AtomicU64,
}

impl Sends {
    pub fn new(n: u32) -> Self {
        Self {
            per_contact: (0..n).map(|_| AtomicU32::new(0)).collect(),
            first_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            per_sender: Default::default(),
            first_ns: AtomicU64::new(u64::MAX),
            last_ns: AtomicU64::new(0),
            unexpected: AtomicU64::new(0),
            wrong_value: AtomicU64::new(0),
        }
    }

    /// A template send to `to` (digits) with first body parameter `value`, at `at` ns, on
    /// sender index `sender` (`None`: a number the run does not know).
    pub fn record(&self, to: &str, value: Option<&str>, at: u64, sender: Option<u8>) {
        let slot = sender.map_or(crate::pace::MAX_SENDERS, usize::from);
        self.per_sender[slot.min(crate::pace::MAX_SENDERS)].fetch_add(1, Relaxed);
        let Some(slot) =
            contact_of(to).and_then(|i| self.per_contact.get(i as usize).map(|s| (i, s)))
        else {
            self.unexpected.fetch_add(1, Relaxed);
            return;
        };
        let (i, count) = slot;
        if value != Some(first_name(i).as_str()) {
            self.wrong_value.fetch_add(1, Relaxed);
        }
        if count.fetch_add(1, Relaxed) == 0 {
            self.first_at[i as usize].store(at, Relaxed);
        }
        self.first_ns.fetch_min(at, Relaxed);
        self.last_ns.fetch_max(at, Relaxed);
    }

    /// Template sends seen on sender index `sender`, or on numbers the run does not know
    /// (`None`).
    pub fn on_sender(&self, sender: Option<usize>) -> u64 {
        let slot = sender.unwrap_or(crate::pace::MAX_SENDERS);
        self.per_sender[slot.min(crate::pace::MAX_SENDERS)].load(Relaxed)
    }

    /// Contacts whose first send reached the double from `from` to `to` (ns, inclusive).
    pub fn first_sends_between(&self, from: u64, to: u64) -> u64 {
        self.first_at
            .iter()
            .map(|a| a.load(Relaxed))
            .filter(|&at| at != 0 && at >= from && at <= to)
            .count() as u64
    }

    /// `(contacts sent to, sends beyond the first per contact, first ns, last ns)`.
    pub fn tally(&self) -> (u64, u64, u64, u64) {
        let (mut reached, mut duplicates) = (0u64, 0u64);
        for c in &self.per_contact {
            let n = u64::from(c.load(Relaxed));
            if n > 0 {
                reached += 1;
                duplicates += n - 1;
            }
        }
        let first = self.first_ns.load(Relaxed);
        (
            reached,
            duplicates,
            if first == u64::MAX { 0 } else { first },
            self.last_ns.load(Relaxed),
        )
    }
}

/// Sends per second from the first to the last: `sends − 1` intervals over the span (one
/// send, or none, has no rate).
pub fn send_rate(sends: u64, first_ns: u64, last_ns: u64) -> f64 {
    if sends < 2 || last_ns <= first_ns {
        return 0.0;
    }
    (sends - 1) as f64 / ((last_ns - first_ns) as f64 / 1e9)
}

/// True when the progress has every one of `n` recipients out of Parley's hands: none
/// pending, none queued, none skipped or failed unnoticed (they count as not done).
pub fn all_sent(progress: &Value, n: u32) -> bool {
    let get = |k: &str| progress[k].as_i64().unwrap_or(0);
    let out: i64 = ["accepted", "sent", "delivered", "read"]
        .iter()
        .map(|k| get(k))
        .sum();
    get("recipients") == i64::from(n)
        && get("pending") == 0
        && get("queued") == 0
        && out == i64::from(n)
}

/// The broadcast figures of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BroadcastFigures {
    pub contacts: u32,
    /// Import: rows per second over the whole request.
    pub import_s: f64,
    pub import_rows_per_s: f64,
    /// Contacts sent a template at least once, and sends beyond the first (failures).
    pub reached: u64,
    pub duplicates: u64,
    pub unexpected: u64,
    pub wrong_value: u64,
    /// Template sends per second at the double, first to last.
    pub send_rate: f64,
    /// Create request → first send, and → last send, at the double (s).
    pub first_send_s: f64,
    pub last_send_s: f64,
    /// Create request → progress says every recipient accepted (s); `None` if it never did
    /// within the limit.
    pub progress_done_s: Option<f64>,
    /// The final progress Parley reported.
    pub progress: Value,
    /// Webhook ack latency of the measured webhooks sent between the first and the last
    /// template send (ms), and how many they were.
    pub ack_during_sends_ms: crate::report::Percentiles,
    /// The pacing the run used, in words.
    pub pacing: String,
}

/// Imports the `n` contacts; returns the seconds the request took.
pub async fn import(http: &reqwest::Client, base: &str, n: u32) -> anyhow::Result<f64> {
    let csv = import_csv(n);
    let t0 = Instant::now();
    let r = http
        .post(format!("{base}/api/contacts/import"))
        .bearer_auth(API_KEY)
        .header("content-type", "text/csv")
        .body(csv)
        .timeout(Duration::from_secs(600))
        .send()
        .await
        .context("importing the broadcast contacts")?;
    let secs = t0.elapsed().as_secs_f64();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status != 200 || body["created"].as_u64() != Some(u64::from(n)) {
        bail!("the import of {n} contacts answered {status}: {body}");
    }
    Ok(secs)
}

/// Creates the broadcast; returns its id.
pub async fn create(http: &reqwest::Client, base: &str, sender_id: u32) -> anyhow::Result<i64> {
    let r = http
        .post(format!("{base}/api/broadcasts"))
        .bearer_auth(API_KEY)
        .json(&create_body(sender_id))
        .send()
        .await
        .context("creating the broadcast")?;
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    match body["broadcast"]["id"].as_i64() {
        Some(id) if status == 200 => Ok(id),
        _ => bail!("creating the broadcast answered {status}: {body}"),
    }
}

/// Polls the progress `every` until every recipient is accepted or `limit` passed;
/// returns the seconds since `t0` (if done) and the last progress seen.
pub async fn watch(
    http: reqwest::Client,
    base: String,
    id: i64,
    n: u32,
    t0: Instant,
    limit: Duration,
    every: Duration,
) -> (Option<f64>, Value) {
    let mut last = Value::Null;
    while t0.elapsed() < limit {
        let got = http
            .get(format!("{base}/api/broadcasts/{id}"))
            .bearer_auth(API_KEY)
            .send()
            .await;
        if let Ok(r) = got {
            if let Ok(body) = r.json::<Value>().await {
                last = body["progress"].clone();
                if all_sent(&last, n) {
                    return (Some(t0.elapsed().as_secs_f64()), last);
                }
            }
        }
        tokio::time::sleep(every).await;
    }
    (None, last)
}

/// `--broadcast`: imports the contacts through the API (the double counts template sends
/// from now on); returns the import's seconds and the send counter.
pub async fn import_for_broadcast(
    double: &crate::double::Double,
    base: &str,
    n: u32,
) -> anyhow::Result<(f64, std::sync::Arc<Sends>)> {
    let sends = std::sync::Arc::new(Sends::new(n));
    double.count_templates_in(sends.clone())?;
    eprintln!("parley-bench: importing {n} contacts …");
    let secs = import(&reqwest::Client::new(), base, n).await?;
    eprintln!(
        "parley-bench: imported them in {secs:.2} s ({:.0} rows/s)",
        f64::from(n) / secs
    );
    Ok((secs, sends))
}

/// A broadcast under way: when it was created (ns of the tracker's clock) and the task
/// watching its progress.
pub struct Sending {
    created_ns: u64,
    watch: tokio::task::JoinHandle<(Option<f64>, serde_json::Value)>,
}

/// `--broadcast`: creates the broadcast to every imported contact just before the measured
/// webhooks start, and watches its progress (for the send phase and up to two minutes
/// more, or as long as a paced broadcast takes: `pace::watch_limit`, `pace::progress_poll`;
/// `--broadcast-watch` caps it). With `--pace`, returns once its first send reached the
/// double (and a second more), so the measured window lies inside the broadcast.
pub async fn start_broadcast(
    base: &str,
    n: u32,
    duration: f64,
    args: &crate::Args,
    sends: &Sends,
    tracker: &crate::record::Tracker,
) -> anyhow::Result<Sending> {
    let pace = args.pace;
    let http = reqwest::Client::new();
    let t0 = std::time::Instant::now();
    let created_ns = tracker.now_ns();
    let id = create(&http, base, 1).await?;
    let limit = crate::pace::watch_limit(duration, n, pace);
    let watched = args
        .broadcast_watch
        .map_or(limit, |s| limit.min(Duration::from_secs(s)));
    let every = crate::pace::progress_poll(pace);
    let watch = tokio::spawn(watch(http, base.to_string(), id, n, t0, watched, every));
    if pace.is_some() {
        let waited = crate::pace::await_first_send(sends, limit, Duration::from_secs(1)).await?;
        eprintln!("parley-bench: the broadcast is sending ({waited:.1} s after its creation); the measured webhooks start");
    }
    Ok(Sending { created_ns, watch })
}

/// Waits for the broadcast's progress watch to end, then gives its figures, and its first
/// and last template send at the double (ns), the window its ack latency is taken over.
pub async fn broadcast_figures(
    n: u32,
    import_s: f64,
    sends: &Sends,
    sending: Sending,
    args: &crate::Args,
) -> anyhow::Result<(BroadcastFigures, (u64, u64))> {
    let (overrides, pace) = (&args.overrides, args.pace.unwrap_or(crate::pace::UNPACED));
    let (done_s, progress) = sending.watch.await?;
    let (reached, duplicates, first, last) = sends.tally();
    let since = |ns: u64| ns.saturating_sub(sending.created_ns) as f64 / 1e9;
    let figures = BroadcastFigures {
        contacts: n,
        import_s,
        import_rows_per_s: f64::from(n) / import_s,
        reached,
        duplicates,
        unexpected: sends.unexpected.load(std::sync::atomic::Ordering::Relaxed),
        wrong_value: sends.wrong_value.load(std::sync::atomic::Ordering::Relaxed),
        send_rate: send_rate(reached + duplicates, first, last),
        first_send_s: since(first),
        last_send_s: since(last),
        progress_done_s: done_s,
        progress,
        ack_during_sends_ms: crate::report::Percentiles::default(),
        pacing: {
            let defaults = parley::config::BroadcastsConfig::default();
            format!(
                "sender messages_per_second {pace}, no portfolio (no messaging limit), broadcasts on Parley's defaults (page_size {}, max_backlog {}, poll_interval {}){}",
                defaults.page_size,
                defaults.max_backlog,
                humantime::format_duration(defaults.poll_interval),
                if overrides.is_empty() { "" } else { ", then the --set overrides" }
            )
        },
    };
    Ok((figures, (first, last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_file_has_a_header_and_one_tagged_row_per_contact() {
        let csv = import_csv(3);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "phone,name,tags,first_name");
        assert_eq!(lines[1], "+34600000000,Contact 0,bench,F0");
        assert_eq!(lines[3], "+34600000002,Contact 2,bench,F2");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn contact_digits_round_trip_and_other_numbers_are_not_contacts() {
        assert_eq!(contact_of(&contact_digits(12_345)), Some(12_345));
        assert_eq!(contact_of("15550000001"), None);
        assert_eq!(contact_of("3460000000"), None);
    }

    #[test]
    fn a_second_send_to_a_contact_is_a_duplicate_and_a_wrong_value_is_counted() {
        let sends = Sends::new(3);
        sends.record("34600000000", Some("F0"), 1_000_000_000, Some(0));
        sends.record("34600000001", Some("F1"), 2_000_000_000, Some(0));
        sends.record("34600000001", Some("F1"), 3_000_000_000, Some(1));
        sends.record("34600000002", Some("F0"), 1_500_000_000, None);
        sends.record("15550000001", Some("F0"), 5_000_000_000, Some(0));
        let (reached, duplicates, first, last) = sends.tally();
        assert_eq!((reached, duplicates), (3, 1));
        assert_eq!((first, last), (1_000_000_000, 3_000_000_000));
        assert_eq!(sends.unexpected.load(Relaxed), 1);
        assert_eq!(sends.wrong_value.load(Relaxed), 1);
        assert_eq!(
            (
                sends.on_sender(Some(0)),
                sends.on_sender(Some(1)),
                sends.on_sender(None)
            ),
            (3, 1, 1)
        );
        // Contacts 0 and 2 were first sent to within 1–2 s; contact 1 at 2 s.
        assert_eq!(sends.first_sends_between(1_000_000_000, 1_999_999_999), 2);
        assert_eq!(sends.first_sends_between(2_000_000_000, 9_000_000_000), 1);
    }

    #[test]
    fn send_rate_counts_intervals_between_first_and_last() {
        assert_eq!(send_rate(1001, 0, 1_000_000_000), 1000.0);
        assert_eq!(send_rate(1, 5, 5), 0.0);
        assert_eq!(send_rate(0, 0, 0), 0.0);
    }

    #[test]
    fn progress_is_done_only_when_nothing_is_pending_or_queued() {
        let done = json!({ "recipients": 4, "pending": 0, "queued": 0, "accepted": 3, "sent": 1 });
        assert!(all_sent(&done, 4));
        let queued = json!({ "recipients": 4, "pending": 0, "queued": 1, "accepted": 3 });
        assert!(!all_sent(&queued, 4));
        let skipped = json!({ "recipients": 4, "pending": 0, "queued": 0, "accepted": 3, "skipped": { "opted_out": 1 } });
        assert!(!all_sent(&skipped, 4));
        assert!(!all_sent(&done, 5));
    }
}
