//! `--pace N` and `--senders S` (issues 62 and 60): the run's senders send at most N
//! messages a second (`senders[].messages_per_second`, 100,000 unless told, which leaves
//! pacing out of what is measured), and up to `MAX_SENDERS` Meta senders, each with its own
//! number and `phone_number_id`, share the measured webhooks (webhook `i` is addressed to
//! sender `i mod S`, so `--rate` is the total over all of them). With `--broadcast`, the
//! broadcast goes on sender 1 only, so the replies on sender 1 share its pace with the
//! broadcast and those on the other senders show the same run without that contention.
//!
//! The Graph API double attributes every send to the sender whose `phone_number_id` is in
//! its path; the report gives, per sender, the end-to-end latency of the measured replies,
//! and the broadcast's template sends per second at the double during the measured window
//! (the webhooks' send phase: from the first due time for `--duration` seconds). A paced
//! broadcast run starts the measured webhooks only once the broadcast's first send reached
//! the double, so the window lies inside the broadcast. With many senders, `vs` also names
//! the worst of the other senders (`worst`).

use crate::broadcast::Sends;
use crate::child::Setup;
use crate::load::{Account, SendPhase};
use crate::record::Tracker;
use crate::report::{Percentiles, RunResult};
use serde::Serialize;
use std::time::Duration;

/// The most senders a run has (`--senders`).
pub const MAX_SENDERS: usize = 20;

/// Every sender's `messages_per_second` unless `--pace` says: high enough that pacing is
/// not what is measured.
pub const UNPACED: u32 = 100_000;

/// The business number and `phone_number_id` of sender index `i` (0 for sender 1): sender
/// 1 has `crate::PHONE_NUMBER`/`crate::PHONE_NUMBER_ID`, sender `i + 1` the same plus `i`
/// (sender 2: `+15550783881`, `106540352242923`).
fn numbers() -> &'static [(String, String)] {
    static NUMBERS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    NUMBERS.get_or_init(|| {
        let number: u64 = crate::PHONE_NUMBER[1..].parse().expect("digits");
        let id: u64 = crate::PHONE_NUMBER_ID.parse().expect("digits");
        (0..MAX_SENDERS as u64)
            .map(|i| (format!("+{}", number + i), (id + i).to_string()))
            .collect()
    })
}

/// Sender index `i`'s business number (`+` and digits); `i` below `MAX_SENDERS`.
pub fn phone_number(i: usize) -> &'static str {
    &numbers()[i].0
}

/// Sender index `i`'s `phone_number_id`; `i` below `MAX_SENDERS`.
pub fn phone_number_id(i: usize) -> &'static str {
    &numbers()[i].1
}

/// What `--pace` and `--senders` go with: the baseline server has no pacing and one
/// number; `--mix w2`'s statuses and the agents name one number.
pub fn check_args(args: &crate::Args) -> anyhow::Result<()> {
    if args.senders == 0 || args.senders as usize > MAX_SENDERS {
        anyhow::bail!("--senders must be 1 to {MAX_SENDERS}");
    }
    if args.broadcast_watch == Some(0) {
        anyhow::bail!("--broadcast-watch must be at least 1 second");
    }
    if args.pace == Some(0) {
        anyhow::bail!("--pace must be at least 1 message a second");
    }
    if args.baseline && (args.pace.is_some() || args.senders > 1) {
        anyhow::bail!("the baseline server has no pacing and one number: leave out --baseline with --pace or --senders");
    }
    if args.senders > 1 && (args.mix != crate::Mix::W1 || args.agent_waiting > 0) {
        anyhow::bail!("--senders above 1 runs text webhooks only (--mix w1, no --agent-waiting)");
    }
    Ok(())
}

/// The run's header line about pacing, when `--pace` or `--senders` was given.
pub fn banner(args: &crate::Args) -> Option<String> {
    (args.pace.is_some() || args.senders > 1).then(|| {
        format!(
            "parley-bench: {} Meta sender(s) at messages_per_second {} each; the measured webhooks go round them in turn (--rate is their total){}",
            args.senders,
            args.pace.unwrap_or(UNPACED),
            if args.broadcast > 0 { ", the broadcast goes on sender 1" } else { "" }
        )
    })
}

