//! Turns a run's records into figures (rates, exact latency percentiles from every sample,
//! loss, duplicates, memory, CPU), decides whether the run meets the target, and prints
//! them as a table for people and as JSON for tools.

use crate::load::SendPhase;
use crate::record::Tracker;
use crate::sampler::{self, Sample};
use crate::stages::{Stage, Stages};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Serialize)]
pub struct RunResult {
    /// `parley`, or `baseline` (the storage-less server, `baseline.rs`).
    pub subject: String,
    /// `w1` (text webhooks only) or `w2` (each reply followed by sent/delivered/read).
    pub mix: String,
    pub db: String,
    pub rate: u32,
    pub duration_s: f64,
    pub contacts: u32,
    pub flows: u32,
    pub webhooks: usize,
    /// Achieved offered rate: webhooks / (last send − first due time).
    pub send_rate: f64,
    /// How late the generator sent compared to the schedule (ms).
    pub generator_lag_ms: Percentiles,
    pub max_in_flight: u64,
    pub acked: u64,
    /// 200 answers per second, over first due time → last 200.
    pub ack_rate: f64,
    pub non_200: u64,
    /// Answers by status; 0 means no answer at all (connection error or 30 s timeout).
    pub answers_by_status: BTreeMap<u16, u64>,
    /// Webhook sent → 200 received (ms).
    pub ack_latency_ms: Percentiles,
    /// Webhooks with at least one reply.
    pub replied: u64,
    /// Replies per second, over first due time → last first reply.
    pub reply_rate: f64,
    /// Webhook sent → reply received at the Graph API double (ms).
    pub latency_ms: Percentiles,
    /// Acknowledged with 200 but no reply by the end of the drain.
    pub lost: u64,
    /// Replies beyond the first for one webhook.
    pub duplicates: u64,
    /// Replies at the double that match no webhook of the run.
    pub unexpected: u64,
    pub misrouted: u64,
    /// Time the drain took after the last answer (s).
    pub drain_s: f64,
    pub parley: Resources,
    /// The subject's CPU over the send phase per customer message (µs): CPU seconds per
    /// second / messages per second. With `--mix w2` a message's three statuses are in it.
    pub cpu_us_per_message: f64,
    /// `--mix w2`: the status webhooks the double posted, and how they were answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<StatusOutcome>,
    /// Runs with agents: what the model double was asked, and the waiting conversations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agents: Option<AgentFigures>,
    /// `--broadcast`: the import and the broadcast that ran during the measured webhooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<crate::broadcast::BroadcastFigures>,
    /// `--pace`/`--senders`: the pace, and the replies and template sends per sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pace: Option<crate::pace::PaceFigures>,
    /// The load generator's own CPU over the send phase, % of one core.
    pub generator_cpu_pct: f64,
    /// CPU of all `postgres` processes over the send phase, % of one core.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_cpu_pct: Option<f64>,
    /// CPU of everything else on the machine (other programs, the kernel) over the send
    /// phase, % of one core: a busy neighbour makes every figure worse.
    pub other_cpu_pct: f64,
    /// Warnings and errors Parley logged during the run.
    pub parley_log_problems: usize,
    pub shutdown_s: f64,
    /// Parley's busiest threads over the send phase, % of one core.
    pub busiest_threads: Vec<(String, f64)>,
    /// Context switches of Parley's threads over the send phase, per webhook sent: its
    /// wake-ups per message.
    pub context_switches_per_webhook: f64,
    /// PostgreSQL's counters for the run's database (`pg_stat_database`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_counters: Option<serde_json::Value>,
    /// Parley's own latency histograms at the end of the run.
    pub stages: Option<Stages>,
    /// `--set` mappings merged over the generated config.
    pub config_overrides: Vec<String>,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Resources {
    /// The kernel's high-water mark of resident memory (VmHWM), MB.
    pub peak_rss_mb: f64,
    /// Resident memory at the end of the drain, MB.
    pub end_rss_mb: f64,
    /// Average CPU over the send phase, % of one core (200 = both cores of this machine).
    pub cpu_avg_pct: f64,
    /// Busiest one-second window, % of one core.
    pub cpu_peak_pct: f64,
}

/// `--mix w2`: what became of the status webhooks.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StatusOutcome {
    pub posted: u64,
    pub ok: u64,
    pub failed: u64,
    /// Replies whose stored status ended `read` (Parley only: the baseline stores nothing).
    pub replies_read: Option<u64>,
}

