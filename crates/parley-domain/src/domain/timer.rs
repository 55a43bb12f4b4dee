//! A conversation's timers, and the system events stored like a timer's fire (a scheduled
//! run reaching the conversation, a handoff released).
//!
//! A conversation has at most one pending timer per `TimerKind`; setting one replaces the
//! earlier. The store keeps a timer as a `purpose` string and a JSON `payload`
//! (`Timer::to_row`, `Timer::from_row`); nothing else sees those.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Timer {
    /// An `ask` (or `form`) step (`step`) of run `run` stops waiting for its answer.
    AskTimeout { run: u64, step: usize },
    /// A `delay` step (`step`) of run `run` is over.
    Delay { run: u64, step: usize },
    /// The handoff started by step `step` of run `run` ends.
    HandoffTimeout { run: u64, step: usize },
    /// The quiet period collapsing a burst of texts is over.
    Debounce,
    /// An agent hands the conversation back to the bot (`by`: who asked, e.g. `api`).
    Release { by: Option<String> },
    /// A scheduled flow reaches this conversation.
    Scheduled(ScheduledRun),
    /// The reminder of flow `flow`'s `window_closing` trigger, for the window that closes
    /// at `expires_at` (a newer customer message makes it stale).
    WindowClosing {
        flow: String,
        expires_at: DateTime<Utc>,
    },
    /// A row this version cannot read (another version wrote it): kept as it is, ignored.
    Unknown { purpose: String, payload: Value },
}

/// A scheduled flow's run reaching a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledRun {
    pub flow: String,
    pub fire_id: i64,
}

/// Which timer, without its data: what a conversation has at most one of, and what a step
/// cancels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerKind {
    AskTimeout,
    Delay,
    HandoffTimeout,
    Debounce,
    Release,
    Scheduled,
    WindowClosing { flow: String },
    Unknown { purpose: String },
}

/// A timer to set, due at `due_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTimer {
    pub timer: Timer,
    pub due_at: DateTime<Utc>,
}

const ASK_TIMEOUT: &str = "ask_timeout";
const DELAY: &str = "delay";
const HANDOFF_TIMEOUT: &str = "handoff_timeout";
const DEBOUNCE: &str = "debounce";
const SCHEDULED: &str = "scheduled";
const RELEASE: &str = "release";
/// Prefix of the timers of `window_closing` triggers: `window_closing:<flow id>`.
const WINDOW_CLOSING: &str = "window_closing:";

#[derive(Serialize, Deserialize)]
struct StepPayload {
    run: u64,
    step: usize,
}

#[derive(Serialize, Deserialize)]
struct WindowClosingPayload {
    expires_at: DateTime<Utc>,
}

impl Timer {
    pub fn kind(&self) -> TimerKind {
        match self {
            Timer::AskTimeout { .. } => TimerKind::AskTimeout,
            Timer::Delay { .. } => TimerKind::Delay,
            Timer::HandoffTimeout { .. } => TimerKind::HandoffTimeout,
            Timer::Debounce => TimerKind::Debounce,
            Timer::Release { .. } => TimerKind::Release,
            Timer::Scheduled(_) => TimerKind::Scheduled,
            Timer::WindowClosing { flow, .. } => TimerKind::WindowClosing { flow: flow.clone() },
            Timer::Unknown { purpose, .. } => TimerKind::Unknown {
                purpose: purpose.clone(),
            },
        }
    }

    /// The stored form: the `purpose` and `payload` columns (and the fields of a timer
    /// event's JSON).
    pub fn to_row(&self) -> (String, Value) {
        let step = |run: &u64, step: &usize| {
            json!(StepPayload {
                run: *run,
                step: *step
            })
        };
        let payload = match self {
            Timer::AskTimeout { run, step: s }
            | Timer::Delay { run, step: s }
            | Timer::HandoffTimeout { run, step: s } => step(run, s),
            Timer::Debounce => json!({}),
            Timer::Release { by: Some(by) } => json!({ "by": by }),
            Timer::Release { by: None } => json!({}),
            Timer::Scheduled(run) => json!(run),
            Timer::WindowClosing { expires_at, .. } => json!(WindowClosingPayload {
                expires_at: *expires_at
            }),
            Timer::Unknown { payload, .. } => payload.clone(),
        };
        (self.kind().purpose(), payload)
    }

