//! Where a piece of work sits in a distributed trace (OpenTelemetry, W3C Trace Context):
//! the trace's id, the span that is the parent of what comes next, and whether the trace
//! is sampled. Carried across Parley's hops through the database inside the rows' JSON
//! (an outbound message's `trace`), sent to other services as the `traceparent` header,
//! and taken from API requests that bring one.
//!
//! `traceparent` is read strictly (version `00`, exactly 55 characters, lowercase hex,
//! neither id all zeros): anything else is ignored, never an error a caller sees.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A trace's id: 16 bytes, never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A span's id: 8 bytes, never all zeros.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

/// The length of a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex.
pub const TRACEPARENT_LEN: usize = 55;

impl TraceId {
    pub fn random() -> Self {
        loop {
            let id: [u8; 16] = rand::random();
            if id != [0; 16] {
                return Self(id);
            }
        }
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether a trace with this id is kept at `ratio` (0 to 1): decided from the id's
    /// last 8 bytes, as OpenTelemetry's ratio sampler does, so every hop of one trace
    /// decides the same way without being told.
    pub fn sampled_at(&self, ratio: f64) -> bool {
        if ratio >= 1.0 {
            return true;
        }
        if ratio.is_nan() || ratio <= 0.0 {
            return false;
        }
        let low = u64::from_be_bytes(self.0[8..].try_into().unwrap_or_default());
        ((low >> 11) as f64 / (1u64 << 53) as f64) < ratio
    }
}

impl SpanId {
    pub fn random() -> Self {
        loop {
            let id: [u8; 8] = rand::random();
            if id != [0; 8] {
                return Self(id);
            }
        }
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Debug for TraceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

impl std::fmt::Debug for SpanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex())
    }
}

/// A trace, the span what comes next is a child of, and whether the trace is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

impl TraceContext {
    /// The trace of an inbound message, with its first span (the webhook's ingest): derived
    /// from the sender and the provider's message id, so each hop that handles the message
    /// (the webhook, the inbox after a restart, another process) finds the same trace
    /// without it being stored. Whether it is sampled is the tracer's to say.
    pub fn of_message(sender_id: i64, provider_message_id: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"parley trace of an inbound message\0");
        hash.update(sender_id.to_be_bytes());
        hash.update(provider_message_id.as_bytes());
        let digest = hash.finalize();
        let mut trace = [0u8; 16];
        let mut span = [0u8; 8];
        trace.copy_from_slice(&digest[..16]);
        span.copy_from_slice(&digest[16..24]);
        // A hash of all zeros is as unlikely as a collision; kept valid all the same.
        trace[15] |= u8::from(trace == [0; 16]);
        span[7] |= u8::from(span == [0; 8]);
        Self {
            trace_id: TraceId(trace),
            span_id: SpanId(span),
            sampled: false,
        }
    }

    /// The W3C `traceparent` header's value.
    pub fn traceparent(&self) -> String {
        format!(
            "00-{}-{}-{}",
            self.trace_id.hex(),
            self.span_id.hex(),
            if self.sampled { "01" } else { "00" }
        )
    }

    /// Reads a `traceparent` value; `None` for anything but a valid version-00 one.
    pub fn parse_traceparent(value: &str) -> Option<Self> {
        let b = value.as_bytes();
        if b.len() != TRACEPARENT_LEN || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        if &value[..2] != "00" {
            return None;
        }
        let lower_hex = |s: &str| s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
        let (trace, span, flags) = (&value[3..35], &value[36..52], &value[53..55]);
        if !(lower_hex(trace) && lower_hex(span) && lower_hex(flags)) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(span, &mut span_id).ok()?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id: TraceId(trace_id),
            span_id: SpanId(span_id),
            sampled: flags & 1 == 1,
        })
    }
}

/// Kept in rows' JSON as its `traceparent`.
impl Serialize for TraceContext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.traceparent())
    }
}