/// What the model double and the waiting conversations saw in a run with agents.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct AgentFigures {
    /// Chat completions answered (measured turns, waiting turns and any retries).
    pub model_calls: u64,
    /// Calls the double could not read (no user message): none in a good run.
    pub model_refused: u64,
    /// "typing…" requests the Graph API double answered.
    pub typing: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<WaitingFigures>,
}

/// `--agent-waiting`: the conversations kept waiting on the model.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WaitingFigures {
    pub conversations: u32,
    pub model_delay_ms: u64,
    /// Calls waiting on the model during the send phase, sampled every 100 ms.
    pub waiting_min: u64,
    pub waiting_mean: f64,
    /// Their webhooks, and those not answered 200.
    pub webhooks: u64,
    pub non_200: u64,
    /// Their replies that reached the Graph API double.
    pub turns: u64,
}

pub struct Inputs<'a> {
    pub subject: &'a str,
    pub agents: Option<AgentFigures>,
    /// The broadcast's figures and its first and last template send at the double (ns),
    /// the window its webhook ack latency is taken over.
    pub broadcast: Option<(crate::broadcast::BroadcastFigures, (u64, u64))>,
    pub pace: Option<crate::pace::PaceFigures>,
    pub mix: &'a str,
    pub statuses: Option<StatusOutcome>,
    pub db: &'a str,
    pub rate: u32,
    pub duration_s: f64,
    pub contacts: u32,
    pub flows: u32,
    pub tracker: &'a Tracker,
    pub phase: SendPhase,
    pub drain: Duration,
    pub samples: &'a [Sample],
    pub postgres_cpu_pct: Option<f64>,
    pub log_problems: usize,
    pub shutdown_s: f64,
    pub p99_target_ms: f64,
    pub stages: Option<Stages>,
    pub busiest: Vec<(String, f64)>,
    /// Context switches of Parley's threads over the send phase.
    pub context_switches: u64,
    pub postgres_counters: Option<serde_json::Value>,
    pub overrides: &'a [String],
}

