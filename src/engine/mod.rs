//! The conversation engine: given a conversation, its contact and one event, decide what
//! happens — new state, replies, contact changes, timers. It touches no database; the inbox
//! worker commits its output in one transaction. (`http` steps are its only I/O, done
//! outside any transaction.)

mod answer;
mod exec;
mod http_step;
mod scope;
mod script_pool;
pub mod state;
pub mod template;
pub mod trace;

pub use http_step::Reach;
pub use script_pool::{PoolError, ScriptPool};
pub use template::{render, render_json};

use crate::domain::{OutboundContent, WindowFallback, WindowState};
use crate::flows::{Flow, FlowSet};
use crate::store::{Contact, ContactPatch, Conversation, EventKind, NewTimer, StoredEvent};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use state::ConversationState;
use std::collections::HashMap;
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

/// Runs the loaded flows. The flow set is swapped whole on reload; every version loaded in
/// this process stays available so runs finish on the version they started with.
pub struct FlowEngine {
    current: RwLock<Arc<FlowSet>>,
    archive: RwLock<HashMap<(String, u64), Arc<Flow>>>,
    scripts: ScriptPool,
    /// The `http` steps' client, guarded unless `allow_private_networks` (`http_step`).
    http: reqwest::Client,
    reach: Reach,
    options: EngineOptions,
}

/// Engine behaviour taken from the config.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub allow_private_networks: bool,
    /// Messages equal to one of these (folded) opt the contact out of scheduled messages.
    pub opt_out_keywords: Vec<String>,
    pub opt_out_reply: Option<String>,
    /// Quiet period collapsing bursts of texts into one message, for every conversation.
    pub debounce: Option<std::time::Duration>,
    /// Threads that run scripts (0: one per CPU core but one) and scripts that may wait
    /// for one.
    pub script_threads: usize,
    pub script_queue: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            opt_out_keywords: Vec::new(),
            opt_out_reply: None,
            debounce: None,
            script_threads: 0,
            script_queue: crate::config::ScriptsConfig::default().queue,
        }
    }
}

impl EngineOptions {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            allow_private_networks: config.flows.allow_private_networks,
            opt_out_keywords: config
                .opt_out
                .keywords
                .iter()
                .map(|k| crate::flows::normalize(k))
                .collect(),
            opt_out_reply: config.opt_out.reply.clone(),
            debounce: (!config.inbox.debounce.is_zero()).then_some(config.inbox.debounce),
            script_threads: config.scripts.threads,
            script_queue: config.scripts.queue,
        }
    }
}

impl FlowEngine {
    pub fn new(flows: FlowSet, options: EngineOptions) -> Self {
        let reach = Reach::from_allow_private(options.allow_private_networks);
        let engine = Self {
            current: RwLock::new(Arc::new(FlowSet::default())),
            archive: RwLock::new(HashMap::new()),
            scripts: ScriptPool::new(options.script_threads, options.script_queue),
            http: http_step::client(&reach),
            reach,
            options,
        };
        engine.replace(flows);
        engine
    }

    /// Makes `flows` the current set (hot reload).
    pub fn replace(&self, flows: FlowSet) {
        {
            let mut archive = self.archive.write().unwrap_or_else(|e| e.into_inner());
            for f in flows.flows() {
                archive
                    .entry((f.id.clone(), f.version))
                    .or_insert_with(|| f.clone());
            }
        }
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(flows);
    }

    pub fn flows(&self) -> Arc<FlowSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The flow a run started on; after a restart (old versions are gone) the current
    /// version of the same flow.
    pub fn flow_version(&self, id: &str, version: u64) -> Option<Arc<Flow>> {
        if let Some(f) = self
            .archive
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(id.to_string(), version))
        {
            return Some(f.clone());
        }
        self.flows().get(id).cloned()
    }
}

#[async_trait]
impl Engine for FlowEngine {
    async fn handle(&self, input: StepInput<'_>) -> StepOutput {
        self.run(input, None).await.0
    }
}

impl FlowEngine {
    /// `handle`, saying what it did: triggers considered, steps, variables, sends.
    pub async fn handle_traced(&self, input: StepInput<'_>) -> (StepOutput, trace::Trace) {
        let (out, trace) = self.run(input, Some(Box::default())).await;
        (out, trace.map(|t| *t).unwrap_or_default())
    }

    async fn run(
        &self,
        input: StepInput<'_>,
        mut trace: Option<Box<trace::Trace>>,
    ) -> (StepOutput, Option<Box<trace::Trace>>) {
        let state = ConversationState::from_value(&input.conversation.state);
        let message = match &input.event.kind {
            EventKind::Message(m) => scope::message_view(Some(&m.content)),
            EventKind::Timer(_) => scope::message_view(None),
        };
        let mut exec = exec::Exec {
            engine: self,
            now: input.now,
            window: input.window.clone(),
            contact: scope::contact_view(input.contact),
            message,
            state,
            out: StepOutput::unchanged(&Value::Null),
            patch: ContactPatch::default(),
            trace: None,
        };
        if let Some(t) = &mut trace {
            t.begin(&input, &exec.state);
        }
        exec.trace = trace;
        match &input.event.kind {
            EventKind::Message(m) => exec.on_message(m.clone()).await,
            EventKind::Timer(t) => exec.on_timer(t).await,
        }
        exec.start_deferred().await;
        let mut out = exec.out;
        out.state = exec.state.to_value();
        let p = exec.patch;
        if p.name.is_some()
            || !p.set_attributes.is_empty()
            || !p.add_tags.is_empty()
            || !p.remove_tags.is_empty()
        {
            out.contact_patch = Some(p);
        }
        let mut trace = exec.trace;
        if let Some(t) = &mut trace {
            t.finish(&exec.state, &out);
        }
        (out, trace)
    }
}

#[cfg(test)]
mod tests;
