//! The `events:` section: outgoing webhooks (Standard Webhooks) that CRMs and data pipelines
//! subscribe to — which endpoints, which events and senders each hears of, and how
//! deliveries are retried.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The endpoints events are delivered to. With none, no event is recorded at all.
    #[serde(default)]
    pub endpoints: Vec<EventEndpointConfig>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventEndpointConfig {
    /// The endpoint's name: deliveries, the delivery log and replays are kept per name
    /// (rename it and it starts afresh from new events).
    pub name: String,
}