pub fn compute(i: Inputs) -> RunResult {
    let t = i.tracker;
    let n = t.len();
    let (mut lag, mut ack_lat, mut lat) =
        (Vec::new(), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut acked, mut non_200, mut replied, mut lost, mut dups) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut last_sent, mut last_ack, mut last_reply) = (i.phase.t0, i.phase.t0, i.phase.t0);
    let mut by_status = BTreeMap::new();
    for seq in 0..n {
        let e = t.entry(seq);
        lag.push(e.sent.saturating_sub(i.phase.due(seq)));
        last_sent = last_sent.max(e.sent);
        *by_status.entry(e.status).or_insert(0) += 1;
        if e.status == 200 {
            acked += 1;
            last_ack = last_ack.max(e.acked);
            ack_lat.push(e.acked.saturating_sub(e.sent));
        } else {
            non_200 += 1;
        }
        if e.replies > 0 {
            replied += 1;
            dups += u64::from(e.replies - 1);
            last_reply = last_reply.max(e.first_reply);
            lat.push(e.first_reply.saturating_sub(e.sent));
        } else if e.status == 200 {
            lost += 1;
        }
    }
    let broadcast = i.broadcast.map(|(mut figures, (first, last))| {
        let during: Vec<u64> = (0..n)
            .map(|seq| t.entry(seq))
            .filter(|e| e.status == 200 && e.sent >= first && e.sent <= last)
            .map(|e| e.acked.saturating_sub(e.sent))
            .collect();
        figures.ack_during_sends_ms = percentiles(during);
        figures
    });
    let per_second = |count: u64, until: u64| {
        let secs = until.saturating_sub(i.phase.t0) as f64 / 1e9;
        if secs > 0.0 {
            count as f64 / secs
        } else {
            0.0
        }
    };
    let unexpected = t.unexpected.load(std::sync::atomic::Ordering::Relaxed);
    let misrouted = t.misrouted.load(std::sync::atomic::Ordering::Relaxed);
    let latency_ms = percentiles(lat);
    let resources = resources(i.samples, i.phase);
    let hz = sampler::ticks_per_second();
    let phase_cpu = |ticks: fn(&Sample) -> u64| {
        let (from, to) = phase_bounds(i.samples, i.phase)?;
        Some(sampler::cpu_pct(
            ticks(to).saturating_sub(ticks(from)),
            from,
            to,
            hz,
        ))
    };
    let generator_cpu_pct = phase_cpu(|s| s.bench_ticks).unwrap_or(0.0);
    let machine_pct = phase_cpu(|s| s.machine_ticks).unwrap_or(0.0);
    let statuses_ok = i.statuses.is_none_or(|st| {
        st.failed == 0
            && st.posted == 3 * replied
            && st.ok == st.posted
            && st.replies_read.is_none_or(|read| read == replied)
    });
    let cpu_us_per_message = if i.rate > 0 {
        resources.cpu_avg_pct / 100.0 * 1e6 / i.rate as f64
    } else {
        0.0
    };
    let agents_ok = i
        .agents
        .is_none_or(|a| a.model_refused == 0 && a.waiting.is_none_or(|w| w.non_200 == 0));
    let passed = statuses_ok
        && agents_ok
        && lost == 0
        && dups == 0
        && non_200 == 0
        && unexpected == 0
        && misrouted == 0
        && replied as usize == n
        && latency_ms.p99 < i.p99_target_ms;
    RunResult {
        subject: i.subject.to_string(),
        mix: i.mix.to_string(),
        db: i.db.to_string(),
        rate: i.rate,
        duration_s: i.duration_s,
        contacts: i.contacts,
        flows: i.flows,
        webhooks: n,
        send_rate: per_second(n as u64, last_sent),
        generator_lag_ms: percentiles(lag),
        max_in_flight: i.phase.max_in_flight,
        acked,
        ack_rate: per_second(acked, last_ack),
        non_200,
        answers_by_status: by_status,
        ack_latency_ms: percentiles(ack_lat),
        replied,
        reply_rate: per_second(replied, last_reply),
        latency_ms,
        lost,
        duplicates: dups,
        unexpected,
        misrouted,
        drain_s: i.drain.as_secs_f64(),
        parley: resources,
        cpu_us_per_message,
        statuses: i.statuses,
        agents: i.agents,
        broadcast,
        pace: i.pace,
        generator_cpu_pct,
        postgres_cpu_pct: i.postgres_cpu_pct,
        other_cpu_pct: (machine_pct
            - resources.cpu_avg_pct
            - generator_cpu_pct
            - i.postgres_cpu_pct.unwrap_or(0.0))
        .max(0.0),
        parley_log_problems: i.log_problems,
        shutdown_s: i.shutdown_s,
        stages: i.stages,
        busiest_threads: i.busiest,
        context_switches_per_webhook: i.context_switches as f64 / (n as f64).max(1.0),
        postgres_counters: i.postgres_counters,
        config_overrides: i.overrides.to_vec(),
        passed,
    }
}

/// Exact percentiles (nearest rank) of nanosecond samples, in milliseconds.
pub(crate) fn percentiles(mut ns: Vec<u64>) -> Percentiles {
    if ns.is_empty() {
        return Percentiles::default();
    }
    ns.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len());
        ns[rank - 1] as f64 / 1e6
    };
    Percentiles {
        count: ns.len(),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: ns[ns.len() - 1] as f64 / 1e6,
    }
}

