//! What the sandbox shows about a customer: the messages the bot sent them with their
//! delivery status, where a handoff to a person began and ended, and the contact with its
//! tags, the run in progress and its variables. Shared by the sandbox API, `parley
//! simulate` and `parley test`.

use super::traces::HandoffChange;
use super::Sandbox;
use crate::domain::{Conversation, OutboundContent, WindowPolicy, WindowState};
use crate::engine::trace::{describe, summary};
use crate::engine::FlowEngine;
use crate::store::{DynStore, Id, OutboundRecord, StoreResult};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// A message the bot sent (or tried to).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentMessage {
    pub id: Id,
    pub at: DateTime<Utc>,
    /// `text`, `buttons`, `list`, `image`, `template`…
    pub kind: &'static str,
    /// The message in one line.
    pub summary: String,
    pub content: OutboundContent,
    /// queued, accepted, sent, delivered, read, failed or skipped.
    pub status: &'static str,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub window_closed: bool,
    /// flow, api or fallback (a template sent because the window had closed).
    pub origin: &'static str,
}

impl From<&OutboundRecord> for SentMessage {
    fn from(r: &OutboundRecord) -> Self {
        Self {
            id: r.id,
            at: r.created_at,
            kind: r.message.content.kind_name(),
            summary: summary(&r.message.content),
            content: r.message.content.clone(),
            status: r.status.as_str(),
            error_code: r.error_code,
            error_title: r.error_title.clone(),
            window_closed: r.window_closed,
            origin: r.origin.as_str(),
        }
    }
}

/// A sandbox customer as the bot sees them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactView {
    pub phone: String,
    pub sender_id: i64,
    pub conversation_id: Id,
    pub name: Option<String>,
    pub tags: Vec<String>,
    pub attributes: Map<String, Value>,
    pub window: WindowState,
    /// `flow welcome, step 2 (line 17), waiting for an answer`; `None` when idle.
    pub run: Option<String>,
    /// The variables of the run in progress, or of the run that ended last.
    pub vars: Map<String, Value>,
    pub handed_off: bool,
}

/// A line of the sandbox chat where a handoff to a person began or ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffLine {
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub change: HandoffChange,
    /// The handoff in force now (the page offers to release it).
    pub current: bool,
}

/// Where handoffs began and ended in `conversation`, oldest first: from the traces kept
/// (the last [`super::traces::TRACE_LOG_LIMIT`] sandbox events), and the handoff in force
/// from the conversation itself when its trace is gone.
pub fn handoff_lines(sandbox: &Sandbox, conversation: &Conversation) -> Vec<HandoffLine> {
    let now = conversation.state.handoff.as_ref();
    let mut lines: Vec<HandoffLine> = sandbox
        .traces
        .of_conversation(conversation.id)
        .iter()
        .filter_map(|t| {
            let change = t.handoff.clone()?;
            let current = matches!(
                (&change, now),
                (HandoffChange::Began { since, .. }, Some(h)) if *since == h.since
            );
            Some(HandoffLine {
                at: t.at,
                change,
                current,
            })
        })
        .collect();
    if let Some(h) = now.filter(|_| !lines.iter().any(|l| l.current)) {
        lines.push(HandoffLine {
            at: h.since,
            change: HandoffChange::Began {
                since: h.since,
                until: h.until,
                flow: h.flow.clone(),
            },
            current: true,
        });
        lines.sort_by_key(|l| l.at);
    }
    lines
}

/// Messages sent to `phone` from `sender_id` with an id above `after`, oldest first.
pub async fn sent_to(
    store: &DynStore,
    sender_id: i64,
    phone: &str,
    after: Option<Id>,
) -> StoreResult<Vec<SentMessage>> {
    let Some(conv) = store.find_conversation(sender_id, phone).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = store.conversation_outbound(conv.id, before, 200).await?;
        let done = page.len() < 200;
        for r in &page {
            if after.is_some_and(|a| r.id <= a) {
                out.reverse();
                return Ok(out);
            }
            out.push(SentMessage::from(r));
        }
        match page.last() {
            Some(last) if !done => before = Some(last.id),
            _ => break,
        }
    }
    out.reverse();
    Ok(out)
}

pub async fn contact(
    store: &DynStore,
    sandbox: &Sandbox,
    engine: &FlowEngine,
    window: WindowPolicy,
    now: DateTime<Utc>,
    sender_id: i64,
    phone: &str,
) -> StoreResult<Option<ContactView>> {
    let Some(conv) = store.find_conversation(sender_id, phone).await? else {
        return Ok(None);
    };
    let Some(contact) = store.contact(conv.contact_id).await? else {
        return Ok(None);
    };
    let state = &conv.state;
    let vars = match &state.run {
        Some(run) => run.vars.clone(),
        None => sandbox
            .traces
            .of_conversation(conv.id)
            .last()
            .map(|t| t.trace.vars_after.clone())
            .unwrap_or_default(),
    };
    let run = state
        .run
        .as_ref()
        .map(|r| describe(r, engine.flow_version(&r.flow, r.version).as_deref()));
    Ok(Some(ContactView {
        phone: contact.key.clone(),
        sender_id,
        conversation_id: conv.id,
        name: contact.name.clone(),
        tags: contact.tags.clone(),
        attributes: contact.attributes.clone(),
        window: window.state(conv.last_inbound_at, now),
        run,
        vars,
        handed_off: state.handoff.is_some(),
    }))
}
