//! What holds a send back before the provider sees it: a sender this process saw stopped,
//! a cancelled broadcast or an opted-out customer, a paused or rejected template, a
//! customer who stopped marketing or is inside WhatsApp's marketing limit, the sender's
//! daily template cap, a template variable that rendered empty, and a thread another app
//! owns (conversation routing).

use super::Outbox;
use crate::channels::senders::SenderRuntime;
use crate::domain::{OutboundContent, TemplateCategory, TemplateMessage};
use crate::store::{OutboxItem, SendOutcome};
use std::sync::atomic::Ordering;

impl Outbox {
    /// Once this process saw the provider stop `sender` (190, 368), the sends it had
    /// claimed before do not go while the stop is recorded: they are put back, like the
    /// send that met the refusal (64 more refusals in 3 s otherwise, with
    /// `outbox.concurrency` sends in hand). Resumed (the stop gone from the database),
    /// sending goes on. Only a sender whose stop this process saw pays the look.
    pub(super) async fn stop_gate(&self, sender: &SenderRuntime) -> Option<SendOutcome> {
        if !sender.stop_seen.load(Ordering::Relaxed) {
            return None;
        }
        match self.store.stopped_senders().await {
            Ok(stops) if stops.iter().any(|s| s.sender_id == sender.config.id) => {
                Some(SendOutcome::Requeue)
            }
            Ok(_) => {
                sender.stop_seen.store(false, Ordering::Relaxed);
                None
            }
            Err(e) => {
                crate::metrics::logs::log_every!(warn, error = %e, "reading the stopped senders failed; the send waits");
                Some(SendOutcome::Requeue)
            }
        }
    }

    /// A broadcast's send (always a template) does not go once its broadcast was
    /// cancelled or its customer opted out, however long it waited in the outbox or
    /// whichever process had claimed it.
    pub(super) async fn broadcast_gate(&self, item: &OutboxItem) -> Option<SendOutcome> {
        match self.store.broadcast_send_stop(item.id).await {
            Ok(reason) => reason.map(|reason| SendOutcome::Skipped { reason }),
            Err(e) => {
                tracing::warn!(error = %e, id = item.id, "reading whether a broadcast's send may go failed; sending it");
                None
            }
        }
    }

    /// A template Meta paused, disabled or rejected is not sent (the reason is the
    /// failure); a marketing template is not sent to a customer who stopped marketing, nor
    /// before WhatsApp's per-user marketing limit (131049) has let the customer go.
    pub(super) async fn template_gate(
        &self,
        item: &OutboxItem,
        t: &TemplateMessage,
    ) -> Option<SendOutcome> {
        let live = match self.store.live_template(&t.name, &t.language).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "reading the template's live status failed; sending anyway");
                None
            }
        };
        if let Some(reason) = live.as_ref().and_then(|l| l.unsendable_reason()) {
            return Some(SendOutcome::Failed {
                code: None,
                title: reason,
                window_closed: false,
            });
        }
        let now = self.clock.now();
        let category = live
            .and_then(|l| l.category_at(now))
            .or_else(|| self.template_categories.get(&t.name).copied());
        if category != Some(TemplateCategory::Marketing) {
            return None;
        }
        let state = match self.store.marketing_state(item.conversation_id).await {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(error = %e, "reading the contact's marketing state failed; sending anyway");
                return None;
            }
        };
        if let Some(at) = state.stopped_at {
            return Some(SendOutcome::Skipped {
                reason: format!(
                    "the customer stopped marketing messages on {}: marketing template `{}` is not sent (utility and service messages still are)",
                    at.format("%Y-%m-%d"),
                    t.name
                ),
            });
        }
        let now = self.clock.now();
        match state.limited_until {
            Some(until) if until > now => Some(self.defer(None)),
            _ => None,
        }
    }

    /// WhatsApp held this marketing message back (131049), or the customer's limit from an
    /// earlier one still runs: this send fails with code 131049, and recording that failure
    /// keeps a copy for its day on the ladder in the same transaction (`Account`).
    pub(super) fn defer(&self, code: Option<i64>) -> SendOutcome {
        let why = match code {
            Some(code) => format!("WhatsApp held this marketing message back ({code}: per-user marketing limit)"),
            None => "WhatsApp held an earlier marketing message to this customer back (131049) less than 24 hours ago".into(),
        };
        let ladder = crate::domain::error_class::MARKETING_DEFER_LADDER_HOURS
            .map(|h| format!("{h} h"))
            .join(", then ");
        SendOutcome::Failed {
            code: Some(code.unwrap_or(131049)),
            title: format!(
                "{why}; not sent again at once: a copy is sent after {ladder} (one step per hold), then it is given up"
            ),
            window_closed: false,
        }
    }

    /// A template beyond the sender's daily cap waits for the next UTC day. Concurrent sends
    /// may pass the cap by at most `outbox.concurrency`.
    pub(super) async fn over_template_cap(
        &self,
        sender: &SenderRuntime,
        message: &crate::domain::OutboundMessage,
    ) -> Option<SendOutcome> {
        let cap = sender.config.daily_template_cap?;
        if message.content.is_freeform() {
            return None;
        }
        let now = self.clock.now();
        let midnight = now.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
        match self.store.templates_sent_since(sender.config.id, midnight).await {
            Ok(n) if n >= i64::from(cap) => Some(SendOutcome::Retry {
                at: midnight + chrono::Duration::days(1),
                code: None,
                title: format!("daily template cap of {cap} reached for sender {}; sending resumes at 00:00 UTC", sender.config.id),
            }),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "counting today's templates failed; sending anyway");
                None
            }
        }
    }
}