/// The samples closest to the start and the end of the send phase.
fn phase_bounds(samples: &[Sample], phase: SendPhase) -> Option<(&Sample, &Sample)> {
    let from = samples
        .iter()
        .rev()
        .find(|s| s.at <= phase.t0)
        .or(samples.first())?;
    let to = samples
        .iter()
        .find(|s| s.at >= phase.last_scheduled)
        .or(samples.last())?;
    Some((from, to))
}

fn resources(samples: &[Sample], phase: SendPhase) -> Resources {
    let hz = sampler::ticks_per_second();
    let mb = |kb: u64| kb as f64 / 1024.0;
    let Some((from, to)) = phase_bounds(samples, phase) else {
        return Resources::default();
    };
    let in_phase: Vec<Sample> = samples
        .iter()
        .filter(|s| s.at >= from.at && s.at <= to.at)
        .copied()
        .collect();
    Resources {
        peak_rss_mb: mb(samples
            .iter()
            .map(|s| s.hwm_kb.max(s.rss_kb))
            .max()
            .unwrap_or(0)),
        end_rss_mb: mb(samples.last().map(|s| s.rss_kb).unwrap_or(0)),
        cpu_avg_pct: sampler::cpu_pct(
            to.parley_ticks.saturating_sub(from.parley_ticks),
            from,
            to,
            hz,
        ),
        cpu_peak_pct: sampler::peak_pct(&in_phase, |s| s.parley_ticks, Duration::from_secs(1), hz),
    }
}

pub const HEADER: &str = "subject  db        rate/s   sent/s  acked/s  reply/s   p50 ms   p99 ms  p99.9 ms   max ms    lost   dup  non200  RSS MB  CPU avg/peak %  µs/msg  ok";

pub fn row(r: &RunResult) -> String {
    format!(
        "{:<8} {:<8} {:>7} {:>8.0} {:>8.0} {:>8.0} {:>8.2} {:>8.2} {:>9.2} {:>8.1} {:>7} {:>5} {:>7} {:>7.1} {:>8.0}/{:<5.0} {:>7.0} {}",
        r.subject,
        r.db,
        r.rate,
        r.send_rate,
        r.ack_rate,
        r.reply_rate,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.p999,
        r.latency_ms.max,
        r.lost,
        r.duplicates,
        r.non_200,
        r.parley.peak_rss_mb,
        r.parley.cpu_avg_pct,
        r.parley.cpu_peak_pct,
        r.cpu_us_per_message,
        if r.passed { "yes" } else { "no" }
    )
}