/// The sender index (0 for sender 1) of a `phone_number_id`, if it is one of the run's.
pub fn sender_index(id: &str) -> Option<u8> {
    (0..MAX_SENDERS)
        .find(|&i| phone_number_id(i) == id)
        .map(|i| i as u8)
}

/// The business accounts the measured webhooks are addressed to, one per sender.
pub fn accounts(senders: u32, app_secret: &str) -> Vec<Account<'_>> {
    (0..(senders as usize).clamp(1, MAX_SENDERS))
        .map(|i| Account {
            phone_number_id: phone_number_id(i),
            display_phone_number: phone_number(i).trim_start_matches('+'),
            app_secret,
        })
        .collect()
}

/// The senders after the first in the generated config's `senders:` list (nothing with one
/// sender): the same double, app secret and pace, a number and `phone_number_id` of their
/// own.
pub fn more_senders_yaml(s: &Setup) -> String {
    (1..(s.senders as usize).min(MAX_SENDERS))
        .map(|i| {
            format!(
                r#"  - id: {id}
    name: Bench line {id}
    channel: meta
    phone_number: "{phone}"
    messages_per_second: {pace}
    meta:
      phone_number_id: "{pnid}"
      access_token: bench-token
      app_secret: "{secret}"
      verify_token: bench-verify
      api_base: "{api_base}"
"#,
                id = i + 1,
                phone = phone_number(i),
                pnid = phone_number_id(i),
                pace = s.pace,
                secret = s.app_secret,
                api_base = s.api_base,
            )
        })
        .collect()
}

/// How long a broadcast run watches the broadcast's progress: the send phase and two
/// minutes more, or, when paced, long enough for every recipient at the pace (with half
/// again for the replies' share and a start), so duplicates are counted over all of it.
pub fn watch_limit(duration: f64, recipients: u32, pace: Option<u32>) -> Duration {
    let unpaced = duration + 120.0;
    let paced = pace.map_or(0.0, |p| {
        1.5 * f64::from(recipients) / f64::from(p.max(1)) + 60.0
    });
    Duration::from_secs_f64(unpaced.max(paced))
}

/// How often a broadcast run asks for the broadcast's progress: every 100 ms, or every
/// second when paced. Each look counts every recipient in the database (10,000 rows and
/// their sends); ten a second through a paced broadcast of minutes were the benchmark's
/// own load on the database core the measured replies need.
pub fn progress_poll(pace: Option<u32>) -> Duration {
    match pace {
        Some(_) => Duration::from_secs(1),
        None => Duration::from_millis(100),
    }
}

