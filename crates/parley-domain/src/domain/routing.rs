//! Meta's Conversation Routing on a shared number (issue 57): who owns each conversation's
//! thread (Parley, another app, nobody), the handovers that move it, the thread-control
//! actions Parley may ask for, and the routing roles Meta reports for a number.
//!
//! Pure: the webhook parser builds `ThreadHandover`s, the engine keeps a `ThreadState` in
//! the conversation's state (committed with each step), and the outbox asks
//! `ThreadState::owner_at` before a send. No I/O here.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A thread with no message either way for this long is idle: Meta routes the customer's
/// next message again by entry point, and whoever receives it owns the thread.
pub const THREAD_IDLE_AFTER: Duration = Duration::hours(24);

/// The longest app id, role name or handover metadata kept (Meta's `metadata` is at most
/// 2,000 characters; ids are digits).
pub const ROUTING_FIELD_MAX: usize = 2_000;

/// Who owns a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "owner", rename_all = "snake_case")]
pub enum ThreadOwner {
    /// Parley answers.
    Parley,
    /// Another app on the number answers; Parley receives `standby` copies at most. `app`
    /// is its app id when known (Parley's configured escalation app, or a handover that
    /// named it), else the role Meta named (`escalation_partner`, `ai_agent`, `primary`).
    App { app: String },
    /// Nobody: released, or silent for `THREAD_IDLE_AFTER`. The customer's next message
    /// is routed again.
    Idle,
}

impl ThreadOwner {
    /// `parley`, `app`, `idle` (metrics, API, events).
    pub fn kind(&self) -> &'static str {
        match self {
            ThreadOwner::Parley => "parley",
            ThreadOwner::App { .. } => "app",
            ThreadOwner::Idle => "idle",
        }
    }
}

/// Why the owner changed, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerReason {
    /// Another app passed the thread to Parley (`control_passed`).
    ControlPassed,
    /// Another app (the escalation partner) took the thread from Parley (`control_taken`).
    ControlTaken,
    /// The owner released it (no new owner).
    Released,
    /// Meta reported the thread idle.
    Idle,
    /// A customer message reached Parley on the normal path: Meta routed the thread here.
    Routed,
    /// Parley passed it (a `handoff` to the escalation app).
    Pass,
    /// Parley took it back (`take`, when the handoff ended).
    Take,
    /// Parley released it.
    Release,
}

impl OwnerReason {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerReason::ControlPassed => "control_passed",
            OwnerReason::ControlTaken => "control_taken",
            OwnerReason::Released => "released",
            OwnerReason::Idle => "idle",
            OwnerReason::Routed => "routed",
            OwnerReason::Pass => "pass",
            OwnerReason::Take => "take",
            OwnerReason::Release => "release",
        }
    }
}

/// A thread's owner as Parley last learnt it: who, since when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadState {
    #[serde(flatten)]
    pub owner: ThreadOwner,
    pub since: DateTime<Utc>,
    pub reason: OwnerReason,
}

