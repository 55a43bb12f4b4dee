//! Twilio WhatsApp: webhook verification and parsing, and the Messages API client.
//!
//! `webhook` turns the form Twilio POSTs (inbound messages and status callbacks, checked with
//! `verify_signature`) into `Routed` events keyed by our business number; `client` sends
//! `OutboundMessage`s through `POST /2010-04-01/Accounts/{sid}/Messages.json` and checks the
//! account's health. Twilio's form fields, JSON bodies and error codes stay in here.
//!
//! Twilio differs from Meta in ways the rest of Parley can see:
//! - webhooks carry no timestamp, so the 24-hour window runs from the receipt time;
//! - templates are sent by Content SID (`twilio_content_sid`), never by name;
//! - reply buttons, lists and URL buttons need Content API templates on Twilio, so they are
//!   sent as text with numbered options (or the link): a customer answers `1` or the option's
//!   words rather than tapping, and no `ButtonReply` comes back for them;
//! - media are sent by URL only and cannot be given a filename.

pub mod client;
mod error_codes;
mod signature;
pub mod webhook;
mod wire;

pub use client::{TwilioClient, OUTBOX_PARAM};
