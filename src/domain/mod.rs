//! Pure domain types: phone numbers, contacts, inbound events, outbound messages, delivery
//! statuses, the customer-service window rule and provider error classification.
//!
//! Nothing in here does I/O or knows a provider's wire format; every other layer speaks these
//! types. Provider modules translate to and from them at the edge.

pub mod clock;
pub mod error_class;
pub mod limits;
pub mod message;
pub mod phone;
pub mod window;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error_class::{classify, ErrorClass, SendFailure};
pub use message::*;
pub use phone::{ContactRef, PhoneError, PhoneNumber};
pub use window::{WindowPolicy, WindowState};