    /// Reads the stored form back; what does not parse is `Unknown` (and is ignored).
    pub fn from_row(purpose: &str, payload: &Value) -> Timer {
        let step = || serde_json::from_value::<StepPayload>(payload.clone()).ok();
        let parsed = match purpose {
            ASK_TIMEOUT => step().map(|p| Timer::AskTimeout {
                run: p.run,
                step: p.step,
            }),
            DELAY => step().map(|p| Timer::Delay {
                run: p.run,
                step: p.step,
            }),
            HANDOFF_TIMEOUT => step().map(|p| Timer::HandoffTimeout {
                run: p.run,
                step: p.step,
            }),
            DEBOUNCE => Some(Timer::Debounce),
            RELEASE => Some(Timer::Release {
                by: payload
                    .get("by")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }),
            SCHEDULED => serde_json::from_value(payload.clone())
                .ok()
                .map(Timer::Scheduled),
            p => p.strip_prefix(WINDOW_CLOSING).and_then(|flow| {
                let w = serde_json::from_value::<WindowClosingPayload>(payload.clone()).ok()?;
                Some(Timer::WindowClosing {
                    flow: flow.to_string(),
                    expires_at: w.expires_at,
                })
            }),
        };
        parsed.unwrap_or_else(|| Timer::Unknown {
            purpose: purpose.to_string(),
            payload: payload.clone(),
        })
    }
}

impl TimerKind {
    /// The stored `purpose` of timers of this kind.
    pub fn purpose(&self) -> String {
        match self {
            TimerKind::AskTimeout => ASK_TIMEOUT.into(),
            TimerKind::Delay => DELAY.into(),
            TimerKind::HandoffTimeout => HANDOFF_TIMEOUT.into(),
            TimerKind::Debounce => DEBOUNCE.into(),
            TimerKind::Release => RELEASE.into(),
            TimerKind::Scheduled => SCHEDULED.into(),
            TimerKind::WindowClosing { flow } => format!("{WINDOW_CLOSING}{flow}"),
            TimerKind::Unknown { purpose } => purpose.clone(),
        }
    }
}

impl std::fmt::Display for TimerKind {
    /// As traces show it: `ask_timeout`, `window_closing:welcome`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.purpose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// The rows earlier versions wrote read back to the same timers and write back to the
    /// same bytes.
    #[test]
    fn rows_keep_the_stored_format() {
        let rows = [
            ("ask_timeout", json!({"run": 3, "step": 1})),
            ("delay", json!({"run": 1, "step": 4})),
            ("handoff_timeout", json!({"run": 2, "step": 0})),
            ("debounce", json!({})),
            ("release", json!({"by": "api"})),
            ("scheduled", json!({"flow": "promo", "fire_id": 7})),
            (
                "window_closing:welcome",
                json!({"expires_at": "2026-02-24T10:30:00Z"}),
            ),
            ("something_new", json!({"x": 1})),
            ("delay", json!({"unexpected": true})),
        ];
        for (purpose, payload) in rows {
            let timer = Timer::from_row(purpose, &payload);
            assert_eq!(timer.to_row(), (purpose.to_string(), payload.clone()));
            assert_eq!(timer.kind().purpose(), purpose);
        }
        assert_eq!(
            Timer::from_row(
                "window_closing:welcome",
                &json!({"expires_at": "2026-02-24T10:30:00Z"})
            ),
            Timer::WindowClosing {
                flow: "welcome".into(),
                expires_at: at("2026-02-24T10:30:00Z")
            }
        );
        assert_eq!(
            Timer::from_row("ask_timeout", &json!({"run": 3, "step": 1})),
            Timer::AskTimeout { run: 3, step: 1 }
        );
        assert!(matches!(
            Timer::from_row("delay", &json!({"unexpected": true})),
            Timer::Unknown { .. }
        ));
    }
}