/// The long form of one run.
pub fn details(r: &RunResult) -> String {
    let p = |x: &Percentiles| {
        format!(
            "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms",
            x.p50, x.p90, x.p99, x.p999, x.max
        )
    };
    let mut s = String::new();
    s += &format!(
        "{} on {} at {}/s for {} s ({}): {} webhooks from {} contacts over {} flows\n",
        r.subject, r.db, r.rate, r.duration_s, r.mix, r.webhooks, r.contacts, r.flows
    );
    s += &format!(
        "  sent       {:.0}/s, generator lag {}, max in flight {}\n",
        r.send_rate,
        p(&r.generator_lag_ms),
        r.max_in_flight
    );
    s += &format!(
        "  acked      {} ({:.0}/s), non-200 {} {:?}\n",
        r.acked, r.ack_rate, r.non_200, r.answers_by_status
    );
    s += &format!("  ack        {}\n", p(&r.ack_latency_ms));
    s += &format!(
        "  replies    {} ({:.0}/s), lost {}, duplicate {}, unexpected {}, misrouted {}, drain {:.1} s\n",
        r.replied, r.reply_rate, r.lost, r.duplicates, r.unexpected, r.misrouted, r.drain_s
    );
    s += &format!("  end-to-end {}\n", p(&r.latency_ms));
    if let Some(pace) = &r.pace {
        s += &crate::pace::details(pace);
    }
    if let Some(st) = &r.statuses {
        s += &format!(
            "  statuses   {} posted (sent, delivered, read per reply), {} answered 200, {} failed; replies ending read: {}\n",
            st.posted,
            st.ok,
            st.failed,
            st.replies_read
                .map_or("not stored (baseline)".to_string(), |n| n.to_string())
        );
    }
    if let Some(a) = &r.agents {
        s += &format!(
            "  model      {} calls answered, {} unreadable; {} \"typing…\" requests at the Graph API\n",
            a.model_calls, a.model_refused, a.typing
        );
        if let Some(w) = &a.waiting {
            s += &format!(
                "  waiting    {} conversations, model answering in {} ms: {:.0} waiting on average (at least {}) while sending; {} of their webhooks ({} not 200), {} of their replies\n",
                w.conversations, w.model_delay_ms, w.waiting_mean, w.waiting_min, w.webhooks, w.non_200, w.turns
            );
        }
    }
    if let Some(st) = &r.stages {
        let stage = |x: &Stage| {
            format!(
                "mean {:.2} ms, p50 ≤ {} ms, p99 ≤ {} ms",
                x.mean_ms, x.p50_le_ms, x.p99_le_ms
            )
        };
        s += &format!(
            "  inside     stored → reply queued {}; queued → sent {}\n",
            stage(&st.inbox),
            stage(&st.outbox)
        );
        if st.sqlite_jobs > 0 && r.webhooks > 0 {
            s += &format!(
                "  writes     {:.2} SQLite write jobs, {:.2} commits and {:.1} WAL pages per webhook ({} jobs in {} commits)\n",
                st.sqlite_jobs as f64 / r.webhooks as f64,
                st.sqlite_commits as f64 / r.webhooks as f64,
                st.sqlite_wal_pages as f64 / r.webhooks as f64,
                st.sqlite_jobs,
                st.sqlite_commits
            );
        }
    }
    s += &format!(
        "  {:<10} peak RSS {:.1} MB (end {:.1} MB), CPU avg {:.0}% peak {:.0}% of one core, {:.0} µs per message; {} warnings/errors logged; stopped in {:.1} s\n",
        r.subject,
        r.parley.peak_rss_mb,
        r.parley.end_rss_mb,
        r.parley.cpu_avg_pct,
        r.parley.cpu_peak_pct,
        r.cpu_us_per_message,
        r.parley_log_problems,
        r.shutdown_s
    );
    s += &format!(
        "  threads    {}; {:.1} context switches per webhook\n",
        r.busiest_threads
            .iter()
            .map(|(name, pct)| format!("{name} {pct:.0}%"))
            .collect::<Vec<_>>()
            .join(", "),
        r.context_switches_per_webhook
    );
    s += &format!(
        "  generator  CPU avg {:.0}% of one core",
        r.generator_cpu_pct
    );
    if let Some(pg) = r.postgres_cpu_pct {
        s += &format!("; postgres processes CPU avg {pg:.0}%");
    }
    s += &format!("; everything else {:.0}%", r.other_cpu_pct);
    if let Some(c) = &r.postgres_counters {
        s += &postgres_line(c, r.webhooks);
    }
    s.push('\n');
    s
}

/// The database's work per webhook (`Parley::postgres_counters`) and its longest statement.
fn postgres_line(c: &serde_json::Value, webhooks: usize) -> String {
    let per = |k: &str| c[k].as_f64().unwrap_or(0.0) / webhooks.max(1) as f64;
    let mut s = format!(
        "\n  postgres   per webhook: {:.1} commits, {:.1} rows inserted, {:.1} rows updated, {:.1} sequential scans reading {:.0} rows",
        per("xact_commit"),
        per("tup_inserted"),
        per("tup_updated"),
        per("seq_scan"),
        per("seq_tup_read")
    );
    if c["wal_bytes"].as_f64().is_some() {
        s += &format!(", {:.0} WAL bytes", per("wal_bytes"));
    }
    if let (Some(_), Some(ms)) = (c["statements"].as_f64(), c["statement_exec_ms"].as_f64()) {
        s += &format!(
            ", {:.1} statements executing for {:.0} µs",
            per("statements"),
            ms * 1000.0 / webhooks.max(1) as f64
        );
    }
    s += &match (
        c["longest_statement_ms"].as_f64(),
        c["longest_statement"].as_str(),
    ) {
        (Some(ms), Some(query)) => format!("; longest statement {ms:.1} ms ({query}…)"),
        _ => "; longest statement not measured (load pg_stat_statements to see it)".into(),
    };
    s
}

