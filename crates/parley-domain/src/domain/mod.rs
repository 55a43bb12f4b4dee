//! Pure domain types: phone numbers, contacts, conversations and their engine state,
//! inbound events, timers, outbound messages, delivery statuses, the customer-service window
//! rule and provider error classification.
//!
//! Nothing in here does I/O or knows a provider's wire format; every other layer speaks these
//! types. Provider modules translate to and from them at the edge.

pub mod account;
pub mod broadcast;
pub mod chat;
pub mod clock;
pub mod contact;
pub mod contact_file;
pub mod conversation;
pub mod error_class;
pub mod event;
pub mod experiment;
pub mod form;
pub mod graph_versions;
pub mod identity;
pub mod insight;
pub mod language;
pub mod limits;
pub mod message;
pub mod out_event;
pub mod out_event_data;
pub mod phone;
pub mod pricing;
pub mod routing;
pub mod session;
pub mod stats;
pub mod tagged;
pub mod text;
pub mod timer;
pub mod trace_context;
pub mod typed;
pub mod window;

pub use account::{
    LiveTemplate, MarketingPreference, MarketingState, TemplateCategory, TemplateChange,
    TemplateUpdate,
};
pub use clock::{Clock, ManualClock, SystemClock};
pub use contact::{Contact, ContactPatch};
pub use conversation::{
    Conversation, ConversationState, Handoff, ModelSpend, Run, StepError, Wait,
};
pub use error_class::{classify, ErrorClass, SendFailure};
pub use event::{EventKind, StoredEvent, TimerFire};
pub use form::{FieldKind, FlowRef, FormAction, FormField, FormMessage};
pub use identity::{Identities, IdentityChange, IdentityChangeKind};
pub use message::*;
pub use out_event::{NewOutEvent, OutEvent, OutEventKind};
pub use phone::{is_user_id, ContactRef, PhoneError, PhoneNumber};
pub use routing::{
    HandoverKind, OwnerReason, RoutingRoles, ThreadAction, ThreadHandover, ThreadOwner, ThreadState,
};
pub use timer::{NewTimer, ScheduledRun, Timer, TimerKind};
pub use trace_context::{SpanId, TraceContext, TraceId};
pub use window::{WindowPolicy, WindowState};

/// A row id.
pub type Id = i64;
