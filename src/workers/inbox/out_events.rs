//! The events out a step tells of (README "Events"), built by the inbox only when the store
//! records events: `message.received` for the customer's message the step took up, the
//! runs that started and ended (`flow.*`), the handoff that began or ended (`handoff.*`)
//! and the contact's changes (`contact.created` for a contact first met through this
//! message, `contact.changed`, `contact.opted_out`). They go into the
//! step's commit (`StepCommit::events`), so they are written in its transaction: a step
//! whose commit is refused (its lease moved on) tells nothing.
//!
//! Runs are read from the engine's insight counts (which run started and how each ended,
//! in the order they happened) and the state before and after (run ids: a run's id is the
//! conversation's count of runs started; a `goto_flow` goes on with the same run).

use crate::domain::insight::{Outcome, Tally};
use crate::domain::out_event_data::{self as data, Place};
use crate::domain::{Contact, ContactPatch, ConversationState, EventKind, NewOutEvent};
use crate::domain::{OutEventKind, StoredEvent, Timer};
use chrono::{DateTime, Utc};

/// Stored like customer messages, but not a message the customer sent now: what a person
/// sent from the WhatsApp Business app (`echo`), the history shared at onboarding, copies
/// of threads another app owns (`standby`), ownership moves (`handover`, told as
/// `thread.owner_changed`), a chat opened (`request_welcome`) and calls.
const NOT_RECEIVED: &[&str] = &[
    "echo",
    "history",
    "standby",
    "handover",
    "request_welcome",
    "call",
];

/// What one step did, as the inbox has it when the step is done.
pub(super) struct StepDone<'a> {
    pub before: &'a ConversationState,
    pub after: &'a ConversationState,
    pub insights: &'a Tally,
    pub contact: &'a Contact,
    pub patch: Option<&'a ContactPatch>,
    pub event: &'a StoredEvent,
    pub sender_id: i64,
    pub now: DateTime<Utc>,
}

/// The events out of a step, in the order they happened.
pub(super) fn of_step(s: &StepDone<'_>) -> Vec<NewOutEvent> {
    let place = Place {
        conversation_id: Some(s.event.conversation_id),
        sender_id: Some(s.sender_id),
        at: s.now,
    };
    let mut out = Vec::new();
    if let EventKind::Message(m) = &s.event.kind {
        // A contact first met through this message (ingest created it with the message's
        // receipt time) is told of with the message's first step, once: ingest stays as
        // cheap as without events, and the step's commit happens exactly once.
        if s.before.messages_seen == 0 && s.contact.created_at == s.event.received_at {
            out.push(data::contact_created(&place, s.contact, "message"));
        }
        if !NOT_RECEIVED.contains(&m.content.kind_name()) {
            let mut received = data::message_received(&place, s.contact, s.event.id, m);
            with_media_file(&mut received.data, &m.content);
            out.push(received);
        }
    }
    let contact_after = s.patch.map(|p| {
        let mut c = s.contact.clone();
        p.apply_to(&mut c.name, &mut c.attributes, &mut c.tags);
        c
    });
    let who = contact_after.as_ref().unwrap_or(s.contact);
    if let (Some(before), None) = (&s.before.handoff, &s.after.handoff) {
        out.push(data::handoff_ended(
            &place,
            who,
            before,
            ended_by(&s.event.kind),
        ));
    }
    let last_run = runs(s, &place, who, &mut out);
    if let (None, Some(after)) = (&s.before.handoff, &s.after.handoff) {
        let run = last_run.or(s.after.run.as_ref().map(|r| r.id));
        out.push(data::handoff_began(&place, who, after, run));
    }
    if let (Some(patch), Some(after)) = (s.patch, &contact_after) {
        if !patch.is_empty() {
            out.push(data::contact_changed(&place, after, patch, "flow"));
        }
        let was_out = s.contact.attributes.get(crate::domain::contact::OPTED_OUT)
            == Some(&serde_json::Value::Bool(true));
        if patch.opts_out() && !was_out {
            out.push(data::contact_opted_out(&place, after, "keyword"));
        }
    }
    out.extend(crate::domain::routing::owner_changed(
        s.event.conversation_id,
        s.sender_id,
        s.before.thread.as_ref(),
        s.after.thread.as_ref(),
    ));
    out
}

/// A media message's file as Parley keeps it: its SHA-256 (hex; the provider sends it in
/// base64) and where Parley serves it once downloaded (`GET /api/media/{sha256}`).
fn with_media_file(data: &mut serde_json::Value, content: &crate::domain::InboundContent) {
    let crate::domain::InboundContent::Media {
        sha256: Some(sha), ..
    } = content
    else {
        return;
    };
    let Some(digest) = crate::store::files::decode_sha256(sha) else {
        return;
    };
    let hex = hex::encode(digest);
    if let Some(media) = data.pointer_mut("/content/media") {
        media["url"] = format!("/api/media/{hex}").into();
        media["sha256"] = hex.into();
    }
}