impl Outbox {
    /// Conversation routing: a send in a thread another app owns is not made (Meta would
    /// refuse it, or worse, take the thread from that app). Only for senders with
    /// `meta.routing`; the owner is the one the engine committed (`state.thread`), idle
    /// after 24 h without a message. Recorded skipped, `thread_not_owned: …`.
    pub(super) async fn thread_gate(
        &self,
        sender: &SenderRuntime,
        item: &OutboxItem,
    ) -> Option<SendOutcome> {
        sender.config.meta.as_ref()?.routing.as_ref()?;
        let state = match self.store.thread_state(item.conversation_id).await {
            Ok(state) => state?,
            Err(e) => {
                tracing::warn!(error = %e, id = item.id, "reading the thread's owner failed; sending");
                return None;
            }
        };
        let now = self.clock.now();
        let crate::domain::ThreadOwner::App { app } = state.owner_at(item.last_inbound_at, now)
        else {
            return None;
        };
        // Parley's own pass is recorded when it is queued: what was queued before it (the
        // handoff's message) still goes, in the thread that is still Parley's.
        if state.reason == crate::domain::OwnerReason::Pass {
            match self
                .store
                .thread_control_queued_after(item.conversation_id, item.id)
                .await
            {
                Ok(true) => return None,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, id = item.id, "reading whether the pass is still queued failed; sending");
                    return None;
                }
            }
        }
        metrics::counter!(crate::metrics::THREAD_NOT_OWNED).increment(1);
        Some(SendOutcome::Skipped {
            reason: format!(
                "{THREAD_NOT_OWNED}: another app ({app}) owns this customer's thread since {} ({}); Parley does not send in it until the thread is passed back, taken, or idle for 24 hours",
                state.since.to_rfc3339(),
                state.reason.as_str()
            ),
        })
    }
}

/// The reason code a send refused by conversation routing starts with.
pub const THREAD_NOT_OWNED: &str = "thread_not_owned";

/// A template whose variable rendered empty (a blank with nothing in it) fails here, with a
/// sentence that says how to fix the flow, instead of being refused by the provider.
pub(super) fn empty_template_variable(content: &OutboundContent) -> Option<SendOutcome> {
    let OutboundContent::Template(t) = content else {
        return None;
    };
    let name = t.empty_variable()?;
    Some(SendOutcome::Failed {
        code: None,
        title: format!(
            "template `{}`: variable {{{{{name}}}}} is empty, and WhatsApp refuses empty template parameters; give the blank a default, e.g. `{{{{ contact.name | default: friend }}}}`",
            t.name
        ),
        window_closed: false,
    })
}