/// Waits (up to `limit`) until the broadcast's first template send reached the double,
/// then `settle` more; returns the seconds it waited, or an error when nothing came.
pub async fn await_first_send(
    sends: &Sends,
    limit: Duration,
    settle: Duration,
) -> anyhow::Result<f64> {
    let start = std::time::Instant::now();
    while sends.tally().2 == 0 {
        if start.elapsed() > limit {
            anyhow::bail!(
                "the broadcast sent nothing within {:.0} s of its creation",
                limit.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(settle).await;
    Ok(start.elapsed().as_secs_f64())
}

/// One sender's share of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SenderFigures {
    pub sender_id: u32,
    pub phone_number_id: String,
    /// Measured webhooks addressed to this sender's number, and those with a reply.
    pub webhooks: u64,
    pub replied: u64,
    /// Webhook sent → reply received at the double (ms), this sender's webhooks only.
    pub e2e_ms: Percentiles,
    /// Replies to this sender's webhooks that the double received on another number.
    pub replies_from_other_number: u64,
    /// Template sends (the broadcast's) on this sender's number, in all.
    pub template_sends: u64,
}

/// The pacing of a run with `--pace` or `--senders`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PaceFigures {
    pub messages_per_second: u32,
    pub senders: Vec<SenderFigures>,
    /// The measured window (the webhooks' send phase), s.
    pub window_s: f64,
    /// Broadcast recipients whose (first) template send reached the double in the window,
    /// and that per second.
    pub broadcast_sends_in_window: u64,
    pub broadcast_sends_per_s_in_window: f64,
    /// The broadcast's first and last send at the double, s from the window's start
    /// (negative: before it).
    pub broadcast_first_s: Option<f64>,
    pub broadcast_last_s: Option<f64>,
    /// Template sends on numbers the run does not know.
    pub template_sends_elsewhere: u64,
}

/// Splits a run's replies by sender and counts the broadcast's sends in the window.
pub fn figures(
    tracker: &Tracker,
    phase: &SendPhase,
    duration_s: f64,
    senders: u32,
    pace: u32,
    sends: Option<&Sends>,
) -> PaceFigures {
    let count = (senders as usize).clamp(1, MAX_SENDERS);
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); count];
    let mut per: Vec<SenderFigures> = (0..count)
        .map(|i| SenderFigures {
            sender_id: i as u32 + 1,
            phone_number_id: phone_number_id(i).to_string(),
            template_sends: sends.map_or(0, |s| s.on_sender(Some(i))),
            ..SenderFigures::default()
        })
        .collect();
    for seq in 0..tracker.len() {
        let i = seq % count;
        let e = tracker.entry(seq);
        per[i].webhooks += 1;
        if e.replies > 0 {
            per[i].replied += 1;
            latencies[i].push(e.first_reply.saturating_sub(e.sent));
        }
        if tracker
            .reply_sender(seq)
            .is_some_and(|s| usize::from(s) != i)
        {
            per[i].replies_from_other_number += 1;
        }
    }
    for (figures, ns) in per.iter_mut().zip(latencies) {
        figures.e2e_ms = crate::report::percentiles(ns);
    }
    let (from, to) = (phase.t0, phase.t0 + (duration_s * 1e9) as u64);
    let in_window = sends.map_or(0, |s| s.first_sends_between(from, to));
    let since = |ns: u64| (ns as f64 - from as f64) / 1e9;
    let (first, last) = sends.map_or((0, 0), |s| {
        let (_, _, first, last) = s.tally();
        (first, last)
    });
    PaceFigures {
        messages_per_second: pace,
        senders: per,
        window_s: duration_s,
        broadcast_sends_in_window: in_window,
        broadcast_sends_per_s_in_window: in_window as f64 / duration_s.max(1e-9),
        broadcast_first_s: (first > 0).then(|| since(first)),
        broadcast_last_s: (last > 0).then(|| since(last)),
        template_sends_elsewhere: sends.map_or(0, |s| s.on_sender(None)),
    }
}

fn e2e(p: &Percentiles) -> String {
    format!("p50 {:.2} / p99 {:.2} / max {:.2} ms", p.p50, p.p99, p.max)
}

/// The long form's lines for one run.
pub fn details(p: &PaceFigures) -> String {
    let mut s = format!(
        "  pace       messages_per_second {} on each of {} sender(s)\n",
        p.messages_per_second,
        p.senders.len()
    );
    for f in &p.senders {
        s += &format!(
            "  sender {}   {} webhooks, {} replies ({} from another number), e2e {}; {} template sends\n",
            f.sender_id,
            f.webhooks,
            f.replied,
            f.replies_from_other_number,
            e2e(&f.e2e_ms),
            f.template_sends
        );
    }
    if let (Some(first), Some(last)) = (p.broadcast_first_s, p.broadcast_last_s) {
        s += &format!(
            "  window     {:.1} s: {} broadcast sends = {:.1}/s; the broadcast sent from {:.2} s to {:.2} s after the window's start; {} template sends on other numbers\n",
            p.window_s,
            p.broadcast_sends_in_window,
            p.broadcast_sends_per_s_in_window,
            first,
            last,
            p.template_sends_elsewhere
        );
    }
    s
}