impl ThreadState {
    /// The owner at `now`: the recorded one, except that a thread owned by another app with
    /// no activity (`last_activity`: the latest message either way, when known) for
    /// `THREAD_IDLE_AFTER` is idle.
    pub fn owner_at(
        &self,
        last_activity: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> ThreadOwner {
        let active = last_activity.map_or(self.since, |a| a.max(self.since));
        match &self.owner {
            ThreadOwner::App { .. } if now - active >= THREAD_IDLE_AFTER => ThreadOwner::Idle,
            owner => owner.clone(),
        }
    }

    /// Whether Parley may send in this thread at `now`: it owns it, or nobody does (an idle
    /// thread answers whoever writes first; Meta routes the customer's reply again).
    pub fn parley_may_send(
        &self,
        last_activity: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> bool {
        !matches!(self.owner_at(last_activity, now), ThreadOwner::App { .. })
    }
}

/// Whether Parley may send in a conversation whose recorded thread is `state` (none: no
/// routing ever seen, Parley's as always).
pub fn may_send(
    state: Option<&ThreadState>,
    last_activity: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    state.is_none_or(|s| s.parley_may_send(last_activity, now))
}

/// What a `messaging_handovers` notification says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandoverKind {
    /// The owner passed the thread; delivered to the new owner (`control_passed`, Messenger's
    /// `pass_thread_control`).
    ControlPassed,
    /// The escalation partner took the thread; delivered to the previous owner
    /// (`control_taken`, Messenger's `take_thread_control`).
    ControlTaken,
    /// The owner released it (`release`; Meta documents no notification for it, read when
    /// one comes).
    Released,
    /// The thread went idle (read when a notification says so).
    Idle,
}

/// One `messaging_handovers` notification, as the conversation's event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadHandover {
    /// Stored as `handover` (the message content's own tag is `kind`).
    #[serde(rename = "handover")]
    pub kind: HandoverKind,
    /// The previous owner's app id or role, when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_owner: Option<String>,
    /// The new owner's app id or role, when named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_owner: Option<String>,
    /// The free text the caller of `pass`/`take` attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
}

impl ThreadHandover {
    /// The owner after this handover, as seen by Parley (`our_app`: Parley's own app id,
    /// when configured). `control_passed` reaches the new owner, so it names Parley unless
    /// it names another app; `control_taken` reaches the previous owner, so the thread is
    /// now another app's unless it names Parley.
    pub fn new_owner_for(&self, our_app: Option<&str>) -> ThreadOwner {
        let ours = |app: &Option<String>| match (app.as_deref(), our_app) {
            (Some(app), Some(ours)) => app == ours,
            _ => false,
        };
        let other = |app: &Option<String>, default: &str| ThreadOwner::App {
            app: app.clone().unwrap_or_else(|| default.to_string()),
        };
        match self.kind {
            HandoverKind::ControlPassed => match (&self.new_owner, our_app) {
                (Some(app), Some(ours))
                    if app != ours && app.chars().all(|c| c.is_ascii_digit()) =>
                {
                    other(&self.new_owner, "another app")
                }
                _ => ThreadOwner::Parley,
            },
            HandoverKind::ControlTaken if ours(&self.new_owner) => ThreadOwner::Parley,
            HandoverKind::ControlTaken => other(&self.new_owner, "escalation_partner"),
            HandoverKind::Released | HandoverKind::Idle => ThreadOwner::Idle,
        }
    }

    pub fn reason(&self) -> OwnerReason {
        match self.kind {
            HandoverKind::ControlPassed => OwnerReason::ControlPassed,
            HandoverKind::ControlTaken => OwnerReason::ControlTaken,
            HandoverKind::Released => OwnerReason::Released,
            HandoverKind::Idle => OwnerReason::Idle,
        }
    }
}

/// A thread-control call Parley makes (`POST /{phone-number-id}/thread_control`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ThreadAction {
    /// Hands the thread to `app` (the number's escalation partner, or `ai_agent` for Meta's
    /// Business Agent).
    Pass { app: String },
    /// Gives the thread up; the customer's next message is routed again.
    Release,
    /// Takes the thread from its owner (only the escalation partner may).
    Take,
}

impl ThreadAction {
    pub fn name(&self) -> &'static str {
        match self {
            ThreadAction::Pass { .. } => "pass",
            ThreadAction::Release => "release",
            ThreadAction::Take => "take",
        }
    }

    /// The owner after the action succeeded, and why.
    pub fn outcome(&self, now: DateTime<Utc>) -> ThreadState {
        let (owner, reason) = match self {
            ThreadAction::Pass { app } => {
                (ThreadOwner::App { app: app.clone() }, OwnerReason::Pass)
            }
            ThreadAction::Release => (ThreadOwner::Idle, OwnerReason::Release),
            ThreadAction::Take => (ThreadOwner::Parley, OwnerReason::Take),
        };
        ThreadState {
            owner,
            since: now,
            reason,
        }
    }
}

