//! Meta WhatsApp Cloud API: webhook verification and parsing, and the Graph API client.
//!
//! This module owns everything about Meta's wire format and nothing else:
//!
//! - [`webhook`] checks `X-Hub-Signature-256` and the subscribe handshake, and turns a
//!   webhook POST body into `Routed` messages and statuses keyed by `phone_number_id`.
//! - [`client::MetaClient`] implements [`Channel`](crate::channels::Channel) for one sender:
//!   `POST /{phone_number_id}/messages` and a read-only health check, with Meta's error
//!   envelope mapped to a classified `SendFailure`; `media` fetches an inbound media file
//!   by its id (`GET /{media-id}`, then the file's URL).
//! - [`routing`]: Conversation Routing's thread control (`pass`, `release`, `take`) and the
//!   number's routing roles.
//! - `wire` (what Meta sends us) and `request` (what we send Meta) are private serde shapes;
//!   nothing outside this module sees Meta's JSON.
//!
//! It holds no state, stores nothing and never retries: routing items to senders, deduping
//! and retry policy belong to the callers.

pub mod client;
mod media;
mod request;
pub mod routing;
mod signature;
pub mod webhook;
mod wire;
mod words;

pub use client::MetaClient;