/// `--broadcast` with `--pace`/`--senders`: per sender, the replies' e2e latency with the
/// broadcast against the same rate without it, and the broadcast's sends in the window.
pub fn vs(with: &RunResult, without: &RunResult) -> String {
    let (Some(w), Some(wo)) = (&with.pace, &without.pace) else {
        return String::new();
    };
    let mut s = format!(
        "  per sender (messages_per_second {}, {} senders, measured webhooks in turn, the broadcast on sender 1), e2e of the measured replies with the broadcast vs without:\n",
        w.messages_per_second,
        w.senders.len()
    );
    for (a, b) in w.senders.iter().zip(&wo.senders) {
        s += &format!(
            "    sender {} ({}): {} ({} replies) vs {} ({} replies); {} replies from another number; {} template sends on it\n",
            a.sender_id,
            a.phone_number_id,
            e2e(&a.e2e_ms),
            a.replied,
            e2e(&b.e2e_ms),
            b.replied,
            a.replies_from_other_number + b.replies_from_other_number,
            a.template_sends
        );
    }
    s += &format!(
        "    broadcast during the {:.1} s window: {} template sends = {:.1}/s at the double (pace {} − measured replies on sender 1 ≈ {:.0}/s); first send {:.2} s, last {:.2} s after the window's start",
        w.window_s,
        w.broadcast_sends_in_window,
        w.broadcast_sends_per_s_in_window,
        w.messages_per_second,
        f64::from(w.messages_per_second)
            - w.senders.first().map_or(0.0, |f| f.webhooks as f64 / w.window_s.max(1e-9)),
        w.broadcast_first_s.unwrap_or(f64::NAN),
        w.broadcast_last_s.unwrap_or(f64::NAN),
    );
    if let Some(line) = worst(w, wo) {
        s += &line;
    }
    s
}

