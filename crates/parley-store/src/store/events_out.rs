//! Events out (issue 57): the `events_out` log written beside the changes it tells of, its delivery to each endpoint (cursors, deliveries, retries, parking), the delivery log and replays.

use async_trait::async_trait;

#[async_trait]
pub trait EventsOut: Send + Sync {}
