//! A finished span: what was done, by whom in the trace, from when to when, with which
//! attributes. Built by the hops that record them and handed to the tracer whole.

use crate::domain::{SpanId, TraceContext, TraceId};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// OpenTelemetry's span kinds (their numbers are OTLP's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    /// Parley answering a request (a webhook, an API call).
    Server = 2,
    /// Parley calling another service (a provider, an `http` step, a model).
    Client = 3,
    /// Work queued for later (a message stored for the inbox, a reply for the outbox).
    Producer = 4,
    /// Work taken from a queue.
    Consumer = 5,
}

/// An attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// The longest text kept in one attribute (a customer's message, an error), in bytes.
pub const MAX_ATTRIBUTE_BYTES: usize = 1024;
/// The most attributes one span keeps.
pub const MAX_ATTRIBUTES: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None`: the trace's root.
    pub parent: Option<SpanId>,
    pub name: Cow<'static, str>,
    pub kind: SpanKind,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub attributes: Vec<(&'static str, Value)>,
    /// Set when the work failed (OTLP status `ERROR` with this message).
    pub error: Option<String>,
}

impl Span {
    /// A new span (a fresh id) under `parent`'s span, started at `start` and, until
    /// `ended`, ending there too.
    pub fn child_of(
        parent: &TraceContext,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        start: DateTime<Utc>,
    ) -> Self {
        Self::with_id(
            parent.trace_id,
            SpanId::random(),
            Some(parent.span_id),
            name,
            kind,
            start,
        )
    }

    /// A span whose id is known already (one derived, or told to others before it ends).
    pub fn with_id(
        trace_id: TraceId,
        span_id: SpanId,
        parent: Option<SpanId>,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        start: DateTime<Utc>,
    ) -> Self {
        Self {
            trace_id,
            span_id,
            parent,
            name: name.into(),
            kind,
            start,
            end: start,
            attributes: Vec::new(),
            error: None,
        }
    }

    /// This span as the parent of what it starts (sampled: it is recorded).
    pub fn context(&self) -> TraceContext {
        TraceContext {
            trace_id: self.trace_id,
            span_id: self.span_id,
            sampled: true,
        }
    }

    /// Adds an attribute (texts cut to [`MAX_ATTRIBUTE_BYTES`]; past [`MAX_ATTRIBUTES`],
    /// none).
    pub fn attr(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &'static str, value: impl Into<Value>) {
        if self.attributes.len() >= MAX_ATTRIBUTES {
            return;
        }
        let value = match value.into() {
            Value::Str(s) => Value::Str(cut(s)),
            v => v,
        };
        self.attributes.push((key, value));
    }

    /// Marks the work failed, with a message saying why.
    pub fn failed(&mut self, message: impl Into<String>) {
        self.error = Some(cut(message.into()));
    }

    /// Ends the span at `end` (never before its start: clocks of different hops).
    pub fn ended(mut self, end: DateTime<Utc>) -> Self {
        self.end = end.max(self.start);
        self
    }
}

/// `s` cut to at most [`MAX_ATTRIBUTE_BYTES`], on a character boundary.
fn cut(mut s: String) -> String {
    if s.len() > MAX_ATTRIBUTE_BYTES {
        let mut at = MAX_ATTRIBUTE_BYTES;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_bounded_and_a_span_never_ends_before_it_starts() {
        let parent = TraceContext::of_message(1, "wamid.X");
        let start = Utc::now();
        let mut span = Span::child_of(&parent, "step", SpanKind::Internal, start)
            .attr("text", "é".repeat(MAX_ATTRIBUTE_BYTES));
        for _ in 0..100 {
            span.set("n", 1);
        }
        assert_eq!(span.attributes.len(), MAX_ATTRIBUTES);
        let Value::Str(text) = &span.attributes[0].1 else {
            panic!()
        };
        assert!(text.len() <= MAX_ATTRIBUTE_BYTES && text.chars().all(|c| c == 'é'));
        let span = span.ended(start - chrono::TimeDelta::seconds(5));
        assert_eq!(span.end, start);
        assert_eq!(span.parent, Some(parent.span_id));
        assert_eq!(span.trace_id, parent.trace_id);
        assert_ne!(span.span_id, parent.span_id);
    }
}
