//! Meta's conversation routing, as the interpreter keeps it: the thread's owner in the
//! conversation's state (`state.thread`, committed with the step; the outbox reads it
//! before each send), moved by a handover Meta reported, by a customer message that reached
//! Parley on the normal path (Meta routed the thread here), and by a `handoff` that passes
//! the thread to the sender's escalation app and takes it back when it ends.
//!
//! The thread-control calls themselves are replies (`OutboundContent::ThreadControl`),
//! committed with the step and made by the outbox after the commit: the interpreter stays
//! free of I/O, and a crash between the commit and the call loses nothing. The owner is
//! recorded when the call is queued; a call Meta refuses is logged and counted
//! (`parley_thread_control_total`), and the next customer message on the normal path puts
//! the owner right.

use super::context::{Output, StepCtx};
use super::Interpreter;
use crate::config::RoutingSettings;
use crate::domain::{
    ConversationState, OutboundContent, OwnerReason, ThreadAction, ThreadHandover, ThreadOwner,
    ThreadState, TimerKind, WindowFallback,
};
use chrono::{DateTime, Utc};

/// The routing settings of the event's sender, when it has any.
pub(super) fn settings<'a>(ctx: &StepCtx<'a>) -> Option<&'a RoutingSettings> {
    ctx.library.options.routing.get(&ctx.sender_id)
}

/// Records `owner` as the thread's owner from `now`, unless it already is; `true` when it
/// changed.
pub(super) fn set_owner(
    state: &mut ConversationState,
    output: &mut Output,
    now: DateTime<Utc>,
    owner: ThreadOwner,
    reason: OwnerReason,
) -> bool {
    if state.thread.as_ref().map(|t| &t.owner) == Some(&owner) {
        return false;
    }
    output.decide(|| {
        format!(
            "the thread's owner is now {} ({})",
            describe(&owner),
            reason.as_str()
        )
    });
    state.thread = Some(ThreadState {
        owner,
        since: now,
        reason,
    });
    true
}

fn describe(owner: &ThreadOwner) -> String {
    match owner {
        ThreadOwner::Parley => "Parley".into(),
        ThreadOwner::App { app } => format!("another app ({app})"),
        ThreadOwner::Idle => "nobody (idle)".into(),
    }
}

/// A `handoff` began: with an escalation app configured, and the thread Parley's, the
/// thread is passed to it (after the handoff's message, which goes first).
pub(super) fn pass_on_handoff(
    ctx: &StepCtx<'_>,
    state: &mut ConversationState,
    output: &mut Output,
) {
    let Some(app) = settings(ctx).and_then(|s| s.escalation_app.clone()) else {
        return;
    };
    if matches!(
        state.thread.as_ref().map(|t| &t.owner),
        Some(ThreadOwner::App { .. })
    ) {
        output.decide(|| "the thread is already another app's: not passed".into());
        return;
    }
    output.reply(
        OutboundContent::ThreadControl(ThreadAction::Pass { app: app.clone() }),
        WindowFallback::Skip,
    );
    set_owner(
        state,
        output,
        ctx.now,
        ThreadOwner::App { app },
        OwnerReason::Pass,
    );
}

/// A handoff ended (released, timed out): a thread Parley passed is taken back when the
/// sender says `take_back` (otherwise the other app passes it back, `control_passed`).
pub(super) fn take_back(ctx: &StepCtx<'_>, state: &mut ConversationState, output: &mut Output) {
    let Some(s) = settings(ctx) else {
        return;
    };
    let passed = state.thread.as_ref().is_some_and(|t| {
        t.reason == OwnerReason::Pass && matches!(t.owner, ThreadOwner::App { .. })
    });
    if !passed {
        return;
    }
    if !s.take_back {
        output.decide(|| "the handoff ended; the thread stays with the escalation app until it passes it back (`take_back: false`)".into());
        return;
    }
    output.reply(
        OutboundContent::ThreadControl(ThreadAction::Take),
        WindowFallback::Skip,
    );
    set_owner(
        state,
        output,
        ctx.now,
        ThreadOwner::Parley,
        OwnerReason::Take,
    );
}

impl Interpreter<'_> {
    /// After `steps::hand_off` (an `agent` step's handoff tool): the thread passed to the
    /// escalation app.
    pub(super) fn pass_thread(&mut self) {
        pass_on_handoff(&self.ctx, &mut self.state, &mut self.output);
    }

    /// Meta moved the thread: record its new owner. Passed to Parley while a person had
    /// the conversation, the handoff ends (the other app gave it back).
    pub(super) fn on_handover(&mut self, h: &ThreadHandover) {
        let ours = settings(&self.ctx).and_then(|s| s.app_id.clone());
        let owner = h.new_owner_for(ours.as_deref());
        let now = self.ctx.now;
        set_owner(
            &mut self.state,
            &mut self.output,
            now,
            owner.clone(),
            h.reason(),
        );
        if owner == ThreadOwner::Parley && self.state.handoff.is_some() {
            self.output
                .decide(|| "the thread was passed back to Parley: the handoff ends".into());
            self.state.handoff = None;
            self.output.cancel_timer(&TimerKind::HandoffTimeout);
        }
    }

    /// A customer message reached Parley on the normal path: under routing, only the
    /// thread's owner gets those, so the thread is Parley's now (routed again after an
    /// idle day, or never recorded otherwise).
    pub(super) fn routed_here(&mut self) {
        if self.state.thread.is_none() {
            return;
        }
        let now = self.ctx.now;
        set_owner(
            &mut self.state,
            &mut self.output,
            now,
            ThreadOwner::Parley,
            OwnerReason::Routed,
        );
    }
}
