//! Spans in the JSON encoding of OTLP/HTTP (`POST /v1/traces`,
//! `Content-Type: application/json`): `resourceSpans` → `scopeSpans` → `spans`, ids in
//! lowercase hex, times as strings of nanoseconds since the epoch, 64-bit integers as
//! strings, attributes as `{key, value: {stringValue | intValue | boolValue}}`.

use super::span::{Span, Value};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// One export request's body: `spans` of the service `service_name`, written straight to
/// bytes (no JSON tree in between: this runs for every span exported).
pub fn encode(service_name: &str, spans: &[Span]) -> Vec<u8> {
    let body = Request {
        resource_spans: [ResourceSpans {
            resource: Resource {
                attributes: [Attribute(
                    "service.name",
                    &Value::Str(service_name.to_string()),
                )],
            },
            scope_spans: [ScopeSpans {
                scope: Scope {
                    name: "parley",
                    version: env!("CARGO_PKG_VERSION"),
                },
                spans: spans.iter().map(Encoded).collect(),
            }],
        }],
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Request<'a> {
    resource_spans: [ResourceSpans<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceSpans<'a> {
    resource: Resource<'a>,
    scope_spans: [ScopeSpans<'a>; 1],
}

#[derive(Serialize)]
struct Resource<'a> {
    attributes: [Attribute<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ScopeSpans<'a> {
    scope: Scope,
    spans: Vec<Encoded<'a>>,
}

#[derive(Serialize)]
struct Scope {
    name: &'static str,
    version: &'static str,
}

struct Encoded<'a>(&'a Span);

impl Serialize for Encoded<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.0;
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("traceId", &s.trace_id.hex())?;
        m.serialize_entry("spanId", &s.span_id.hex())?;
        if let Some(parent) = s.parent {
            m.serialize_entry("parentSpanId", &parent.hex())?;
        }
        m.serialize_entry("name", &s.name)?;
        m.serialize_entry("kind", &(s.kind as i32))?;
        m.serialize_entry("startTimeUnixNano", &nanos(s.start))?;
        m.serialize_entry("endTimeUnixNano", &nanos(s.end))?;
        let attributes: Vec<Attribute> =
            s.attributes.iter().map(|(k, v)| Attribute(k, v)).collect();
        m.serialize_entry("attributes", &attributes)?;
        if let Some(message) = &s.error {
            m.serialize_entry("status", &Status { code: 2, message })?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Status<'a> {
    code: i32,
    message: &'a str,
}

/// `{key, value: {stringValue | intValue | boolValue}}`; 64-bit integers as strings.
struct Attribute<'a>(&'a str, &'a Value);

impl Serialize for Attribute<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        struct One<'a>(&'a Value);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                let mut m = ser.serialize_map(Some(1))?;
                match self.0 {
                    Value::Str(s) => m.serialize_entry("stringValue", s)?,
                    Value::Int(i) => m.serialize_entry("intValue", &i.to_string())?,
                    Value::Bool(b) => m.serialize_entry("boolValue", b)?,
                }
                m.end()
            }
        }
        let mut m = ser.serialize_map(Some(2))?;
        m.serialize_entry("key", self.0)?;
        m.serialize_entry("value", &One(self.1))?;
        m.end()
    }
}

/// Nanoseconds since the epoch, as a string (OTLP's JSON mapping of `fixed64`); 0 before
/// 1970 or past 2262.
fn nanos(t: chrono::DateTime<chrono::Utc>) -> String {
    t.timestamp_nanos_opt().unwrap_or(0).max(0).to_string()
}

#[cfg(test)]
mod tests {
    use super::super::span::SpanKind;
    use super::*;
    use crate::domain::TraceContext;
    use serde_json::json;

    #[test]
    fn spans_are_encoded_in_otlp_json() {
        let root = TraceContext::parse_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .unwrap();
        let start = chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let mut s = Span::child_of(&root, "send", SpanKind::Client, start)
            .attr("parley.sender_id", 3)
            .attr("parley.channel", "meta")
            .attr("parley.retried", false)
            .ended(start + chrono::TimeDelta::milliseconds(2));
        s.failed("provider said 131047");
        let body: serde_json::Value =
            serde_json::from_slice(&encode("parley-test", &[s.clone()])).unwrap();
        let rs = &body["resourceSpans"][0];
        assert_eq!(
            rs["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "parley-test"}})
        );
        let got = &rs["scopeSpans"][0]["spans"][0];
        assert_eq!(got["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(got["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(got["spanId"], s.span_id.hex());
        assert_eq!(got["name"], "send");
        assert_eq!(got["kind"], 3);
        assert_eq!(got["startTimeUnixNano"], "1700000000000000005");
        assert_eq!(got["endTimeUnixNano"], "1700000000002000005");
        assert_eq!(
            got["attributes"],
            json!([
                {"key": "parley.sender_id", "value": {"intValue": "3"}},
                {"key": "parley.channel", "value": {"stringValue": "meta"}},
                {"key": "parley.retried", "value": {"boolValue": false}},
            ])
        );
        assert_eq!(
            got["status"],
            json!({"code": 2, "message": "provider said 131047"})
        );
        let root_span = Span::with_id(
            root.trace_id,
            root.span_id,
            None,
            "ingest",
            SpanKind::Server,
            start,
        );
        let body: serde_json::Value = serde_json::from_slice(&encode("p", &[root_span])).unwrap();
        let got = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert!(got.get("parentSpanId").is_none() && got.get("status").is_none());
    }
}
