//! What a provider's refusal becomes, by its error class: a retry on the schedule, a wait
//! for a status when the outcome is unknown, the sender stopped, the template marked
//! paused, a marketing message deferred, or a failure in words a person reads.

use super::Outbox;
use crate::domain::{ErrorClass, OutboundContent, SendFailure, TemplateChange, TemplateUpdate};
use crate::metrics as m;
use crate::store::{OutboxItem, SendOutcome};
use crate::workers::retry::{decide, RetryDecision};
use std::sync::atomic::Ordering;

impl Outbox {
    /// `sent` is what went to the provider: the fallback template when a closed window
    /// converted a free-form message.
    pub(super) async fn on_failure(
        &self,
        item: &OutboxItem,
        sent: &OutboundContent,
        f: SendFailure,
    ) -> SendOutcome {
        if f.outcome_unknown {
            // Not blindly again: the provider may have taken it. A status naming this send
            // settles it meanwhile (see `StatusUpdate::outbox_id`); without one, it is sent
            // again after the wait, which counts as an attempt.
            metrics::counter!(m::SENDS_OUTCOME_UNKNOWN).increment(1);
            let attempts = (item.attempts.max(0) as u32) + 1;
            if attempts < self.retry.max_attempts {
                return SendOutcome::Retry {
                    at: self.clock.now()
                        + chrono::Duration::from_std(self.unknown_outcome_wait)
                            .unwrap_or_else(|_| chrono::Duration::seconds(60)),
                    code: None,
                    title: format!(
                        "{}; waiting up to {:?} for a status before sending again",
                        f.title, self.unknown_outcome_wait
                    ),
                };
            }
        }
        match f.class {
            ErrorClass::Retry => {
                let attempts = (item.attempts.max(0) as u32) + 1;
                let now = self.clock.now();
                match decide(
                    &self.retry,
                    attempts,
                    item.created_at,
                    now,
                    f.retry_after,
                    &mut rand::rng(),
                ) {
                    RetryDecision::RetryAt(at) => SendOutcome::Retry {
                        at,
                        code: f.code,
                        title: f.title,
                    },
                    RetryDecision::GiveUp => SendOutcome::Failed {
                        code: f.code,
                        title: format!("gave up after {attempts} attempts: {}", f.title),
                        window_closed: false,
                    },
                }
            }
            ErrorClass::WindowClosed => SendOutcome::Failed {
                code: f.code,
                title: f.title,
                window_closed: true,
            },
            ErrorClass::StopSender => {
                tracing::error!(
                    sender_id = item.sender_id,
                    code = ?f.code,
                    reason = %f.title,
                    "provider refused the sender's credentials or account; sending from it is stopped until it is resumed"
                );
                if let Err(e) = self
                    .store
                    .stop_sender(item.sender_id, f.code, &f.title, self.clock.now())
                    .await
                {
                    tracing::error!(error = %e, "recording the stopped sender failed");
                }
                metrics::gauge!(m::SENDER_STOPPED, "sender" => item.sender_id.to_string()).set(1.0);
                // After the stop is written: a send that looks at it finds it.
                if let Some(sender) = self.senders.get(item.sender_id) {
                    sender.stop_seen.store(true, Ordering::Relaxed);
                }
                SendOutcome::Requeue
            }
            ErrorClass::Permanent => SendOutcome::Failed {
                code: f.code,
                title: explained(f.code, f.title),
                window_closed: false,
            },
            ErrorClass::MarketingLimited => self.defer(f.code),
            // Recording this failure marks the customer (`Account`).
            ErrorClass::MarketingStopped => SendOutcome::Failed {
                code: f.code,
                title: explained(f.code, f.title),
                window_closed: false,
            },
            ErrorClass::NeedsPhone => SendOutcome::Failed {
                code: f.code,
                title: format!(
                    "{}: Parley knows no phone number for this customer, only their business-scoped user id",
                    explained(f.code, f.title)
                ),
                window_closed: false,
            },
            ErrorClass::TemplateUnavailable => {
                if let OutboundContent::Template(t) = sent {
                    let status = if f.code == Some(132016) { "disabled" } else { "paused" };
                    let update = TemplateUpdate {
                        name: t.name.clone(),
                        language: Some(t.language.clone()),
                        template_id: None,
                        change: TemplateChange::Status {
                            status: status.into(),
                            reason: Some(f.title.clone()),
                            category: None,
                        },
                    };
                    if let Err(e) = self.store.record_template_update(&update, self.clock.now()).await {
                        tracing::error!(error = %e, "recording the template's status failed");
                    }
                }
                SendOutcome::Failed {
                    code: f.code,
                    title: explained(f.code, f.title),
                    window_closed: false,
                }
            }
        }
    }
}

/// The provider's title, with Parley's words for the code when the table has them.
fn explained(code: Option<i64>, title: String) -> String {
    match code.and_then(crate::domain::error_class::code_info) {
        Some((_, words)) if !title.contains(words) => format!("{title} ({words})"),
        _ => title,
    }
}
