//! The conversation engine: given a conversation, its contact and one event, decide what to
//! do — new state, replies, contact changes, timers. It touches no database; the inbox
//! worker commits its output in one transaction.

mod template;

pub use template::render;

use crate::domain::{InboundContent, OutboundContent, WindowFallback, WindowState};
use crate::flows::{FlowSet, Step};
use crate::store::{Contact, ContactPatch, Conversation, EventKind, NewTimer, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::sync::{Arc, RwLock};

/// What the engine sees for one event.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    pub conversation: &'a Conversation,
    pub contact: &'a Contact,
    pub event: &'a StoredEvent,
    pub window: &'a WindowState,
    pub now: DateTime<Utc>,
}

/// A message the engine wants sent, with what to do if the window is closed by then.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub content: OutboundContent,
    pub fallback: WindowFallback,
}

/// Everything one event produced; committed together.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    pub state: Value,
    pub contact_patch: Option<ContactPatch>,
    pub replies: Vec<Reply>,
    pub timers: Vec<NewTimer>,
    pub cancel_timers: Vec<String>,
}

impl StepOutput {
    /// Nothing happens; the state stays as it was.
    pub fn unchanged(state: &Value) -> Self {
        Self {
            state: state.clone(),
            contact_patch: None,
            replies: Vec::new(),
            timers: Vec::new(),
            cancel_timers: Vec::new(),
        }
    }
}

#[async_trait]
pub trait Engine: Send + Sync + 'static {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput;
}

/// Runs the loaded flows. The flow set is swapped whole on reload; a step reads it once.
pub struct FlowEngine {
    flows: RwLock<Arc<FlowSet>>,
}

impl FlowEngine {
    pub fn new(flows: FlowSet) -> Self {
        Self {
            flows: RwLock::new(Arc::new(flows)),
        }
    }

    pub fn replace(&self, flows: FlowSet) {
        *self.flows.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(flows);
    }

    pub fn flows(&self) -> Arc<FlowSet> {
        self.flows.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Engine for FlowEngine {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput {
        let mut out = StepOutput::unchanged(&input.conversation.state);
        let EventKind::Message(message) = &input.event.kind else {
            return out;
        };
        let Some(text) = message.content.text() else {
            return out;
        };
        let flows = self.flows();
        let Some(flow) = flows.match_text(text) else {
            return out;
        };
        let scope = scope(input, &message.content, message.profile_name.as_deref());
        for step in &flow.steps {
            match step {
                Step::SendText { text } => out.replies.push(Reply {
                    content: OutboundContent::Text {
                        body: render(text, &scope),
                        preview_url: false,
                    },
                    fallback: WindowFallback::Fail,
                }),
            }
        }
        if input.contact.name.is_none() {
            if let Some(name) = &message.profile_name {
                out.contact_patch = Some(ContactPatch {
                    name: Some(name.clone()),
                    ..Default::default()
                });
            }
        }
        out.state = json!({ "last_flow": flow.id });
        out
    }
}

/// The values `{{ … }}` can refer to.
fn scope(input: StepInput<'_>, content: &InboundContent, profile_name: Option<&str>) -> Value {
    let contact = input.contact;
    let name = contact.name.as_deref().or(profile_name);
    let phone = contact.contact_ref().and_then(|c| c.phone().map(|p| p.as_e164().to_string()));
    let mut contact_obj = serde_json::Map::new();
    contact_obj.insert("name".into(), json!(name));
    contact_obj.insert("phone".into(), json!(phone));
    for (k, v) in &contact.attributes {
        contact_obj.entry(k.clone()).or_insert_with(|| v.clone());
    }
    json!({
        "contact": contact_obj,
        "message": { "text": content.text(), "type": content.kind_name() },
        "vars": {},
    })
}
