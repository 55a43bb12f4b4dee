//! Conversation routing in the interpreter: a standby copy is never answered, a handover
//! records the thread's owner (a pass back ends the handoff), a message on the normal path
//! makes the thread Parley's again, and a handoff passes the thread and takes it back.

use super::*;
use crate::config::RoutingSettings;
use crate::domain::{
    HandoverKind, OwnerReason, ThreadAction, ThreadHandover, ThreadOwner, Timer, TimerFire,
};

const HANDOFF: &str = "id: human\ntriggers:\n  - keyword: [agent]\nsteps:\n  - handoff:\n      message: \"A person will answer.\"\n";
const HI: &str = "id: hi\ntriggers:\n  - keyword: [hi]\nsteps:\n  - send: hello\n";

fn routed(take_back: bool) -> Harness {
    harness_opts(
        &[HANDOFF, HI],
        EngineOptions {
            routing: [(
                1,
                RoutingSettings {
                    app_id: Some("263".into()),
                    escalation_app: Some("999".into()),
                    take_back,
                },
            )]
            .into(),
            ..Default::default()
        },
    )
}

fn handover(kind: HandoverKind) -> InboundContent {
    InboundContent::Handover(ThreadHandover {
        kind,
        previous_owner: None,
        new_owner: None,
        metadata: None,
    })
}

fn owner(h: &Harness) -> Option<(ThreadOwner, OwnerReason)> {
    h.conversation
        .state
        .thread
        .as_ref()
        .map(|t| (t.owner.clone(), t.reason))
}

fn actions(out: &StepOutput) -> Vec<ThreadAction> {
    out.replies
        .iter()
        .filter_map(|r| match &r.content {
            OutboundContent::ThreadControl(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_standby_copy_is_never_answered_and_changes_no_owner() {
    let mut h = routed(true);
    let out = h
        .send(InboundContent::Standby {
            from_customer: true,
            content: Box::new(InboundContent::Text { body: "hi".into() }),
        })
        .await;
    assert!(out.replies.is_empty());
    assert_eq!(out.state.messages_seen, 0, "not a message to the bot");
    assert_eq!(owner(&h), None);
    assert_eq!(h.say("hi").await, vec!["hello"]);
}

#[tokio::test]
async fn handovers_record_the_owner_and_a_pass_back_ends_the_handoff() {
    let mut h = routed(true);
    let out = h.send(handover(HandoverKind::ControlTaken)).await;
    assert!(out.replies.is_empty());
    assert_eq!(
        owner(&h),
        Some((
            ThreadOwner::App {
                app: "escalation_partner".into()
            },
            OwnerReason::ControlTaken
        ))
    );
    h.say("agent").await;
    assert!(h.conversation.state.handoff.is_some());
    h.send(handover(HandoverKind::ControlPassed)).await;
    assert_eq!(
        owner(&h),
        Some((ThreadOwner::Parley, OwnerReason::ControlPassed))
    );
    assert!(
        h.conversation.state.handoff.is_none(),
        "passed back: the handoff ended"
    );
    assert_eq!(h.say("hi").await, vec!["hello"]);
}

#[tokio::test]
async fn a_message_on_the_normal_path_makes_the_thread_parleys_again() {
    let mut h = routed(true);
    h.send(handover(HandoverKind::Released)).await;
    assert_eq!(owner(&h), Some((ThreadOwner::Idle, OwnerReason::Released)));
    assert_eq!(h.say("hi").await, vec!["hello"]);
    assert_eq!(owner(&h), Some((ThreadOwner::Parley, OwnerReason::Routed)));
}

#[tokio::test]
async fn a_handoff_passes_the_thread_after_its_message_and_a_release_takes_it_back() {
    let mut h = routed(true);
    let out = h
        .send(InboundContent::Text {
            body: "agent".into(),
        })
        .await;
    assert_eq!(bodies(&out)[0], "A person will answer.");
    assert!(
        matches!(
            out.replies.last().map(|r| &r.content),
            Some(OutboundContent::ThreadControl(_))
        ),
        "the pass goes after the message"
    );
    assert_eq!(
        actions(&out),
        vec![ThreadAction::Pass { app: "999".into() }]
    );
    assert_eq!(
        owner(&h),
        Some((ThreadOwner::App { app: "999".into() }, OwnerReason::Pass))
    );
    let release = TimerFire {
        timer_id: 0,
        timer: Timer::Release { by: None },
        due_at: h.now,
    };
    let out = h.event(EventKind::Timer(release)).await;
    assert_eq!(actions(&out), vec![ThreadAction::Take]);
    assert_eq!(owner(&h), Some((ThreadOwner::Parley, OwnerReason::Take)));
}

#[tokio::test]
async fn without_take_back_the_thread_waits_to_be_passed_back() {
    let mut h = routed(false);
    h.say("agent").await;
    let release = TimerFire {
        timer_id: 0,
        timer: Timer::Release { by: None },
        due_at: h.now,
    };
    let out = h.event(EventKind::Timer(release)).await;
    assert!(actions(&out).is_empty());
    assert_eq!(
        owner(&h),
        Some((ThreadOwner::App { app: "999".into() }, OwnerReason::Pass))
    );
}

#[tokio::test]
async fn without_routing_a_handoff_passes_nothing() {
    let mut h = harness_opts(&[HANDOFF], EngineOptions::default());
    let out = h
        .send(InboundContent::Text {
            body: "agent".into(),
        })
        .await;
    assert!(actions(&out).is_empty());
    assert_eq!(owner(&h), None);
}
