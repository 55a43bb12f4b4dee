//! One attempt at a send: the window decided at the moment of sending (and the template
//! fallback when it is closed), the gates, the sender's pace, the provider call under its
//! timeout, and a switch to the fallback when the provider says the window is closed.

use super::gates::empty_template_variable;
use super::{Outbox, LIVE_WITHIN};
use crate::channels::pacer::Lane;
use crate::channels::senders::SenderRuntime;
use crate::domain::{ErrorClass, OutboundContent, SendFailure, WindowFallback};
use crate::store::{OutboxItem, SendOutcome};

mod spans;

impl Outbox {
    /// `attempt_send`, traced when the reply carries a trace (`telemetry:`).
    pub(super) async fn attempt(&self, sender: &SenderRuntime, item: &OutboxItem) -> SendOutcome {
        let channel = || format!("{:?}", sender.config.channel).to_lowercase();
        let Some(traced) = spans::begin(&self.tracer, item, channel) else {
            return self.attempt_send(sender, item).await;
        };
        let outcome = self.attempt_send(sender, item).await;
        traced.finish(&outcome);
        outcome
    }

    async fn attempt_send(&self, sender: &SenderRuntime, item: &OutboxItem) -> SendOutcome {
        if item.message.content.is_thread_control() {
            return self.thread_control(sender, item).await;
        }
        if let Some(outcome) = self.thread_gate(sender, item).await {
            return outcome;
        }
        let mut message = item.message.clone();
        let mut converted: Option<OutboundContent> = None;
        if message.content.is_freeform() {
            let window = self.window.state(item.last_inbound_at, self.clock.now());
            if !window.is_open {
                match &item.fallback {
                    WindowFallback::Fail => {
                        return SendOutcome::Failed {
                            code: None,
                            title: closed_window_text(&window),
                            window_closed: true,
                        }
                    }
                    WindowFallback::Skip => {
                        return SendOutcome::Skipped {
                            reason: closed_window_text(&window),
                        }
                    }
                    WindowFallback::Template(t) => {
                        let content = OutboundContent::Template(t.clone());
                        message.content = content.clone();
                        converted = Some(content);
                    }
                }
            }
        }
        if let OutboundContent::Template(t) = &message.content {
            if let Some(outcome) = self.template_gate(item, t).await {
                return outcome;
            }
        }
        if let Some(outcome) = self.over_template_cap(sender, &message).await {
            return outcome;
        }
        if let Some(outcome) = empty_template_variable(&message.content) {
            return outcome;
        }
        // Paced first: a claimed message may wait here for its turn, and a broadcast's
        // send is judged (cancelled? opted out?) as it leaves, not as it was claimed.
        let lane = self.lane(item);
        if !self.paced(sender, lane, item).await {
            return SendOutcome::Requeue;
        }
        if let Some(outcome) = self.stop_gate(sender).await {
            return outcome;
        }
        if matches!(message.content, OutboundContent::Template(_)) {
            if let Some(outcome) = self.broadcast_gate(item).await {
                return outcome;
            }
        }
        let mut result = self.send(sender, &message, item.id).await;
        // The provider says the window is closed although our clock said open (e.g. the
        // customer's clock or a lost inbound): switch to the template fallback once.
        if let (Err(f), None, WindowFallback::Template(t)) = (&result, &converted, &item.fallback) {
            if f.class == ErrorClass::WindowClosed {
                let content = OutboundContent::Template(t.clone());
                message.content = content.clone();
                converted = Some(content);
                if !self.paced(sender, lane, item).await {
                    return SendOutcome::Requeue;
                }
                result = self.send(sender, &message, item.id).await;
            }
        }
        match result {
            Ok(ok) => SendOutcome::Accepted {
                provider_message_id: ok.provider_message_id,
                converted_to: converted,
            },
            Err(f) => self.on_failure(item, &message.content, f).await,
        }
    }

    /// A conversation-routing call queued by a step (`pass` when a handoff begins, `take`
    /// when it ends): no window, template or thread gate applies (a `take` is made in a
    /// thread Parley does not own); paced like a send; refusals classified like a send's.
    async fn thread_control(&self, sender: &SenderRuntime, item: &OutboxItem) -> SendOutcome {
        let action = match &item.message.content {
            OutboundContent::ThreadControl(a) => a.name(),
            _ => "",
        };
        if !self.paced(sender, self.lane(item), item).await {
            return SendOutcome::Requeue;
        }
        let result = self.send(sender, &item.message, item.id).await;
        let outcome = if result.is_ok() { "accepted" } else { "failed" };
        metrics::counter!(crate::metrics::THREAD_CONTROL, "action" => action, "outcome" => outcome)
            .increment(1);
        match result {
            Ok(ok) => SendOutcome::Accepted {
                provider_message_id: ok.provider_message_id,
                converted_to: None,
            },
            Err(f) => {
                tracing::warn!(action, code = ?f.code, title = %f.title, conversation_id = item.conversation_id, "a thread-control call was refused");
                self.on_failure(item, &item.message.content, f).await
            }
        }
    }

    /// Waits for the send's turn in its sender's pace, without an outbox slot meanwhile
    /// (`turn`). A bulk send can wait long while replies go first: past half its lease it
    /// renews the lease before going; `false` when it is no longer this process's to send
    /// (or the renewal failed), or the process is shutting down.
    async fn paced(&self, sender: &SenderRuntime, lane: Lane, item: &OutboxItem) -> bool {
        let asked = std::time::Instant::now();
        if !super::turn::wait(sender, lane).await {
            return false;
        }
        asked.elapsed() <= self.send_lease() / 2 || self.renew(item).await
    }

    /// The line a send waits in for its sender's pace: a customer who wrote within
    /// [`LIVE_WITHIN`] is talking to the business now and their reply goes first;
    /// broadcasts, scheduled sends and sends to anyone else take what is left.
    fn lane(&self, item: &OutboxItem) -> Lane {
        let now = self.clock.now();
        match item.last_inbound_at {
            Some(at) if (now - at).to_std().unwrap_or_default() <= LIVE_WITHIN => Lane::Live,
            _ => Lane::Bulk,
        }
    }

    async fn send(
        &self,
        sender: &SenderRuntime,
        message: &crate::domain::OutboundMessage,
        outbox_id: i64,
    ) -> Result<crate::channels::SendOk, SendFailure> {
        // Paced by the caller (`attempt`).
        match tokio::time::timeout(
            self.send_timeout,
            sender.channel.send_tracked(message, Some(outbox_id)),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(SendFailure::unknown_outcome(format!(
                "no answer from the provider within {}",
                humantime::format_duration(self.send_timeout)
            ))),
        }
    }
}

fn closed_window_text(w: &crate::domain::WindowState) -> String {
    match w.last_inbound_at {
        Some(at) => format!(
            "the 24-hour customer service window is closed (last inbound message at {})",
            at.to_rfc3339()
        ),
        None => "the 24-hour customer service window is not open: the customer never wrote".into(),
    }
}
