//! The spans of the effects a step asks for (`telemetry:`): an `http` step's request
//! (`http`, its `traceparent` sent with it), a model call (`model`, likewise), a script
//! (`script`). Each is a child of the span the event's handling runs in
//! (`telemetry::active`, set by the inbox), and runs in its own span, so the request it
//! makes carries that span's `traceparent`. With no trace active, nothing at all.

use super::super::{Answer, Effect};
use crate::telemetry::{self, Active, Span, SpanKind};
use chrono::Utc;

/// An effect being traced.
pub(super) struct Traced {
    active: Active,
    span: Span,
}

/// Starts the effect's span when the task runs in a trace.
pub(super) fn begin(effect: &Effect) -> Option<Traced> {
    let active = telemetry::active()?;
    let now = Utc::now();
    let span = match effect {
        Effect::Http(req) => {
            let host = reqwest::Url::parse(&req.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            // The host only: a path or query may hold what the author put there (ids, keys).
            Span::child_of(&active.parent, "http", SpanKind::Client, now)
                .attr("http.request.method", req.method.as_str())
                .attr("server.address", host)
        }
        Effect::Model(call) => Span::child_of(&active.parent, "model", SpanKind::Client, now)
            .attr("gen_ai.request.model", call.model.clone())
            .attr("parley.flow", call.flow.clone())
            .attr("parley.step", call.step.clone()),
        // A script (and any effect without a span of its own): how long it took.
        _ => {
            let name = if matches!(effect, Effect::Script(_)) {
                "script"
            } else {
                "effect"
            };
            Span::child_of(&active.parent, name, SpanKind::Internal, now)
        }
    };
    Some(Traced { active, span })
}

impl Traced {
    /// The trace the effect runs in: its own span is the parent of what it calls.
    pub(super) fn inside(&self) -> Active {
        Active {
            tracer: self.active.tracer.clone(),
            parent: self.span.context(),
        }
    }

    pub(super) fn finish(mut self, answer: &Answer) {
        let failure = match answer {
            Answer::Http(Ok(v)) => {
                if let Some(status) = v.get("status").and_then(|s| s.as_i64()) {
                    self.span.set("http.response.status_code", status);
                }
                None
            }
            Answer::Model(Ok(reply)) => {
                let usage = reply.answer.usage;
                self.span
                    .set("gen_ai.usage.input_tokens", usage.input_tokens as i64);
                self.span
                    .set("gen_ai.usage.output_tokens", usage.output_tokens as i64);
                self.span.set("parley.replayed", reply.replayed);
                None
            }
            // An `http` step's failure names the host and what went wrong, never the
            // request's content.
            Answer::Http(Err(e)) => Some(e.clone()),
            // A model's or a script's may quote what the customer wrote.
            Answer::Script(Err(e)) | Answer::Model(Err(e)) => {
                Some(if self.active.tracer.include_text() {
                    e.clone()
                } else {
                    "failed (the reason is in the log; telemetry.include_text puts it here)".into()
                })
            }
            // A script's success (and any answer without more to say).
            _ => None,
        };
        if let Some(e) = failure {
            self.span.failed(e);
        }
        self.active.tracer.record(self.span.ended(Utc::now()));
    }
}
