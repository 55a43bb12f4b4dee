//! Spans in the JSON encoding of OTLP/HTTP (`POST /v1/traces`,
//! `Content-Type: application/json`): `resourceSpans` → `scopeSpans` → `spans`, ids in
//! lowercase hex, times as strings of nanoseconds since the epoch, 64-bit integers as
//! strings, attributes as `{key, value: {stringValue | intValue | boolValue}}`.

use super::span::{Span, Value};
use serde_json::{json, Value as Json};

/// One export request's body: `spans` of the service `service_name`.
pub fn encode(service_name: &str, spans: &[Span]) -> Json {
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [attribute("service.name", &Value::Str(service_name.to_string()))]
            },
            "scopeSpans": [{
                "scope": { "name": "parley", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans.iter().map(span).collect::<Vec<_>>(),
            }],
        }],
    })
}

fn span(s: &Span) -> Json {
    let mut out = json!({
        "traceId": s.trace_id.hex(),
        "spanId": s.span_id.hex(),
        "name": s.name,
        "kind": s.kind as i32,
        "startTimeUnixNano": nanos(s.start),
        "endTimeUnixNano": nanos(s.end),
        "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
    });
    if let Some(parent) = s.parent {
        out["parentSpanId"] = json!(parent.hex());
    }
    if let Some(message) = &s.error {
        out["status"] = json!({ "code": 2, "message": message });
    }
    out
}

fn attribute(key: &str, value: &Value) -> Json {
    let value = match value {
        Value::Str(s) => json!({ "stringValue": s }),
        Value::Int(i) => json!({ "intValue": i.to_string() }),
        Value::Bool(b) => json!({ "boolValue": b }),
    };
    json!({ "key": key, "value": value })
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
        let body = encode("parley-test", &[s.clone()]);
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
        let got = &encode("p", &[root_span])["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert!(got.get("parentSpanId").is_none() && got.get("status").is_none());
    }
}
