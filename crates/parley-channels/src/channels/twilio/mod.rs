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
//! - reply buttons and lists need Content API templates on Twilio: `content` creates a
//!   `twilio/quick-reply` or `twilio/list-picker` template once per set of options and sends
//!   by its SID; URL buttons, and what a template cannot carry, go as text with numbered
//!   options (or the link);
//! - a reaction cannot be sent, and a location request goes as its text;
//! - media are sent by URL only and cannot be given a filename.

pub mod client;
pub mod content;
mod error_codes;
mod signature;
pub mod webhook;
mod wire;

pub use client::{TwilioClient, OUTBOX_PARAM};
pub use content::{ContentCache, MemoryContentCache};
