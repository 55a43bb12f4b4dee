//! "typing…" while a step waits: shown through the customer's sender's channel, renewed
//! until the answer is in.

use super::FlowEngine;
use crate::engine::{Answer, Effect, StepInput};
use std::sync::Arc;

impl FlowEngine {
    /// Who to show "typing…" to and on which of their messages: the customer's message
    /// this event carries, on its sender's channel.
    pub(super) fn typing_target(&self, input: &StepInput<'_>) -> Option<TypingTarget> {
        let senders = self.typing.as_ref()?;
        let crate::domain::EventKind::Message(m) = &input.event.kind else {
            return None;
        };
        Some(TypingTarget {
            channel: senders.get(input.conversation.sender_id)?.channel.clone(),
            to: input.contact.contact_ref()?,
            message_id: m.provider_message_id.clone(),
        })
    }

    /// `perform`, showing "typing…" now and every `typing_renew` until the answer is in.
    /// Best effort: a failure is logged and counted, never the step's failure, and ends
    /// the indicator for this step (a refusal would only repeat).
    pub(super) async fn perform_typing(
        &self,
        effect: Effect,
        target: TypingTarget,
        grace: std::time::Duration,
    ) -> Answer {
        let show = async {
            tokio::time::sleep(grace).await;
            loop {
                match target
                    .channel
                    .show_typing(&target.to, &target.message_id)
                    .await
                {
                    Ok(()) => {
                        metrics::counter!(crate::metrics::TYPING_INDICATORS, "outcome" => "shown")
                            .increment(1);
                    }
                    Err(e) => {
                        metrics::counter!(crate::metrics::TYPING_INDICATORS, "outcome" => "failed")
                            .increment(1);
                        tracing::info!(code = ?e.code, error = %e.title, "could not show \"typing…\"; the flow goes on");
                        std::future::pending::<()>().await;
                    }
                }
                tokio::time::sleep(self.typing_renew).await;
            }
        };
        tokio::select! {
            answer = self.perform(effect) => answer,
            _ = show => unreachable!("showing typing never ends by itself"),
        }
    }
}

/// How long a model may take before the customer is shown "typing…".
pub(super) const MODEL_TYPING_GRACE: std::time::Duration = std::time::Duration::from_millis(800);

/// Where "typing…" goes while a step waits.
pub(super) struct TypingTarget {
    channel: Arc<dyn crate::channels::Channel>,
    to: crate::domain::ContactRef,
    message_id: String,
}