/// Parley's figures as multiples of the baseline's at the same rate, in the same run.
pub fn ratios(parley: &RunResult, baseline: &RunResult) -> String {
    let x = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}×", a / b)
        } else {
            "–".to_string()
        }
    };
    format!(
        "{:>7}/s  CPU per message {:>6} ({:.0} vs {:.0} µs)  e2e p50 {:>6}  p99 {:>6}  RSS {:>6}  passed: parley {}, baseline {}",
        parley.rate,
        x(parley.cpu_us_per_message, baseline.cpu_us_per_message),
        parley.cpu_us_per_message,
        baseline.cpu_us_per_message,
        x(parley.latency_ms.p50, baseline.latency_ms.p50),
        x(parley.latency_ms.p99, baseline.latency_ms.p99),
        x(parley.parley.peak_rss_mb, baseline.parley.peak_rss_mb),
        if parley.passed { "yes" } else { "no" },
        if baseline.passed { "yes" } else { "no" },
    )
}

/// `--agent-waiting`: the measured traffic with the waiting conversations against the same
/// rate without them (the target: acknowledgement p99 within 2×).
pub fn waiting_vs(with: &RunResult, without: &RunResult) -> String {
    let x = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}×", a / b)
        } else {
            "–".to_string()
        }
    };
    let (a, b) = (with.ack_latency_ms.p99, without.ack_latency_ms.p99);
    let waited = with
        .agents
        .and_then(|a| a.waiting)
        .map_or(0.0, |w| w.waiting_mean);
    format!(
        "{:>7}/s  ack p99 {:.2} vs {:.2} ms ({}, target ≤ 2×: {})  ack p50 {:.2} vs {:.2} ms  e2e p50 {:.2} vs {:.2} ms  p99 {:.2} vs {:.2} ms  ({:.0} waiting on average; passed: {}, {})",
        with.rate,
        a,
        b,
        x(a, b),
        if b > 0.0 && a <= 2.0 * b { "met" } else { "missed" },
        with.ack_latency_ms.p50,
        without.ack_latency_ms.p50,
        with.latency_ms.p50,
        without.latency_ms.p50,
        with.latency_ms.p99,
        without.latency_ms.p99,
        waited,
        if with.passed { "yes" } else { "no" },
        if without.passed { "yes" } else { "no" },
    )
}

/// `--broadcast`: the import, the broadcast's send rate and correctness, and the webhook
/// ack latency during the broadcast against the same rate without one.
pub fn broadcast_vs(with: &RunResult, without: &RunResult) -> String {
    let Some(b) = &with.broadcast else {
        return String::new();
    };
    let failures = b.duplicates
        + b.wrong_value
        + b.unexpected
        + (u64::from(b.contacts) - b.reached.min(u64::from(b.contacts)));
    format!(
        "  import: {} contacts in {:.2} s = {:.0} rows/s\n  broadcast: {} of {} contacts sent to, {} duplicates, {} wrong values, {} unexpected ({} failures); {:.0} template sends/s at the double (first {:.2} s → last {:.2} s after the create request); progress all sent after {}\n  pacing: {}\n  {:>7}/s webhooks: ack p50 {:.2} vs {:.2} ms, p99 {:.2} vs {:.2} ms ({}) with the broadcast vs without; while templates were being sent ({} webhooks): p50 {:.2} ms, p99 {:.2} ms; e2e p99 {:.2} vs {:.2} ms; lost {} vs {}",
        b.contacts,
        b.import_s,
        b.import_rows_per_s,
        b.reached,
        b.contacts,
        b.duplicates,
        b.wrong_value,
        b.unexpected,
        failures,
        b.send_rate,
        b.first_send_s,
        b.last_send_s,
        b.progress_done_s
            .map_or("never (within the limit)".to_string(), |s| format!("{s:.2} s")),
        b.pacing,
        with.rate,
        with.ack_latency_ms.p50,
        without.ack_latency_ms.p50,
        with.ack_latency_ms.p99,
        without.ack_latency_ms.p99,
        if without.ack_latency_ms.p99 > 0.0 {
            format!("{:.2}×", with.ack_latency_ms.p99 / without.ack_latency_ms.p99)
        } else {
            "–".into()
        },
        b.ack_during_sends_ms.count,
        b.ack_during_sends_ms.p50,
        b.ack_during_sends_ms.p99,
        with.latency_ms.p99,
        without.latency_ms.p99,
        with.lost,
        without.lost,
    )
}

