//! Records the engine's tests share: Ana (`+16315551181`), her conversation, her text
//! messages, and flow files loaded from a temporary folder. Tests only.

use super::StepInput;
use crate::config::TemplateConfig;
use crate::domain::{
    Contact, ContactRef, Conversation, ConversationState, EventKind, InboundContent,
    InboundMessage, PhoneNumber, StoredEvent, WindowPolicy, WindowState,
};
use crate::flows::{load_dir, FlowSet, LoadSettings};
use chrono::{DateTime, TimeZone, Utc};
use std::time::Duration;

pub(crate) const ANA: &str = "+16315551181";

/// The instant every engine test starts at.
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

pub(crate) fn conversation(
    state: ConversationState,
    last_inbound_at: Option<DateTime<Utc>>,
) -> Conversation {
    Conversation {
        id: 1,
        sender_id: 1,
        contact_id: 1,
        last_inbound_at,
        state,
        created_at: start(),
    }
}

pub(crate) fn ana() -> Contact {
    Contact {
        id: 1,
        key: ANA.into(),
        name: Some("Ana".into()),
        attributes: Default::default(),
        tags: vec![],
        created_at: start(),
        user_id: None,
        username: None,
    }
}

/// A message from Ana with `content`, sent at `at`.
pub(crate) fn from_ana(id: &str, content: InboundContent, at: DateTime<Utc>) -> InboundMessage {
    InboundMessage {
        provider_message_id: id.into(),
        from: ContactRef::Phone(PhoneNumber::parse(ANA).unwrap()),
        profile_name: None,
        username: None,
        timestamp: Some(at),
        content,
        context: None,
        referral: None,
    }
}

pub(crate) fn event(id: i64, kind: EventKind, at: DateTime<Utc>) -> StoredEvent {
    StoredEvent {
        id,
        conversation_id: 1,
        kind,
        received_at: at,
    }
}

/// Ana writes `text` at the start into a conversation in `state`: the records a
/// `StepInput` borrows.
pub(crate) struct OneText {
    pub conversation: Conversation,
    pub contact: Contact,
    pub event: StoredEvent,
    pub window: WindowState,
}

impl OneText {
    pub fn new(state: ConversationState, event_id: i64, text: &str) -> Self {
        let now = start();
        let message = from_ana("wamid.1", InboundContent::Text { body: text.into() }, now);
        Self {
            conversation: conversation(state, Some(now)),
            contact: ana(),
            event: event(event_id, EventKind::Message(message), now),
            window: WindowPolicy::default().state(Some(now), now),
        }
    }

    pub fn input(&self) -> StepInput<'_> {
        StepInput {
            conversation: &self.conversation,
            contact: &self.contact,
            event: &self.event,
            window: &self.window,
            now: start(),
            broadcast_reply: None,
        }
    }
}

/// Loads `flows` (file name, text) from a temporary folder; fails the test on any problem.
pub(crate) fn load(
    flows: &[(&str, &str)],
    templates: &[TemplateConfig],
) -> (FlowSet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in flows {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let report = load_dir(&LoadSettings {
        dir: dir.path(),
        scripts_dir: dir.path(),
        templates,
        window: Duration::from_secs(86400),
        overrides: None,
    });
    assert_eq!(report.errors(), 0, "{}", report.render());
    (report.set.unwrap(), dir)
}