/// With three or more senders: the worst of senders 2 and up (by p99 with the broadcast),
/// and, over every sender, the highest p99 and the highest ratio of p99 with the broadcast
/// to p99 without (issue 60's W3 targets: under 100 ms, within 2×).
pub fn worst(with: &PaceFigures, without: &PaceFigures) -> Option<String> {
    if with.senders.len() < 3 {
        return None;
    }
    let pairs: Vec<(&SenderFigures, &SenderFigures)> =
        with.senders.iter().zip(&without.senders).collect();
    let by = |key: fn(&(&SenderFigures, &SenderFigures)) -> f64, from: usize| {
        pairs[from..]
            .iter()
            .max_by(|a, b| key(a).total_cmp(&key(b)))
            .copied()
    };
    let p99 = |(a, _): &(&SenderFigures, &SenderFigures)| a.e2e_ms.p99;
    let ratio = |(a, b): &(&SenderFigures, &SenderFigures)| a.e2e_ms.p99 / b.e2e_ms.p99.max(1e-9);
    let (others, highest, widest) = (by(p99, 1)?, by(p99, 0)?, by(ratio, 0)?);
    Some(format!(
        "\n    worst of senders 2–{n}: sender {} {} with the broadcast vs {} without\n    every sender: highest p99 {:.2} ms (sender {}); highest p99 with / without {:.2}× (sender {}: {:.2} vs {:.2} ms)",
        others.0.sender_id,
        e2e(&others.0.e2e_ms),
        e2e(&others.1.e2e_ms),
        highest.0.e2e_ms.p99,
        highest.0.sender_id,
        ratio(&widest),
        widest.0.sender_id,
        widest.0.e2e_ms.p99,
        widest.1.e2e_ms.p99,
        n = with.senders.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_number_ids_map_to_senders() {
        assert_eq!(sender_index(crate::PHONE_NUMBER_ID), Some(0));
        assert_eq!(sender_index("106540352242923"), Some(1));
        assert_eq!(sender_index("1"), None);
        let accounts = accounts(2, "s");
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[1].display_phone_number, "15550783881");
    }

    #[test]
    fn a_paced_broadcast_is_watched_until_it_can_have_sent_everything_and_less_often() {
        assert_eq!(watch_limit(30.0, 10_000, None).as_secs(), 150);
        assert_eq!(watch_limit(30.0, 10_000, Some(80)).as_secs(), 247);
        assert_eq!(watch_limit(30.0, 1_000, Some(100_000)).as_secs(), 150);
        assert_eq!(progress_poll(None), Duration::from_millis(100));
        assert_eq!(progress_poll(Some(80)), Duration::from_secs(1));
    }

    /// Replies split by the webhook's sender; the broadcast's sends counted in the window.
    #[test]
    fn replies_split_by_sender_and_sends_counted_in_the_window() {
        let tracker = Tracker::new(4, 4);
        let phase = SendPhase {
            t0: 1_000_000_000,
            last_scheduled: 0,
            answers_done: 0,
            max_in_flight: 0,
            rate: 2,
        };
        for seq in 0..4 {
            tracker.sent(seq, 1_000_000_000 + seq as u64 * 500_000_000);
        }
        let reply = |seq: usize, after_ms: u64, via: u8| {
            let at = 1_000_000_000 + seq as u64 * 500_000_000 + after_ms * 1_000_000;
            tracker.reply(seq, &crate::record::contact_digits(seq as u32), at);
            tracker.reply_from(seq, via);
        };
        reply(0, 10, 0);
        reply(1, 20, 1);
        reply(2, 30, 0);
        reply(3, 40, 0);
        let sends = Sends::new(3);
        sends.record("34600000000", Some("F0"), 500_000_000, Some(0));
        sends.record("34600000001", Some("F1"), 1_500_000_000, Some(0));
        sends.record("34600000002", Some("F2"), 2_500_000_000, Some(0));
        let f = figures(&tracker, &phase, 1.0, 2, 80, Some(&sends));
        assert_eq!(f.senders[0].webhooks, 2);
        assert_eq!(
            (f.senders[0].e2e_ms.p50, f.senders[0].e2e_ms.max),
            (10.0, 30.0)
        );
        assert_eq!(f.senders[1].e2e_ms.max, 40.0);
        assert_eq!(
            f.senders[1].replies_from_other_number, 1,
            "webhook 3 (sender 2) was answered from sender 1"
        );
        assert_eq!(
            (f.senders[0].template_sends, f.senders[1].template_sends),
            (3, 0)
        );
        assert_eq!(f.broadcast_sends_in_window, 1);
        assert_eq!(f.broadcast_first_s, Some(-0.5));
        assert_eq!(f.broadcast_last_s, Some(1.5));
    }

    #[test]
    fn twenty_senders_have_numbers_of_their_own_and_the_worst_is_named() {
        assert_eq!(phone_number(0), crate::PHONE_NUMBER);
        assert_eq!(phone_number(1), "+15550783881");
        assert_eq!(phone_number_id(19), "106540352242941");
        assert_eq!(sender_index("106540352242941"), Some(19));
        assert_eq!(sender_index("106540352242942"), None);
        assert_eq!(accounts(20, "s").len(), 20);
        let figures = |p99: &[f64]| PaceFigures {
            senders: p99
                .iter()
                .enumerate()
                .map(|(i, &p)| SenderFigures {
                    sender_id: i as u32 + 1,
                    e2e_ms: Percentiles {
                        p99: p,
                        ..Percentiles::default()
                    },
                    ..SenderFigures::default()
                })
                .collect(),
            ..PaceFigures::default()
        };
        assert_eq!(worst(&figures(&[9.0, 1.0]), &figures(&[1.0, 1.0])), None);
        let line = worst(&figures(&[30.0, 4.0, 6.0]), &figures(&[10.0, 1.0, 5.0])).unwrap();
        assert!(line.contains("worst of senders 2–3: sender 3"), "{line}");
        assert!(line.contains("highest p99 30.00 ms (sender 1)"), "{line}");
        assert!(line.contains("4.00× (sender 2: 4.00 vs 1.00 ms)"), "{line}");
    }

    #[test]
    fn one_sender_adds_nothing_to_the_config() {
        let database = crate::child::Database::Sqlite;
        let mut setup = Setup {
            binary: std::path::Path::new("parley"),
            flows: 1,
            database: &database,
            api_base: "http://127.0.0.1:9/v26.0".into(),
            phone_number: crate::PHONE_NUMBER,
            phone_number_id: crate::PHONE_NUMBER_ID,
            app_secret: "s",
            overrides: &[],
            keep: false,
            preload: 0,
            tuned: false,
            pin: None,
            model_base_url: None,
            broadcast: false,
            pace: 80,
            senders: 1,
        };
        assert_eq!(more_senders_yaml(&setup), "");
        setup.senders = 2;
        let yaml = more_senders_yaml(&setup);
        assert!(yaml.starts_with("  - id: 2\n"), "{yaml}");
        assert!(
            yaml.contains("phone_number_id: \"106540352242923\""),
            "{yaml}"
        );
        assert!(yaml.contains("messages_per_second: 80"), "{yaml}");
    }
}