/// The sweep's highest passing rates, Parley's against the baseline's. When the baseline
/// passed the highest rate tried, its own limit is higher still and the ratio only an upper
/// bound: the line says so rather than print a ratio the baseline did not earn.
pub fn passing_ratio(parley: Option<u32>, baseline: Option<u32>, highest_tried: u32) -> String {
    let rate = |r: Option<u32>| r.map_or("none".to_string(), |r| format!("{r}/s"));
    match (parley, baseline) {
        (Some(p), Some(b)) if b >= highest_tried => format!(
            "highest passing rate: parley {p}/s, baseline {b}/s (the highest rate tried: its limit \
             is above it): at most {:.2}× the baseline; sweep higher rates to measure it",
            p as f64 / b as f64
        ),
        (Some(p), Some(b)) => format!(
            "highest passing rate: parley {p}/s, baseline {b}/s: {:.2}× the baseline",
            p as f64 / b as f64
        ),
        (p, b) => format!(
            "highest passing rate: parley {}, baseline {}",
            rate(p),
            rate(b)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::{passing_ratio, postgres_line};

    #[test]
    fn a_baseline_that_passed_every_rate_gives_only_an_upper_bound() {
        let bounded = passing_ratio(Some(4000), Some(5000), 5000);
        assert!(bounded.contains("at most 0.80× the baseline"), "{bounded}");
        assert!(bounded.contains("sweep higher rates"), "{bounded}");
        let measured = passing_ratio(Some(4000), Some(8000), 10000);
        assert!(
            measured.ends_with("baseline 8000/s: 0.50× the baseline"),
            "{measured}"
        );
        assert_eq!(
            passing_ratio(None, Some(2000), 4000),
            "highest passing rate: parley none, baseline 2000/s"
        );
    }

    #[test]
    fn the_postgres_line_gives_work_per_webhook_and_the_longest_statement() {
        let measured = serde_json::json!({
            "xact_commit": 2400, "tup_inserted": 5200, "tup_updated": 8000,
            "seq_scan": 0, "seq_tup_read": 0, "wal_bytes": 9_500_000,
            "statements": 6100, "statement_exec_ms": 1370.0,
            "longest_statement_ms": 34.12, "longest_statement": "with step as (",
        });
        let line = postgres_line(&measured, 1000);
        assert!(
            line.contains("2.4 commits, 5.2 rows inserted, 8.0 rows updated"),
            "{line}"
        );
        assert!(line.contains("0 rows, 9500 WAL bytes"), "{line}");
        assert!(
            line.contains("6.1 statements executing for 1370 µs"),
            "{line}"
        );
        assert!(
            line.contains("longest statement 34.1 ms (with step as (…)"),
            "{line}"
        );
        let unmeasured = serde_json::json!({
            "xact_commit": 10, "longest_statement_ms": null, "longest_statement": null,
        });
        let line = postgres_line(&unmeasured, 10);
        assert!(line.contains("1.0 commits"), "{line}");
        assert!(!line.contains("WAL bytes"), "{line}");
        assert!(!line.contains("statements executing"), "{line}");
        assert!(line.contains("longest statement not measured"), "{line}");
    }
}
