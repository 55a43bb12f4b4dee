//! `telemetry:`: OpenTelemetry traces sent to an OTLP collector (issue 60); off unless set.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {}