/// The number's routing roles as Meta reports them for Parley's business (the Routing
/// Roles API): which entry points Parley is primary for, whether it is the escalation
/// partner (it may `take`) and whether it receives standby copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRoles {
    /// Role names as Meta spells them, lowercased (`primary`, `escalation_partner`…),
    /// at most `ROLES_MAX`.
    pub roles: Vec<String>,
    pub is_standby: bool,
}

/// The most roles kept from an answer.
pub const ROLES_MAX: usize = 16;

impl RoutingRoles {
    /// Whether Parley may `take` threads from their owner.
    pub fn may_take(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == "escalation_partner" || r == "escalation")
    }

    /// Whether Parley is primary for any entry point.
    pub fn is_primary(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == "primary" || r.starts_with("primary"))
    }

    /// The roles as metric labels: `primary`, `escalation`, `standby`, or `none`.
    pub fn labels(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.is_primary() {
            out.push("primary");
        }
        if self.may_take() {
            out.push("escalation");
        }
        if self.is_standby {
            out.push("standby");
        }
        if out.is_empty() {
            out.push("none");
        }
        out
    }
}

/// The `thread.owner_changed` event of a step whose state's `thread` went from `before` to
/// `after` (`None` when it did not change). `data`: `owner` (`parley`, `app`, `idle`),
/// `app` (the other app's id or role), `reason`, `since`, and the same of the previous
/// owner under `previous` (`null` when routing had never touched the conversation).
pub fn owner_changed(
    conversation_id: super::Id,
    sender_id: i64,
    before: Option<&ThreadState>,
    after: Option<&ThreadState>,
) -> Option<super::NewOutEvent> {
    let after = after?;
    if before == Some(after) {
        return None;
    }
    let side = |s: &ThreadState| {
        serde_json::json!({
            "owner": s.owner.kind(),
            "app": match &s.owner { ThreadOwner::App { app } => Some(app.as_str()), _ => None },
            "reason": s.reason.as_str(),
            "since": s.since.to_rfc3339(),
        })
    };
    let mut data = side(after);
    data["conversation_id"] = conversation_id.into();
    data["sender_id"] = sender_id.into();
    data["previous"] = before.map_or(serde_json::Value::Null, side);
    Some(super::NewOutEvent {
        kind: super::OutEventKind::ThreadOwnerChanged,
        at: after.since,
        conversation_id: Some(conversation_id),
        sender_id: Some(sender_id),
        data,
    })
}