impl<'de> Deserialize<'de> for TraceContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse_traceparent(&text)
            .ok_or_else(|| serde::de::Error::custom("not a W3C traceparent (version 00)"))
    }
}

/// A stored context that does not read (a row edited by hand) is no context: the row it is
/// in still reads. For `#[serde(deserialize_with)]`.
pub fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TraceContext>, D::Error> {
    let text = Option::<serde_json::Value>::deserialize(d)?;
    Ok(text
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(TraceContext::parse_traceparent))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_unchanged() {
        let c = TraceContext::parse_traceparent(EXAMPLE).unwrap();
        assert_eq!(c.trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(c.span_id.hex(), "00f067aa0ba902b7");
        assert!(c.sampled);
        assert_eq!(c.traceparent(), EXAMPLE);
        let unsampled = EXAMPLE.replace("-01", "-00");
        assert!(!TraceContext::parse_traceparent(&unsampled).unwrap().sampled);
    }

    #[test]
    fn a_bad_traceparent_is_ignored() {
        let bad = [
            "",
            "00",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
        ];
        for b in bad {
            assert_eq!(TraceContext::parse_traceparent(b), None, "{b:?}");
        }
        let long = format!("{EXAMPLE}{}", "0".repeat(10_000));
        assert_eq!(TraceContext::parse_traceparent(&long), None);
    }

    #[test]
    fn a_context_is_kept_in_json_as_its_traceparent() {
        let c = TraceContext::parse_traceparent(EXAMPLE).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!("\"{EXAMPLE}\""));
        assert_eq!(serde_json::from_str::<TraceContext>(&json).unwrap(), c);
        assert!(serde_json::from_str::<TraceContext>("\"00-zz\"").is_err());
    }

    #[test]
    fn an_outbound_row_with_a_broken_trace_still_reads() {
        use crate::domain::{ContactRef, OutboundContent, OutboundMessage, PhoneNumber};
        let message = OutboundMessage {
            to: ContactRef::Phone(PhoneNumber::parse("+15550783881").unwrap()),
            content: OutboundContent::Text {
                body: "hi".into(),
                preview_url: false,
            },
            trace: None,
        };
        let plain = serde_json::to_value(&message).unwrap();
        assert!(plain.get("trace").is_none(), "{plain}");
        let with = |trace: serde_json::Value| {
            let mut row = plain.clone();
            row["trace"] = trace;
            serde_json::from_value::<OutboundMessage>(row)
                .unwrap()
                .trace
        };
        assert_eq!(
            serde_json::from_value::<OutboundMessage>(plain.clone()).unwrap(),
            message
        );
        assert_eq!(with(serde_json::json!("00-zz")), None);
        assert_eq!(with(serde_json::json!(42)), None);
        assert_eq!(with(serde_json::Value::Null), None);
        let kept = with(serde_json::json!(EXAMPLE)).unwrap();
        assert_eq!(kept.traceparent(), EXAMPLE);
    }

    #[test]
    fn a_message_has_one_trace_whoever_handles_it() {
        let a = TraceContext::of_message(1, "wamid.A");
        assert_eq!(a, TraceContext::of_message(1, "wamid.A"));
        assert_ne!(a.trace_id, TraceContext::of_message(2, "wamid.A").trace_id);
        assert_ne!(a.trace_id, TraceContext::of_message(1, "wamid.B").trace_id);
        assert_ne!(a.trace_id.0, [0; 16]);
    }

    #[test]
    fn sampling_keeps_about_the_ratio_and_agrees_with_itself() {
        let ids: Vec<TraceId> = (0..4000).map(|_| TraceId::random()).collect();
        let kept = ids.iter().filter(|t| t.sampled_at(0.25)).count();
        assert!((800..1200).contains(&kept), "{kept}");
        assert!(ids.iter().all(|t| t.sampled_at(1.0)));
        assert!(!ids.iter().any(|t| t.sampled_at(0.0)));
        assert!(ids.iter().all(|t| t.sampled_at(0.3) == t.sampled_at(0.3)));
    }
}