/// Who ended a handoff, from the event that ended it.
fn ended_by(kind: &EventKind) -> &str {
    match kind {
        EventKind::Timer(f) => match &f.timer {
            Timer::Release { by } => by.as_deref().unwrap_or("api"),
            Timer::HandoffTimeout { .. } => "timeout",
            _ => "flow",
        },
        EventKind::Message(_) => "flow",
    }
}

/// `flow.started`, `flow.finished` and `flow.dropped` of the step, in order; the id of the
/// last run they name.
fn runs(s: &StepDone<'_>, place: &Place, who: &Contact, out: &mut Vec<NewOutEvent>) -> Option<u64> {
    let mut current = s.before.run.as_ref().map(|r| r.id);
    let mut last = None;
    let mut next_new = s.before.runs_started + 1;
    let mut moved = false;
    let outcomes = s
        .insights
        .counts
        .iter()
        .filter(|c| c.step.is_empty())
        .flat_map(|c| std::iter::repeat_n(c, c.n.clamp(0, 64) as usize));
    for c in outcomes {
        if c.what == Outcome::Started.as_str() {
            let id = if moved {
                current.unwrap_or(next_new)
            } else {
                next_new += 1;
                next_new - 1
            };
            moved = false;
            current = Some(id);
            last = Some(id);
            out.push(data::flow(
                place,
                who,
                OutEventKind::FlowStarted,
                &c.flow,
                id,
                None,
            ));
            continue;
        }
        let Some(run) = current else { continue };
        last = Some(run);
        moved = c.what == Outcome::Moved.as_str();
        let (kind, outcome) = if c.what == Outcome::Dropped.as_str() {
            (OutEventKind::FlowDropped, None)
        } else {
            (OutEventKind::FlowFinished, Some(c.what))
        };
        out.push(data::flow(place, who, kind, &c.flow, run, outcome));
        if !moved {
            current = None;
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContactRef, Handoff, InboundContent, InboundMessage, PhoneNumber, Run};
    use serde_json::Map;

    fn ana() -> Contact {
        Contact {
            id: 5,
            key: "+14155550100".into(),
            name: Some("Ana".into()),
            attributes: Map::new(),
            tags: vec![],
            created_at: Utc::now(),
            user_id: None,
            username: None,
        }
    }

    fn message() -> StoredEvent {
        StoredEvent {
            id: 9,
            conversation_id: 3,
            kind: EventKind::Message(InboundMessage {
                provider_message_id: "wamid.9".into(),
                from: ContactRef::Phone(PhoneNumber::parse("+14155550100").unwrap()),
                profile_name: None,
                username: None,
                timestamp: None,
                content: InboundContent::Text { body: "hi".into() },
                context: None,
                referral: None,
            }),
            received_at: Utc::now(),
        }
    }

    fn run(id: u64, flow: &str) -> Run {
        Run {
            id,
            flow: flow.into(),
            version: 1,
            step: 0,
            vars: Map::new(),
            wait: None,
            offered: vec![],
            started_at: Utc::now(),
            arm: None,
        }
    }

    fn kinds(events: &[NewOutEvent]) -> Vec<(&str, serde_json::Value)> {
        events
            .iter()
            .map(|e| (e.kind.as_str(), e.data["run"].clone()))
            .collect()
    }

    #[test]
    fn a_message_that_starts_a_flow_moving_on_and_handing_off_tells_it_in_order() {
        let before = ConversationState {
            run: Some(run(1, "old")),
            runs_started: 1,
            ..Default::default()
        };
        let after = ConversationState {
            runs_started: 2,
            handoff: Some(Handoff {
                since: Utc::now(),
                until: None,
                flow: "support".into(),
            }),
            ..Default::default()
        };
        let mut t = Tally::default();
        t.outcome("old", Outcome::Dropped);
        t.outcome("welcome", Outcome::Started);
        t.outcome("welcome", Outcome::Moved);
        t.outcome("support", Outcome::Started);
        t.outcome("support", Outcome::HandedOff);
        let (contact, event) = (ana(), message());
        let events = of_step(&StepDone {
            before: &before,
            after: &after,
            insights: &t,
            contact: &contact,
            patch: None,
            event: &event,
            sender_id: 1,
            now: Utc::now(),
        });
        assert_eq!(
            kinds(&events),
            vec![
                ("message.received", serde_json::Value::Null),
                ("flow.dropped", 1.into()),
                ("flow.started", 2.into()),
                ("flow.finished", 2.into()),
                ("flow.started", 2.into()),
                ("flow.finished", 2.into()),
                ("handoff.began", 2.into()),
            ]
        );
        assert_eq!(events[3].data["outcome"], "moved");
        assert_eq!(events[5].data["outcome"], "handed_off");
        assert_eq!(events[6].data["flow"], "support");
        assert!(events.iter().all(|e| e.conversation_id == Some(3)));
    }

    #[test]
    fn an_echo_is_not_a_received_message() {
        let mut event = message();
        if let EventKind::Message(m) = &mut event.kind {
            m.content = InboundContent::Echo {
                content: Box::new(InboundContent::Text {
                    body: "from the phone app".into(),
                }),
            };
        }
        let (contact, state) = (ana(), ConversationState::default());
        let events = of_step(&StepDone {
            before: &state,
            after: &state,
            insights: &Tally::default(),
            contact: &contact,
            patch: None,
            event: &event,
            sender_id: 1,
            now: Utc::now(),
        });
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_thread_taken_by_another_app_is_told_once() {
        use crate::domain::routing::{OwnerReason, ThreadOwner, ThreadState};
        let before = ConversationState {
            thread: Some(ThreadState {
                owner: ThreadOwner::Parley,
                since: Utc::now(),
                reason: OwnerReason::Routed,
            }),
            ..Default::default()
        };
        let mut after = before.clone();
        after.thread = Some(ThreadState {
            owner: ThreadOwner::App { app: "777".into() },
            since: Utc::now(),
            reason: OwnerReason::ControlTaken,
        });
        let (contact, event) = (ana(), message());
        let step = |before: &ConversationState, after: &ConversationState| {
            of_step(&StepDone {
                before,
                after,
                insights: &Tally::default(),
                contact: &contact,
                patch: None,
                event: &event,
                sender_id: 1,
                now: Utc::now(),
            })
        };
        let events = step(&before, &after);
        let told: Vec<_> = events
            .iter()
            .filter(|e| e.kind == crate::domain::OutEventKind::ThreadOwnerChanged)
            .collect();
        assert_eq!(told.len(), 1, "{events:?}");
        assert_eq!(told[0].data["owner"], "app");
        assert_eq!(told[0].data["app"], "777");
        assert_eq!(told[0].data["previous"]["owner"], "parley");
        assert_eq!(told[0].data["sender_id"], 1);
        let unchanged = step(&after, &after);
        assert!(unchanged
            .iter()
            .all(|e| e.kind != crate::domain::OutEventKind::ThreadOwnerChanged));
    }

    #[test]
    fn a_photo_names_the_file_parley_serves() {
        let mut event = message();
        if let EventKind::Message(m) = &mut event.kind {
            m.content = InboundContent::Media {
                media: crate::domain::MediaKind::Image,
                media_id: Some("1043".into()),
                url: None,
                mime_type: Some("image/jpeg".into()),
                sha256: Some("C5bNKdXsxSdXHHPTZL/Fp7Ye135OQcPQ3W/TtHh1Y64=".into()),
                caption: None,
                filename: None,
                voice: false,
            };
        }
        let (contact, state) = (ana(), ConversationState::default());
        let events = of_step(&StepDone {
            before: &state,
            after: &state,
            insights: &Tally::default(),
            contact: &contact,
            patch: None,
            event: &event,
            sender_id: 1,
            now: Utc::now(),
        });
        let media = &events[0].data["content"]["media"];
        let hex = "0b96cd29d5ecc527571c73d364bfc5a7b61ed77e4e41c3d0dd6fd3b4787563ae";
        assert_eq!(media["sha256"], hex, "{media}");
        assert_eq!(media["url"], format!("/api/media/{hex}"));
    }

    #[test]
    fn a_release_ends_the_handoff_and_an_opt_out_patch_is_told_once() {
        let h = Handoff {
            since: Utc::now(),
            until: None,
            flow: "support".into(),
        };
        let before = ConversationState {
            handoff: Some(h),
            runs_started: 2,
            ..Default::default()
        };
        let after = ConversationState {
            runs_started: 2,
            ..Default::default()
        };
        let mut event = message();
        event.kind = EventKind::Timer(crate::domain::TimerFire {
            timer_id: 0,
            timer: Timer::Release {
                by: Some("inbox".into()),
            },
            due_at: Utc::now(),
        });
        let mut patch = ContactPatch::default();
        patch.set_attributes.insert("opted_out".into(), true.into());
        let contact = ana();
        let step = StepDone {
            before: &before,
            after: &after,
            insights: &Tally::default(),
            contact: &contact,
            patch: Some(&patch),
            event: &event,
            sender_id: 1,
            now: Utc::now(),
        };
        let events = of_step(&step);
        let names: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            names,
            ["handoff.ended", "contact.changed", "contact.opted_out"]
        );
        assert_eq!(events[0].data["by"], "inbox");
        // Already opted out: changed, but not opted out again.
        let mut out = ana();
        out.attributes.insert("opted_out".into(), true.into());
        let events = of_step(&StepDone {
            contact: &out,
            ..step
        });
        assert!(events
            .iter()
            .all(|e| e.kind != OutEventKind::ContactOptedOut));
    }
}