/// Cuts `s` to `ROUTING_FIELD_MAX` characters.
pub fn bounded(s: &str) -> String {
    s.chars().take(ROUTING_FIELD_MAX).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> DateTime<Utc> {
        "2026-11-29T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(h)
    }

    fn other(since: i64) -> ThreadState {
        ThreadState {
            owner: ThreadOwner::App { app: "777".into() },
            since: at(since),
            reason: OwnerReason::ControlTaken,
        }
    }

    #[test]
    fn a_thread_another_app_owns_goes_idle_after_24_hours_without_a_message() {
        let s = other(0);
        assert_eq!(
            s.owner_at(None, at(23)),
            ThreadOwner::App { app: "777".into() }
        );
        assert!(!s.parley_may_send(None, at(23)));
        assert_eq!(s.owner_at(None, at(24)), ThreadOwner::Idle);
        assert!(s.parley_may_send(None, at(24)));
        // A message either way keeps it the other app's.
        assert_eq!(
            s.owner_at(Some(at(10)), at(30)),
            ThreadOwner::App { app: "777".into() }
        );
        assert_eq!(s.owner_at(Some(at(10)), at(34)), ThreadOwner::Idle);
    }

    #[test]
    fn no_routing_seen_means_parley_sends() {
        assert!(may_send(None, None, at(0)));
        assert!(!may_send(Some(&other(0)), None, at(1)));
    }

    #[test]
    fn handovers_name_the_new_owner_from_parleys_side() {
        let h = |kind, new: Option<&str>| ThreadHandover {
            kind,
            previous_owner: None,
            new_owner: new.map(str::to_string),
            metadata: None,
        };
        assert_eq!(
            h(HandoverKind::ControlPassed, None).new_owner_for(None),
            ThreadOwner::Parley
        );
        assert_eq!(
            h(HandoverKind::ControlPassed, Some("primary")).new_owner_for(Some("1")),
            ThreadOwner::Parley,
            "a role, not another app id"
        );
        assert_eq!(
            h(HandoverKind::ControlPassed, Some("2")).new_owner_for(Some("1")),
            ThreadOwner::App { app: "2".into() }
        );
        assert_eq!(
            h(HandoverKind::ControlTaken, None).new_owner_for(Some("1")),
            ThreadOwner::App {
                app: "escalation_partner".into()
            }
        );
        assert_eq!(
            h(HandoverKind::ControlTaken, Some("1")).new_owner_for(Some("1")),
            ThreadOwner::Parley
        );
        assert_eq!(
            h(HandoverKind::Released, None).new_owner_for(None),
            ThreadOwner::Idle
        );
    }

    #[test]
    fn thread_state_reads_back_from_its_json() {
        let s = other(0);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""owner":"app""#), "{text}");
        assert_eq!(serde_json::from_str::<ThreadState>(&text).unwrap(), s);
    }

    #[test]
    fn an_owner_change_is_one_event_naming_both_owners() {
        let before = other(0);
        let after = ThreadState {
            owner: ThreadOwner::Parley,
            since: at(2),
            reason: OwnerReason::ControlPassed,
        };
        let e = owner_changed(7, 1, Some(&before), Some(&after)).unwrap();
        assert_eq!(e.kind, crate::domain::OutEventKind::ThreadOwnerChanged);
        assert_eq!(e.data["owner"], "parley");
        assert_eq!(e.data["reason"], "control_passed");
        assert_eq!(e.data["previous"]["owner"], "app");
        assert_eq!(e.data["previous"]["app"], "777");
        assert_eq!(e.conversation_id, Some(7));
        assert!(owner_changed(7, 1, Some(&after), Some(&after)).is_none());
        assert!(owner_changed(7, 1, Some(&after), None).is_none());
        assert!(owner_changed(7, 1, None, Some(&after)).unwrap().data["previous"].is_null());
    }

    /// Stored in the message's content and the outbox row, both tagged `kind`: each reads
    /// back as written.
    #[test]
    fn handovers_and_actions_read_back_from_their_stored_json() {
        use crate::domain::{InboundContent, OutboundContent};
        let h = InboundContent::Handover(ThreadHandover {
            kind: HandoverKind::ControlTaken,
            previous_owner: Some("primary".into()),
            new_owner: None,
            metadata: Some("m".into()),
        });
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(
            serde_json::from_str::<InboundContent>(&text).unwrap(),
            h,
            "{text}"
        );
        for a in [
            ThreadAction::Pass { app: "1".into() },
            ThreadAction::Take,
            ThreadAction::Release,
        ] {
            let c = OutboundContent::ThreadControl(a);
            let text = serde_json::to_string(&c).unwrap();
            assert_eq!(
                serde_json::from_str::<OutboundContent>(&text).unwrap(),
                c,
                "{text}"
            );
        }
    }

    #[test]
    fn roles_say_what_parley_may_do() {
        let r = RoutingRoles {
            roles: vec!["primary".into(), "escalation_partner".into()],
            is_standby: false,
        };
        assert!(r.may_take() && r.is_primary());
        assert_eq!(r.labels(), vec!["primary", "escalation"]);
        assert_eq!(RoutingRoles::default().labels(), vec!["none"]);
    }
}
